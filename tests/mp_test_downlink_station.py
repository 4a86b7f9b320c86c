# A real station on the simulated board handles downlink commands (Station.handle_downlink):
# the ack frame, the config on its flash, the status frame, and journal records re-packed
# into a batch by the codec.
# mp-heapsize: 512K
import json

import codec  # noqa: E402
import config  # noqa: E402
import sample as S  # noqa: E402
from mptest import eq  # noqa: E402
from stationkit import Rig

FS = "/tmp/mp_downlink_station_fs"


def test_station_applies_and_acks_a_command():
    rig = Rig(fs=FS).boot()
    st = rig.st
    ack = st.handle_downlink(bytes([0x27, 3, 9]) + b"log_level" + b'"W"')
    eq(bytes(ack), bytes([0x58, 3, 0]), "ack ok")
    eq(st.cfg["log_level"], "W", "in effect")
    with open(FS + "/config.json") as f:
        eq(json.loads(f.read())["log_level"], "W", "on the station's flash")
    before = config.canonical(st.cfg)
    ack = st.handle_downlink(bytes([0x23, 4, 0x09]))  # DR9 does not exist
    eq(bytes(ack), bytes([0x58, 4, 4]), "out_of_range")
    eq(config.canonical(st.cfg), before, "unchanged")


def test_status_frame_of_a_booted_station_decodes():
    rig = Rig(fs=FS).boot().run_cycles(2)
    buf = bytearray(64)
    n = rig.st._status_frame(buf)
    eq(buf[0], 0x50, "status header")
    eq(buf[15] & 0xC0, 0x40, "flags: the dropped count follows (no Wi-Fi)")
    eq(n, 16 + (buf[15] & 0x1F) + 4, "length matches the sensor count and the dropped count")
    eq(bytes(buf[n - 4 : n]), bytes(4), "nothing dropped")
    eq(buf[16] & 0x7F, codec.sensor_type_id("bme280"), "the fitted BME280")
    eq("%02x%02x%02x%02x" % (buf[4], buf[5], buf[6], buf[7]), config.digest(rig.st.cfg), "digest")


def test_sampled_frames_repack_into_one_batch():
    rig = Rig(fs=FS).boot()
    frames = []
    orig = rig.st.deliver

    def keep(frame):
        frames.append(bytes(frame))
        orig(frame)

    rig.st.deliver = keep
    rig.run_cycles(6)
    eq(len(frames) >= 5, True, "frames sampled")
    samples = [S.Sample() for _ in frames]
    for i in range(len(frames)):
        codec.decode_sample(frames[i], samples[i])
    out = bytearray(242)
    n, used = codec.encode_batch(samples, len(samples), out, 242)
    eq(used, len(samples), "one batch")
    back = S.Sample()
    for i in range(len(frames)):
        eq(samples[i].seq, samples[0].seq + i, "consecutive seq")
    codec.decode_sample(frames[-1], back)
    eq(back.values[S.TEMPERATURE] is not None, True, "temperature sampled")


def test_every_uplink_keeps_the_one_contract():
    import uplink
    import uplink_lorawan
    import uplink_mqtt

    members = [n for n in dir(uplink.Uplink) if not n.startswith("_")]
    for cls in (
        uplink.ConsoleUplink,
        uplink.FileUplink,
        uplink_mqtt.MqttUplink,
        uplink_lorawan.LorawanUplink,
    ):
        eq(issubclass(cls, uplink.Uplink), True, cls.__name__ + " is an Uplink")
        eq([n for n in members if not hasattr(cls, n)], [], cls.__name__ + " lacks")
        for n in ("max_payload", "connect", "send"):
            eq(getattr(cls, n) is not getattr(uplink.Uplink, n), True, cls.__name__ + "." + n)


def test_acks_and_status_frames_go_out_on_their_ports_through_the_uplink():
    rig = Rig(fs=FS).boot()
    st = rig.st
    sent = []
    send = st.uplink.send

    def recording(frame, port=codec.FPORT_DATA):
        sent.append((port, bytes(frame)[0]))
        return send(frame, port)

    st.uplink.send = recording
    queue = [bytes([0x24, 7])]  # request_status, cmd_id 7
    st.uplink.poll = lambda: queue.pop() if queue else None
    rig.run_cycles(1)
    eq(sent[0][0], codec.FPORT_DATA, "the cycle's sample first")
    ref = bytearray(64)
    codec.encode_ack(ref, 7, 0)
    ack_header = ref[0]
    codec.encode_status(ref)
    eq(
        sent[1:],
        [(codec.FPORT_ACK, ack_header), (codec.FPORT_STATUS, ref[0])],
        "ack, then the status frame",
    )
    eq(len(rig.find("STATUS.SENT")), 1, "reported once")
