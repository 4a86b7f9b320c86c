"""`stationctl soak`: the virtual station for N simulated days under seeded random faults."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from stationctl.mpenv import REPO_ROOT
from stationctl.virtual import soak


def register(sub) -> None:
    p = sub.add_parser("soak", help="long simulated field run with random faults, one report")
    p.add_argument("--days", type=float, default=30, help="simulated days (default 30)")
    p.add_argument(
        "--seed",
        type=int,
        action="append",
        help="fault schedule seed (repeatable: one run per seed; default 1)",
    )
    p.add_argument("--uplink", choices=["lorawan", "mqtt"], default="lorawan")
    p.add_argument(
        "--modem-firmware",
        action="append",
        metavar="VERSION",
        help="LoRaWAN: the simulated modem answers as this firmware (repeatable: every seed "
        "runs on every one; RAK3172 RUI3 3.4.2, 3.5.3, 4.0.1, 4.0.6, 4.2.0; default the "
        "board's)",
    )
    p.add_argument("--board", type=Path, default=soak.BOARD)
    p.add_argument("--verbose", action="store_true", help="echo the station's diagnostics")
    p.add_argument(
        "--out",
        type=Path,
        default=REPO_ROOT / "build" / "soak",
        help="folder for the JSON reports (default build/soak)",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    seeds = args.seed or [1]
    args.out.mkdir(parents=True, exist_ok=True)
    ok = True
    firmwares = args.modem_firmware or [None]
    if args.modem_firmware and args.uplink != "lorawan":
        print("soak: --modem-firmware needs --uplink lorawan", file=sys.stderr)
        return 2
    for firmware in firmwares:
        for seed in seeds:
            r = soak.run_soak(
                args.days,
                seed,
                args.uplink,
                args.board,
                echo=print if args.verbose else None,
                modem_firmware=firmware,
            )
            print(soak.format_report(r))
            if "error_tail" in r:
                print("\n".join(r["error_tail"]), file=sys.stderr)
            name = f"soak-{args.uplink}-{seed}" + (f"-rui{firmware}" if firmware else "")
            (args.out / f"{name}.json").write_text(json.dumps(r, indent=2))
            ok = ok and soak.passed(r)
    return 0 if ok else 1
