"""Simulated LoRaWAN network server (and its gateways), living in the simulation process.

The simulated modems (sim/rak3172.py, sim/lora_e5.py) hand every radio transmission here. What
the server receives is printed as one line for the host to decode with the project decoder:

    @@NS up dev=<deveui> fcnt=<n> port=<p> dr=<dr> confirmed=<0|1> t=<s> hex=<payload>
    @@NS join dev=<deveui> t=<s> accepted=<0|1>

Faults: `down` (no gateway hears anything: uplinks lost, no join accept, no ACK),
`deny_joins` (the next N joins are refused), `drop_acks` (the next N confirmed uplinks are
received but their ACK is lost on the way down: the station sends again, a duplicate).
Downlinks queued with `queue_downlink(port, payload)` go out in the RX window of the next uplink.
"""

from sim import vtime

down = False
deny_joins = 0
drop_acks = 0
received = []  # (fcnt, port, payload) of the last 64 uplinks received
joins = 0
_queue = []
quiet = False


def reset():
    global down, deny_joins, drop_acks, joins, quiet
    down = False
    deny_joins = 0
    drop_acks = 0
    joins = 0
    quiet = False
    del received[:]
    del _queue[:]


def queue_downlink(port, payload):
    _queue.append((port, bytes(payload)))


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
    if confirmed and drop_acks > 0:
        drop_acks -= 1
        return False, None  # the downlink (ACK and any command) never arrives
    down_msg = _queue.pop(0) if _queue else None
    return bool(confirmed), down_msg
