"""Boot ROM of the simulated USB station (`stationctl sim-device`), run by unix MicroPython.

    micropython -i sim/devboot.py FS_DIR HW_BOARD MODE SPEED UID RESET_CAUSE [ABSENT,...]

What a board's ROM and MicroPython's `main()` do before the REPL, done for the unix port:
the simulated hardware (virtual clock in scaled real time, buses with chip models from the
HW_BOARD config) is built, the station's flash folder FS_DIR becomes the VFS root `/`, `boot.py`
runs, then `main.py` when MODE is `friendly` (a real board skips main.py after a soft reset from
the raw REPL), then the interpreter's own REPL (`-i`) takes over on the pseudo-terminal.

Two in-band markers tell the host-side front (host_tools/stationctl/virtual/simdevice.py) where it is:
ESC ] simdev;up BEL once Ctrl-C can be delivered safely, ESC ] simdev;repl BEL right before the
REPL, ESC ] simdev;fail BEL / simdev;reset:CAUSE BEL when the board could not start or was
reset (the front then ends this interpreter). The front strips them; nothing else is added to
the station's serial output.
"""

import sys


def _mark(word):
    sys.stdout.write("\x1b]simdev;%s\x07" % word)


_FLASH_BLOCK = 4096
_FLASH_BLOCKS = 512


class _Flash:
    """The station's flash: the folder, through VfsPosix. Wrapped because the unix port's VfsPosix
    mounted with a root folder fails os.rename() with absolute paths (ENOENT); a board's
    littlefs does not, and deploy/configure rely on rename for atomic writes. Every path is
    resolved inside the folder first (`/../x` is `/x`, as on a board), so nothing the station
    runs reaches the host's files; and listings carry sizes, as littlefs's do."""

    def __init__(self, root):
        import os

        self.v = os.VfsPosix(root)
        self.cwd = "/"

    def mount(self, readonly, mkfs):
        pass

    def umount(self):
        pass

    def __getattr__(self, name):
        return getattr(self.v, name)

    def _abs(self, p):
        if not p.startswith("/"):
            p = self.cwd.rstrip("/") + "/" + p
        parts = []
        for part in p.split("/"):
            if part == "..":
                if parts:
                    parts.pop()
            elif part and part != ".":
                parts.append(part)
        return "/" + "/".join(parts)

    def chdir(self, p):
        p = self._abs(p)
        self.v.chdir(p)
        self.cwd = p

    def open(self, p, mode):
        return self.v.open(self._abs(p), mode)

    def stat(self, p):
        return self.v.stat(self._abs(p))

    def remove(self, p):
        self.v.remove(self._abs(p))

    def mkdir(self, p):
        self.v.mkdir(self._abs(p))

    def rmdir(self, p):
        self.v.rmdir(self._abs(p))

    def __repr__(self):
        return "<VfsSimFlash>"

    def statvfs(self, p):
        # a 2 MiB flash partition of 4 KiB blocks (an ESP32's MicroPython filesystem), not the
        # laptop's disk behind the folder: what is used is what the station's files take
        used = self._blocks_used("/")
        free = max(0, _FLASH_BLOCKS - used)
        return (_FLASH_BLOCK, _FLASH_BLOCK, _FLASH_BLOCKS, free, free, 0, 0, 0, 0, 255)

    def _blocks_used(self, d):
        n = 1  # the directory itself
        for entry in self.v.ilistdir(d):
            path = d.rstrip("/") + "/" + entry[0]
            if entry[1] == 0x4000:
                n += self._blocks_used(path)
            else:
                n += (self.v.stat(path)[6] + _FLASH_BLOCK - 1) // _FLASH_BLOCK or 1
        return n

    def ilistdir(self, p="."):
        base = self._abs(p).rstrip("/") + "/"
        for entry in self.v.ilistdir(self._abs(p)):
            name = entry[0]
            size = 0
            if entry[1] == 0x8000:  # a file: its size, as littlefs lists it
                try:
                    size = self.v.stat(base + name)[6]
                except OSError:
                    pass
            yield (name, entry[1], entry[2], size)

    def getcwd(self):
        return self.cwd

    def rename(self, a, b):
        a, b = self._abs(a), self._abs(b)
        self.v.chdir("/")
        try:
            self.v.rename(a[1:], b[1:])
        finally:
            self.v.chdir(self.cwd)


def _print_exception(exc):
    """Print exc as a board does: the frames of this boot ROM and of the simulated hardware
    (`sim/`, C code on a board) are left out, so the traceback starts at the station's script."""
    import io

    buf = io.StringIO()
    sys.print_exception(exc, buf)
    for line in buf.getvalue().split("\n")[:-1]:
        if not line.startswith('  File "sim/'):
            print(line)


