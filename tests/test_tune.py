"""benchmark/tune.py on a tiny study: every trial is the script's own command line, the study
resumes from its journal without repeating trials, a pruned run is killed, and the best
setting is printed as configs.py arguments."""

import argparse
import ast
import os
import subprocess
import sys

from benchmark import tune
from tests.scripts import REPO

TUNE = os.path.join(REPO, "benchmark", "tune.py")
TINY = ["--script", "reinforce", "--space", "tiny", "--envs", "CartPole-v1", "--budget", "3000",
        "--window", "20", "--startup-trials", "1"]  # fmt: skip


def tuner(*args):
    args = [*args, "--", "--batch-size", "500"]
    proc = subprocess.run([sys.executable, TUNE, *map(str, args)], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_tiny_study_resumes_and_prints_the_best_setting(tmp_path):
    journal = tmp_path / "study.journal"
    first = tuner(*TINY, "--trials", 2, "--storage", journal)
    assert "2 complete, 0 pruned, 2 in all" in first
    again = tuner(*TINY, "--trials", 3, "--storage", journal)  # resumes: one more trial, not three
    assert "3 complete, 0 pruned, 3 in all" in again
    report = tuner(*TINY, "--trials", 3, "--storage", journal, "--report")  # runs nothing
    assert "3 complete, 0 pruned, 3 in all" in report
    best = report.splitlines()[-1].strip()
    assert best.startswith("['--batch-size', '500', '--learning-rate', '0.0")  # --fixed, then the sample
    rows = [r for r in (tmp_path / "study.md").read_text().splitlines() if r.startswith("| ") and r[2].isdigit()]
    assert len(rows) == 3 and all("| complete |" in r for r in rows)  # the table beside the journal
    assert "--window 20 --report` from the journal" in (tmp_path / "study.md").read_text()  # its rebuild command
    scores = [float(r.split(" | ")[2]) for r in rows]
    assert scores == sorted(scores, reverse=True)  # best first: the setting printed as the best
    assert rows[0].endswith(f"| `--learning-rate {ast.literal_eval(best)[-1]}` |")
    assert all(r.split(" | ")[2] == r.split(" | ")[3] == r.split(" | ")[4] for r in rows)  # one run: score = lowest = its own
    other = [sys.executable, TUNE, *map(str, TINY), "--trials", 4, "--storage", journal, "--", "--batch-size", "400"]
    proc = subprocess.run(list(map(str, other)), capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 1 and "ran its trials with the fixed arguments '--batch-size 500'" in proc.stderr
    import optuna

    study = optuna.load_study(study_name="reinforce__default", storage=tune.storage_of(type("A", (), {"storage": str(journal)})))
    values = [t.value for t in study.trials]
    # the score is the last-20 mean return over the 3000 steps, in the units of the target (1 for
    # CartPole, which has no MuJoCo target): a random CartPole policy scores about 20
    assert all(9 < v < 200 for v in values), values


def test_pruned_run_is_killed_and_reported(tmp_path):
    seen = []

    def prune_at_first_report(step, mean_return):
        seen.append((step, mean_return))
        return True

    command = ["python", "algos/reinforce.py", "--env-id", "CartPole-v1", "--total-timesteps", "40000", "--batch-size", "500"]
    assert tune.run_with_progress(command, str(tmp_path), prune_at_first_report) is None
    assert len(seen) == 1 and seen[0][0] < 40000  # killed at its first progress line, not run out
    (tmp_path / "b").mkdir()
    run_dir = tune.run_with_progress([*command[:5], "3000", *command[6:]], str(tmp_path / "b"), lambda s, r: False)
    assert os.path.isdir(run_dir)


def test_committed_trial_tables_match_their_journals(tmp_path):
    """Each committed benchmark/results/tune/*.md is what its own 'Rebuilt by' command prints from
    the committed journal (a table typed by hand, or a journal changed since, fails)."""
    import glob
    import shlex
    import shutil

    tables = sorted(glob.glob(os.path.join(REPO, "benchmark", "results", "tune", "*.md")))
    assert tables, "no committed study table"
    for table in tables:
        text = open(table).read()
        command = shlex.split(text.split("Rebuilt by `", 1)[1].split("`", 1)[0])
        assert command[:2] == ["python", "benchmark/tune.py"] and "--report" in command
        journal = tmp_path / os.path.basename(table).replace(".md", ".journal")
        shutil.copy(table.replace(".md", ".journal"), journal)
        tune.main([*command[2:], "--storage", str(journal)])
        assert journal.with_suffix(".md").read_text() == text, f"rebuild {table} with its 'Rebuilt by' command"


def test_workers_and_resumed_studies_sample_streams_of_their_own(tmp_path):
    """Two workers of one study, or a study resumed, must not draw the same random settings (with
    one sampler seed for all, the two workers of the first a2c study ran each setting twice); one
    worker of one start draws the same ones again (the study is reproducible)."""
    args = argparse.Namespace(script="reinforce", study="s", budget=3000, sampler_seed=0, startup_trials=8,
                              storage=str(tmp_path / "s.journal"))

    def first_draw(worker, existing):
        return tune.load_study(args, worker, existing).ask().suggest_float("x", 0.0, 1.0)

    draws = [first_draw(0, 0), first_draw(1, 0), first_draw(0, 5)]  # two workers; a resume after 5 trials
    assert len(set(draws)) == 3, draws
    assert first_draw(0, 0) == draws[0]


def test_the_setting_replaces_the_fixed_options_it_sets_again():
    fixed = ["--num-envs", "1", "--normalize-obs", "--gae-lambda", "0.9", "--clip", "-0.5"]
    assert tune.merged(fixed, ["--num-envs", "2", "--clip", "-1.0"]) == [
        "--normalize-obs", "--gae-lambda", "0.9", "--num-envs", "2", "--clip", "-1.0"]
    assert tune.merged(fixed, []) == fixed


def test_trial_table_gives_each_run_and_the_lowest(tmp_path):
    """A trial's mean over tasks can hide a task below its target: the table shows each run's
    score and the lowest of them."""
    from optuna.trial import TrialState, create_trial

    runs = {"score HalfCheetah-v5 seed 1": 2.5, "score Hopper-v5 seed 1": 0.3}
    trials = [create_trial(state=TrialState.COMPLETE, value=1.4, user_attrs={**runs, "args": ["--x", "1"]}),
              create_trial(state=TrialState.PRUNED, user_attrs={"args": ["--x", "2"]})]
    trials[0].number, trials[1].number = 0, 1
    args = argparse.Namespace(script="a2c", study="s", envs=["HalfCheetah-v5", "Hopper-v5"], seeds=[1], budget=10,
                              fixed=[], window=100, cap=None)
    tune.write_table(args, trials, str(tmp_path / "t.md"))
    rows = (tmp_path / "t.md").read_text().splitlines()[-2:]
    assert rows == ["| 0 | complete | 1.400 | 0.300 | 2.500 | 0.300 | `--x 1` |", "| 1 | pruned | – | – | – | – | `--x 2` |"]


def test_enqueue_fixed_runs_the_fixed_setting_first(tmp_path):
    """--enqueue-fixed puts configs.py's current values of the searched options in the study as its
    first trial (a flag is True or False, a number matches its choice); a value outside the space
    is a one-line error before any journal is written."""
    import optuna

    fixed = ["--normalize-obs", "--learning-rate", "0.00482", "--batch-size", "4000", "--num-envs", "4", "--norm-adv"]
    assert tune.fixed_params(fixed, tune.space_reinforce) == {
        "norm_adv": True, "learning_rate": 0.00482, "batch_size": 4000, "num_envs": 4}
    assert tune.fixed_params(["--no-norm-adv"], tune.space_reinforce) == {"norm_adv": False}
    try:
        tune.fixed_params(["--learning-rate", "0.1"], tune.space_reinforce)  # the space ends at 3e-2
        raise AssertionError("a rate outside the space was accepted")
    except SystemExit as e:
        assert "--learning-rate 0.1 is outside the search space's [0.0003, 0.03]" in str(e)
    assert tune.fixed_params(["--num-steps", "32.0", "--vf-coef", "1"], tune.space_a3c) == {"num_steps": 32, "vf_coef": 1.0}
    journal = tmp_path / "s.journal"
    try:
        tune.main([*TINY, "--trials", "0", "--storage", str(journal), "--enqueue-fixed", "--", "--learning-rate", "0.5"])
        raise AssertionError("a fixed value outside the space was accepted")
    except SystemExit as e:
        assert "--learning-rate 0.5 is not one of the search space's [0.001, 0.01]" in str(e)
    assert not journal.exists()
    tune.main([*TINY, "--trials", "0", "--storage", str(journal), "--enqueue-fixed", "--", "--learning-rate", "1e-2"])
    study = optuna.load_study(study_name="reinforce__default", storage=tune.storage_of(argparse.Namespace(storage=str(journal))))
    # the only trial so far: waiting for a worker, with the fixed value (Optuna's record of an enqueued trial)
    assert [(t.state.name, t.system_attrs.get("fixed_params")) for t in study.trials] == [("WAITING", {"learning_rate": 0.01})]


def test_cap_ranks_by_the_tasks_below_their_target(tmp_path):
    """--cap 1: a task past its target adds nothing to the score, so a setting far above target on
    one task does not outrank one that lifts another task towards its target; a study keeps its cap
    and refuses a resume scored another way."""
    assert tune.study_score([2.5, 0.3]) > tune.study_score([1.2, 0.9])  # the mean: one task outweighs
    assert tune.study_score([2.5, 0.3], cap=1) == 0.65 < tune.study_score([1.2, 0.9], cap=1) == 0.95
    journal = tmp_path / "s.journal"
    tune.main([*TINY, "--trials", "0", "--storage", str(journal), "--cap", "1", "--", "--batch-size", "500"])
    try:
        tune.main([*TINY, "--trials", "0", "--storage", str(journal), "--", "--batch-size", "500"])
        raise AssertionError("a resume with another score was accepted")
    except SystemExit as e:
        assert "scores its trials with --cap 1.0, this call with no --cap" in str(e)
    args = argparse.Namespace(script="a2c", study="s", envs=["Hopper-v5"], seeds=[1], budget=10, fixed=[], window=100, cap=1.0)
    tune.write_table(args, [], str(tmp_path / "t.md"))
    assert "target (benchmark/run.py), each capped at 1.0" in (tmp_path / "t.md").read_text()


def test_the_pruned_curve_is_capped_like_the_score(tmp_path, monkeypatch):
    """With --cap, the progress a trial reports to the pruner is capped too (else a setting far
    past one task's target early on would keep a trial that the capped score ranks low)."""
    import optuna

    def fake_run(command, workdir, report):
        report(1000, 2500.0)  # Hopper-v5 at 2500 against the a2c target 1200
        return workdir

    monkeypatch.setattr(tune, "run_with_progress", fake_run)
    monkeypatch.setattr(tune, "read_scalars", lambda run_dir: [(0, 2500.0)])
    study = optuna.create_study(direction="maximize")
    for cap in (1.0, None):
        args = argparse.Namespace(space=None, script="a2c", envs=["Hopper-v5"], seeds=[1], budget=10, fixed=[],
                                  window=100, cap=cap)
        trial = study.ask()
        study.tell(trial, tune.objective(trial, args))
    assert [(t.value, t.intermediate_values) for t in study.trials] == [
        (1.0, {1000: 1.0}), (2500 / 1200, {1000: 2500 / 1200})]
