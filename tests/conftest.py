"""Runs the learning-curve regression checks first (the longest tests: started last, one of
them would keep a core busy after the rest had finished), and prints, after the test run,
each regression verdict and the harness's share of the time."""

import time

_start = time.time()


# The regression checks, longest first (pytest --durations on this machine): the two A3C checks
# (three seeds of two worker processes each; a synchronous check runs one seed here, see
# tests/regression.py). pytest-xdist's worksteal (pytest.ini) hands each worker a contiguous half
# of the collection and lets an idle worker take the tail of the other's queue, so the longest
# tests start first rather than last.
LONGEST_FIRST = ["a3c-CartPole-v1", "a3c-InvertedPendulum-v5"]


def pytest_collection_modifyitems(config, items):
    if not hasattr(config, "workerinput"):  # not under pytest-xdist: the files' order (the
        return  # mutation report's pytest -x -n 0 runs its cheap tests first)

    def order(item):
        if "test_learning_curve_matches_baseline[" not in item.nodeid:
            return (2, 0)
        key = item.nodeid.split("[")[1].rstrip("]")
        return (0, LONGEST_FIRST.index(key)) if key in LONGEST_FIRST else (1, 0)

    items.sort(key=order)  # stable: the rest keep their order


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
