"""The boot id: which boot of this station an uptime belongs to.

A record journaled before the clock was synced carries its uptime, and uptimes restart at every
boot; the boot id tells the far end which boot's uptime it is, so readings of two boots with the
same uptime and seq are never taken for one. The lifecycle's boot count lives in RTC memory,
which a power cut erases, so the boot id is kept on flash: one small file, rewritten once per
boot (bounded wear: a few bytes per boot, never per cycle), atomically (temp file + rename, as
the config is written), so a cut leaves the old number or the new one, never garbage.

Ids run 1 .. 65535 and wrap to 1 (0 means "no boot id" in a record): at one boot a day that is
179 years before an id repeats.
"""

import diag

_NAME = "/boot_id"
_MAX_ID = 65535

current = 0  # this boot's id (0 until `advance` ran)


def _read(path):
    """The last boot's id from its file; 0 when there is none or it is not a number."""
    try:
        with open(path) as f:
            text = f.read(16)
    except OSError:
        return 0  # first boot on this flash (or the file is gone)
    try:
        n = int(text.strip())
    except ValueError:
        n = -1
    if not 0 <= n <= _MAX_ID:
        diag.warn("BOOTID.INVALID", None, problem="not a boot id", chars=len(text))
        return 0
    return n


def advance(fs_root):
    """Count this boot: read the last boot's id, store and return the next one. A flash that
    cannot be written still gives an id (the next boot may then repeat it; it says so)."""
    global current
    import config

    path = fs_root + _NAME
    current = _read(path) % _MAX_ID + 1
    try:
        config.write_atomic(path, "%d\n" % current)
    except OSError as exc:
        diag.exception("BOOTID.FAIL", exc, None, boot_id=current)
    return current
