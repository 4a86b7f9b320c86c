"""Payload encoder (interim layout; replaced by the compact format of docs/payload-format.md).

Entry point used by the station: `encode_sample(sample, buf) -> length`.
"""

import struct

import sample as S

INTERIM = 0xF0


def encode_sample(smp, buf):
    present = smp.present()
    struct.pack_into(">BHIHHHHB", buf, 0, INTERIM, smp.seq & 0xFFFF, smp.time & 0xFFFFFFFF, present,
                     smp.fault, smp.warmup, smp.implausible, smp.flags)
    n = 16
    for i in range(S.N_CHANNELS):
        if present & (1 << i):
            struct.pack_into(">i", buf, n, int(round(smp.values[i] * 100)))
            n += 4
    return n
