# A modem that answers from a published capture: each command the driver writes must be the next
# one of the script, and the module's printed lines come back as captured (with line ends as the
# module sends them, wire time at the UART's baud rate). Used by the golden-transcript tests.


class TranscriptModem:
    def __init__(self, script):
        """script: [(command, [(delay_us, bytes), ...]), ...] in the order the driver sends."""
        self.uart = None
        self.script = list(script)
        self.heard = []
        self.unexpected = []
        self._buf = bytearray()

    def receive(self, data, now_us):
        self._buf.extend(data)
        while True:
            i = self._buf.find(b"\n")
            if i < 0:
                return
            line = bytes(self._buf[:i]).strip().decode()
            self._buf[: i + 1] = b""
            if not line:
                continue
            self.heard.append(line)
            if not self.script or self.script[0][0] != line:
                self.unexpected.append(line)
                continue
            _, replies = self.script.pop(0)
            for delay_us, data in replies:
                self.uart.send_to_host(data, delay_us)