def _halt(word):
    # `-i` turns sys.exit() into the REPL, so the front ends this interpreter when it sees the
    # marker; until then host input is held back and nothing can reach a REPL
    _mark(word)
    while sys.stdin.buffer.read(1):
        pass
    raise SystemExit(70)


def _setup():
    """Build the simulated hardware and make the flash folder the root. Any failure here ends the
    interpreter (exit 70): a REPL on the host's own filesystem must never come up."""
    import json
    import os

    argv = sys.argv[1:]
    fs_dir, hw_path, mode, speed, uid, cause = argv[:6]
    absent = argv[6].split(",") if len(argv) > 6 and argv[6] else []
    # the front starts this interpreter in the repository folder with `sim/devboot.py`, so the
    # simulation's modules are imported by repository-relative names and no traceback shows a
    # host path (on a board they are C code, with no file at all)
    repo = __file__.rsplit("/", 2)[0] + "/" if __file__.count("/") > 1 else ""
    if repo not in sys.path:
        sys.path.append(repo)

    import time as real_time

    from sim import vtime

    wall = real_time.time()
    vtime.install(epoch_s=wall)
    vtime.set_real_sleep_factor(1 / float(speed))
    try:  # the RTC as set by `mpremote rtc --set`: kept over resets, lost on a power cycle
        with open(fs_dir + "/.rtc_offset") as f:
            vtime.set_time(wall + float(f.read()))
    except (OSError, ValueError):
        pass

    # everything the simulated hardware needs is imported now: after the remount below only the
    # station's own flash is visible, as on a board
    import sim.board
    import sim.env

    # Some models use firmware arithmetic (the network server's airtime): they get the repo's
    # copy, which is then dropped from sys.modules so the station imports its own deployed one.
    before = set(sys.modules)
    extra = [repo + "firmware", repo + "drivers"]
    sys.path.extend(extra)
    preload = ["sim.i2c", "sim.uart", "sim.heap", "sim.netclock", "sim.wlan", "sim.devmachine"]
    preload += [m for m, _ in sim.board.MODELS.values()]
    for name in preload:
        try:
            __import__(name)
        except ImportError as exc:
            print("simdev: %s not loaded (%s)" % (name, exc))
    for name in list(sys.modules):
        if name not in before and name != "sim" and not name.startswith("sim."):
            del sys.modules[name]
    for p in extra:
        sys.path.remove(p)

    with open(hw_path) as f:
        hw = json.load(f)
    for entry in hw.get("sensors", []):
        if entry.get("name", entry.get("type")) in absent:
            entry["sim_absent"] = True
    modem = hw.get("modem")
    if modem and modem.get("name", modem.get("type")) in absent:
        modem["sim_absent"] = True

    env = sim.env.Environment("synthetic", start_unix=int(wall))
    expect = sorted(os.listdir(fs_dir))
    os.umount("/")
    os.mount(_Flash(fs_dir), "/")
    os.chdir("/")
    sys.path[:] = ["", ".frozen", "/lib"]
    board = sim.board.SimBoard(hw, env, fs_root="/", uid=uid)
    board.next_reset_cause = cause
    board.activate()
    # `machine` as host tools use it on a board (mpremote reset, rtc); the firmware's HAL does not
    devmachine = sys.modules["sim.devmachine"]
    devmachine._halt = _halt

    def _reset_now():
        # a board's machine.reset() never returns, wherever it is called: in a boot script or
        # at the REPL (station.resume(), the way out of safe mode), where a SimReset would only
        # end as a traceback
        _halt("reset:soft")

    board.reset = _reset_now
    sys.modules["machine"] = devmachine
    if sorted(os.listdir("/")) != expect:
        raise OSError("the flash folder is not the root")
    return mode


def _boot():
    try:
        mode = _setup()
    except BaseException as exc:  # see _setup
        sys.print_exception(exc)
        print("simdev: the simulated board failed to start")
        _halt("fail")
    _mark("up")  # from here on the host may send Ctrl-C
    g = globals()
    scripts = ["boot.py"] if mode != "friendly" else ["boot.py", "main.py"]
    for script in scripts:
        try:
            with open(script) as f:
                src = f.read()
        except OSError:
            continue
        try:
            exec(compile(src, script, "exec"), g)
        except (Exception, KeyboardInterrupt) as exc:  # printed as a board prints it
            _print_exception(exc)
        except BaseException as exc:  # SimReset / SimStop from the simulated board
            if type(exc).__name__ == "SimReset":
                _halt("reset:" + exc.cause)
            raise


try:
    _boot()
except (Exception, KeyboardInterrupt) as _exc:  # the REPL must come up whatever happened
    _print_exception(_exc)
del _boot, _setup, _Flash, _halt, _print_exception
_mark("repl")
del _mark
