# MicroPython code that `stationctl setup` sends to a station (never imported on the host): read
# the LoRaWAN modem's factory identity over AT with the firmware's own driver. Identifiers only:
# the modem never gives out its keys, and this asks for none.
import json


def _schex(value):
    h = ""
    for ch in str(value or "").upper():
        if ch in "0123456789ABCDEF":
            h += ch
    return h if len(h) == 16 else None


def _scmodemid():
    import time

    import uplink_lorawan
    from hal import Hal

    with open("/board.json") as f:
        board = json.load(f)
    modem = board.get("modem")
    if not modem:
        print(repr(None))
        return
    hal = Hal(board)
    drv = uplink_lorawan._driver(modem["type"], hal.uart(modem.get("uart", "modem")))
    # RUI3: AT+DEVEUI=? / AT+APPEUI=? answer the value; LoRa-E5: AT+ID=DevEui / AppEui
    if modem["type"] == "lora_e5":
        asks = (("deveui", "AT+ID=DevEui"), ("joineui", "AT+ID=AppEui"))
    else:
        asks = (("deveui", "AT+DEVEUI=?"), ("joineui", "AT+APPEUI=?"))
    r = {"type": modem["type"]}
    for key, cmd in asks:
        value = None
        for _ in range(3):  # a sleeping modem misses the first command
            ev, value = drv.command(cmd)
            if value is not None:
                break
            drv.drain()
            time.sleep_ms(500)
        if value is not None and "," in str(value):
            value = str(value).split(",", 1)[1]  # "+ID: DevEui, 2C:F7:..." -> the id
        r[key] = _schex(value)
    print(repr(r))
