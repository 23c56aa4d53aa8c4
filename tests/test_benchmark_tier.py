"""The benchmark tier: one MuJoCo run per script against the curves the suite recorded.

Opt-in, `pytest -m benchmark` (5 to 10 minutes of one core per script at 1M steps; `-n 2`
runs two at once). Each test runs the suite's own command for HalfCheetah-v5, seed 1
(`python benchmark/run.py --dry-run` prints it) and judges its curve against the recorded
curves benchmark/results/mujoco_1m/<script>__HalfCheetah-v5__{1,2,3}.csv by these rules:

- On the machine and package versions named in the recorded seed-1 curve's header, a
  synchronous script (every one but a3c) reproduces that curve bit for bit, so any difference
  fails: it means the script's learning changed.
- Everywhere, the regression harness's criterion (tests/regression.py: AUC and final, one new
  seed against the three recorded, tolerance Z standard errors of the recorded spread), and a
  progress floor: the run must learn (final minus first bin) at least half of what the recorded
  seed that learned least did.

The default tier (`pytest`) checks the rules themselves on the recorded curves, without
training: the recorded seed 1 passes as bit-identical, and degraded copies of it (a learner
that never learns, one at half the speed, one that collapses, one that learns backwards) are
rejected. One seed against three that spread widely cannot reject every degradation on
another machine; which ones it does reject is tests/baselines/BENCHMARK_TIER.md, written by
`python -m tests.test_benchmark_tier` from the recorded curves (a test keeps it up to date).
"""

import os
import sys
import tempfile

import numpy as np
import pytest

from benchmark.common import REPO, machine_description, script_command
from benchmark.configs import script_args
from tests.regression import bin_curve, judge, plot, side_by_side, statistics

sys.path.insert(0, os.path.join(REPO, "benchmark"))
import run as suite  # noqa: E402  (benchmark/run.py, the suite's runner)

ENV_ID = "HalfCheetah-v5"
SEED = 1
BUDGET = suite.TOTAL_TIMESTEPS
ASYNCHRONOUS = {"a3c"}  # Hogwild workers race: no run reproduces a recorded curve
DEGRADATIONS = ["flat", "slower", "collapse", "backwards"]
# The progress floor: a run must learn (final minus first bin) at least FLOOR times the least
# that any recorded seed learned. One new seed against three that spread widely (a3c's
# HalfCheetah runs end between about 1000 and 3600) leaves the harness's criterion a tolerance
# wider than the whole learning curve; the floor still rejects a run that does not learn, or
# unlearns.
FLOOR = 0.5


def recorded(algo, results=suite.RESULTS):
    """({seed: [(global_step, return)]}, header of seed 1) of the suite's recorded curves."""
    curves, header = {}, None
    for seed in suite.SEEDS:
        path = suite.curve_path(results, algo, ENV_ID, seed)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no recorded curve {os.path.relpath(path, REPO)}: run python benchmark/run.py --algos {algo} --envs {ENV_ID}")
        head, steps, returns = suite.read_curve(path)
        curves[seed] = list(zip(steps.astype(int).tolist(), returns.tolist()))
        header = header or head
    return curves, header


def progress(curve):
    """What a run learned: the harness's final statistic minus its first bin."""
    binned = bin_curve(curve, BUDGET)
    return statistics(binned)[1] - binned[0]


def tier_verdict(algo, baseline, header, curve, machine):
    """(passed, message, harness verdict) of one new seed-1 curve against the recorded curves:
    the identity rule where it applies, the harness's criterion, and the progress floor."""
    verdict = judge(baseline, {SEED: curve}, BUDGET)
    if algo not in ASYNCHRONOUS and header["machine"] == machine and not verdict.identical:
        message = (
            f"FAIL: seed {SEED} did not reproduce its recorded curve bit for bit on the machine and versions that recorded it"
            f" ({machine}): the script's learning changed. If that is deliberate, delete the {algo} curves and re-record them"
            f" with python benchmark/run.py --algos {algo}, then --report. The statistical verdict, for reference:\n{verdict.message}"
        )
        return False, message, verdict
    floor = FLOOR * min(progress(c) for c in baseline.values())
    if progress(curve) < floor:
        message = (
            f"FAIL: the run learned {progress(curve):.1f} (final minus first bin), less than {FLOOR:g} x the least any recorded"
            f" seed learned ({floor:.1f})\n{verdict.message}"
        )
        return False, message, verdict
    return verdict.passed, verdict.message, verdict


def degrade(curve, kind):
    """A degraded copy of a curve, on the same episode steps. With r0 the mean of its first 10
    episodes: flat = r0 everywhere (no learning); slower = the return recorded at half the
    step (half the speed); collapse = r0 after 70% of the budget; backwards = r0 - (r - r0)
    (what a flipped advantage sign does: it learns to lose return)."""
    steps = np.array([s for s, _ in curve])
    returns = np.array([r for _, r in curve])
    r0 = returns[:10].mean()
    if kind == "flat":
        returns = np.full_like(returns, r0)
    elif kind == "slower":
        returns = returns[np.minimum(np.searchsorted(steps, steps / 2), len(returns) - 1)]
    elif kind == "collapse":
        returns = np.where(steps > 0.7 * BUDGET, r0, returns)
    elif kind == "backwards":
        returns = r0 - (returns - r0)
    else:
        raise ValueError(kind)
    return list(zip(steps.tolist(), returns.tolist()))


