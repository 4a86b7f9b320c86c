"""MQTT over TLS that is really TLS: the station verifies the broker's certificate against the
CA certificate it holds (mqtt.ca_file), with the broker's host name. A real Mosquitto TLS
listener serves certificates made at test time by a test CA (hostkit/testca.py)."""

from __future__ import annotations

import re
import shutil

import pytest
from cryptography.hazmat.primitives import serialization
from hostkit.station_run import StationRun, decode_seqs, wait_for
from hostkit.testca import TestCA
from stationctl.virtual.broker import Broker, Subscriber, free_port, kinds_available

PREFIX = "climate/station-0000"

pytestmark = pytest.mark.skipif(
    "mosquitto" not in kinds_available() or shutil.which("openssl") is None,
    reason="needs mosquitto (Debian: apt-get install mosquitto)",
)


@pytest.fixture(scope="module")
def ca():
    return TestCA()


def _der(ca: TestCA, path):
    path.write_bytes(ca.cert.public_bytes(serialization.Encoding.DER))
    return path


def _run(port, tmp_path, ca_path, cycles=3, host="localhost", name="ca.der"):
    args = [
        "--cycles", str(cycles), "--uplink", "mqtt", "--trace", "synthetic",
        "--set", f"mqtt.port={port}", "--set", "mqtt.timeout_s=2",
        "--set", f"mqtt.ca_file={name}", "--set", "mqtt.tls=true", "--set", f"mqtt.host={host}",
    ]  # fmt: skip
    if ca_path is not None:
        args += ["--install", f"{ca_path}={name}"]
    return StationRun(args, tmp_path / "fs").wait()


def _ups(sub):
    return [(p, None) for t, p, _ in sub.snapshot() if t == PREFIX + "/up"]


def _downs(run):
    return [ln for ln in run.lines if " MQTT.DOWN " in ln]


def test_the_right_ca_connects_and_delivers(ca, tmp_path):
    broker = Broker("mosquitto", tls_port=free_port(), tls_cert=ca.server(tmp_path)).start()
    try:
        sub = Subscriber(broker.port, PREFIX + "/#").start()
        run = _run(broker.tls_port, tmp_path, _der(ca, tmp_path / "ca.der"))
        wait_for(lambda: set(run.produced) <= set(decode_seqs(_ups(sub))), timeout=5)
        assert len(run.produced) == 3 and run.journal["pending"] == "0"
        assert not _downs(run), _downs(run)
        sub.stop()
    finally:
        broker.close()


@pytest.mark.parametrize(
    "case, reason",
    [
        ("wrong_ca", "tls_unknown_ca"),
        ("expired", "tls_cert_expired"),
        ("other_host", "tls_name_mismatch"),
    ],
)
def test_a_certificate_that_fails_verification_is_refused(ca, tmp_path, case, reason):
    if case == "expired":
        pair = ca.server(tmp_path, expired=True)
    elif case == "other_host":
        pair = ca.server(tmp_path, host="broker.example.org")
    else:
        pair = ca.server(tmp_path)
    station_ca = TestCA("Unrelated CA") if case == "wrong_ca" else ca
    broker = Broker("mosquitto", tls_port=free_port(), tls_cert=pair).start()
    try:
        sub = Subscriber(broker.port, PREFIX + "/#").start()
        run = _run(broker.tls_port, tmp_path, _der(station_ca, tmp_path / "ca.der"))
        downs = _downs(run)
        assert downs and all(f"reason={reason}" in ln for ln in downs), downs
        assert not any(" MQTT.CONNECTED " in ln for ln in run.lines)
        # nothing reached the broker; every sample waits in the journal
        assert not _ups(sub)
        assert run.journal["pending"] == str(len(run.produced)) == "3", run.journal
        sub.stop()
    finally:
        broker.close()


def test_the_ip_address_is_checked_too(ca, tmp_path):
    """mqtt.host=127.0.0.1 with a certificate that names localhost and 127.0.0.1: accepted."""
    broker = Broker("mosquitto", tls_port=free_port(), tls_cert=ca.server(tmp_path)).start()
    try:
        run = _run(broker.tls_port, tmp_path, _der(ca, tmp_path / "ca.der"), host="127.0.0.1")
        assert run.journal["pending"] == "0", run.lines[-20:]
    finally:
        broker.close()


@pytest.mark.parametrize("problem", ["missing", "pem"])
def test_an_unusable_ca_file_is_named(ca, tmp_path, problem):
    broker = Broker("mosquitto", tls_port=free_port(), tls_cert=ca.server(tmp_path)).start()
    try:
        ca_path = None if problem == "missing" else ca.write_pem(tmp_path / "ca.pem")
        run = _run(broker.tls_port, tmp_path, ca_path, cycles=2)
        downs = _downs(run)
        assert downs and all(re.search(rf"reason=ca_file_{problem}\b", ln) for ln in downs), downs
        assert run.journal["pending"] == "2"
    finally:
        broker.close()


def test_tls_without_a_ca_file_is_not_a_runnable_config(tmp_path):
    from hostkit.micropython import run_mp

    out = run_mp(
        "import config\n"
        "try:\n"
        "    config.validate({'mqtt': {'tls': True}})\n"
        "except config.ConfigError as e:\n"
        "    print(e.problems)\n"
    )
    assert "mqtt.tls: needs mqtt.ca_file" in out.stdout


def test_configure_installs_the_ca_as_der(ca, tmp_path):
    import json

    from cryptography import x509
    from hostkit.cli import stationctl
    from hostkit.sim_device import BOARD, sim_station

    fs = tmp_path / "fs"
    pem = ca.write_pem(tmp_path / "ca.pem")
    server_pem, _ = ca.server(tmp_path)
    with sim_station(fs, baud=1_000_000) as dev:
        r = stationctl("deploy", "--port", dev.port_path, "--board", BOARD, "--quiet")
        assert r.returncode == 0, r.stderr
        # a server certificate is not a CA: refused, nothing written
        r = stationctl("configure", "--port", dev.port_path, "--ca-file", server_pem)
        assert r.returncode == 2 and "not a CA" in r.stderr, r.stdout + r.stderr
        assert not (fs / "ca.der").exists()
        r = stationctl(
            "configure", "--port", dev.port_path, "--ca-file", pem,
            "--set", "mqtt.tls=true", "--set", "mqtt.host=broker.example", "--no-reset",
        )  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
    assert x509.load_der_x509_certificate((fs / "ca.der").read_bytes()) == ca.cert
    cfg = json.loads((fs / "config.json").read_text())
    assert cfg["mqtt"]["ca_file"] == "ca.der" and cfg["mqtt"]["tls"] is True
