# Runs inside unix MicroPython (never imported on the host): validates a station config and
# secrets with the firmware's own config module, exactly as the station will.
# stdin: JSON {"config": text or null, "secrets": text or null}
# stdout: one JSON line {"problems": [...], "secret_problems": [...], "config": canonical text,
#   "digest": ..., "secrets": canonical text}. Secret values are never echoed in problems.
import json
import sys

import config

req = json.loads(sys.stdin.read())
out = {"problems": [], "secret_problems": []}
if req.get("config") is not None:
    try:
        cfg = config.parse(req["config"])
        out["config"] = config.canonical(cfg)
        out["digest"] = config.digest(cfg)
        out["station_id"] = cfg["station_id"]
        out["uplink"] = cfg["uplink"]
    except config.ConfigError as e:
        out["problems"] = e.problems
if req.get("secrets") is not None:
    try:
        sec = config.parse(req["secrets"], config.SECRETS_SCHEMA)
        out["secrets"] = config.canonical(sec)
        out["secrets_set"] = sorted(k for k in sec if sec[k])
    except config.ConfigError as e:
        # keep only the key name and the kind of problem: a value may be a secret
        out["secret_problems"] = [
            p.split(": ")[0] + ": " + p.split(": ", 1)[1].split(",")[0] if ": " in p else p
            for p in e.problems
        ]
print(json.dumps(out))
