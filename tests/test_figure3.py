"""benchmark/figure3.py without training: the interquartile mean and the stratified bootstrap
against answers worked out by hand or by enumerating every resample, the per-task
normalisation, the one-setting-per-script commands, the adoption of curves run to the letter,
and the committed report rebuilt byte for byte from its curves."""

import itertools
import os
import shlex
import shutil

import numpy as np
import pytest

from benchmark import figure3 as f3
from benchmark import run
from benchmark.configs import A2C_MUJOCO, A3C_MUJOCO, REINFORCE_MUJOCO


def test_iqm_is_the_mean_of_the_middle_half():
    # 8 values: floor(8/4) = 2 cut from each end, the mean of 3, 4, 5, 6
    assert f3.iqm([8, 1, 7, 2, 6, 3, 5, 4]) == pytest.approx(4.5)
    # 21 values (one script's 7 tasks x 3 seeds): 5 cut from each end, the mean of the middle 11
    x = np.arange(21.0) ** 2
    assert f3.iqm(x) == pytest.approx(np.mean(np.arange(5, 16) ** 2))
    # an outlier outside the middle half does not move it; the plain mean moves
    assert f3.iqm([1, 2, 3, 4, 1e9]) == pytest.approx(f3.iqm([1, 2, 3, 4, 5])) == pytest.approx(3.0)
    # fewer than 4 values: nothing is cut, the plain mean
    assert f3.iqm([1.0, 2.0, 6.0]) == pytest.approx(3.0)


def test_stratified_bootstrap_matches_the_enumerated_resampling_distribution():
    # 3 runs x 2 tasks: every stratified resample (3^3 ordered draws per task, 729 in all,
    # equally likely) enumerated. The bootstrap's frequency of each value of the mean must be
    # the enumeration's within 4 binomial standard errors, and its interval the percentiles.
    scores = np.array([[0.0, 10.0], [1.0, 30.0], [4.0, 20.0]])
    exact = {}
    for a in itertools.product(range(3), repeat=3):
        for b in itertools.product(range(3), repeat=3):
            value = round((scores[list(a), 0].sum() + scores[list(b), 1].sum()) / 6, 9)
            exact[value] = exact.get(value, 0) + 1 / 729
    samples = 40_000
    raw = f3.stratified_bootstrap(scores, statistic=np.mean, samples=samples)
    stats = np.round(raw, 9)
    assert set(np.unique(stats)) <= set(exact)
    for value, p in exact.items():
        freq = np.mean(stats == value)
        assert abs(freq - p) < 4 * np.sqrt(p * (1 - p) / samples) + 1e-12, (value, freq, p)
    # the variance of the stratified mean: sum over tasks of Var_t / runs, over tasks^2
    expected_var = (np.var(scores[:, 0]) / 3 + np.var(scores[:, 1]) / 3) / 4
    assert np.var(stats) == pytest.approx(expected_var, rel=0.03)
    low, high = f3.stratified_bootstrap_ci(scores, statistic=np.mean, samples=samples)
    assert (low, high) == (np.quantile(raw, 0.025), np.quantile(raw, 0.975))


def test_stratified_bootstrap_keeps_each_task_and_collapses_without_spread():
    # identical runs within every task: every resample is the data, the interval is the point
    scores = np.array([[1.0, 5.0, 9.0]] * 3)
    assert f3.stratified_bootstrap_ci(scores, samples=500) == pytest.approx((5.0, 5.0))
    # stratified: a resample never mixes tasks, so a task with spread moves the interval and a
    # task without spread does not widen it (the unstratified bootstrap would draw 9s for task 0)
    scores = np.array([[0.0, 100.0], [2.0, 100.0]])
    low, high = f3.stratified_bootstrap_ci(scores, statistic=np.mean, samples=4000)
    assert (low, high) == pytest.approx((50.0, 51.0))


