# The board backend's per-family code (firmware/hal.py MachineBoard) on stand-ins for the rp2
# port's `machine` module, as read from its sources: RTC without memory(), machine.mem32 over the
# watchdog scratch registers (sim/board.py SimMem32), only PWRON_RESET and WDT_RESET.
import sys

import hal
from mptest import TMP, eq

from sim.board import SimMem32, SimRTC, SimRTCNoMemory

_PWRON_RESET = 1
_WDT_RESET = 3


class _Rp2Machine:
    """What MachineBoard touches of the rp2 port's machine module."""

    PWRON_RESET = _PWRON_RESET
    WDT_RESET = _WDT_RESET

    def __init__(self, fs_root):
        self.mem32 = SimMem32(fs_root)
        self.cause = _PWRON_RESET

    def RTC(self):  # noqa: N802 - the port's name
        return SimRTCNoMemory()

    def reset_cause(self):
        return self.cause


def _board(machine, family="rp2"):
    sys.modules["machine"] = machine
    hal._boot_cause = None  # a new boot
    return hal.MachineBoard({"family": family, "fs_root": TMP})


_real_machine = sys.modules.get("machine")


def setup():
    import os

    for name in (".rp2_scratch", ".rtc_tail", ".rtc_memory"):  # every test starts powered off
        try:
            os.remove(TMP + "/" + name)
        except OSError:
            pass


def teardown():
    if _real_machine is not None:
        sys.modules["machine"] = _real_machine
    else:
        sys.modules.pop("machine", None)
    hal._boot_cause = None


def test_rp2_board_keeps_rtc_memory_in_the_watchdog_scratch_registers():
    m = _Rp2Machine(TMP)
    b = _board(m)
    eq(b.rtc_memory(), b"", "nothing kept after power-on")
    data = bytes(range(1, 33))
    b.rtc_memory(data)
    eq(_board(m).rtc_memory(), data, "kept across a reset (a new board object, same registers)")
    # the first 16 bytes are SCRATCH0..3, little-endian words; SCRATCH4..7 are left alone
    eq(m.mem32[0x4005800C], 0x04030201, "SCRATCH0")
    eq(m.mem32[0x40058018], 0x100F0E0D, "SCRATCH3")
    eq(m.mem32[0x4005801C], 0, "SCRATCH4 untouched (the SDK's)")


def test_rp2_reset_cause_tells_machine_reset_from_a_watchdog_timeout():
    m = _Rp2Machine(TMP)
    m.cause = _WDT_RESET
    m.mem32[0x4005801C] = 0x6AB73121  # watchdog_enable() left its magic: a real timeout
    eq(_board(m).reset_cause(), "watchdog", "timeout")
    m.mem32[0x4005801C] = 0  # watchdog_reboot() (machine.reset()) cleared it
    eq(_board(m).reset_cause(), "soft", "machine.reset()")
    m.cause = _PWRON_RESET
    eq(_board(m).reset_cause(), "power_on", "power-on")


def test_esp32_board_uses_rtc_memory():
    class Esp32Machine(_Rp2Machine):
        def RTC(self):  # noqa: N802
            return SimRTC(TMP)

    b = _board(Esp32Machine(TMP), family="esp32")
    b.rtc_memory(b"crumbs")
    eq(_board(Esp32Machine(TMP), family="esp32").rtc_memory(), b"crumbs", "RTC memory")


def test_a_family_without_any_kept_memory_says_so():
    b = _board(_Rp2Machine(TMP), family="samd")
    eq(b.rtc_memory(b"x"), b"", "nothing kept")
    eq(hal.rtc_memory_for("samd", SimRTCNoMemory(), None, TMP).kept, False, "kept flag")
