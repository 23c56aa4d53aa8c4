"""benchmark/ppo_objectives.py without training: the paper's normalisation on numbers worked out
by hand, the settings' commands, the no-clip setting's loss, and a report rebuilt byte for byte
from curve files."""

import os

import numpy as np
import pytest
import torch

from benchmark import ppo_objectives as po
from benchmark import run
from tests.scripts import load


def test_normalisation_maps_random_to_0_and_the_best_setting_to_1():
    # Task A: random 0, settings' means 100 (best) and 50; task B: random -10, means 10 and 30 (best).
    scores = {("x", "A"): [90.0, 110.0], ("y", "A"): [50.0, 50.0],
              ("x", "B"): [10.0, 10.0], ("y", "B"): [20.0, 40.0]}
    norm = po.normalized_scores(scores, {"A": 0.0, "B": -10.0})
    # x: A (0.9 + 1.1) / 2 runs, B (20/40, 20/40): mean of 0.9, 1.1, 0.5, 0.5 = 0.75
    # y: A 0.5, 0.5; B 30/40, 50/40: mean of 0.5, 0.5, 0.75, 1.25 = 0.75
    assert norm["x"] == pytest.approx(0.75)
    assert norm["y"] == pytest.approx(0.75)
    # the best setting is set to 1 by its mean, not its best seed: on a task alone it averages 1
    one = po.normalized_scores({k: v for k, v in scores.items() if k[1] == "A"}, {"A": 0.0})
    assert one == pytest.approx({"x": 1.0, "y": 0.5})
    # a random policy's score maps to 0, below it negative (the paper's no-clip row is -0.39)
    low = po.normalized_scores({("x", "A"): [100.0], ("y", "A"): [-50.0]}, {"A": 0.0})
    assert low["y"] == pytest.approx(-0.5)


def test_normalisation_leaves_out_tasks_some_setting_lacks():
    scores = {("x", "A"): [1.0], ("y", "A"): [0.5], ("x", "B"): [3.0]}
    assert po.normalized_scores(scores, {"A": 0.0, "B": 0.0}) == pytest.approx({"x": 1.0, "y": 0.5})


