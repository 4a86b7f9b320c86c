# Runs inside unix MicroPython (never imported on the host): checks a board config with the
# firmware's own schema (firmware/boardcfg.py) and the sensor types its drivers know.
# stdin: the board config's JSON text (already parsed fine by the host)
# stdout: one JSON line {"problems": [...], "platform": sys.platform of the board's family}
import json
import sys

import boardcfg
import sensors

cfg = json.loads(sys.stdin.read())
out = {"problems": boardcfg.problems(cfg, sensors.TYPES)}
if type(cfg) is dict:
    out["platform"] = boardcfg.PLATFORMS.get(cfg.get("family"))
print(json.dumps(out))
