"""Enclosure labels: station id, board id, DevEUI and a QR code a network-server app can scan
to claim the device, on a print-ready SVG sheet (A4, 2 x 7 labels of 90 x 36 mm).

The QR text follows LoRa Alliance TR005 ("LoRaWAN DevEUI & JoinEUI QR code"):
    LW:D0:<JoinEUI>:<DevEUI>:<ProfileID>[:S<serial>]
`LW` the schema, `D0` its version, EUIs as 16 upper-case hex digits, ProfileID 8 hex digits
(VendorID + VendorProfileID from the LoRa Alliance device repository, 00000000 when the device
has none), then optional elements each led by one letter (O owner token, S serial number,
P proprietary, C checksum); we add the station id as the serial number.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

_EUI = re.compile(r"^[0-9A-F]{16}$")
_PROFILE = re.compile(r"^[0-9A-F]{8}$")
_SERIAL = re.compile(r"^[0-9A-Z\-.]{1,32}$")

SHEET_MM = (210, 297)
LABEL_MM = (90, 36)
GRID = (2, 7)
MARGIN_MM = (12, 22.5)


class LabelError(ValueError):
    """A value that cannot go into a TR005 QR code; the message says which."""


def tr005(join_eui: str, dev_eui: str, profile_id: str = "00000000", serial: str = "") -> str:
    for name, v in (("JoinEUI", join_eui), ("DevEUI", dev_eui)):
        if not _EUI.match(v or ""):
            raise LabelError(f"{name} {v!r} is not 16 upper-case hex digits")
    if not _PROFILE.match(profile_id or ""):
        raise LabelError(f"ProfileID {profile_id!r} is not 8 upper-case hex digits")
    text = f"LW:D0:{join_eui}:{dev_eui}:{profile_id}"
    if serial:
        s = serial.upper()
        if not _SERIAL.match(s):
            raise LabelError(f"serial {serial!r}: only letters, digits, '-' and '.' (1-32)")
        text += f":S{s}"
    return text


@dataclass(frozen=True)
class Label:
    station_id: str
    board: str
    dev_eui: str
    join_eui: str
    profile_id: str = "00000000"

    @property
    def qr_text(self) -> str:
        return tr005(self.join_eui, self.dev_eui, self.profile_id, self.station_id)


def qr(text: str):
    import segno

    # error level M: a label scratched on a pole still scans; alphanumeric mode keeps it small
    return segno.make_qr(text, error="m", boost_error=False)


def save_qr_png(text: str, path: Path, scale: int = 8) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    qr(text).save(str(path), kind="png", scale=scale, border=4)
    return path


def _grouped(eui: str) -> str:
    return " ".join(eui[i : i + 4] for i in range(0, len(eui), 4))


def _label_svg(lab: Label, x: float, y: float) -> str:
    w, h = LABEL_MM
    uri = qr(lab.qr_text).svg_data_uri(scale=1, border=2)
    e = html.escape
    return (
        f'<g transform="translate({x:g},{y:g})">'
        f'<rect width="{w}" height="{h}" rx="2" fill="#fff" stroke="#999" stroke-width="0.2"/>'
        f'<image x="2" y="2" width="32" height="32" href="{uri}"/>'
        f'<text x="37" y="10" font-size="6" font-weight="bold">{e(lab.station_id)}</text>'
        f'<text x="37" y="17" font-size="3.2">board {e(lab.board)}</text>'
        f'<text x="37" y="23" font-size="3.2">DevEUI {_grouped(lab.dev_eui)}</text>'
        f'<text x="37" y="28" font-size="3.2">JoinEUI {_grouped(lab.join_eui)}</text>'
        f'<text x="37" y="33" font-size="2.4" fill="#555">LoRaWAN TR005 QR: scan to claim</text>'
        "</g>"
    )


def sheet_svgs(labels: list[Label]) -> list[str]:
    """One A4 SVG per 14 labels, sized in millimetres for printing at 100 %."""
    per = GRID[0] * GRID[1]
    pages = []
    for start in range(0, max(len(labels), 1), per):
        parts = []
        for i, lab in enumerate(labels[start : start + per]):
            col, row = i % GRID[0], i // GRID[0]
            x = MARGIN_MM[0] + col * (LABEL_MM[0] + 6)
            y = MARGIN_MM[1] + row * LABEL_MM[1]
            parts.append(_label_svg(lab, x, y))
        pages.append(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{SHEET_MM[0]}mm" '
            f'height="{SHEET_MM[1]}mm" viewBox="0 0 {SHEET_MM[0]} {SHEET_MM[1]}" '
            'font-family="DejaVu Sans, Arial, sans-serif">\n' + "\n".join(parts) + "\n</svg>\n"
        )
    return pages


def write_sheets(labels: list[Label], folder: Path, stem: str = "labels") -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for n, svg in enumerate(sheet_svgs(labels), start=1):
        p = folder / f"{stem}-{n}.svg"
        tmp = p.with_name(p.name + ".part")
        tmp.write_text(svg)
        tmp.replace(p)
        out.append(p)
    return out
