"""Third-party drivers against our chip models: code we did not write checks the models and drivers.

Adafruit's CircuitPython drivers (SHT4x, SCD4x, SGP40, PM2.5) and a PyPI SDS011 client
(sds011lib) run here in CPython; the chip models run in unix MicroPython (sim/chipserver.py)
behind thin bus adapters (tests/hostkit/chipbus.py), with the libraries' sleeps moved to virtual time.
Our MicroPython drivers read the same models over the same grid of conditions; both must agree
with each other and with the conditions. A model that drifts from the chip (a command the
library needs, a timing it relies on) makes the library fail here.
Each test prints its case count and largest difference (`pytest -s` shows them).
"""

from __future__ import annotations

import json

import adafruit_pm25.uart as ada_pm25
import adafruit_scd4x as ada_scd4x
import adafruit_sgp40 as ada_sgp40
import adafruit_sht4x as ada_sht4x
import pytest
import sds011lib
from hostkit.chipbus import I2C, ChipServer, Serial, VirtualTime
from hostkit.micropython import run_mp

PROFILES = ("generic", "esp32", "rp2")


@pytest.fixture
def server(request):
    servers = []

    def start(*models, profile="generic"):
        s = ChipServer(*models, profile=profile)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.close()


def _ours(code: str) -> list[dict]:
    head = (
        "import json\n"
        "from sim import vtime\n"
        "vtime.install()\n"
        "vtime.reset(epoch_s=1700000000)\n"
        "from sim.env import Environment\n"
        "from sim.i2c import SimI2C\n"
        "from sim.uart import SimUART\n"
        "env = Environment('synthetic')\n"
        "env.overrides = {}\n"
    )
    proc = run_mp(code=head + code, heapsize="2M", timeout=300)
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


SHT_GRID = [
    (t, rh)
    for t in (-40.0, -10.01, 0.0, 12.34, 25.0, 59.99, 85.0)
    for rh in (0.5, 33.3, 80.0, 99.0)
]


@pytest.mark.parametrize("profile", PROFILES)
def test_sht4x_adafruit_agrees_with_our_driver(server, monkeypatch, profile):
    s = server("sht4x", profile=profile)
    s.call("sleep 2000")
    monkeypatch.setattr(ada_sht4x, "time", VirtualTime(s))
    bus = I2C(s)
    oracle = ada_sht4x.SHT4x(bus)  # probes the address with an address-only write first
    assert oracle.serial_number == 0x1A2B3C4D
    theirs = []
    for t, rh in SHT_GRID:
        s.env(temperature_c=t, humidity_pct=rh)
        theirs.append(oracle.measurements)
    ours = _ours(
        "import sht4x\n"
        "from sim.sht4x import SHT4xModel\n"
        f"bus = SimI2C(profile={profile!r})\n"
        "bus.attach(SHT4xModel(env))\n"
        "vtime.advance_ms(2)\n"
        "d = sht4x.SHT4x(bus)\n"
        f"for t, rh in {SHT_GRID!r}:\n"
        "    env.overrides = {'temperature_c': t, 'humidity_pct': rh}\n"
        "    d.measure()\n"
        "    print(json.dumps({'t': d.temperature_c, 'rh': d.humidity_pct}))\n"
    )
    assert len(ours) == len(theirs) == len(SHT_GRID)
    worst_t = max(abs(o["t"] - a[0]) for o, a in zip(ours, theirs, strict=True))
    # Adafruit does not crop RH to 0..100 (the datasheet recommends it; the grid stays inside)
    worst_rh = max(abs(o["rh"] - a[1]) for o, a in zip(ours, theirs, strict=True))
    worst_truth = max(abs(a[0] - t) for a, (t, _) in zip(theirs, SHT_GRID, strict=True))
    print(
        f"SHT4x [{profile}]: {len(SHT_GRID)} cases, worst |ours-Adafruit| T {worst_t:.4f} degC, "
        f"RH {worst_rh:.4f} %; Adafruit vs truth T {worst_truth:.4f}"
    )
    # ours rounds to 0.01, Adafruit keeps the float: at most 0.005 + float noise apart
    assert worst_t <= 0.0051 and worst_rh <= 0.0051
    assert worst_truth <= 0.003  # one 16-bit tick: 175/65535


SCD_GRID = [
    (co2, t, rh, p)
    for co2, t, rh in (
        (410.0, 21.0, 45.0),
        (733.0, 22.22, 33.33),
        (1500.0, 5.5, 80.0),
        (4800.0, 35.0, 20.0),
    )
    for p in (950.0, 1013.25)
]


