"""The board config's schema: one check, run by the HAL on the station, by `stationctl deploy`
and `verify` on the laptop (inside MicroPython) and by the tests.

`problems(cfg)` lists what is wrong with a parsed board config (board_configs/*.json), each as
`key: reason`; an empty list means the config is complete and the HAL can build the board from
it. Sensor types are checked against the drivers the firmware has when the caller passes them
(the HAL does not import the drivers to check a config). The HAL asks only for the `shape`
(what would make it fail half-way: a list, a bus or a sensor that is not an object); stationctl
deploy and verify also require the family, at least one sensor, and every sensor and modem on a
bus the board has.
"""

# family -> sys.platform of the MicroPython port that runs on it
PLATFORMS = {
    "esp32": "esp32",
    "esp32s2": "esp32",
    "esp32s3": "esp32",
    "esp32c3": "esp32",
    "esp32c6": "esp32",
    "rp2": "rp2",
    "unix": "linux",
}
FAMILIES = tuple(sorted(PLATFORMS))
MAX_BYTES = 16384  # a board config is about 1 KiB; the station parses it in RAM at every boot
MODEM_TYPES = ("rak3172", "lora_e5")


def _name(v):
    if type(v) is str:
        return '"%s"' % v if len(v) <= 40 else '"%s..."' % v[:37]
    return (
        type(v).__name__ == "dict"
        and "an object"
        or type(v).__name__ == "list"
        and "a list"
        or str(v)
    )


def _buses(cfg, section, out):
    buses = cfg.get(section, {})
    if type(buses) is not dict:
        out.append("%s: expected an object of named buses, got %s" % (section, _name(buses)))
        return {}
    for name in buses:
        spec = buses[name]
        if type(spec) is not dict:
            out.append("%s.%s: expected an object, got %s" % (section, name, _name(spec)))
        elif type(spec.get("id")) is not int:
            out.append("%s.%s: needs an integer id" % (section, name))
    return buses


def _attached(entry, path, i2c, uart, out):
    bus, port = entry.get("bus"), entry.get("uart")
    if bus is None and port is None:
        out.append("%s: names neither an I2C bus (bus) nor a UART (uart)" % path)
    elif bus is not None and bus not in i2c:
        out.append(
            "%s: bus %s is not one of the board's I2C buses (%s)"
            % (path, _name(bus), ", ".join(i2c) or "none")
        )
    elif port is not None and port not in uart:
        out.append(
            "%s: uart %s is not one of the board's UARTs (%s)"
            % (path, _name(port), ", ".join(uart) or "none")
        )


def problems(cfg, sensor_types=None, shape_only=False):
    """Every problem of a parsed board config (see the module doc); [] when it is usable."""
    if type(cfg) is not dict:
        return ["board config: expected a JSON object, got %s" % _name(cfg)]
    out = []
    if shape_only and "sensors" not in cfg:
        cfg = dict(cfg)
        cfg["sensors"] = []
    name = cfg.get("board")
    if type(name) is not str or not name:
        out.append("board: expected the board's name, got %s" % _name(name))
    family = cfg.get("family")
    if family not in FAMILIES and not (shape_only and family is None):
        out.append("family: %s is not one of %s" % (_name(family), ", ".join(FAMILIES)))
    i2c = _buses(cfg, "i2c", out)
    uart = _buses(cfg, "uart", out)
    pins = cfg.get("pins", {})
    if type(pins) is not dict:
        out.append("pins: expected an object, got %s" % _name(pins))
    sensors = cfg.get("sensors")
    if type(sensors) is not list:
        out.append("sensors: expected a list of the fitted sensors, got %s" % _name(sensors))
        sensors = []
    elif not sensors and not shape_only:
        out.append("sensors: the board config lists no sensors (a station measures something)")
    seen = []
    for i, entry in enumerate(sensors):
        path = "sensors[%d]" % i
        if type(entry) is not dict:
            out.append("%s: expected an object, got %s" % (path, _name(entry)))
            continue
        kind = entry.get("type")
        if type(kind) is not str or (sensor_types is not None and kind not in sensor_types):
            known = ", ".join(sorted(sensor_types)) if sensor_types is not None else "a driver name"
            out.append("%s: type %s is not a known sensor (%s)" % (path, _name(kind), known))
        label = entry.get("name", kind)
        if label in seen:
            out.append("%s: name %s is used twice" % (path, _name(label)))
        seen.append(label)
        if not shape_only:  # the HAL reports a missing bus itself when the sensor opens it
            _attached(entry, path, i2c, uart, out)
    modem = cfg.get("modem")
    if modem is not None:
        if type(modem) is not dict:
            out.append("modem: expected an object, got %s" % _name(modem))
        else:
            if modem.get("type") not in MODEM_TYPES and not shape_only:
                out.append(
                    "modem: type %s is not one of %s"
                    % (_name(modem.get("type")), ", ".join(MODEM_TYPES))
                )
            if not shape_only:
                _attached(modem, "modem", {}, uart, out)
    return out
