"""Chip models served over stdin/stdout, so drivers we did not write (CPython libraries) can talk to
them: the third-party-driver oracles (tests/test_driver_oracles.py, via tests/hostkit/chipbus.py).

    micropython sim/chipserver.py PROFILE MODEL...     e.g. generic sht4x scd4x sgp40 pms5003

I2C models (sht4x, scd4x, sgp40) share one simulated bus with the given port error profile;
a UART model (pms5003 or sds011) sits on one simulated UART at 9600 baud. Time is virtual
(sim/vtime.py): it moves only with `sleep` and with UART reads that wait. One request per line,
one answer per line ("ok [hex or number]" or "err ERRNO"):

    w ADDR HEX        I2C write transaction (HEX may be empty: an address-only probe)
    r ADDR N          I2C read transaction of N bytes
    scan              addresses that acknowledge, comma-separated
    sleep US          advance virtual time
    now               virtual time, us
    tx HEX            bytes to the UART peer
    rx N TIMEOUT_MS   up to N bytes from the UART peer, waiting up to TIMEOUT_MS (virtual)
    any               bytes waiting in the UART receive buffer
    env NAME VALUE    set an environment override (e.g. co2_ppm 733)
    call MODEL ATTR   the value of a model attribute (e.g. sgp40 last_told)
"""

import binascii
import sys

from sim import vtime

vtime.install()

from sim.env import Environment  # noqa: E402
from sim.i2c import SimI2C  # noqa: E402
from sim.uart import SimUART  # noqa: E402

_I2C_MODELS = {
    "sht4x": ("sim.sht4x", "SHT4xModel"),
    "scd4x": ("sim.scd4x", "SCD4xModel"),
    "sgp40": ("sim.sgp40", "SGP40Model"),
}
_UART_MODELS = {"pms5003": ("sim.pms5003", "PMS5003Model"), "sds011": ("sim.sds011", "SDS011Model")}


def _model(spec, env):
    mod = __import__(spec[0], None, None, (spec[1],))
    return getattr(mod, spec[1])(env)


def serve(profile, names):
    vtime.reset(epoch_s=1700000000)
    env = Environment("synthetic")
    env.overrides = {}
    bus = SimI2C(profile=profile)
    uart = SimUART(1, 9600, 1000)
    models = {}
    for name in names:
        if name in _I2C_MODELS:
            models[name] = bus.attach(_model(_I2C_MODELS[name], env))
        elif name in _UART_MODELS:
            models[name] = uart.attach(_model(_UART_MODELS[name], env))
        else:
            raise ValueError("chipserver: no model %r" % name)
    print("ready")
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        parts = line.split()
        if not parts:
            continue
        op = parts[0]
        try:
            if op == "w":
                data = binascii.unhexlify(parts[2]) if len(parts) > 2 else b""
                bus.writeto(int(parts[1], 16), data)
                print("ok")
            elif op == "r":
                print(
                    "ok "
                    + binascii.hexlify(bus.readfrom(int(parts[1], 16), int(parts[2]))).decode()
                )
            elif op == "scan":
                print("ok " + ",".join("%x" % a for a in bus.scan()))
            elif op == "sleep":
                vtime.advance_us(int(parts[1]))
                print("ok")
            elif op == "now":
                print("ok %d" % vtime.now_us())
            elif op == "tx":
                uart.write(binascii.unhexlify(parts[1]))
                print("ok")
            elif op == "rx":
                uart.init(timeout=int(parts[2]))
                data = uart.read(int(parts[1])) or b""
                print("ok " + binascii.hexlify(data).decode())
            elif op == "any":
                print("ok %d" % uart.any())
            elif op == "env":
                env.overrides[parts[1]] = float(parts[2])
                print("ok")
            elif op == "call":
                print("ok " + repr(getattr(models[parts[1]], parts[2])))
            else:
                print("err 22")
        except OSError as exc:
            print("err %d" % exc.args[0])


serve(sys.argv[1], sys.argv[2:])
