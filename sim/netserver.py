"""Simulated LoRaWAN network server (and its gateways), living in the simulation process.

The simulated modems (sim/rak3172.py, sim/lora_e5.py) hand every radio transmission here. What
the server receives is printed as one line for the host to decode with the project decoder:

    @@NS up dev=<deveui> fcnt=<n> port=<p> dr=<dr> confirmed=<0|1> t=<s> hex=<payload>
    @@NS join dev=<deveui> t=<s> accepted=<0|1>

Faults: `down` (no gateway hears anything: uplinks lost, no join accept, no ACK),
`deny_joins` (the next N joins are refused), `drop_acks` (the next N confirmed uplinks are
received but their ACK is lost on the way down: the station sends again, a duplicate).
Downlinks queued with `queue_downlink(port, payload, confirmed=False)` go out in the RX window
of the next uplink; while more are queued the downlink carries FPending (`fpending`), which makes
a modem send an empty uplink by itself to fetch the next, as it does to ACK a confirmed downlink.
`set_adr(dr)` makes the server send a LinkADRReq with the next downlink opportunity: the modem
takes the new data rate and owes the answer in its next uplink. Empty (FOpts-only) uplinks are
printed as `@@NS empty dev= fcnt= dr= t=`.

The application side keeps what it received like a collector (docs/collector.md): the seqs of
the data frames (port 1; modulo 256, read from the frame header) and answers every confirmed
data uplink with a delivery receipt `0x01 seq n` on port 5 in the same downlink as the ACK
(unless a command waits: it goes first, the next check brings the receipt):
the run of seqs received without a gap that holds the frame's last seq (seq: its end, up to
the newest received; n: its length). `receipts` counts them. With `receipts_late` the receipt
goes as a real network server delivers what `stationctl collect` queues: the ACK's downlink is
already on its way when the application side has the uplink, so the receipt waits for the RX
window of a later uplink (any one; a newer receipt replaces one still waiting).

DeviceTimeReq (a MAC command in an uplink) is answered with DeviceTimeAns in that uplink's
downlink window, as LoRaWAN 1.0.3 section 5.9 defines it: the seconds since the GPS epoch
(1980-01-06, GPS time: no leap seconds, 18 s ahead of UTC since 2017) at the end of the uplink's
transmission, plus the fraction in 1/256 s. `time_answers` counts them (each is a downlink).
"""

from sim import vtime

down = False
deny_joins = 0
drop_acks = 0
received = []  # (fcnt, port, payload) of the last 64 uplinks received
joins = 0
_queue = []
quiet = False
fpending = False  # the last downlink said more are waiting
down_confirmed = False  # the last downlink was a confirmed one (the device must ACK it)
_adr_dr = None
time_answers = 0
receipts = 0
receipts_late = False
_RECEIPT_PORT = 5
_have = bytearray(256)  # application side: seqs (modulo 256) received, in a window of 128
_newest = None
GPS_EPOCH_UNIX_S = 315964800  # 1980-01-06T00:00:00Z
GPS_LEAP_S = 18  # GPS - UTC since 2017-01-01


