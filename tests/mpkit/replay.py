"""Allocation-free stand-ins for machine.I2C / machine.UART, fed with bytes recorded from the models.

The simulated buses allocate (they are simulation: models build `bytes`), while machine.I2C and
machine.UART on a board read into the caller's buffer without allocating. To prove that a driver's
read path allocates nothing, a test records one read against the real simulated bus and chip
model, then repeats the same driver call under `micropython.heap_lock()` with this recorder in
replay mode: every write must match the recorded one byte for byte, every read gets the recorded
bytes. The driver code that runs is exactly the code that runs against the model.
"""


class Recorder:
    def __init__(self, bus, slots=24, size=40):
        self.bus = bus
        self.recording = True
        self.logging = False  # pass-through until record() (e.g. during a driver's set-up)
        self._w = [bytearray(size) for _ in range(slots)]
        self._wn = [0] * slots
        self._r = [bytearray(size) for _ in range(slots)]
        self._rn = [0] * slots
        self._any = [0] * slots
        self.wi = 0
        self.ri = 0
        self.ai = 0
        self.mismatches = 0
        self._reg = bytearray(1)

    def record(self):
        """Forget what was recorded and record the next calls."""
        self.recording = True
        self.logging = True
        self.wi = 0
        self.ri = 0
        self.ai = 0

    def replay(self):
        """Switch to (or rewind) replay mode."""
        self.recording = False
        self.logging = True
        self.wi = 0
        self.ri = 0
        self.ai = 0

    def _log_write(self, buf, n):
        if not self.logging:
            return
        w = self._w[self.wi]
        if self.recording:
            for i in range(n):
                w[i] = buf[i]
            self._wn[self.wi] = n
        else:
            if self._wn[self.wi] != n:
                self.mismatches += 1
            else:
                for i in range(n):
                    if w[i] != buf[i]:
                        self.mismatches += 1
        self.wi += 1

    def _log_read(self, buf, n):
        if not self.logging:
            return n
        r = self._r[self.ri]
        if self.recording:
            for i in range(n):
                r[i] = buf[i]
            self._rn[self.ri] = n
        else:
            n = self._rn[self.ri]
            for i in range(n):
                buf[i] = r[i]
        self.ri += 1
        return n

    # --- machine.I2C subset ---
    def writeto(self, addr, buf, stop=True):
        if self.recording:
            self.bus.writeto(addr, buf)
        self._log_write(buf, len(buf))
        return len(buf)

    def readfrom_into(self, addr, buf, stop=True):
        if self.recording:
            self.bus.readfrom_into(addr, buf)
        self._log_read(buf, len(buf))

    def readfrom_mem_into(self, addr, memaddr, buf, addrsize=8):
        if self.recording:
            self.bus.readfrom_mem_into(addr, memaddr, buf)
        self._reg[0] = memaddr
        self._log_write(self._reg, 1)
        self._log_read(buf, len(buf))

    def writeto_mem(self, addr, memaddr, buf, addrsize=8):
        if self.recording:
            self.bus.writeto_mem(addr, memaddr, buf)
        self._reg[0] = memaddr
        self._log_write(self._reg, 1)
        self._log_write(buf, len(buf))

    def readfrom_mem(self, addr, memaddr, nbytes, addrsize=8):
        if not self.recording:
            raise OSError(5)  # set-up only: not replayed
        return self.bus.readfrom_mem(addr, memaddr, nbytes)

    # --- machine.UART subset ---
    def write(self, buf):
        if self.recording:
            self.bus.write(buf)
        self._log_write(buf, len(buf))
        return len(buf)

    def any(self):
        if self.recording:
            n = self.bus.any()
            if not self.logging:
                return n
            self._any[self.ai] = n
        else:
            n = self._any[self.ai]
        self.ai += 1
        return n

    def readinto(self, buf, nbytes=None):
        if self.recording:
            n = self.bus.readinto(buf, nbytes)
            if n is None:
                n = 0
            return self._log_read(buf, n)
        return self._log_read(buf, 0)
