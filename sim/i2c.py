"""Simulated I2C bus with the machine.I2C API and fault injection.

Devices attach at an address and implement:
    write(data: bytes, now_us) -> None   (a write transaction's payload, after the address)
    read(n, now_us) -> bytes             (a read transaction; raise NackError to NACK)
Register-style chips (BME280) interpret the first written byte as a register pointer;
command-style chips (Sensirion) interpret written bytes as a command.

Faults, per address (`inject(addr, kind, count=None, **params)`; count None = until cleared):
    "absent"   - no ACK to the address: OSError(ENODEV), not listed by scan()
    "nack"     - ACKs the address in scan() but NACKs data: OSError(EIO)
    "corrupt"  - flips one bit in every byte read (param `mask`, default 0x01)
    "slow"     - every transaction holds the bus (clock stretching) for `delay_us`
    "timeout"  - transaction fails with OSError(ETIMEDOUT) after `delay_us` (default 50000)
Value faults (stuck values, out-of-range readings) belong to the chip models (sim.chip).

Port error profiles (`SimI2C(profile=...)`, from the board family or the test): which errno each
port's machine.I2C raises, read from the ports' machine_i2c.c, so a driver meets the errors of
the board it will run on, not ours:
    "esp32"   - every NACK (address or data) is ENODEV (ESP_FAIL); a bus timeout ETIMEDOUT
    "rp2"     - every NACK is EIO (the SDK's PICO_ERROR_GENERIC); a bus timeout ETIMEDOUT
    "generic" - (unix, soft I2C style) address NACK ENODEV, data NACK EIO; timeout ETIMEDOUT
A busy Sensirion chip NACKs its address: ENODEV on esp32, EIO on rp2 and generic here (the
fault kinds "absent" and "nack" above name the generic errno; the profile decides what is raised).
"""

from sim import heap, vtime

ENODEV = 19
EIO = 5
ETIMEDOUT = 110

# profile -> (errno for an address NACK, errno for a NACK by a busy/refusing device, timeout)
PROFILES = {
    "generic": (ENODEV, EIO, ETIMEDOUT),
    "esp32": (ENODEV, ENODEV, ETIMEDOUT),
    "rp2": (EIO, EIO, ETIMEDOUT),
}
# board families (board_configs/*.json "family") -> profile
FAMILY_PROFILE = {"esp32": "esp32", "esp32s3": "esp32", "esp32c3": "esp32", "rp2": "rp2"}


def profile_for(family):
    """The port error profile of a board family ("generic" for unix and unknown families)."""
    return FAMILY_PROFILE.get(family, "generic")


class NackError(Exception):
    """Raised by a device model to NACK a transaction (e.g. Sensirion 'not ready')."""


class SimI2C:
    def __init__(self, bus_id=0, freq=100000, profile="generic"):
        if profile not in PROFILES:
            raise ValueError(
                "unknown I2C port profile %r: %s" % (profile, ", ".join(sorted(PROFILES)))
            )
        self.bus_id = bus_id
        self.freq = freq
        self.profile = profile
        self.errno_absent, self.errno_nack, self.errno_timeout = PROFILES[profile]
        self.devices = {}
        self.faults = {}  # addr -> [kind, remaining count or None, params]
        self.transactions = 0

    # --- wiring and faults (simulation side) ---
    def attach(self, device, address=None):
        addr = device.address if address is None else address
        self.devices[addr] = device
        return device

    def detach(self, address):
        self.devices.pop(address, None)

    def inject(self, address, kind, count=None, **params):
        if kind not in ("absent", "nack", "corrupt", "slow", "timeout"):
            raise ValueError("unknown I2C fault: %s" % kind)
        self.faults[address] = [kind, count, params]

    def clear(self, address=None):
        if address is None:
            self.faults.clear()
        else:
            self.faults.pop(address, None)

    def _fault(self, addr):
        f = self.faults.get(addr)
        if f is None:
            return None, None
        kind, count, params = f
        if count is not None:
            if count <= 0:
                del self.faults[addr]
                return None, None
            f[1] = count - 1
        return kind, params

    def _bus_time(self, nbytes):
        # address byte + data bytes, 9 clocks each
        vtime.advance_us((nbytes + 1) * 9 * 1000000 // self.freq)

    def _device(self, addr, nbytes):
        self.transactions += 1
        kind, params = self._fault(addr)
        if kind == "slow":
            vtime.advance_us(params.get("delay_us", 20000))
        elif kind == "timeout":
            vtime.advance_us(params.get("delay_us", 50000))
            raise OSError(self.errno_timeout)
        dev = self.devices.get(addr)
        if dev is None or kind == "absent":
            self._bus_time(0)
            raise OSError(self.errno_absent)
        if kind == "nack":
            self._bus_time(0)
            raise OSError(self.errno_nack) from None
        self._bus_time(nbytes)
        return dev, kind, params

    def _read(self, addr, n):
        dev, kind, params = self._device(addr, n)
        try:
            data = heap.call(dev.read, n, vtime.now_us())
        except NackError:
            raise OSError(self.errno_nack) from None
        data = bytes(data)
        if len(data) < n:
            data = data + b"\xff" * (n - len(data))  # bus released: reads high
        if kind == "corrupt":
            mask = params.get("mask", 0x01)
            data = bytes(b ^ mask for b in data)
        return data[:n]

    def _write(self, addr, data):
        dev, kind, params = self._device(addr, len(data))
        try:
            heap.call(dev.write, bytes(data), vtime.now_us())
        except NackError:
            raise OSError(self.errno_nack) from None
        return len(data) + 1

    # --- machine.I2C API ---
    def init(self, *args, **kwargs):
        pass

    def deinit(self):
        pass

    def scan(self):
        """Addresses that acknowledge an address-only write, as machine.I2C.scan() probes them
        (a chip that is busy, e.g. a Sensirion chip mid-measurement, is not listed)."""
        out = []
        for addr in sorted(self.devices):
            f = self.faults.get(addr)
            if f is not None and f[0] in ("absent", "timeout"):
                continue
            try:
                heap.call(self.devices[addr].write, b"", vtime.now_us())
            except NackError:
                continue
            out.append(addr)
        return out

    def readfrom(self, addr, nbytes, stop=True):
        return self._read(addr, nbytes)

    def readfrom_into(self, addr, buf, stop=True):
        data = self._read(addr, len(buf))
        for i in range(len(buf)):
            buf[i] = data[i]

    def writeto(self, addr, buf, stop=True):
        return self._write(addr, buf)

    def writevto(self, addr, vector, stop=True):
        data = b"".join(bytes(v) for v in vector)
        return self._write(addr, data)

    def readfrom_mem(self, addr, memaddr, nbytes, addrsize=8):
        self._write(addr, self._memaddr(memaddr, addrsize))
        return self._read(addr, nbytes)

    def readfrom_mem_into(self, addr, memaddr, buf, addrsize=8):
        self._write(addr, self._memaddr(memaddr, addrsize))
        data = self._read(addr, len(buf))
        for i in range(len(buf)):
            buf[i] = data[i]

    def writeto_mem(self, addr, memaddr, buf, addrsize=8):
        self._write(addr, self._memaddr(memaddr, addrsize) + bytes(buf))

    @staticmethod
    def _memaddr(memaddr, addrsize):
        if addrsize == 16:
            return bytes(((memaddr >> 8) & 0xFF, memaddr & 0xFF))
        return bytes((memaddr & 0xFF,))
