"""Learning-curve regression: every registered (script, environment) learns as well as its
recorded baseline (tests/regression.py has the criterion; its power is shown in
test_regression_power.py and tests/baselines/POWER.md)."""

import glob
import os

import numpy as np
import pytest

from tests.regression import (ENVS, IDENTITY_VARIABLE, REGISTRY, REPO, TIERS, baseline_path, bin_curve, check, judge, load_baseline,
                              machine_description, must_reproduce, settings, statistics, tolerance)

KEYS = [pytest.param(script, env_id, id=f"{script}-{env_id}") for script, env_id in REGISTRY]


@pytest.mark.parametrize("script,env_id", KEYS)
def test_learning_curve_matches_baseline(script, env_id, record_property):
    verdict, report = check(script, env_id, tier="fast")
    record_property("regression", report.splitlines()[0])
    assert verdict.passed, report


@pytest.mark.slow
@pytest.mark.parametrize("script,env_id", KEYS)
def test_learning_curve_matches_baseline_slow(script, env_id, record_property):
    verdict, report = check(script, env_id, tier="slow", workers=os.cpu_count())
    record_property("regression", report.splitlines()[0])
    assert verdict.passed, report


def test_every_script_has_recorded_baselines_for_both_environments():
    scripts = sorted(os.path.basename(p)[: -len(".py")] for p in glob.glob(os.path.join(REPO, "algos", "*.py")))
    missing = [(s, e) for s in scripts for e in ENVS if (s, e) not in REGISTRY]
    assert not missing, f"register these in tests/regression.py REGISTRY: {missing}"
    for key in REGISTRY:  # the slow tier's tests report their own missing baselines
        assert os.path.exists(baseline_path(*key)), f"record: python -m tests.record_baselines --algo {key[0]} --env {key[1]}"


@pytest.mark.parametrize("script,env_id", KEYS)
def test_every_check_can_fail(script, env_id):
    # A check whose tolerance reaches below the level its baseline starts from passes a learner
    # that never learns. For both statistics: baseline mean - tolerance > the first bin's level.
    _, budget, _ = settings(script, env_id)
    baseline = load_baseline(baseline_path(script, env_id))
    bins = np.array([bin_curve(c, budget) for c in baseline.values()])
    mean_curve = bins.mean(0)
    stats = np.array([statistics(b) for b in bins])
    for k, name in enumerate(["AUC", "final"]):
        tol = tolerance(stats[:, k], len(TIERS["fast"]["seeds"]), mean_curve.max() - mean_curve.min())
        assert stats[:, k].mean() - tol > mean_curve[0], f"{name}: tolerance {tol:.1f} admits the untrained level {mean_curve[0]:.1f}"


def test_identity_switch_judges_as_on_another_machine(tmp_path, monkeypatch):
    # A baseline recorded "here": the identity rule applies to a synchronous script unless
    # PG_REGRESSION_IDENTITY=0; never to A3C, nor to a baseline from another machine.
    here, elsewhere = tmp_path / "here.csv", tmp_path / "elsewhere.csv"
    here.write_text(f"# Machine and versions: {machine_description()}\nseed,global_step,episodic_return\n")
    elsewhere.write_text("# Machine and versions: another machine\nseed,global_step,episodic_return\n")
    monkeypatch.delenv(IDENTITY_VARIABLE, raising=False)
    assert must_reproduce("ppo_clip", here) and not must_reproduce("a3c", here)
    assert not must_reproduce("ppo_clip", elsewhere) and not must_reproduce("ppo_clip", here, statistics_only=True)
    monkeypatch.setenv(IDENTITY_VARIABLE, "0")
    assert not must_reproduce("ppo_clip", here)
    monkeypatch.setenv(IDENTITY_VARIABLE, "1")
    assert must_reproduce("ppo_clip", here)
    # and what the rule decides: a curve one return off passes the statistics, fails identity
    baseline = {s: [(100 * k, 10.0 * k + s) for k in range(1, 9)] for s in (1, 2, 3)}
    current = {s: [(step, ret + (0.5 if s == 1 else 0.0)) for step, ret in c] for s, c in baseline.items()}
    assert judge(baseline, current, 800).passed
    assert not judge(baseline, current, 800, must_reproduce=True).passed
