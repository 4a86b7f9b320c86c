"""The one interface every uplink implements, and the console/file uplinks.

    class Uplink:
        name                     short name for diagnostics ("console", "mqtt", "lorawan")
        max_payload() -> int     bytes one frame may carry right now (data rate, broker limit)
        connect() -> bool        bring the link up; bounded in time, never raises for link faults
        send(frame, port) -> bool
                                 transmit `frame` (bytes-like); True only when delivery is confirmed
                                 (console/file: written; MQTT: PUBACK; LoRaWAN: send accepted/ACKed)
        poll() -> bytes | None   a downlink command that arrived, if any
        close()

Uplinks report through diag and never raise for network faults: the station keeps the frame
(journal) and tries again next cycle.
"""

import binascii

import diag


class ConsoleUplink:
    """Writes each frame as an `UPLINK.TX` diagnostic line with its hex (the serial console)."""

    name = "console"

    def __init__(self, max_payload=242):
        self._max = max_payload
        self.sent = 0

    def max_payload(self):
        return self._max

    def connect(self):
        return True

    def send(self, frame, port=1):
        diag.info("UPLINK.TX", self.name, port=port, bytes=len(frame), hex=binascii.hexlify(frame).decode())
        self.sent += 1
        return True

    def poll(self):
        return None

    def close(self):
        pass


class FileUplink(ConsoleUplink):
    """Appends `port hex` lines to a file (frames kept for later inspection)."""

    name = "file"

    def __init__(self, path, max_payload=242):
        super().__init__(max_payload)
        self.path = path

    def send(self, frame, port=1):
        try:
            with open(self.path, "a") as f:
                f.write("%d %s\n" % (port, binascii.hexlify(frame).decode()))
        except OSError as exc:
            diag.exception("UPLINK.FAIL", exc, self.name)
            return False
        diag.info("UPLINK.TX", self.name, port=port, bytes=len(frame))
        self.sent += 1
        return True