@pytest.mark.parametrize("profile", PROFILES)
def test_scd4x_adafruit_agrees_with_our_driver(server, monkeypatch, profile):
    s = server("scd4x", profile=profile)
    monkeypatch.setattr(ada_scd4x, "time", VirtualTime(s))
    bus = I2C(s)
    s.call("sleep 1000000")  # the SCD4x answers 1000 ms after power-up
    oracle = ada_scd4x.SCD4X(bus)
    assert oracle.serial_number == (0xF8, 0x96, 0x9F, 0x07, 0x3B, 0xB4)
    assert oracle.sensor_variant_name == "SCD41"
    assert oracle.self_calibration_enabled is True
    oracle.self_calibration_enabled = False
    assert oracle.self_calibration_enabled is False
    assert oracle.self_calibration_target == 400
    assert abs(oracle.temperature_offset - 4.0) < 0.01
    oracle.altitude = 0
    theirs = []
    for co2, t, rh, p in SCD_GRID:
        s.env(co2_ppm=co2, temperature_c=t, humidity_pct=rh, pressure_hpa=p)
        oracle.ambient_pressure = round(p)
        oracle.start_periodic_measurement()
        while not oracle.data_ready:  # the first reading comes 5 s after the start
            VirtualTime(s).sleep(0.5)
        theirs.append((oracle.CO2, oracle.temperature, oracle.relative_humidity))
        oracle.stop_periodic_measurement()
    ours = _ours(
        "import scd4x\n"
        "from sim.scd4x import SCD4xModel\n"
        f"bus = SimI2C(profile={profile!r})\n"
        "bus.attach(SCD4xModel(env))\n"
        "d = scd4x.SCD4x(bus, start=False)\n"
        "d.set_asc(False)\n"
        f"for co2, t, rh, p in {SCD_GRID!r}:\n"
        "    env.overrides = {'co2_ppm': co2, 'temperature_c': t, 'humidity_pct': rh, 'pressure_hpa': p}\n"
        "    d.set_ambient_pressure(p)\n"
        "    d.start()\n"
        "    d.measure()\n"
        "    print(json.dumps({'co2': d.co2_ppm, 't': d.temperature_c, 'rh': d.humidity_pct}))\n"
        "    d.stop()\n"
    )
    assert len(ours) == len(theirs) == len(SCD_GRID)
    worst_co2 = max(abs(o["co2"] - a[0]) for o, a in zip(ours, theirs, strict=True))
    worst_t = max(abs(o["t"] - a[1]) for o, a in zip(ours, theirs, strict=True))
    worst_rh = max(abs(o["rh"] - a[2]) for o, a in zip(ours, theirs, strict=True))
    # with the ambient pressure set to the actual pressure the reading is the true CO2
    worst_truth = max(abs(a[0] - g[0]) for a, g in zip(theirs, SCD_GRID, strict=True))
    print(
        f"SCD4x [{profile}]: {len(SCD_GRID)} cases, worst |ours-Adafruit| CO2 {worst_co2} ppm, "
        f"T {worst_t:.4f} degC, RH {worst_rh:.4f} %; Adafruit vs truth CO2 {worst_truth} ppm"
    )
    assert worst_co2 == 0
    assert worst_t <= 0.0051 and worst_rh <= 0.0051
    assert worst_truth <= 1
    # forced recalibration through Adafruit's code path: the ack carries the correction
    oracle.start_periodic_measurement()
    VirtualTime(s).sleep(180)
    oracle.stop_periodic_measurement()
    s.env(co2_ppm=500.0)
    assert oracle.force_calibration(520) == 20


SGP_GRID = [
    (t, rh, voc) for t in (10.0, 25.0, 33.3) for rh in (20.0, 50.0, 85.0) for voc in (50.0, 900.0)
]


@pytest.mark.parametrize("profile", PROFILES)
def test_sgp40_adafruit_agrees_with_our_driver(server, monkeypatch, profile):
    s = server("sgp40", profile=profile)
    s.call("sleep 1000")
    monkeypatch.setattr(ada_sgp40, "sleep", VirtualTime(s).sleep)
    oracle = ada_sgp40.SGP40(I2C(s))  # serial, feature set 0x202F, self test
    theirs = []
    for t, rh, voc in SGP_GRID:
        s.env(temperature_c=t, humidity_pct=rh, voc_ppb=voc)
        oracle.measure_raw(t, rh)  # Adafruit keeps the heater on: the second one is settled
        VirtualTime(s).sleep(0.2)
        theirs.append(oracle.measure_raw(t, rh))
    ours = _ours(
        "import sgp40\n"
        "from sim.sgp40 import SGP40Model\n"
        f"bus = SimI2C(profile={profile!r})\n"
        "bus.attach(SGP40Model(env))\n"
        "vtime.advance_ms(1)\n"
        "d = sgp40.SGP40(bus)\n"
        f"for t, rh, voc in {SGP_GRID!r}:\n"
        "    env.overrides = {'temperature_c': t, 'humidity_pct': rh, 'voc_ppb': voc}\n"
        "    s = d.measure_raw(int(rh * 100), int(t * 100), settle=True)\n"
        "    print(json.dumps({'sraw': s}))\n"
        "    d.heater_off()\n"
    )
    assert len(ours) == len(theirs) == len(SGP_GRID)
    worst = max(abs(o["sraw"] - a) for o, a in zip(ours, theirs, strict=True))
    print(f"SGP40 [{profile}]: {len(SGP_GRID)} cases, worst |ours-Adafruit| SRAW {worst} ticks")
    # the compensation words differ by at most one tick (Adafruit truncates, we round)
    assert worst <= 1


