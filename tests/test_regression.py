"""Learning-curve regression: every registered (script, environment) learns as well as its
recorded baseline (tests/regression.py has the criterion; its power is shown in
test_regression_power.py and tests/baselines/POWER.md)."""

import glob
import os

import pytest

from tests.regression import ENVS, REGISTRY, REPO, baseline_path, check

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
