"""Sensirion I2C conventions shared by the SHT4x, SCD4x and SGP40 drivers.

Every 16-bit word on the wire is big-endian and followed by a CRC-8 (polynomial 0x31, init 0xFF,
no reflection, no final XOR; datasheet example: 0xBEEF -> 0x92). Commands are written as one
(SHT4x) or two (SCD4x, SGP40) bytes, optionally followed by argument words with their CRC.
Everything here works on caller-owned buffers and allocates nothing.
"""

import sys
import time

from micropython import const

_POLY = const(0x31)
_EIO = const(5)
_ENODEV = const(19)
_ETIMEDOUT = const(110)

# What a port's machine.I2C raises when a chip does not acknowledge (a Sensirion chip NACKs its
# address while a command executes and during power-up). From the ports' machine_i2c.c:
# ESP32 maps every NACK (ESP_FAIL) to ENODEV; RP2 reports EIO, or ETIMEDOUT when the transfer's
# deadline passes; soft I2C and the other ports say ENODEV for an address NACK and EIO for data.
# Under the unix port only simulated buses exist, and they take any port's error profile
# (sim/i2c.py), so there the family is the union.
NACK_ERRNOS = {
    "esp32": (_ENODEV,),
    "rp2": (_EIO, _ETIMEDOUT),
    "generic": (_EIO, _ENODEV),
    "linux": (_EIO, _ENODEV, _ETIMEDOUT),
}
_NACK = NACK_ERRNOS.get(sys.platform, NACK_ERRNOS["generic"])


def is_nack(exc):
    """True if the OSError exc is how this port reports a chip that did not acknowledge."""
    return exc.args[0] in _NACK


def read_polled(i2c, address, buf, nwords, grace_ms=20):
    """Read a word+CRC response into buf, polling while the chip NACKs its address (it does
    until the command has executed) for up to grace_ms; then check every word's CRC.
    Raises OSError(ETIMEDOUT) when the chip never answers, OSError for other bus errors."""
    deadline = time.ticks_add(time.ticks_ms(), grace_ms)
    while True:
        try:
            i2c.readfrom_into(address, buf)
            break
        except OSError as exc:
            if not is_nack(exc):
                raise
            if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                raise OSError(_ETIMEDOUT) from None
            time.sleep_ms(1)
    check(buf, nwords)


def send_polled(i2c, address, buf, deadline_ms, step_ms=1):
    """Write a command, retrying while the chip NACKs (power-up, a command still executing) until
    deadline_ms have passed; then the port's own error is raised (absent chip: ENODEV or EIO)."""
    deadline = time.ticks_add(time.ticks_ms(), deadline_ms)
    while True:
        try:
            i2c.writeto(address, buf)
            return
        except OSError as exc:
            if not is_nack(exc) or time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                raise
            time.sleep_ms(step_ms)


class CRCError(ValueError):
    """A word read from a Sensirion chip failed its CRC-8 check (bus noise or a wrong device)."""


def crc8(buf, start=0, n=2):
    """CRC-8 of buf[start:start+n] (Sensirion: poly 0x31, init 0xFF)."""
    crc = 0xFF
    for i in range(start, start + n):
        crc ^= buf[i]
        for _ in range(8):
            if crc & 0x80:
                crc = ((crc << 1) ^ _POLY) & 0xFF
            else:
                crc = (crc << 1) & 0xFF
    return crc


def check(buf, nwords):
    """Verify the CRC of the first nwords word+CRC triplets of buf; raise CRCError on mismatch."""
    for w in range(nwords):
        i = 3 * w
        if crc8(buf, i, 2) != buf[i + 2]:
            raise CRCError("CRC mismatch in word %d" % w)


def word(buf, w):
    """The w-th 16-bit word of a word+CRC response buffer (CRC not checked here)."""
    i = 3 * w
    return (buf[i] << 8) | buf[i + 1]


def put_word(buf, i, value):
    """Write value as a big-endian word + CRC at buf[i:i+3] (command arguments)."""
    buf[i] = (value >> 8) & 0xFF
    buf[i + 1] = value & 0xFF
    buf[i + 2] = crc8(buf, i, 2)