PM_GRID = [(1.2, 3.4, 5.6), (8.0, 12.0, 20.0), (35.0, 60.0, 95.0), (150.0, 300.0, 420.0)]


def test_pms5003_adafruit_pm25_agrees_with_our_driver(server, monkeypatch):
    s = server("pms5003")
    monkeypatch.setattr(ada_pm25, "time", VirtualTime(s))
    VirtualTime(s).sleep(31)  # past the fan warm-up after power-on
    oracle = ada_pm25.PM25_UART(Serial(s, timeout=3.0))  # active mode: the sensor's default
    theirs = []
    for pm1, pm25, pm10 in PM_GRID:
        s.env(pm1_0_ugm3=pm1, pm2_5_ugm3=pm25, pm10_ugm3=pm10)
        VirtualTime(s).sleep(2.5)  # one frame period: the next frame has the new air
        oracle._uart.reset_input_buffer()
        theirs.append(dict(oracle.read()))  # the library reuses one dict
    ours = _ours(
        "import pms5003\n"
        "from sim.pms5003 import PMS5003Model\n"
        "uart = SimUART(1, 9600, 1000)\n"
        "uart.attach(PMS5003Model(env))\n"
        "d = pms5003.PMS5003(uart)\n"
        "vtime.advance_ms(d.ready_in_ms())\n"
        f"for pm1, pm25, pm10 in {PM_GRID!r}:\n"
        "    env.overrides = {'pm1_0_ugm3': pm1, 'pm2_5_ugm3': pm25, 'pm10_ugm3': pm10}\n"
        "    d.read()\n"
        "    print(json.dumps({'pm1': d.pm1_0, 'pm25': d.pm2_5, 'pm10': d.pm10,\n"
        "        'cf1': [d.pm1_0_cf1, d.pm2_5_cf1, d.pm10_cf1], 'counts': d.counts}))\n"
    )
    assert len(ours) == len(theirs) == len(PM_GRID)
    worst = 0
    for o, a in zip(ours, theirs, strict=True):
        pairs = [
            (o["pm1"], a["pm10 env"]),
            (o["pm25"], a["pm25 env"]),
            (o["pm10"], a["pm100 env"]),
            (o["cf1"][0], a["pm10 standard"]),
            (o["cf1"][1], a["pm25 standard"]),
            (o["cf1"][2], a["pm100 standard"]),
            (o["counts"][0], a["particles 03um"]),
            (o["counts"][5], a["particles 100um"]),
        ]
        worst = max(worst, max(abs(x - y) for x, y in pairs))
    print(f"PMS5003: {len(PM_GRID)} frames, worst |ours-Adafruit| {worst} (ug/m3 or counts)")
    assert worst == 0


SDS_GRID = [(2.3, 4.5), (8.34, 13.36), (55.5, 99.9), (512.0, 999.9)]


def test_sds011_pypi_client_agrees_with_our_driver(server, monkeypatch):
    s = server("sds011")
    monkeypatch.setattr(sds011lib, "time", VirtualTime(s))
    reader = sds011lib.SDS011QueryReader(Serial(s, timeout=2.0), send_command_sleep=0.2)
    VirtualTime(s).sleep(31)
    theirs = []
    for pm25, pm10 in SDS_GRID:
        s.env(pm2_5_ugm3=pm25, pm10_ugm3=pm10)
        r = reader.query()
        theirs.append((r.pm25, r.pm10))
    assert reader.get_reporting_mode().state == sds011lib.ReportingMode.QUERYING
    assert reader.sleep().state == sds011lib.SleepState.SLEEP
    assert reader.wake().state == sds011lib.SleepState.WAKE
    ours = _ours(
        "import sds011\n"
        "from sim.sds011 import SDS011Model\n"
        "uart = SimUART(2, 9600, 1000)\n"
        "uart.attach(SDS011Model(env))\n"
        "d = sds011.SDS011(uart)\n"
        "vtime.advance_ms(d.ready_in_ms())\n"
        f"for pm25, pm10 in {SDS_GRID!r}:\n"
        "    env.overrides = {'pm2_5_ugm3': pm25, 'pm10_ugm3': pm10}\n"
        "    d.read()\n"
        "    print(json.dumps({'pm25': d.pm2_5_ugm3, 'pm10': d.pm10_ugm3}))\n"
    )
    assert len(ours) == len(theirs) == len(SDS_GRID)
    worst = max(
        max(abs(o["pm25"] - a[0]), abs(o["pm10"] - a[1])) for o, a in zip(ours, theirs, strict=True)
    )
    worst_truth = max(abs(a[0] - g[0]) for a, g in zip(theirs, SDS_GRID, strict=True))
    print(
        f"SDS011: {len(SDS_GRID)} queries, worst |ours-sds011lib| {worst:.2f} ug/m3, "
        f"sds011lib vs truth {worst_truth:.2f}"
    )
    assert worst < 1e-9
    assert worst_truth <= 0.051  # the sensor's 0.1 ug/m3 resolution