def test_normalisation_maps_random_to_0_and_the_best_scripts_mean_to_1():
    finals = {("x", "A"): [90.0, 110.0], ("y", "A"): [50.0, 50.0], ("x", "B"): [10.0, 10.0], ("y", "B"): [20.0, 40.0]}
    norm, best = f3.normalise(finals, {"A": 0.0, "B": -10.0})
    assert best == {"A": 100.0, "B": 30.0}
    assert norm[("x", "A")] == pytest.approx([0.9, 1.1]) and norm[("y", "A")] == pytest.approx([0.5, 0.5])
    assert norm[("x", "B")] == pytest.approx([0.5, 0.5]) and norm[("y", "B")] == pytest.approx([0.75, 1.25])


def test_one_setting_per_script_for_every_task():
    commands = {(a, e): c for a, e, s, c in f3.jobs(f3.ALGOS, f3.ENVS, [1])}
    assert len(commands) == 6 * 7 and len(f3.ENVS) == 7
    for algo in f3.ALGOS:
        tails = {tuple(c[8:]) for (a, _), c in commands.items() if a == algo}
        assert len(tails) == 1, f"{algo} has more than one setting"
    assert commands[("ppo_clip", "Swimmer-v5")] == ["python", "algos/ppo_clip.py", "--env-id", "Swimmer-v5", "--seed", "1", "--total-timesteps", "1000000"]
    assert commands[("a2c", "Reacher-v5")][8:] == A2C_MUJOCO
    assert commands[("a3c", "Reacher-v5")][8:] == A3C_MUJOCO
    assert commands[("reinforce", "Reacher-v5")][8:] == REINFORCE_MUJOCO
    # seed-major: a partial suite covers every (script, task) before repeating one
    order = [(a, e, s) for a, e, s, _ in f3.jobs(f3.ALGOS, f3.ENVS, f3.SEEDS)]
    assert [s for _, _, s in order[:42]] == [1] * 42


