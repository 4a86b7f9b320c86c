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