def test_rank_correlation():
    assert po.rank_correlation([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert po.rank_correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert po.rank_correlation([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)


def test_the_settings_commands_use_the_switches_the_paper_varies():
    commands = {name: " ".join(c) for name, _, _, c in po.jobs(po.SETTINGS, ["Hopper-v5"], [1], 1000)}
    assert commands["no_clip_no_penalty"].endswith("algos/ppo_kl.py --env-id Hopper-v5 --seed 1 --total-timesteps 1000 --no-adaptive --init-beta 0")
    assert commands["clip_0.3"].endswith("ppo_clip.py --env-id Hopper-v5 --seed 1 --total-timesteps 1000 --clip-coef 0.3")
    assert commands["adaptive_kl_0.003"].endswith("ppo_kl.py --env-id Hopper-v5 --seed 1 --total-timesteps 1000 --kl-target 0.003")
    assert commands["fixed_kl_10"].endswith("--no-adaptive --init-beta 10")
    assert len(po.SETTINGS) == 11 and set(po.HEADLINE) <= set(po.SETTINGS)


def test_the_settings_without_a_switch_are_the_scripts_defaults():
    """clip_0.2 and adaptive_kl_0.01 pass no switch (so the 1M suite's curves serve them): the
    defaults must be what their names say, or the comparison mislabels two rows."""
    assert po.SETTINGS["clip_0.2"][:2] == ("ppo_clip", []) and po.SETTINGS["adaptive_kl_0.01"][:2] == ("ppo_kl", [])
    assert load("ppo_clip").Args().clip_coef == 0.2
    kl = load("ppo_kl").Args()
    assert (kl.kl_target, kl.init_beta, kl.adaptive) == (0.01, 1.0, True)


def test_suite_curves_are_adopted_only_when_the_command_is_identical(tmp_path):
    suite, results = str(tmp_path / "suite"), str(tmp_path / "objectives")
    todo = po.jobs(["clip_0.2", "clip_0.3"], ["Hopper-v5"], [1, 2], 1_000_000)
    # the suite has seed 1 with the same command; seed 2 with another command (a stale curve)
    run.write_curve(run.curve_path(suite, "ppo_clip", "Hopper-v5", 1), todo[0][3], [(2048, 10.0)], 1.0, 1.0)
    run.write_curve(run.curve_path(suite, "ppo_clip", "Hopper-v5", 2), [*todo[1][3], "--ent-coef", "0.01"],
                    [(2048, 10.0)], 1.0, 1.0)
    left = po.adopt_suite_curves(todo, results, suite)
    assert [(j[0], j[2]) for j in left] == [("clip_0.2", 2), ("clip_0.3", 1), ("clip_0.3", 2)]
    copied = run.curve_path(results, "clip_0.2", "Hopper-v5", 1)
    assert open(copied).read() == open(run.curve_path(suite, "ppo_clip", "Hopper-v5", 1)).read()
    assert sorted(os.listdir(run.curves_dir(results))) == ["clip_0.2__Hopper-v5__1.csv"]


def test_dry_run_tells_suite_copies_from_runs(tmp_path, monkeypatch, capsys):
    """--dry-run must not count as "to do" a run the comparison will copy from the suite."""
    suite, results = str(tmp_path / "suite"), str(tmp_path / "objectives")
    job = po.jobs(["clip_0.2"], ["Hopper-v5"], [1], 1_000_000)[0]
    run.write_curve(run.curve_path(suite, "ppo_clip", "Hopper-v5", 1), job[3], [(2048, 10.0)], 1.0, 1.0)
    monkeypatch.setattr(po.run, "RESULTS", suite)
    argv = ["ppo_objectives.py", "--results", results, "--envs", "Hopper-v5", "--settings", "clip_0.2",
            "fixed_kl_1", "--seeds", "1", "--dry-run"]  # fmt: skip
    monkeypatch.setattr(po.sys, "argv", argv)
    po.main()
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("adopt python algos/ppo_clip.py --env-id Hopper-v5 --seed 1")
    assert out[1].startswith("to do python algos/ppo_kl.py --env-id Hopper-v5 --seed 1")
    assert out[2] == "2 runs: 0 done, 1 to copy from the 1M suite, 1 to run"


def test_random_scores_already_measured_are_neither_measured_nor_rewritten(tmp_path, monkeypatch):
    """Two runners on other tasks start at once: neither may rewrite random_policy.csv when it has
    their tasks (both rewriting it through one temporary name crashed one of them)."""
    text = "# measured by: a test\nenv_id,score\nHopper-v5,16.67\nSwimmer-v5,0.80\n"
    (tmp_path / "random_policy.csv").write_text(text)
    monkeypatch.setattr(po, "random_policy_score", lambda env_id: pytest.fail(f"measured {env_id} again"))
    assert po.measure_random_scores(str(tmp_path), ["Swimmer-v5"]) == {"Hopper-v5": 16.67, "Swimmer-v5": 0.8}
    assert (tmp_path / "random_policy.csv").read_text() == text
    monkeypatch.setattr(po, "random_policy_score", lambda env_id: 5.0)
    po.measure_random_scores(str(tmp_path), ["Reacher-v5"])  # a missing task: measured and added
    assert po.read_random_scores(str(tmp_path))["Reacher-v5"] == 5.0
    assert sorted(os.listdir(tmp_path)) == ["random_policy.csv"]  # no temporary file left


def test_report_without_a_random_score_says_what_to_run(tmp_path):
    for name in po.HEADLINE:
        for seed in po.SEEDS:
            command = po.jobs([name], ["Hopper-v5"], [seed], 1_000_000)[0][3]
            run.write_curve(run.curve_path(str(tmp_path), name, "Hopper-v5", seed), command,
                            [(5000 * i, 100.0) for i in range(1, 201)], 1.0, 1.0)
    with pytest.raises(SystemExit, match="no random-policy score for Hopper-v5; python benchmark"):
        po.report(str(tmp_path))


def test_no_clip_no_penalty_is_exactly_the_unclipped_surrogate():
    """ppo_kl's loss at beta = 0 is -E[r A] to the bit, whatever the KL; ppo_clip's is not."""
    kl_loss = load("ppo_kl").kl_penalized_surrogate_loss
    clip_loss = load("ppo_clip").clipped_surrogate_loss
    g = torch.Generator().manual_seed(0)
    ratio, adv, kl = torch.rand(64, generator=g) * 2, torch.randn(64, generator=g), torch.rand(64, generator=g)
    assert torch.equal(kl_loss(ratio, adv, kl, 0.0), -(ratio * adv).mean())
    assert not torch.equal(kl_loss(ratio, adv, kl, 1.0), -(ratio * adv).mean())
    assert not torch.allclose(clip_loss(ratio, adv, 0.2), -(ratio * adv).mean())


def test_report_is_rebuilt_byte_for_byte_from_the_curves(tmp_path):
    rng = np.random.default_rng(0)
    factors = {"clip_0.2": 2, "adaptive_kl_0.01": 1.5, "fixed_kl_1": 1, "no_clip_no_penalty": 0.5}
    for name in factors:
        for env_id, level in zip(po.ENVS, [1000, 50, 9000, 1000, 5, 100, 3000]):
            for seed in po.SEEDS:
                steps = np.arange(1, 201) * 5000
                returns = level * factors[name] + rng.normal(size=200)
                command = po.jobs([name], [env_id], [seed], 1_000_000)[0][3]
                run.write_curve(run.curve_path(str(tmp_path), name, env_id, seed), command,
                                list(zip(steps, returns)), 1.0, 1.0)
    (tmp_path / "random_policy.csv").write_text("# measured by: a test\nenv_id,score\n" + "".join(f"{e},0.00\n" for e in po.ENVS))
    first = po.report(str(tmp_path))
    files = {p: (tmp_path / p).read_bytes() for p in ["ppo_objectives.md", "ppo_objectives_summary.png"]}
    assert po.report(str(tmp_path)) == first
    assert {p: (tmp_path / p).read_bytes() for p in files} == files
    assert "| clip_0.2 | `ppo_clip.py` (its defaults) | 1.00 | 0.82 |" in first
    assert "| adaptive_kl_0.01 | `ppo_kl.py` (its defaults) | 0.75 | 0.74 |" in first
    assert "| fixed_kl_1 | `ppo_kl.py --no-adaptive --init-beta 1` | 0.50 | 0.71 |" in first
    assert "| no_clip_no_penalty | `ppo_kl.py --no-adaptive --init-beta 0` | 0.25 | -0.39 |" in first
    assert "Spearman rank correlation: 1.00 (the ranking reproduces)" in first
    assert os.path.exists(tmp_path / "ppo_objectives_tasks.png")


def test_a_partial_comparison_normalises_nothing(tmp_path):
    """With two of the four headline settings run on a task, the task is not complete: normalising
    over the two alone would rank them as if they were the whole comparison."""
    for name in ["clip_0.2", "adaptive_kl_0.01"]:
        for seed in po.SEEDS:
            command = po.jobs([name], ["Hopper-v5"], [seed], 1_000_000)[0][3]
            run.write_curve(run.curve_path(str(tmp_path), name, "Hopper-v5", seed), command,
                            [(5000 * i, 100.0 * i) for i in range(1, 201)], 1.0, 1.0)
    (tmp_path / "random_policy.csv").write_text("# measured by: a test\nenv_id,score\nHopper-v5,0.00\n")
    text = po.report(str(tmp_path))
    assert "(0 of 7: none yet)" in text
    assert "| clip_0.2 | `ppo_clip.py` (its defaults) | incomplete | 0.82 |" in text
    assert "| fixed_kl_1 | `ppo_kl.py --no-adaptive --init-beta 1` | incomplete | 0.71 |" in text
    assert "Spearman" not in text
    assert not os.path.exists(tmp_path / "ppo_objectives_summary.png")


def test_per_task_table_normalises_each_task_by_its_own_best(tmp_path):
    """The per-task normalised table: each task's best setting is 1 there (clip on Hopper, fixed
    KL on Swimmer), and a setting's overall score is the mean of its row."""
    levels = {"clip_0.2": (100, 5), "adaptive_kl_0.01": (50, 0), "fixed_kl_1": (20, 10), "no_clip_no_penalty": (0, 0)}
    for name, per_env in levels.items():
        for env_id, level in zip(["Hopper-v5", "Swimmer-v5"], per_env):
            for seed in po.SEEDS:
                command = po.jobs([name], [env_id], [seed], 1_000_000)[0][3]
                run.write_curve(run.curve_path(str(tmp_path), name, env_id, seed), command,
                                [(5000 * i, float(level)) for i in range(1, 201)], 1.0, 1.0)
    (tmp_path / "random_policy.csv").write_text("# measured by: a test\nenv_id,score\nHopper-v5,0.00\nSwimmer-v5,0.00\n")
    text = po.report(str(tmp_path))
    assert "| normalised, per task | Hopper-v5 | Swimmer-v5 |" in text
    assert "| clip_0.2 | 1.00 | 0.50 |" in text and "| clip_0.2 | `ppo_clip.py` (its defaults) | 0.75 |" in text
    assert "| fixed_kl_1 | 0.20 | 1.00 |" in text and "| fixed_kl_1 | `ppo_kl.py --no-adaptive --init-beta 1` | 0.60 |" in text
    assert "| adaptive_kl_0.01 | 0.50 | 0.00 |" in text


def test_committed_report_matches_the_committed_curves(tmp_path):
    committed = po.RESULTS
    os.symlink(run.curves_dir(committed), run.curves_dir(str(tmp_path)))
    os.symlink(po.random_scores_file(committed), po.random_scores_file(str(tmp_path)))
    po.report(str(tmp_path))
    with open(os.path.join(committed, "ppo_objectives.md")) as f:
        assert (tmp_path / "ppo_objectives.md").read_text() == f.read(), "run python benchmark/ppo_objectives.py --report"


def test_a_stray_run_of_another_setting_leaves_complete_tasks_complete(tmp_path):
    """One clip_0.1 run on a task where the four headline settings are complete: the task still
    counts for them, and clip_0.1 (not complete there) is not scored."""
    for name in [*po.HEADLINE, "clip_0.1"]:
        for seed in po.SEEDS if name != "clip_0.1" else [1]:
            command = po.jobs([name], ["Hopper-v5"], [seed], 1_000_000)[0][3]
            run.write_curve(run.curve_path(str(tmp_path), name, "Hopper-v5", seed), command,
                            [(5000 * i, 100.0 + seed + len(name)) for i in range(1, 201)], 1.0, 1.0)
    (tmp_path / "random_policy.csv").write_text("# measured by: a test\nenv_id,score\nHopper-v5,0.00\n")
    text = po.report(str(tmp_path))
    assert "(1 of 7: Hopper-v5)" in text
    assert "| clip_0.1 | `ppo_clip.py --clip-coef 0.1` | incomplete | 0.76 |" in text
    assert "no verdict before all 7 tasks are complete (1 of 7 now)" in text and "reproduces" not in text
    assert "| clip_0.2 | `ppo_clip.py` (its defaults) | incomplete |" not in text


def test_adopted_curves_are_still_the_suites():
    """A curve the comparison copied from the 1M suite must equal the suite's: a suite curve re-run
    since (same command, newer code) leaves a stale copy behind, which this catches."""
    adopted = 0
    for (setting, env_id, seed), _ in po.collect(po.RESULTS).items():
        copy = run.curve_path(po.RESULTS, setting, env_id, seed)
        source = run.curve_path(run.RESULTS, po.SETTINGS[setting][0], env_id, seed)
        with open(copy) as f:
            text = f.read()
        if os.path.exists(source) and run.read_curve(copy)[0]["command"] == run.read_curve(source)[0]["command"]:
            with open(source) as f:
                assert f.read() == text, f"{copy} is a stale copy of {source}: delete it and rerun"
            adopted += 1
    assert adopted >= 12 or not os.path.isdir(run.curves_dir(po.RESULTS))