def test_a_curve_is_adopted_only_when_its_recorded_command_is_the_jobs(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    job = ("ppo_clip", "Hopper-v5", 1, f3.setting_command("ppo_clip", "Hopper-v5", 1))
    other = ("ppo_clip", "Hopper-v5", 2, f3.setting_command("ppo_clip", "Hopper-v5", 2))
    run.write_curve(str(source / "clip_0.2__Hopper-v5__1.csv"), job[3], [(1, 1.0), (2, 2.0)], 1.0, 1.0)
    run.write_curve(str(source / "clip_0.2__Hopper-v5__2.csv"), [*other[3], "--clip-coef", "0.3"], [(1, 1.0)], 1.0, 1.0)
    sources = [(str(source), {"ppo_clip": "clip_0.2"})]
    left = f3.adopt([job, other], str(tmp_path / "results"), sources)
    assert left == [other]
    adopted = tmp_path / "results" / "mujoco_1m" / "ppo_clip__Hopper-v5__1.csv"
    assert adopted.read_bytes() == (source / "clip_0.2__Hopper-v5__1.csv").read_bytes()


def test_the_suites_reinforce_curves_are_not_adopted():
    # The suite's reinforce Hopper and Walker2d curves are copied from this suite, so adopting them
    # would be circular; and after a change to reinforce.py the suite's old curves must not come back.
    assert all("reinforce" not in prefixes for _, prefixes in f3.SOURCES)


def test_every_adopted_curve_is_still_a_copy_of_its_source():
    directory = os.path.join(f3.RESULTS, "mujoco_1m")
    for name in sorted(os.listdir(directory)):
        algo, env_id, seed = name[: -len(".csv")].split("__")
        job = (algo, env_id, int(seed), f3.setting_command(algo, env_id, int(seed)))
        header = run.read_curve(os.path.join(directory, name))[0]
        assert header["command"] == shlex.join(job[3]), name
        source = f3.recorded_source(job)
        if source is not None and algo != "reinforce":
            with open(source, "rb") as a, open(os.path.join(directory, name), "rb") as b:
                assert a.read() == b.read(), f"{name} differs from {source}"


def test_the_report_is_rebuilt_byte_for_byte(tmp_path):
    results = tmp_path / "figure3"
    shutil.copytree(f3.RESULTS, results)
    committed = open(os.path.join(os.path.dirname(f3.RESULTS), "figure3.md")).read()
    text = f3.report(str(results))
    assert text == committed, "run python benchmark/figure3.py --report"


def test_the_suites_targets_are_at_least_the_papers_figure3_values():
    for algo, (_, values) in f3.FIGURE3.items():
        for env_id, target in run.TARGETS[algo].items():
            assert target >= values[env_id], (algo, env_id)


def test_the_suites_cells_say_which_are_tuned_per_task():
    assert run.tuned_per_task("ppo_clip", "HalfCheetah-v5") and not run.tuned_per_task("ppo_clip", "Hopper-v5")
    assert not any(run.tuned_per_task("a2c", e) for e in run.ENVS)
    assert run.ONE_SETTING == f3.SETTINGS
    rows = [{"algo": "ppo_clip", "env_id": "HalfCheetah-v5", "final_return": 5000.0},
            {"algo": "ppo_clip", "env_id": "Hopper-v5", "final_return": 2000.0}]
    line = [r for r in run.table(rows).splitlines() if r.startswith("| ppo_clip.py")][0]
    assert "5000 ± 0 (1 seed, tuned per task;" in line and "2000 ± 0 (1 seed;" in line


def test_the_ranking_compares_the_papers_order_with_ours_where_the_figure_has_no_tie():
    finals = {("ppo_clip", "Hopper-v5"): [3000.0] * 3, ("trpo", "Hopper-v5"): [1900.0, 2000.0, 2100.0], ("a2c", "Hopper-v5"): [2500.0] * 3,
              ("ppo_clip", "Walker2d-v5"): [3000.0] * 3, ("trpo", "Walker2d-v5"): [2000.0] * 3, ("a2c", "Walker2d-v5"): [1000.0] * 3,
              ("ppo_clip", "InvertedPendulum-v5"): [1000.0] * 3, ("trpo", "InvertedPendulum-v5"): [900.0] * 3,
              ("a2c", "HalfCheetah-v5"): [1.0, 2.0], ("ppo_clip", "HalfCheetah-v5"): [5.0] * 3,
              ("ppo_clip", "InvertedDoublePendulum-v5"): [700.0] * 3, ("a2c", "InvertedDoublePendulum-v5"): [700.0] * 3}  # fmt: skip
    text = f3.ranking(finals)
    # a pair the other way round is named with its gap and both spreads (np.std, ddof 0)
    assert ("- Hopper-v5: paper ppo_clip > trpo > a2c; here ppo_clip > a2c > trpo: differs: a2c above trpo (gap 500; std 0 and 82)"
            " (a2c.py: setting chosen on this task)") in text
    assert "- Walker2d-v5: paper ppo_clip > trpo > a2c; here ppo_clip > trpo > a2c: same order (a2c.py" in text
    # equal means are a tie, never the paper's order, whichever order a stable sort leaves them in
    assert "- InvertedDoublePendulum-v5: paper ppo_clip > a2c; here ppo_clip = a2c: differs: a2c ties ppo_clip (gap 0" in text
    # a tie in the figure (InvertedPendulum's 1000s); a script with fewer than three seeds (a2c on
    # HalfCheetah) is left out, leaving one script there
    assert "InvertedPendulum" not in text and "HalfCheetah" not in text
    assert text.endswith("The same order on 1 of 3 tasks compared.")
    assert f3.ranking_summary(finals) == ("The order of PPO-Clip, TRPO and A2C is the figure's on 1 of 3 tasks compared"
                                          " (Walker2d-v5; per task in benchmark/results/figure3.md).")


def test_a_cell_is_marked_against_the_papers_value_by_its_rounded_mean_and_spread():
    # above / below by the mean; within 1 std where |rounded mean - paper| <= std (ddof 0)
    assert f3.versus([2000.0, 2100.0, 2200.0], 2000) == "above"  # gap 100, std 82
    assert f3.versus([1800.0, 1900.0, 2000.0], 2000) == "below"
    assert f3.versus([1900.0, 2000.0, 2300.0], 2000) == "within 1 std"  # gap 67, std 170
    # 999.7 shows as 1000: at the read-off 1000, not below it, though the std is 0.5
    assert f3.versus([999.0, 1000.0, 1000.0], 1000) == "within 1 std"
    # no spread: a mean that shows as the paper's value is within (a strict < would say below;
    # comparing the unrounded 999.6 would too)
    assert f3.versus([1000.0] * 3, 1000) == f3.versus([999.6] * 3, 1000) == "within 1 std"
    assert f3.versus([998.0, 998.0, 998.0], 1000) == "below"


def test_the_aggregate_normalises_among_complete_scripts_and_resamples_within_tasks():
    # x and y have all 21 runs, z only one task. Random policy 0 everywhere. On task t (0-6) x
    # scores 10 (t + 1) on every seed and y half of it: y's normalised score is 0.5 on all 21 runs,
    # x's 1. z's 1e6 on the first task must not set that task's normaliser.
    random_scores = {e: 0.0 for e in f3.ENVS}
    finals = {}
    for t, env_id in enumerate(f3.ENVS):
        finals[("x", env_id)] = [10.0 * (t + 1)] * 3
        finals[("y", env_id)] = [5.0 * (t + 1)] * 3
    finals[("z", f3.ENVS[0])] = [1e6] * 3
    algos = f3.ALGOS
    try:
        f3.ALGOS = ["x", "y", "z"]
        agg, best = f3.aggregate(finals, random_scores)
    finally:
        f3.ALGOS = algos
    assert set(agg) == {"x", "y"} and best[f3.ENVS[0]] == 10.0
    assert agg["x"] == (1.0, 1.0, 1.0, 1.0, 21) and agg["y"] == pytest.approx((0.5, 0.5, 0.5, 0.5, 21))
    # seeds differ only across tasks' columns in this layout: resampling within each task (the
    # columns of [seeds, tasks]) leaves every resample equal to the data; resampling across tasks
    # (the transpose) would not
    finals = {("x", e): [float(t), float(t), float(t)] for t, e in enumerate(f3.ENVS)}
    finals.update({("y", e): [6.0, 6.0, 6.0] for e in f3.ENVS})
    try:
        f3.ALGOS = ["x", "y"]
        agg, _ = f3.aggregate(finals, {e: 0.0 for e in f3.ENVS})
    finally:
        f3.ALGOS = algos
    norm = [t / 6.0 for t in range(7)]
    assert agg["x"][1] == agg["x"][2] == pytest.approx(f3.iqm(np.repeat(norm, 3)))
    # the IQM and the plain mean differ where a task drops out: y scores 0 on the first task and 1
    # on the six others, so the middle 11 of its 21 runs are all 1 while the mean is 18/21
    finals = {("x", e): [10.0] * 3 for e in f3.ENVS}
    finals.update({("y", e): [0.0 if t == 0 else 10.0] * 3 for t, e in enumerate(f3.ENVS)})
    try:
        f3.ALGOS = ["x", "y"]
        agg, _ = f3.aggregate(finals, {e: 0.0 for e in f3.ENVS})
    finally:
        f3.ALGOS = algos
    assert agg["y"][0] == 1.0 and agg["y"][3] == pytest.approx(18 / 21)


def test_the_report_counts_the_curves_adopted_from_each_study(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    results = tmp_path / "results"
    (results / "mujoco_1m").mkdir(parents=True)
    for seed in (1, 2):
        command = f3.setting_command("ppo_clip", "Hopper-v5", seed)
        run.write_curve(str(source / f"clip_0.2__Hopper-v5__{seed}.csv"), command, [(1, 1.0)], 1.0, 1.0)
        # seed 2 was rerun here: the same command, another curve, so not a copy
        run.write_curve(str(results / "mujoco_1m" / f"ppo_clip__Hopper-v5__{seed}.csv"), command, [(1, float(seed == 1))], 1.0, 1.0)
    text = f3.adopted_lines(str(results), [(str(source), {"ppo_clip": "clip_0.2"})])
    assert text.endswith(f"`{os.path.relpath(str(source), f3.REPO)}/` (ppo_clip 1).")
    assert f3.adopted_lines(str(results), []) == "No curve is adopted from another study."


def test_every_curve_listed_as_recorded_on_an_earlier_version_is_still_that_curve():
    # A rerun records another wall time: its entry must then leave EARLIER_VERSION (the report
    # would drop the line silently, and the list would keep a stale claim).
    curves = f3.collect(f3.RESULTS)
    for what, runs in f3.EARLIER_VERSION:
        for key, wall in runs.items():
            assert key in curves and curves[key][0]["wall_time_s"] == wall, (key, what[:40])
    text = f3.earlier_lines(curves)
    assert text.startswith(f"Recorded on an earlier version of the script ({sum(len(r) for _, r in f3.EARLIER_VERSION)} curves:")
    rerun = {k: ({**h, "wall_time_s": "1.0"}, s, r) if k == ("ppo_kl", "Hopper-v5", 2) else (h, s, r) for k, (h, s, r) in curves.items()}
    assert "ppo_kl.py Hopper-v5 seeds 1, 3;" in f3.earlier_lines(rerun)


def test_a_cell_recorded_before_a_change_to_its_script_says_so():
    date, change = run.CHANGES["reinforce"]
    rows = [{"algo": "reinforce", "env_id": "Hopper-v5", "final_return": 800.0, "date": "2026-11-24"},
            {"algo": "a2c", "env_id": "Hopper-v5", "final_return": 800.0, "date": "2026-11-24"},
            {"algo": "reinforce", "env_id": "Walker2d-v5", "final_return": 500.0, "date": date}]
    assert run.predates_change(rows[0]) == change and run.predates_change(rows[1]) is None and run.predates_change(rows[2]) is None
    lines = run.table(rows).splitlines()
    reinforce = [line for line in lines if line.startswith("| reinforce.py")][0]
    assert reinforce.count(f"recorded before {change}") == 1 and "recorded before" not in [line for line in lines if line.startswith("| a2c.py")][0]


def test_a_run_that_ends_below_half_its_own_best_is_listed():
    # 300 episodes a run: returns 1000 from episode 100 on (the mean of the last 100 reaches 1000
    # at episode 200, 0.67M steps); "fell" drops to 5 for its last 100,
    # "held" keeps 1000, "dipped" ends at 600 (above halfway between random 5 and its best 1000).
    steps = np.linspace(1e4, 1e6, 300)
    rising = np.r_[np.linspace(5, 1000, 100), np.full(200, 1000.0)]
    fell, dipped = rising.copy(), rising.copy()
    fell[200:], dipped[200:] = 5.0, 600.0
    curves = {(algo, "InvertedPendulum-v5", 1): ({}, steps, returns)
              for algo, returns in [("trpo", fell), ("a2c", rising), ("ppo_clip", dipped)]}
    text = f3.collapses(curves, {"InvertedPendulum-v5": 5.0})
    assert text == "- trpo.py InvertedPendulum-v5 seed 1: 1000 at 0.67M steps, 5 at the end", text
    assert f3.collapses({k: v for k, v in curves.items() if k[0] != "trpo"}, {"InvertedPendulum-v5": 5.0}) == "None."
