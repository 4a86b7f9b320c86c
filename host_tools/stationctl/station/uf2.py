"""Checking a UF2 image before it is copied to a board's boot drive.

A UF2 file is a run of 512-byte blocks (Microsoft's UF2 specification, github.com/microsoft/uf2,
README "File format"): two start magic numbers at offsets 0 and 4, flags at 8, the family id at
28 when flag 0x2000 is set, and an end magic number at 508. The RP2040's boot ROM ignores blocks
of another family, so a wrong image is copied "successfully" and nothing happens: we refuse it.
"""

from __future__ import annotations

import struct
from pathlib import Path

BLOCK = 512
MAGIC_START0 = 0x0A324655
MAGIC_START1 = 0x9E5D5157
MAGIC_END = 0x0AB16F30
FLAG_FAMILY_ID = 0x2000
FAMILY_IDS = {"rp2040": 0xE48BFF56}


class Uf2Error(Exception):
    """The file is not a UF2 image for this board; the message says why."""


def check(path: Path, chip: str = "rp2040") -> int:
    """Number of blocks of a valid UF2 image for `chip`; Uf2Error otherwise."""
    want = FAMILY_IDS.get(chip)
    if want is None:
        raise Uf2Error(f"no UF2 family id known for chip {chip}; known: {', '.join(FAMILY_IDS)}")
    data = Path(path).read_bytes()
    name = Path(path).name
    if not data or len(data) % BLOCK:
        raise Uf2Error(f"{name} is {len(data)} bytes, not a whole number of 512-byte UF2 blocks")
    for n in range(len(data) // BLOCK):
        block = data[n * BLOCK : (n + 1) * BLOCK]
        m0, m1, flags = struct.unpack_from("<III", block, 0)
        (family,) = struct.unpack_from("<I", block, 28)
        (m_end,) = struct.unpack_from("<I", block, 508)
        if (m0, m1, m_end) != (MAGIC_START0, MAGIC_START1, MAGIC_END):
            raise Uf2Error(f"{name}: block {n} lacks the UF2 magic numbers (not a UF2 image)")
        if not flags & FLAG_FAMILY_ID:
            raise Uf2Error(f"{name}: block {n} names no family id; cannot tell it is for {chip}")
        if family != want:
            raise Uf2Error(
                f"{name}: block {n} is for family {family:#010x}, not {chip} ({want:#010x}): "
                "download the image for this board"
            )
    return len(data) // BLOCK
