"""benchmark/npg_vs_trpo.py's per-update summary, on numbers worked out by hand (no training)."""

import numpy as np
import pytest

from benchmark import npg_vs_trpo as nt


def test_update_statistics_counts_overshoots_backtracks_and_rejections():
    kl = np.array([0.005, 0.01, 0.015, 0.03, 0.0])  # delta 0.01: ratios 0.5, 1, 1.5, 3, 0
    steps = np.array([1, 2, 1, 3, 10])
    accepted = np.array([1, 1, 1, 1, 0])
    improvement = np.array([0.1, 0.2, -0.1, 0.3, 0.0])
    st = nt.update_statistics(kl, steps, accepted, improvement, 0.01)
    assert st["updates"] == 5
    assert st["median KL / delta"] == pytest.approx(1.0)
    assert st["max KL / delta"] == pytest.approx(3.0)
    assert st["KL > delta"] == pytest.approx(2 / 5)  # exactly delta is within the trust region
    assert st["KL > 2 delta"] == pytest.approx(1 / 5)
    assert st["backtracked"] == pytest.approx(3 / 5)
    assert st["rejected"] == pytest.approx(1 / 5)
    assert st["surrogate fell"] == pytest.approx(1 / 5)


def test_the_two_variants_differ_only_by_the_line_search():
    trpo = nt.command("trpo", "Hopper-v5", 2, 1000, 0.05)
    npg = nt.command("npg", "Hopper-v5", 2, 1000, 0.05)
    assert npg == trpo + ["--no-line-search"]
    assert trpo[1] == "algos/trpo.py" and trpo[trpo.index("--max-kl") + 1] == "0.05"
    assert nt.max_kl_of({"command": " ".join(npg)}) == 0.05
