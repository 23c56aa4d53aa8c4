"""benchmark/run.py, the one-command MuJoCo benchmark, on tiny budgets: the suite it lists,
resuming without repeating finished runs, never reading a partial file, the submitit path
(with its local executor), and a report that is rebuilt byte for byte from the curves."""

import os
import subprocess
import sys

import pytest

from benchmark import run
from tests.scripts import REPO

RUN = os.path.join(REPO, "benchmark", "run.py")
TINY = ["--algos", "a2c", "--envs", "InvertedPendulum-v5", "--total-timesteps", "2000"]


def runner(*args, check=True, timeout=600):
    proc = subprocess.run([sys.executable, RUN, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=REPO)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_dry_run_lists_the_54_commands_of_the_suite():
    lines = [line for line in runner("--dry-run").stdout.splitlines() if "python algos/" in line]
    assert len(lines) == 54
    commands = {line.split(" ", 1)[1].strip() for line in lines}
    assert len(commands) == 54
    for algo in ["ppo_clip", "ppo_kl", "trpo", "a2c", "a3c", "reinforce"]:
        for env_id in ["HalfCheetah-v5", "Hopper-v5", "Walker2d-v5"]:
            for seed in [1, 2, 3]:
                assert any(f"algos/{algo}.py --env-id {env_id} --seed {seed} --total-timesteps 1000000" in c for c in commands)


def test_runs_resume_without_repeating_and_ignore_partial_files(tmp_path):
    first = runner(*TINY, "--seeds", 1, 2, "--workers", 2, "--results", tmp_path, "--keep-logs", tmp_path / "logs")
    assert "2 to run" in first.stdout
    for seed in (1, 2):  # --keep-logs: each run's TensorBoard events and console output
        kept = tmp_path / "logs" / f"a2c__InvertedPendulum-v5__{seed}"
        assert list(kept.rglob("events.out.tfevents.*")) and "SPS" in (kept / "log.txt").read_text()
    curves = tmp_path / "mujoco_1m"
    done = sorted(curves.iterdir())
    assert [p.name for p in done] == ["a2c__InvertedPendulum-v5__1.csv", "a2c__InvertedPendulum-v5__2.csv"]
    assert done[0].read_text().startswith("# command: python algos/a2c.py --env-id InvertedPendulum-v5 --seed 1")
    mtimes = {p: p.stat().st_mtime_ns for p in done}
    # A run killed while writing leaves only a .partial file: it is not a result, and it is redone.
    (curves / "a2c__InvertedPendulum-v5__3.csv.partial").write_text("global_step,episodic_return\n1,")
    second = runner(*TINY, "--seeds", 1, 2, 3, "--workers", 2, "--results", tmp_path)
    assert "2 already done, 1 to run" in second.stdout
    assert {p: p.stat().st_mtime_ns for p in done} == mtimes, "a finished run was repeated"
    assert (curves / "a2c__InvertedPendulum-v5__3.csv").exists()
    assert "3 done (0 of them stale), 0 to do" in runner(*TINY, "--seeds", 1, 2, 3, "--results", tmp_path, "--dry-run").stdout


def test_a_curve_recorded_with_other_settings_is_reported_not_kept(tmp_path):
    # The curve of TINY's seed-1 run, written as the runner writes one (no need to train for it).
    ((_, _, _, command),) = run.suite(["a2c"], ["InvertedPendulum-v5"], [1], 2000)
    curve = tmp_path / "mujoco_1m" / "a2c__InvertedPendulum-v5__1.csv"
    run.write_curve(str(curve), command, [(100, 10.0), (200, 12.5)], 1.0, 2000.0)
    assert "1 done (0 of them stale)" in runner(*TINY, "--seeds", 1, "--results", tmp_path, "--dry-run").stdout
    recorded = curve.read_bytes()
    # The same run with another setting (as after an edit of benchmark/configs.py): the old
    # curve is not silently kept as its result, and nothing runs or is overwritten.
    proc = runner(*TINY, "--seeds", 1, "--results", tmp_path, "--", "--gamma", "0.9", check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1 and "other settings" in lines[0] and "delete" in lines[0], proc.stderr
    assert curve.read_bytes() == recorded
    assert "1 done (1 of them stale)" in runner(*TINY, "--seeds", 1, "--results", tmp_path, "--dry-run", "--", "--gamma", "0.9").stdout


def test_committed_curves_were_run_with_the_current_settings():
    proc = runner("--dry-run")
    assert "(0 of them stale)" in proc.stdout, "recorded curves run with other settings than benchmark/configs.py gives now:\n" + "\n".join(
        line for line in proc.stdout.splitlines() if line.startswith("stale")
    )


def test_submitit_local_executor_runs_the_same_job(tmp_path):
    runner(*TINY, "--seeds", 1, "--executor", "local", "--results", tmp_path)
    curve = (tmp_path / "mujoco_1m" / "a2c__InvertedPendulum-v5__1.csv").read_text()
    assert curve.count("\n") > 10


def test_committed_report_matches_the_committed_curves(tmp_path):
    # The report is rebuilt from the curve files alone, byte for byte, in a directory that holds
    # nothing else.
    committed = os.path.join(REPO, "benchmark", "results")
    if not os.path.isdir(os.path.join(committed, "mujoco_1m")):
        pytest.fail("no recorded curves in benchmark/results/mujoco_1m")
    os.symlink(os.path.join(committed, "mujoco_1m"), tmp_path / "mujoco_1m")
    runner("--report", "--results", tmp_path)
    for name in ["mujoco_1m.csv", "mujoco_1m.md"]:
        assert (tmp_path / name).read_bytes() == open(os.path.join(committed, name), "rb").read(), f"{name} differs: run python benchmark/run.py --report"


@pytest.mark.parametrize("args,hint", [
    (["--algos", "nosuch"], "--algos"),
    (["--total-timesteps", "1000"], "--results"),
    (["--workers", "0"], "--workers"),
])  # fmt: skip
def test_bad_arguments_are_one_line_errors(args, hint):
    proc = runner(*args, check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1 and lines[0].startswith("error") and hint in lines[0], proc.stderr


def test_killing_the_runner_loses_only_the_runs_in_flight(tmp_path):
    import signal
    import time

    args = ["--algos", "a2c", "--envs", "InvertedPendulum-v5", "--seeds", 7, "--total-timesteps", 10**6, "--results", tmp_path]
    proc = subprocess.Popen([sys.executable, RUN, *map(str, args)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(5)  # the run is in flight
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode != 0 and "rerun the same command to resume" in stderr, stderr
    assert not list(tmp_path.rglob("*.csv")), "an unfinished run must leave no curve"
    alive = subprocess.run(["pgrep", "-f", "InvertedPendulum-v5 --seed 7 --total-timesteps 1000000"], capture_output=True, text=True).stdout.split()
    assert not alive, "the runner left its run behind"


def test_keep_logs_keeps_a_failed_runs_output(tmp_path):
    # --gamma 2 is refused by the script before anything is written: the run fails and writes no
    # curve, and its console output is kept for reading.
    ((algo, env_id, seed, command),) = run.suite(["a2c"], ["InvertedPendulum-v5"], [1], 2000, ["--gamma", "2"])
    with pytest.raises(RuntimeError, match="exited with"):
        run.run_one(algo, env_id, seed, command, str(tmp_path), keep_logs=str(tmp_path / "logs"))
    kept = tmp_path / "logs" / "a2c__InvertedPendulum-v5__1"
    assert "error: --gamma" in (kept / "log.txt").read_text() and not list(kept.rglob("events.out.tfevents.*"))
    assert not os.path.exists(run.curve_path(str(tmp_path), algo, env_id, seed))
