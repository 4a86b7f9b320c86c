"""The simulated flash's faults: power cuts in the middle of writes, and a capacity that fills.

`install()` wraps the builtin `open` so every file the firmware writes on the simulated flash is
counted byte by byte. `arm(after_bytes)` schedules a power cut: the write that crosses the mark
puts only the bytes before the mark on "flash", then the board loses power (SimReset
"power_cut") — exactly the torn write a brown-out leaves. Renames are atomic on the board's
filesystem (LittleFS) and stay atomic here. Used by the soak run to cut power inside journal
appends and config writes, not just between cycles.

`set_capacity(n_bytes)` gives the station's flash a size: a write that would take the files under
the root past it writes nothing and fails with ENOSPC, as LittleFS does when it has no free block.
"""

import builtins
import os

from sim.board import SimReset

_open = builtins.open
written = 0  # bytes written through the wrapper since install()
_cut_at = None  # absolute `written` count at which the power fails
cuts = 0
root = None  # only files under this folder are the station's flash
capacity = None  # bytes the station's files may take in all (None: unlimited)
full_writes = 0  # writes refused for lack of space


def used_bytes():
    """Bytes the files under the root take (RTC memory, which is RAM on a board, excluded)."""
    total = 0
    folders = [root]
    while folders:
        d = folders.pop()
        for name in os.listdir(d):
            p = d + "/" + name
            st = os.stat(p)
            if st[0] & 0x4000:
                folders.append(p)
            elif name != ".rtc_memory":
                total += st[6]
    return total


def set_capacity(n_bytes):
    global capacity
    capacity = n_bytes


class _File:
    def __init__(self, f):
        self._f = f

    def write(self, data):
        global written, _cut_at, cuts, full_writes
        n = len(data)
        if capacity is not None and used_bytes() + n > capacity:
            full_writes += 1
            raise OSError(28)  # ENOSPC (not in MicroPython's errno module)
        if _cut_at is not None and written + n >= _cut_at:
            keep = _cut_at - written
            if keep > 0:
                self._f.write(data[:keep])
            written += max(0, keep)
            self._f.flush()
            self._f.close()
            _cut_at = None
            cuts += 1
            raise SimReset("power_cut")
        written += n
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()

    def __iter__(self):
        return iter(self._f)


def _wrapped_open(path, mode="r", *args, **kwargs):
    f = _open(path, mode, *args, **kwargs)
    p = str(path)
    if (
        root is not None
        and ("w" in mode or "a" in mode or "+" in mode)
        and p.startswith(root)
        and not p.endswith("/.rtc_memory")
        and not p.endswith("/.rp2_scratch")
    ):  # RAM on a board
        return _File(f)
    return f


def install(fs_root):
    global root
    root = fs_root
    builtins.open = _wrapped_open


def uninstall():
    global root, capacity
    builtins.open = _open
    root = None
    capacity = None


def arm(after_bytes):
    """Cut the power once `after_bytes` more bytes have been written to the station's flash."""
    global _cut_at
    _cut_at = written + max(1, int(after_bytes))


def disarm():
    global _cut_at
    _cut_at = None


def armed():
    return _cut_at is not None
