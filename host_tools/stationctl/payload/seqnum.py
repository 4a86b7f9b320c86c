"""Sample sequence numbers: frames carry a sample's seq modulo `decoder.SEQ_MOD`; the host
unwraps it to the full number."""

from __future__ import annotations

from stationctl.payload.decoder import SEQ_MOD


def unwrap_seq(seq: int, near: int) -> int:
    """The full sequence number whose residue is `seq` and that is nearest `near` (the caller
    knows where delivery stands: the previous sample, or the oldest one not yet delivered)."""
    return near + (seq - near + SEQ_MOD // 2) % SEQ_MOD - SEQ_MOD // 2