# ---------------------------------------------------------------- default tier: the rules


@pytest.mark.parametrize("algo", suite.ALGOS)
def test_the_rules_pass_the_recorded_seed_and_reject_degraded_copies(algo):
    baseline, header = recorded(algo)
    passed, message, verdict = tier_verdict(algo, baseline, header, list(baseline[SEED]), header["machine"])
    assert passed and verdict.identical, message
    for kind in DEGRADATIONS:
        worse = degrade(baseline[SEED], kind)
        # On the recording machine every degraded copy fails (a synchronous script must be
        # identical; a3c is judged by statistics everywhere).
        passed, message, _ = tier_verdict(algo, baseline, header, worse, header["machine"])
        if algo not in ASYNCHRONOUS:
            assert not passed, f"{kind}: {message}"
    # On any other machine, the criterion and the floor judge: a run that does not learn, that
    # collapses or that learns backwards is rejected for every script (a slower one only where
    # the recorded seeds agree closely enough: tests/baselines/BENCHMARK_TIER.md).
    for kind in ["flat", "collapse", "backwards"]:
        passed, message, _ = tier_verdict(algo, baseline, header, degrade(baseline[SEED], kind), "another machine")
        assert not passed, f"{kind}: {message}"


@pytest.mark.parametrize("algo", suite.ALGOS)
def test_every_recorded_seed_passes_as_a_rerun_on_another_machine(algo):
    baseline, header = recorded(algo)
    for seed in suite.SEEDS:  # each recorded seed stands in for a rerun that drifted elsewhere
        passed, message, verdict = tier_verdict(algo, baseline, header, list(baseline[seed]), "another machine")
        assert passed and not (verdict.identical and seed != SEED), f"{algo} seed {seed}: {message}"


POWER_FILE = os.path.join(REPO, "tests", "baselines", "BENCHMARK_TIER.md")


def power_table(algos=suite.ALGOS):
    """Markdown: per script, whether the rules of another machine (criterion and floor) reject
    each degraded copy of the recorded seed 1 (on the recording machine, every copy of a
    synchronous script's curve is rejected)."""
    lines = [
        "# The benchmark tier on another machine: degraded copies of the recorded HalfCheetah-v5 seed 1",
        "",
        "Written by `python -m tests.test_benchmark_tier` from benchmark/results/mujoco_1m/ (the",
        "module's doc defines the degradations and the rules). On the recording machine, a",
        "synchronous script's rerun must be bit-identical, so there every degraded copy is rejected.",
        "",
        "| script | " + " | ".join(DEGRADATIONS) + " |",
        "|---|" + "---|" * len(DEGRADATIONS),
    ]
    for algo in algos:
        baseline, header = recorded(algo)
        cells = []
        for kind in DEGRADATIONS:
            passed, _, _ = tier_verdict(algo, baseline, header, degrade(baseline[SEED], kind), "another machine")
            cells.append("passes" if passed else "rejected")
        lines.append(f"| {algo} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def test_the_power_table_is_up_to_date():
    with open(POWER_FILE) as f:
        assert f.read() == power_table(), "tests/baselines/BENCHMARK_TIER.md is out of date: run python -m tests.test_benchmark_tier"


# ---------------------------------------------------------------- opt-in tier: one run per script


@pytest.mark.benchmark
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("algo", suite.ALGOS)
def test_halfcheetah_seed_1_matches_the_recorded_curves(algo, record_property):
    baseline, header = recorded(algo)
    command = script_command(algo, ENV_ID, SEED, BUDGET, script_args(algo, ENV_ID))
    assert command == [c for a, e, s, c in suite.suite([algo], [ENV_ID], [SEED], BUDGET)][0]
    with tempfile.TemporaryDirectory() as results:
        suite.run_one(algo, ENV_ID, SEED, command, results)
        _, steps, returns = suite.read_curve(suite.curve_path(results, algo, ENV_ID, SEED))
    curve = list(zip(steps.astype(int).tolist(), returns.tolist()))
    passed, message, verdict = tier_verdict(algo, baseline, header, curve, machine_description())
    record_property("benchmark", message.splitlines()[0])
    report = f"{algo} on {ENV_ID}, seed {SEED}: {message}\n{side_by_side(verdict, BUDGET)}"
    if not passed:
        png = os.path.join(tempfile.gettempdir(), "regression_plots", f"{algo}__{ENV_ID}__benchmark.png")
        report += f"\nplot: {plot(verdict, BUDGET, f'{algo} on {ENV_ID} (seed {SEED} against the recorded seeds)', png)}"
    assert passed, report


if __name__ == "__main__":
    with open(POWER_FILE, "w") as f:
        f.write(power_table())
    print(power_table(), end="")
