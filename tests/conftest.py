"""Prints, after the test run, each regression verdict and the harness's share of the time."""

import time

_start = time.time()


def pytest_terminal_summary(terminalreporter):
    reports = [r for key in ("passed", "failed") for r in terminalreporter.stats.get(key, []) if getattr(r, "when", "") == "call"]
    verdicts = [(r.nodeid, dict(r.user_properties).get("regression")) for r in reports]
    verdicts = [(n, v) for n, v in verdicts if v]
    if not verdicts:
        return
    terminalreporter.section("learning-curve regression")
    for nodeid, verdict in sorted(verdicts):
        terminalreporter.write_line(verdict)
    harness = sum(r.duration for r in reports if "test_regression" in r.nodeid)
    total = sum(r.duration for r in reports)
    terminalreporter.write_line(
        f"harness: {harness:.0f} s of {total:.0f} s of test time ({100 * harness / max(total, 1e-9):.0f}%), wall clock {time.time() - _start:.0f} s"
    )
