# Diagnostic lines: one line per event, stable layout, parseable key=value fields.
# mp-ports: unix wasm32
from sim import vtime

vtime.install()

import diag  # noqa: E402
from mptest import eq  # noqa: E402


def setup():
    vtime.reset()
    diag.reset_uptime()


def test_layout_matches_the_documented_example():
    vtime.advance_ms(12345)
    line = diag.line(diag.INFO, "SENSE.OK", "bme280", temp_c=21.43, rh_pct=45.2, p_hpa=1002.1)
    eq(line, "   12.345 I SENSE.OK bme280 p_hpa=1002.1 rh_pct=45.2 temp_c=21.43", "line")


def test_values_with_spaces_are_quoted_and_none_is_dash():
    line = diag.line(diag.WARN, "X.Y", None, msg='bad "thing" here', v=None, n=3)
    eq(line, '    0.000 W X.Y msg="bad \\"thing\\" here" n=3 v=-', "line")


def test_sink_sees_lines_below_the_print_level():
    got = []
    diag.configure(level=diag.ERROR, sink=got.append)
    diag.debug("A.B", None, k=1)
    diag.configure()
    eq(len(got), 1, "debug line reached the sink")


def test_control_characters_never_break_a_line():
    # issue 10 item 10: a config key with a newline must not forge a second event
    forged = "x\n    0.000 E SAFE.ENTER hold_s=1\r\t\x1b[2J\x7f"
    line = diag.line(diag.ERROR, "CONFIG.INVALID", forged, problem=forged + ": unknown key")
    for ch in "\n\r\t\x1b\x7f":
        if ch in line:
            raise AssertionError("control character %r in %r" % (ch, line))
    if "\\n    0.000 E SAFE.ENTER" not in line or "\\x1b" not in line:
        raise AssertionError(line)

    class Out:
        text = ""

        def write(self, s):
            Out.text += s

    diag.configure(level=diag.INFO, out=Out())
    try:
        diag.error("CONFIG.INVALID", forged, problem=forged)
    finally:
        diag.configure()
    eq(Out.text.count("\n"), 1, "one line on the serial console")
