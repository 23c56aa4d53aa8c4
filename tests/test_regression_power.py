"""Power of the regression criterion, on synthetic learning curves: fresh seeds of the same
learner pass, and a slower, a flat and a collapsing learner are each rejected. Each rate is
measured over many independent draws of 3 baseline and 3 new seeds."""

import os

import numpy as np
import pytest

from tests.regression import baseline_path, bin_curve, check, judge, load_baseline, plot, recorded_machine, side_by_side

BUDGET = 40000
LO, HI = 20.0, 500.0


def synthetic_curve(rng, kind):
    """One seed of a CartPole-like learner: expected return rising along a sigmoid from LO to
    HI around a seed-dependent step t0, episode returns noisy around it, episodes as long as
    their return. 'slower' learns at half the speed; 'flat' never learns; 'collapse' learns,
    then falls back to LO for the last 30% of the budget."""
    t0 = rng.uniform(0.3, 0.5) * BUDGET * (2.0 if kind == "slower" else 1.0)
    width = 0.06 * BUDGET
    curve, step = [], 0
    while True:
        level = LO + (HI - LO) / (1.0 + np.exp(-(step - t0) / width))
        if kind == "flat" or (kind == "collapse" and step > 0.7 * BUDGET):
            level = LO
        ret = float(min(max(level + rng.normal(0.0, 40.0), 8.0), HI))  # np.clip, without its per-call cost
        step += int(max(ret, 8.0))
        if step > BUDGET:
            return curve
        curve.append((step, ret))


def draw(rng, kind, seeds=3):
    return {s: synthetic_curve(rng, kind) for s in range(1, seeds + 1)}


def pass_rate(kind, trials=200, seed=0):
    rng = np.random.default_rng(seed)
    return np.mean([judge(draw(rng, "same"), draw(rng, kind), BUDGET).passed for _ in range(trials)])


def test_fresh_seeds_of_the_same_learner_pass():
    assert pass_rate("same") >= 0.95


@pytest.mark.parametrize("kind", ["slower", "flat", "collapse"])
def test_worse_learners_are_rejected(kind):
    assert pass_rate(kind) <= 0.05


def test_identical_curves_are_reported_as_bit_identical():
    rng = np.random.default_rng(1)
    baseline = draw(rng, "same")
    verdict = judge(baseline, {s: list(c) for s, c in baseline.items()}, BUDGET)
    assert verdict.passed and verdict.identical and "bit-identical" in verdict.message
    nudged = {s: [(st, r + (1e-9 if i == 0 else 0.0)) for i, (st, r) in enumerate(c)] for s, c in baseline.items()}
    assert not judge(baseline, nudged, BUDGET).identical
    # A baseline recorded with extra seeds (BASELINE_SEEDS): seeds 1-3 reproducing their
    # recorded curves are still bit-identical; a seed the baseline lacks is not.
    wide = draw(rng, "same", seeds=5)
    subset = {s: list(wide[s]) for s in [1, 2, 3]}
    assert judge(wide, subset, BUDGET).identical
    assert not judge(subset, wide, BUDGET).identical


def test_on_the_recording_machine_any_difference_fails():
    # One return nudged by 1e-9: the statistics pass it; on the machine and versions that
    # recorded the baseline (must_reproduce), a synchronous script's curve must be the same.
    rng = np.random.default_rng(3)
    baseline = draw(rng, "same")
    nudged = {s: [(st, r + (1e-9 if i == 0 else 0.0)) for i, (st, r) in enumerate(c)] for s, c in baseline.items()}
    assert judge(baseline, nudged, BUDGET).passed
    verdict = judge(baseline, nudged, BUDGET, must_reproduce=True)
    assert not verdict.passed and "re-record" in verdict.message
    assert judge(baseline, {s: list(c) for s, c in baseline.items()}, BUDGET, must_reproduce=True).passed


def test_failure_report_shows_bins_side_by_side_and_a_plot(tmp_path):
    rng = np.random.default_rng(2)
    verdict = judge(draw(rng, "same"), draw(rng, "flat"), BUDGET)
    assert not verdict.passed and verdict.message.startswith("FAIL")
    table = side_by_side(verdict, BUDGET)
    assert len(table.splitlines()) == 1 + verdict.baseline_bins.shape[1]
    png = plot(verdict, BUDGET, "synthetic", str(tmp_path / "p.png"))
    assert os.path.getsize(png) > 1000