def device_time(deveui, tx_end_us):
    """DeviceTimeAns for a DeviceTimeReq whose uplink ended at virtual time `tx_end_us`:
    (GPS seconds, fraction in 1/256 s), or None when no gateway heard the uplink."""
    global time_answers
    if down:
        return None
    time_answers += 1
    gps_us = vtime.true_time_us(tx_end_us) - (GPS_EPOCH_UNIX_S - GPS_LEAP_S) * 1000000
    if not quiet:
        print("@@NS time dev=%s gps_s=%d t=%d" % (deveui, gps_us // 1000000, vtime.now_s()))
    return gps_us // 1000000, (gps_us % 1000000) * 256 // 1000000


def reset():
    global \
        down, \
        deny_joins, \
        drop_acks, \
        joins, \
        quiet, \
        fpending, \
        down_confirmed, \
        _adr_dr, \
        time_answers
    global receipts, _newest, receipts_late
    receipts_late = False
    time_answers = 0
    receipts = 0
    _newest = None
    _have[:] = bytes(256)
    fpending = False
    down_confirmed = False
    _adr_dr = None
    down = False
    deny_joins = 0
    drop_acks = 0
    joins = 0
    quiet = False
    del received[:]
    del _queue[:]


def queue_downlink(port, payload, confirmed=False):
    _queue.append((port, bytes(payload), confirmed))


def set_adr(dr):
    """The next downlink opportunity carries a LinkADRReq to data rate `dr`."""
    global _adr_dr
    _adr_dr = dr


def take_adr(deveui):
    """The data rate of a LinkADRReq sent in the RX window of the uplink just received, or None."""
    global _adr_dr
    dr = _adr_dr
    if down:
        return None
    _adr_dr = None
    return dr


def empty_uplink(deveui, fcnt, dr):
    """An uplink without application payload (MAC answers / ACK only); the next downlink or None."""
    if down:
        return None
    if not quiet:
        print("@@NS empty dev=%s fcnt=%d dr=%d t=%d" % (deveui, fcnt, dr, vtime.now_s()))
    return _next_downlink()


def _next_downlink():
    global fpending, down_confirmed
    fpending = False
    down_confirmed = False
    if not _queue:
        return None
    port, payload, down_confirmed = _queue.pop(0)
    fpending = bool(_queue)
    return port, payload


def _hex(data):
    return "".join("%02x" % b for b in data)


def join(deveui):
    """A join request was transmitted; True if the server answers with a join accept."""
    global deny_joins, joins
    ok = not down
    if ok and deny_joins > 0:
        deny_joins -= 1
        ok = False
    if not down and not quiet:
        print("@@NS join dev=%s t=%d accepted=%d" % (deveui, vtime.now_s(), 1 if ok else 0))
    if ok:
        joins += 1
    return ok


def uplink(deveui, fcnt, port, payload, dr, confirmed):
    """An uplink was transmitted. Returns (acked, downlink or None) as seen by the device."""
    global drop_acks
    if down:
        return False, None
    received.append((fcnt, port, bytes(payload)))
    if len(received) > 64:
        received.pop(0)  # the host keeps the full record from the @@NS lines
    if not quiet:
        print(
            "@@NS up dev=%s fcnt=%d port=%d dr=%d confirmed=%d t=%d hex=%s"
            % (deveui, fcnt, port, dr, 1 if confirmed else 0, vtime.now_s(), _hex(payload))
        )
    if port == 1:
        _store(payload)
    if confirmed and drop_acks > 0:
        drop_acks -= 1
        return False, None  # the downlink (ACK and any command) never arrives
    if receipts_late and confirmed and port == 1 and _seqs(payload):
        ack_down = _next_downlink()
        for i in range(len(_queue) - 1, -1, -1):
            if _queue[i][0] == _RECEIPT_PORT:
                _queue.pop(i)  # replaced: the newest receipt reaches at least as far
        _queue.append((_RECEIPT_PORT, _receipt(payload), False))
        return True, ack_down
    if confirmed and port == 1 and _seqs(payload) and not _queue:
        # rides in the ACK's downlink; a queued command goes first (the next check brings one)
        _queue.append((_RECEIPT_PORT, _receipt(payload), False))
    return bool(confirmed), _next_downlink()


def _seqs(frame):
    """(first seq modulo 256, count) of a sample or batch frame, None for anything else."""
    if len(frame) < 3 or frame[0] >> 5 != 2:  # codec.VERSION
        return None
    kind = (frame[0] >> 3) & 3
    if kind == 0:
        return frame[1], 1
    if kind == 1:
        return ((frame[1] & 3) << 6) | (frame[2] >> 2), (frame[1] >> 2) + 1
    return None


def _store(frame):
    global _newest
    r = _seqs(frame)
    if r is None:
        return
    first, count = r
    for i in range(count):
        s = (first + i) & 255
        if _newest is None:
            _newest = s
        ahead = (s - _newest) & 255
        if 0 < ahead < 128:
            for k in range(1, ahead):
                _have[(_newest + k) & 255] = 0  # not (yet) received: a gap
            _newest = s
        _have[s] = 1


def _receipt(frame):
    """The run of seqs received without a gap that holds the frame's last seq: from it
    forward as far as received (up to the newest), and how many back."""
    global receipts
    first, count = _seqs(frame)
    end = (first + count - 1) & 255
    while end != _newest and _have[(end + 1) & 255]:
        end = (end + 1) & 255
    n = 0
    while n < 255 and _have[(end - n) & 255]:
        n += 1
    receipts += 1
    if not quiet:
        print("@@NS receipt seq=%d n=%d t=%d" % (end, n, vtime.now_s()))
    return bytes((1, end, n))
