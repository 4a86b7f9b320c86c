"""The one contract every uplink implements (`Uplink`), and the console/file uplinks.

    name                     short name for diagnostics ("console", "mqtt", "lorawan")
    max_payload() -> int     bytes one frame may carry right now (data rate, broker limit)
    connect() -> bool        bring the link up; bounded in time, never raises for link faults
    send(frame, port) -> bool
                             transmit `frame` (bytes-like); True only when delivery is confirmed
                             (console/file: written; MQTT: PUBACK; LoRaWAN: send accepted/ACKed)
    send_ack(frame) -> bool  the answer to a downlink command (codec.FPORT_ACK unless the
                             transport has its own way: MQTT topic /ack)
    send_status(frame) -> bool
                             a status frame (codec.FPORT_STATUS; MQTT topic /status)
    status_frame             callable(buf) -> length: the station's status frame, set by the station;
                             `status()` builds one with it (on request, and MQTT after connecting)
    poll() -> bytes | None   a downlink command that arrived, if any (None where there are none)
    receipt() -> (seq, n) | None
                             a collector's delivery receipt that arrived, oldest first: readings
                             seq-n+1 .. seq (modulo 256) are stored (None where there are none)
    link_losses              count of links found lost since boot (a failed LoRaWAN link check):
                             the records sent since the last receipt are sent again
    sleep(interval_ms)       the station sleeps until the next cycle (MQTT leaves cleanly)
    close()

Uplinks report through diag and never raise for network faults: the station keeps the frame
(journal) and tries again next cycle.
"""

import binascii

import codec
import diag


class Uplink:
    """The contract; a transport overrides what it does differently (see the module docstring)."""

    name = "?"
    status_frame = None
    link_losses = 0  # times the link was found lost (LoRaWAN link checks); delivery re-sends

    def max_payload(self):
        raise NotImplementedError

    def connect(self):
        raise NotImplementedError

    def send(self, frame, port=codec.FPORT_DATA):
        raise NotImplementedError

    def send_ack(self, frame):
        return self.send(frame, codec.FPORT_ACK)

    def send_status(self, frame):
        return self.send(frame, codec.FPORT_STATUS)

    def status(self):
        """A status frame built now (a memoryview), or None when it cannot be built."""
        if self.status_frame is None:
            return None
        buf = bytearray(70)  # the longest status frame: 16 + 16 sensors, run hours, dropped, Wi-Fi
        try:
            n = self.status_frame(buf)
        except (ValueError, IndexError) as exc:
            diag.exception("STATUS.ERROR", exc)
            return None
        return memoryview(buf)[:n]

    def wifi_status(self):
        """(rssi_dbm, network index) of the Wi-Fi link in use, None without one."""
        return None

    def poll(self):
        return None  # a transport without downlinks

    def receipt(self):
        return None  # a transport without receipts

    def sleep(self, interval_ms):
        pass

    def close(self):
        pass


class ConsoleUplink(Uplink):
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
        diag.info(
            "UPLINK.TX",
            self.name,
            port=port,
            bytes=len(frame),
            hex=binascii.hexlify(frame).decode(),
        )
        self.sent += 1
        return True


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