def test_bin_curve_means_and_carries_forward():
    curve = [(5, 10.0), (7, 20.0), (40, 30.0)]  # bins of 10 steps over (0, 40]
    np.testing.assert_allclose(bin_curve(curve, 40, bins=4), [15.0, 15.0, 15.0, 30.0])
    np.testing.assert_allclose(bin_curve([(25, 7.0)], 40, bins=4), [7.0, 7.0, 7.0, 7.0])
    with pytest.raises(ValueError):
        bin_curve([(50, 1.0)], 40, bins=4)


def test_on_the_recording_machine_the_first_seed_decides_and_a_difference_runs_the_rest(monkeypatch, tmp_path):
    # check() on the recording machine: seed 1 alone while it reproduces its recorded curve;
    # when it does not, the check fails and runs the other seeds for its report. On another
    # machine, and for A3C, every seed runs. The runs are faked from the recorded curves.
    import tests.regression as regression

    calls = []

    def fake_run_seeds(script, env_id, seeds, budget, extra, workers=1, script_file=None):
        calls.append(list(seeds))
        recorded = load_baseline(baseline_path(script, env_id, "fast"))
        return {s: [(st, r + shift) for st, r in recorded[s]] for s in seeds}

    monkeypatch.setattr(regression, "run_seeds", fake_run_seeds)
    monkeypatch.setattr(regression, "machine_description", lambda: recorded_machine(baseline_path("ppo_clip", "CartPole-v1")))
    shift = 0.0
    verdict, _ = check("ppo_clip", "CartPole-v1")
    assert verdict.passed and verdict.identical and calls == [[1]]
    calls.clear()
    shift = 1e-6  # every return nudged: not the recorded behaviour
    verdict, report = check("ppo_clip", "CartPole-v1")
    assert not verdict.passed and calls == [[1], [2, 3]] and verdict.current_bins.shape[0] == 3, report
    calls.clear()
    shift = 0.0
    check("a3c", "CartPole-v1")  # asynchronous: the statistics judge, every seed runs
    assert calls == [[1, 2, 3]]
    calls.clear()
    monkeypatch.setattr(regression, "machine_description", lambda: "another machine")
    check("ppo_clip", "CartPole-v1")
    assert calls == [[1, 2, 3]]
    # A baseline whose Machine line lacks the CPU's family and model numbers, on a machine of the
    # same name (possibly another CPU that rounds floats differently): seed 1 settles the check
    # when it reproduces; when it does not, every seed runs and the statistics judge (no failure
    # for a difference alone). A baseline line with the numbers must match them exactly.
    recorded = recorded_machine(baseline_path("ppo_clip", "CartPole-v1"))
    assert not regression.CPU_NUMBERS.search(recorded)
    same_name = recorded.replace(",", " (family 23, model 1),", 1)
    monkeypatch.setattr(regression, "machine_description", lambda: same_name)
    assert regression.machine_match(baseline_path("ppo_clip", "CartPole-v1")) == "name"
    calls.clear()
    verdict, _ = check("ppo_clip", "CartPole-v1")
    assert verdict.passed and verdict.identical and calls == [[1]]
    calls.clear()
    shift = 1e-6
    verdict, report = check("ppo_clip", "CartPole-v1")
    assert verdict.passed and not verdict.identical and calls == [[1], [2, 3]], report
    numbered = tmp_path / "numbered.csv"
    numbered.write_text(f"# Machine and versions: {same_name.replace('model 1', 'model 49')}\nseed,global_step,episodic_return\n")
    assert regression.machine_match(numbered) is None and not regression.may_reproduce("ppo_clip", numbered)


@pytest.mark.parametrize("script", ["reinforce", "a2c", "a3c", "trpo", "ppo_kl", "ppo_clip"])
def test_the_sign_flip_is_unconditional(script, tmp_path):
    # POWER.md's "advantage sign flipped" variant must run its flip on every update: the block
    # that encloses the inserted line is a loop, never an `if` (a3c's flip once sat under
    # `if args.norm_adv and t > 1:`, False by default: never executed, the variant learned).
    from tests.power_report import flipped_copy

    lines = open(flipped_copy(script, str(tmp_path))).read().splitlines()
    (at,) = [i for i, line in enumerate(lines) if "BROKEN ON PURPOSE" in line]
    indent = len(lines[at]) - len(lines[at].lstrip())
    header = next(line for line in reversed(lines[:at]) if line.strip() and len(line) - len(line.lstrip()) < indent)
    assert header.lstrip().startswith(("for ", "while ")), header
