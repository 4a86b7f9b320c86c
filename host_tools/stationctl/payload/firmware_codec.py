"""The firmware encoder (firmware/codec.py) driven from the host, inside unix MicroPython.

    with FirmwareCodec() as fw:
        frames = fw.encode(samples, batch=1, fmt="compact", max_len=242, live=False)
            -> [(frame bytes, samples in frame), ...]

One MicroPython process serves many requests (mp/codec_tool.py reads JSON lines on stdin), so
tests and the benchmark can push thousands of samples through the real encoder in seconds.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from stationctl.mpenv import REPO_ROOT, micropython_env, micropython_exe

TOOL = Path(__file__).resolve().parent / "mp" / "codec_tool.py"


class EncoderError(RuntimeError):
    """The firmware encoder refused a request or its interpreter failed."""


class FirmwareCodec:
    def __init__(self, heapsize: str = "4M"):
        self.proc = subprocess.Popen(
            [str(micropython_exe()), "-X", f"heapsize={heapsize}", str(TOOL)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=micropython_env(),
            cwd=str(REPO_ROOT),
            bufsize=1,
        )

    def request(self, req: dict) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise EncoderError(self._died()) from None
        line = self.proc.stdout.readline()
        if not line:
            raise EncoderError(self._died())
        try:
            out = json.loads(line)
        except ValueError:
            # e.g. a MemoryError traceback instead of an answer
            raise EncoderError(f"MicroPython codec tool answered {line.strip()[:200]!r}") from None
        if "error" in out:
            raise EncoderError(out["error"])
        return out

    def _died(self) -> str:
        err = self.proc.stderr.read() if self.proc.stderr else ""
        return f"MicroPython codec tool exited ({self.proc.wait()}): {err.strip()}"

    def encode(
        self,
        samples: list[dict],
        batch: int = 1,
        fmt: str = "compact",
        max_len: int = 242,
        live: bool = False,
        now: int | None = None,
    ) -> list[tuple[bytes, int]]:
        """live: each frame built when its newest sample was taken; now: every frame built at
        that time (samples older than 65535 s, or after now, keep absolute times)."""
        out = self.request(
            {
                "op": "encode",
                "samples": samples,
                "batch": batch,
                "format": fmt,
                "max_len": max_len,
                "live": live,
                "now": now,
            }
        )
        return [(bytes.fromhex(h), n) for h, n in out["frames"]]

    def timing(self, samples: list[dict], repeat: int = 3) -> dict:
        return self.request({"op": "time", "samples": samples, "repeat": repeat})

    def decode_sample(self, frame: bytes, now: int | None = None) -> dict:
        return self.request({"op": "decode_sample", "hex": frame.hex(), "now": now})["sample"]

    def status(self, **fields) -> bytes:
        return bytes.fromhex(self.request({"op": "status", "fields": fields})["hex"])

    def ack(self, cmd_id: int, status: int, result: int | None = None) -> bytes:
        req = {"op": "ack", "cmd_id": cmd_id, "status": status}
        if result is not None:
            req["result"] = result
        return bytes.fromhex(self.request(req)["hex"])

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> FirmwareCodec:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
