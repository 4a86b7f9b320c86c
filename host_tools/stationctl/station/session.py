"""A session with a connected station: the transport plus the stationctl helpers loaded into its
REPL.

    with connect(port) as st:          # enters the raw REPL (the firmware stops)
        st.info()                        # mpy version, deflate, free flash
        st.hashes(["/main.py"])          # sha256 computed on the station
        st.put_text("/config.json", text)  # atomic (temp + rename)

The helpers (ondevice/deploy_helper.py) are MicroPython code sent once per session; they live in
the REPL's globals until the next soft reset.
"""

from __future__ import annotations

import ast
from pathlib import Path

from stationctl.station.transport import (
    SerialTransport,
    Transport,
    TransportError,
    TransportExecError,
)

ONDEVICE = Path(__file__).resolve().parent / "ondevice"
HELPER = ONDEVICE / "deploy_helper.py"


def _minify(src: str) -> str:
    """Drop comment-only and blank lines (fewer bytes on a 115200-baud line)."""
    out = []
    for line in src.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def _packed(code: str) -> str:
    """Code that unpacks and runs `code` on the station: zlib + base64 is about half the bytes
    on the line. Stations without the `deflate` module get the plain text."""
    import base64
    import zlib

    comp = zlib.compressobj(9, zlib.DEFLATED, 10)
    blob = base64.b64encode(comp.compress(code.encode()) + comp.flush()).decode()
    return (
        "try:\n import deflate,io,binascii\nexcept ImportError:\n deflate=None\n"
        "if deflate:\n exec(deflate.DeflateIO(io.BytesIO(binascii.a2b_base64("
        f"{blob!r})),deflate.ZLIB).read())\n"
        "else:\n raise ImportError('deflate')\n"
    )


class Session:
    def __init__(self, transport: Transport):
        self.t = transport
        self._helpers = False

    def helpers(self) -> None:
        if not self._helpers:
            code = _minify(HELPER.read_text())
            try:
                self.t.exec(_packed(code), timeout=20)
            except TransportExecError as exc:
                if "deflate" not in exc.error_output:
                    raise
                self.t.exec(code, timeout=20)
            self._helpers = True

    def load_code(self, name: str) -> None:
        """Define the functions of ondevice/<name> in the REPL session (once)."""
        self.helpers()
        loaded = self.__dict__.setdefault("_loaded", set())
        if name not in loaded:
            self.t.exec(_minify((ONDEVICE / name).read_text()), timeout=20)
            loaded.add(name)

    def call(self, expr: str, timeout: float = 20.0):
        """Run a helper call that prints a repr; returns the Python value."""
        self.helpers()
        out = self.t.exec(expr, timeout=timeout)
        text = out.decode(errors="replace").strip()
        try:
            return ast.literal_eval(text.splitlines()[-1]) if text else None
        except (ValueError, SyntaxError) as exc:
            raise TransportError(f"unexpected answer from the station: {text[-200:]!r}") from exc

    def info(self) -> dict:
        return self.call("_scinfo()")

    def hashes(self, paths: list[str], n: int = 64) -> dict[str, str | None]:
        """sha256 (first n hex digits) of each file, computed on the station; None = missing."""
        return self.call(f"_schash({paths!r}, {n})", timeout=60)

    def files(self) -> list[str]:
        return self.call("_scls()")

    def get_text(self, path: str) -> str | None:
        return self.call(f"_scget({path!r})")

    def put_text(self, path: str, text: str) -> None:
        self.helpers()
        self.t.exec(f"_scput({path!r}, {text!r})", timeout=20)

    def put_bytes(self, path: str, data: bytes) -> None:
        """A small binary file, atomically (the station's file write takes bytes as they are)."""
        self.helpers()
        self.t.exec(f"_scput({path!r}, {data!r})", timeout=20)

    def remove(self, paths: list[str]) -> None:
        self.helpers()
        self.t.exec(f"_scrm({paths!r})")

    def close(self) -> None:
        self.t.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def connect(port: str, baud: int = 115200) -> Session:
    """Open the port (resolving `auto`), stop the firmware, enter the raw REPL."""
    from stationctl.station.ports import resolve_port

    t = SerialTransport(resolve_port(port), baud)
    try:
        for attempt in range(3):
            t.enter_raw_repl()
            try:
                # a station caught by Ctrl-C in a bad moment may not take commands (it resets
                # itself by its watchdog): probe, and start over if it does not answer
                if t.exec("print(1)", timeout=3).strip() == b"1":
                    break
            except TransportError:
                if attempt == 2:
                    raise
                t.drain(0.5)
    except TransportError:
        t.close()
        raise
    return Session(t)
