"""Common base of the Sensirion I2C chip models (SHT4x, SCD4x, SGP40).

What every Sensirion chip does on the wire, as their datasheets describe it:
- a write transaction carries a command (1 byte on the SHT4x, 2 bytes on the SCD4x/SGP40),
  optionally followed by argument words, each with a CRC-8; a wrong argument CRC is NACKed;
- while a command executes the chip does not acknowledge its address (a read or write is NACKed);
- the result is read afterwards as word+CRC triplets; reading when no result is pending is NACKed;
- after power-up the chip needs `powerup_us` before it answers;
- an address-only write (I2C scan, a driver's presence probe) is acknowledged when the chip is
  idle and starts nothing (the address byte is ACKed by any idle I2C slave).

Subclasses implement `command(cmd, args, now_us) -> (exec_us, words or None)` and may raise
NackError for a command the chip does not accept in its current state.

Model-side value faults, besides those of sim.chip: `inject_value("slow", delay_us=...)` makes
every command take that much longer than the datasheet's time (an ageing or cold chip), so a
driver that polls with a deadline sees NACKs and must give up cleanly.
"""

from sim.chip import Chip
from sim.i2c import NackError


def crc8(data):
    crc = 0xFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def pack_words(words):
    out = bytearray()
    for w in words:
        hi, lo = (w >> 8) & 0xFF, w & 0xFF
        out.append(hi)
        out.append(lo)
        out.append(crc8((hi, lo)))
    return bytes(out)


class SensirionChip(Chip):
    CMD_LEN = 2
    address = None

    def __init__(self, env, address, serial=(0x0B2C, 0x7F1A, 0x3E5D), powerup_us=1000):
        super().__init__(env)
        self.address = address
        self.serial = serial
        self.powerup_us = powerup_us
        self.slow_us = 0
        self.commands = 0
        self.nacks = 0
        self._power_on(0)

    def _power_on(self, now_us):
        self.busy_until = now_us + self.powerup_us
        self._result = None  # bytes ready once busy_until has passed
        self._pending = None  # (words, done_callback) produced when execution ends
        self.reset_state()

    def reset_state(self):
        """Subclass state after power-up / soft reset."""

    def inject_value(self, kind, quantity=None, **params):
        if kind == "slow":
            self.slow_us = params.get("delay_us", 200000)
        else:
            super().inject_value(kind, quantity, **params)

    def clear_values(self):
        super().clear_values()
        self.slow_us = 0

    def nack(self):
        self.nacks += 1
        raise NackError()

    # --- I2C device protocol (sim.i2c) ---
    def write(self, data, now_us):
        if now_us < self.busy_until:
            self.nack()
        if not data:
            return  # address-only write (an I2C scan's probe): ACKed when idle, no command
        n = self.CMD_LEN
        if len(data) < n:
            self.nack()
        cmd = 0
        for i in range(n):
            cmd = (cmd << 8) | data[i]
        args = []
        rest = data[n:]
        if len(rest) % 3:
            self.nack()
        for i in range(0, len(rest), 3):
            if crc8(rest[i : i + 2]) != rest[i + 2]:
                self.nack()  # wrong argument CRC: command rejected
            args.append((rest[i] << 8) | rest[i + 1])
        self.commands += 1
        exec_us, words = self.command(cmd, args, now_us)
        self.busy_until = now_us + exec_us + (self.slow_us if exec_us else 0)
        self._result = None if words is None else pack_words(words)

    def read(self, n, now_us):
        if now_us < self.busy_until or self._result is None:
            self.nack()
        out = self._result
        self._result = None  # a result is read once
        return out[:n]

    def command(self, cmd, args, now_us):
        raise NotImplementedError
