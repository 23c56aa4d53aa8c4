"""The MuJoCo benchmark in one command: every script x HalfCheetah-v5, Hopper-v5, Walker2d-v5 x
seeds 1, 2, 3 x 1M steps, then the table and plots of benchmark/results/mujoco_1m.*.

    python benchmark/run.py                       # the whole suite (resumes where it stopped)
    python benchmark/run.py --dry-run             # print the 54 commands, run nothing
    python benchmark/run.py --algos ppo_clip --envs Hopper-v5 --seeds 1 --workers 1
    python benchmark/run.py --report              # rebuild table and plots from the curves alone
    python benchmark/run.py --suite figure3       # the PPO paper's figure 3 (benchmark/figure3.py)
    python benchmark/run.py --executor slurm --slurm-partition cpu   # the same suite on Slurm

Every run is `python algos/<algo>.py --env-id ENV --seed S --total-timesteps T <settings>`,
with the settings of benchmark/configs.py (arguments after `--` are appended to every
command). A finished run writes one curve, benchmark/results/mujoco_1m/<algo>__<env>__<seed>.csv
(global_step, episodic_return; its header holds the command, machine, versions, wall time and
SPS), by writing a temporary file and renaming it: a curve file exists only once its run
finished. A run whose curve exists is never repeated; killing the runner loses at most the runs
in flight. Runs execute as local processes (`--workers`, one per core by default) or as jobs
of a submitit executor (`--executor slurm`, or `local` to try it on this machine).
"""

import argparse
import csv
import io
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmark.common import REPO, machine_description, read_scalars, script_command  # noqa: E402
from benchmark.configs import A2C_MUJOCO, A3C_MUJOCO, REINFORCE_MUJOCO, script_args  # noqa: E402

ALGOS = ["ppo_clip", "ppo_kl", "trpo", "a2c", "a3c", "reinforce"]
ENVS = ["HalfCheetah-v5", "Hopper-v5", "Walker2d-v5"]
SEEDS = [1, 2, 3]
TOTAL_TIMESTEPS = 1_000_000
RESULTS = os.path.join(REPO, "benchmark", "results")
WINDOW = 100  # the metric: mean return of the last WINDOW training episodes

# The targets of the suite (mean over seeds of the metric at 1M steps).
TARGETS = {
    "ppo_clip": {"HalfCheetah-v5": 3000, "Hopper-v5": 2500, "Walker2d-v5": 3500},
    "ppo_kl": {"HalfCheetah-v5": 2500, "Hopper-v5": 2200, "Walker2d-v5": 3000},
    "trpo": {"HalfCheetah-v5": 2000, "Hopper-v5": 2200, "Walker2d-v5": 2500},
    "a2c": {"HalfCheetah-v5": 1500, "Hopper-v5": 1200, "Walker2d-v5": 1000},
    "a3c": {"HalfCheetah-v5": 1200, "Hopper-v5": 1000, "Walker2d-v5": 800},
    "reinforce": {"HalfCheetah-v5": 800, "Hopper-v5": 500, "Walker2d-v5": 400},
}
# Published numbers for the same algorithm (../shared/ANCHORS.md), with their source and metric,
# by protocol: one setting for every task (compare with the cells run with the script's one
# MuJoCo setting), or tuned per task (compare only with the cells marked tuned per task).
PUBLISHED = {
    "one setting for every task": [
        ("ppo_clip", "CleanRL defaults, v4, 3 seeds; last 100 train eps", {"HalfCheetah-v5": "1443 ± 46", "Hopper-v5": "2383 ± 272", "Walker2d-v5": "2288 ± 572"}),
        ("ppo_clip", "OpenAI Baselines ppo2 1M, v1, 6 seeds; mean", {"HalfCheetah-v5": "1669", "Hopper-v5": "2316", "Walker2d-v5": "3425"}),
        ("ppo_clip", "PPO paper fig. 3, v1, 3 seeds; read off plot", {"HalfCheetah-v5": "~1800", "Hopper-v5": "~2330", "Walker2d-v5": "~3460"}),
        ("trpo", "OpenAI Baselines trpo_mpi 1M, v1, 6 seeds; mean", {"HalfCheetah-v5": "1290", "Hopper-v5": "1913", "Walker2d-v5": "2343"}),
        ("trpo", "PPO paper fig. 3, v1, 3 seeds; read off plot", {"HalfCheetah-v5": "~0", "Hopper-v5": "~2100", "Walker2d-v5": "~1100"}),
        ("a2c", "PPO paper fig. 3, v1, 3 seeds; read off plot", {"HalfCheetah-v5": "~1000", "Hopper-v5": "~900", "Walker2d-v5": "~850"}),
    ],
    "tuned per task": [
        ("ppo_clip", "rl-baselines3-zoo, v3, 1 run; deterministic eval", {"HalfCheetah-v5": "5819", "Hopper-v5": "2410", "Walker2d-v5": "3479"}),
        ("ppo_clip", "Tianshou, v3, 10 seeds; max over training of 10-ep test mean", {"HalfCheetah-v5": "5784 ± 1244", "Hopper-v5": "2609 ± 701", "Walker2d-v5": "3589 ± 757"}),
        ("trpo", "rl-baselines3-zoo, v3, 1 run; deterministic eval", {"HalfCheetah-v5": "1786", "Hopper-v5": "3618", "Walker2d-v5": "4933"}),
        ("trpo", "Tianshou, v3, 10 seeds; max over training of 10-ep test mean", {"HalfCheetah-v5": "4471 ± 805", "Hopper-v5": "2046 ± 1038", "Walker2d-v5": "3827 ± 783"}),
        ("a2c", "rl-baselines3-zoo, v3, 1 run; deterministic eval", {"HalfCheetah-v5": "3041", "Hopper-v5": "734", "Walker2d-v5": "582"}),
        ("a2c", "Tianshou, v3, 10 seeds; max over training of 10-ep test mean", {"HalfCheetah-v5": "1830 ± 1068", "Hopper-v5": "1253 ± 458", "Walker2d-v5": "1092 ± 709"}),
        ("reinforce", "Tianshou, v3, 3M steps, 10 seeds; max over training of 10-ep test mean", {"HalfCheetah-v5": "884 ± 41", "Hopper-v5": "396 ± 65", "Walker2d-v5": "412 ± 52"}),
    ],
}  # fmt: skip
# Each script's one MuJoCo setting (the figure-3 suite's, benchmark/figure3.py): a cell run with
# other arguments is tuned per task.
ONE_SETTING = {"ppo_clip": [], "ppo_kl": [], "trpo": [], "a2c": A2C_MUJOCO, "a3c": A3C_MUJOCO, "reinforce": REINFORCE_MUJOCO}


# A change to a script's learning after which its older curves no longer describe it: (the
# first date of curves recorded with the change, what changed). Older curves stay until rerun,
# and their cells say so.
CHANGES = {"reinforce": ("2026-12-03", "reinforce.py's fix of the both-flags bootstrap and the batch's step count")}


def predates_change(row):
    """The change a row's curve was recorded before, or None."""
    change = CHANGES.get(row["algo"])
    return change[1] if change and row.get("date", change[0]) < change[0] else None


def tuned_per_task(algo, env_id):
    """Whether the suite runs (algo, env_id) with a per-task setting rather than the script's one."""
    return script_args(algo, env_id) != ONE_SETTING[algo]


# ---------------------------------------------------------------- the suite


def curves_dir(results):
    return os.path.join(results, "mujoco_1m")


def curve_path(results, algo, env_id, seed):
    return os.path.join(curves_dir(results), f"{algo}__{env_id}__{seed}.csv")


def suite(algos, envs, seeds, total_timesteps, extra=()):
    """[(algo, env_id, seed, command)] in run order: algorithm, then environment, then seed."""
    return [
        (algo, env_id, seed, script_command(algo, env_id, seed, total_timesteps, [*script_args(algo, env_id), *extra]))
        for algo in algos
        for env_id in envs
        for seed in seeds
    ]


def write_curve(path, command, curve, wall_time_s, sps):
    """Write the curve of one finished run, atomically: the file appears complete or not at all."""
    header = {
        "command": shlex.join(command),
        "machine": machine_description(),
        "date": time.strftime("%Y-%m-%d"),
        "wall_time_s": f"{wall_time_s:.1f}",
        "sps": f"{sps:.0f}",
    }
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".partial"
    with open(tmp, "w", newline="") as f:
        f.writelines(f"# {key}: {value}\n" for key, value in header.items())
        writer = csv.writer(f)
        writer.writerow(["global_step", "episodic_return"])
        writer.writerows((step, f"{value:.2f}") for step, value in curve)
    os.replace(tmp, path)


def read_curve(path):
    """(header dict, steps array, returns array) of a curve file."""
    header, rows = {}, []
    with open(path) as f:
        for line in f:
            if line.startswith("# "):
                key, value = line[2:].rstrip("\n").split(": ", 1)
                header[key] = value
            elif not line.startswith("global_step"):
                step, value = line.rstrip("\n").split(",")
                rows.append((int(step), float(value)))
    data = np.array(rows, dtype=np.float64).reshape(-1, 2)
    return header, data[:, 0], data[:, 1]


def stale(jobs, results):
    """[(path, recorded command, current command)] of the jobs whose recorded curve was run with
    another command than the suite gives now (benchmark/configs.py or a default changed)."""
    out = []
    for algo, env_id, seed, command in jobs:
        path = curve_path(results, algo, env_id, seed)
        recorded = read_curve(path)[0].get("command") if os.path.exists(path) else None
        if recorded is not None and recorded != shlex.join(command):
            out.append((path, recorded, shlex.join(command)))
    return out


def run_one(algo, env_id, seed, command, results, popen_hook=None, keep_logs=None):
    """Run one command in a temporary directory and write its curve. Returns the wall time.
    `popen_hook(proc)` lets the local runner kill the child when it is interrupted. With
    `keep_logs`, the run's TensorBoard directory and console output (log.txt) are copied to
    keep_logs/<algo>__<env_id>__<seed>/ before the temporary directory goes, failed runs too."""
    start = time.time()
    with tempfile.TemporaryDirectory(prefix=f"{algo}__{env_id}__{seed}__") as workdir:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        cmd = [sys.executable, os.path.join(REPO, command[1]), *command[2:]]
        with open(os.path.join(workdir, "log.txt"), "w") as log:
            proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
            if popen_hook:
                popen_hook(proc)
            returncode = proc.wait()
        if keep_logs:
            kept = os.path.join(keep_logs, f"{algo}__{env_id}__{seed}")
            shutil.rmtree(kept, ignore_errors=True)
            runs = os.path.join(workdir, "runs")
            shutil.copytree(runs, kept) if os.path.isdir(runs) else os.makedirs(kept)
            shutil.copy(os.path.join(workdir, "log.txt"), kept)
        if returncode != 0:
            with open(os.path.join(workdir, "log.txt")) as log:
                tail = log.read()[-2000:]
            raise RuntimeError(f"{shlex.join(command)} exited with {returncode}:\n{tail}")
        (run_dir,) = [os.path.join(workdir, "runs", d) for d in os.listdir(os.path.join(workdir, "runs"))]
        curve = read_scalars(run_dir)
        sps = read_scalars(run_dir, "charts/SPS")
    wall = time.time() - start
    write_curve(curve_path(results, algo, env_id, seed), command, curve, wall, sps[-1][1] if sps else float("nan"))
    return wall


def hms(seconds):
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def run_local(todo, results, workers, keep_logs=None):
    """Run the jobs `workers` at a time, printing progress; on Ctrl-C or SIGTERM, kill the
    runs in flight (their curves are not written) and exit non-zero."""
    live, done, walls, failures = set(), 0, [], []
    started = time.time()

    def hook(proc):
        live.add(proc)

    def one(job):
        try:
            return run_one(*job, results, popen_hook=hook, keep_logs=keep_logs)
        finally:
            live.difference_update({p for p in live if p.poll() is not None})

    signal.signal(signal.SIGTERM, raise_keyboard_interrupt)
    pool = ThreadPoolExecutor(workers)
    try:
        futures = {pool.submit(one, job): job for job in todo}
        pending = set(futures)
        while pending:  # wait with a timeout, so that a signal is handled within a second
            finished, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            for future in finished:
                algo, env_id, seed, _ = futures[future]
                done += 1
                try:
                    walls.append(future.result())
                    status = f"finished in {hms(walls[-1])}"
                except Exception as e:  # a failed run is reported, the others go on
                    failures.append(f"{algo} {env_id} seed {seed}: {e}")
                    status = "FAILED"
                left = len(todo) - done
                eta = (time.time() - started) / done * left
                print(f"[{done}/{len(todo)} done, {min(workers, left)} running, ETA {hms(eta)}] {algo} {env_id} seed {seed} {status}", flush=True)
    except KeyboardInterrupt:
        for proc in list(live):
            proc.kill()
        pool.shutdown(wait=True, cancel_futures=True)
        sys.exit(f"interrupted: {done} of {len(todo)} runs finished and kept; rerun the same command to resume")
    pool.shutdown()
    return failures


def submitit_job(algo, env_id, seed, command, results, keep_logs=None):
    """The function a submitit job runs (on a cluster node or locally)."""
    return run_one(algo, env_id, seed, command, results, keep_logs=keep_logs)


def run_submitit(todo, results, executor_kind, partition, timeout_min, folder, keep_logs=None):
    """Submit the jobs through submitit (Slurm, or its local executor) and wait for them."""
    import submitit

    os.environ["PYTHONPATH"] = os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    executor = submitit.AutoExecutor(folder=folder, cluster=None if executor_kind == "slurm" else "local")
    executor.update_parameters(timeout_min=timeout_min, cpus_per_task=1, name="pg-benchmark")
    if executor_kind == "slurm" and partition:
        executor.update_parameters(slurm_partition=partition)
    jobs = executor.map_array(submitit_job, *zip(*[(a, e, s, c, results, keep_logs) for a, e, s, c in todo]))
    print(f"submitted {len(jobs)} jobs ({executor_kind}); logs in {folder}", flush=True)
    failures = []
    for i, (job, (algo, env_id, seed, _)) in enumerate(zip(jobs, todo), 1):
        try:
            job.result()
            status = "finished"
        except Exception as e:
            failures.append(f"{algo} {env_id} seed {seed}: {e}")
            status = "FAILED"
        print(f"[{i}/{len(todo)}] {algo} {env_id} seed {seed} {status}", flush=True)
    return failures


# ---------------------------------------------------------------- the report


def final_return(returns):
    """The metric: mean of the last WINDOW training episodes."""
    return float(np.mean(returns[-WINDOW:]))


def trailing_curve(steps, returns, grid):
    """At each grid step, the mean of the last WINDOW episodes finished by then (nan before any)."""
    idx = np.searchsorted(steps, grid, side="right")
    csum = np.concatenate([[0.0], np.cumsum(returns)])
    lo = np.maximum(idx - WINDOW, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(idx > 0, (csum[idx] - csum[lo]) / (idx - lo), np.nan)


def collect(results):
    """{(algo, env_id, seed): (header, steps, returns)} of every curve file present."""
    out = {}
    directory = curves_dir(results)
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        match = re.fullmatch(r"(\w+)__([\w.-]+)__(\d+)\.csv", name)
        if match:
            out[(match[1], match[2], int(match[3]))] = read_curve(os.path.join(directory, name))
    return out


def report(results):
    """Write mujoco_1m.csv, mujoco_1m.md and the plots from the curve files alone."""
    curves = collect(results)
    rows = []
    for (algo, env_id, seed), (header, steps, returns) in curves.items():
        total = int(re.search(r"--total-timesteps (\d+)", header["command"])[1])
        rows.append({"algo": algo, "env_id": env_id, "seed": seed, "total_timesteps": total, "final_return": round(final_return(returns), 1),
                     "final_exact": final_return(returns), "wall_time_s": header["wall_time_s"], "sps": header["sps"], "date": header["date"]})  # fmt: skip
    os.makedirs(results, exist_ok=True)
    order = {a: i for i, a in enumerate(ALGOS)}
    rows.sort(key=lambda r: (ENVS.index(r["env_id"]) if r["env_id"] in ENVS else 99, r["env_id"], order.get(r["algo"], 99), r["algo"], r["seed"]))
    with open(os.path.join(results, "mujoco_1m.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["algo", "env_id", "seed", "total_timesteps", "final_return", "wall_time_s", "sps"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    with open(os.path.join(results, "mujoco_1m.md"), "w") as f:
        f.write(markdown(rows, curves))
    plots(curves, results)
    return rows


def table(rows):
    """The README table: per environment, the mean ± std over seeds of each script against its target."""
    lines = ["| script | " + " | ".join(ENVS) + " |", "|---|" + "---|" * len(ENVS)]
    for algo in ALGOS:
        cells = []
        for env_id in ENVS:
            cell_rows = [r for r in rows if r["algo"] == algo and r["env_id"] == env_id]
            finals = [r.get("final_exact", r["final_return"]) for r in cell_rows]  # unrounded where known
            target = TARGETS[algo][env_id]
            if not finals:
                cells.append(f"not run (target ≥ {target})")
                continue
            mean = np.mean(finals)
            mark = "met" if mean >= target and len(finals) == len(SEEDS) else ("partial" if len(finals) < len(SEEDS) else "NOT met")
            tuned = ", tuned per task" if tuned_per_task(algo, env_id) else ""
            old = sorted({c for c in map(predates_change, cell_rows) if c})
            old = f"; recorded before {old[0]}" if old else ""
            cells.append(f"{mean:.0f} ± {np.std(finals):.0f} ({len(finals)} seed{'s' if len(finals) > 1 else ''}{tuned}; target ≥ {target}: {mark}{old})")
        lines.append(f"| {algo}.py | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(rows, curves):
    out = io.StringIO()
    out.write("# MuJoCo benchmark at 1M steps\n\n")
    out.write("Rebuilt by `python benchmark/run.py --report` from the curves in `benchmark/results/mujoco_1m/`; the runs by `python benchmark/run.py`\n")
    out.write("(each curve file's header holds its exact command, machine, package versions, date, wall time and SPS).\n\n")
    out.write(f"Metric: mean return of the last {WINDOW} training episodes at the end of the budget (stochastic policy, raw environment\n")
    out.write("return), mean ± std (numpy default, ddof 0) over seeds: the metric of CleanRL and the PPO paper.\n\n")
    out.write(table(rows) + "\n\n")
    out.write("A cell marked \"tuned per task\" runs a setting of benchmark/configs.py made for that task; the others run the\n")
    out.write("script's one MuJoCo setting, whose like-for-like comparison on all seven tasks of the PPO paper's figure 3 is\n")
    out.write("[figure3.md](figure3.md). Each target is at least the PPO paper's figure-3 value for the same algorithm.\n\n")
    for protocol, rows in PUBLISHED.items():
        out.write(f"## Published numbers, {protocol} (../shared/ANCHORS.md; read the metric before comparing)\n\n")
        out.write("| script | source; metric | " + " | ".join(ENVS) + " |\n|---|---|" + "---|" * len(ENVS) + "\n")
        for algo, source, values in rows:
            out.write(f"| {algo}.py | {source} | " + " | ".join(values.get(e, "–") for e in ENVS) + " |\n")
        out.write("\n")
    out.write("Every run (wall time, SPS): `benchmark/results/mujoco_1m.csv`; every curve: `benchmark/results/mujoco_1m/`.\n")
    machines = sorted({header["machine"] for header, _, _ in curves.values()})
    out.write("\nMachines and package versions of the runs:\n\n" + "".join(f"- {m}\n" for m in machines))
    return out.getvalue()


def plots(curves, results):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(os.path.join(results, "plots"), exist_ok=True)
    envs = [e for e in ENVS if any(k[1] == e for k in curves)]
    figures = [(f"mujoco_1m_{env_id}", [env_id], ALGOS) for env_id in envs]
    if any(k[0] in ("ppo_kl", "ppo_clip") for k in curves):
        figures.append(("mujoco_1m_ppo_kl_vs_ppo_clip", envs, ["ppo_clip", "ppo_kl"]))
    for name, fig_envs, algos in figures:
        fig, axes = plt.subplots(1, len(fig_envs), figsize=(5.5 * len(fig_envs), 4), squeeze=False)
        for ax, env_id in zip(axes[0], fig_envs):
            for algo in algos:
                seeds = sorted(k[2] for k in curves if k[0] == algo and k[1] == env_id)
                if not seeds:
                    continue
                total = max(curves[(algo, env_id, s)][1][-1] for s in seeds)
                grid = np.linspace(0, total, 101)[1:]
                ys = np.array([trailing_curve(*curves[(algo, env_id, s)][1:], grid) for s in seeds])
                mean = np.nanmean(ys, axis=0)
                ax.plot(grid, mean, label=f"{algo} ({len(seeds)} seeds)")
                ax.fill_between(grid, np.nanmin(ys, axis=0), np.nanmax(ys, axis=0), alpha=0.2)
            ax.set_title(env_id)
            ax.set_xlabel("global step")
            ax.set_ylabel(f"mean return of last {WINDOW} episodes")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle("mean over seeds, band: min to max")
        fig.tight_layout()
        fig.savefig(os.path.join(results, "plots", f"{name}.png"), dpi=80, metadata={"Software": None})
        plt.close(fig)


# ---------------------------------------------------------------- command line


def main():
    argv = sys.argv[1:]
    if argv[:2] == ["--suite", "figure3"]:  # the PPO paper's figure 3: benchmark/figure3.py
        from benchmark import figure3

        return figure3.main(argv[2:])
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--algos", nargs="+", default=ALGOS)
    parser.add_argument("--envs", nargs="+", default=ENVS)
    parser.add_argument("--seeds", type=int, nargs="+", default=SEEDS)
    parser.add_argument("--total-timesteps", type=int, default=TOTAL_TIMESTEPS)
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="runs at a time (local processes)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands of the runs still to do, and of those done")
    parser.add_argument("--report", action="store_true", help="only rebuild the table and plots from the recorded curves")
    parser.add_argument("--results", default=RESULTS, help="results directory (default: benchmark/results)")
    parser.add_argument("--keep-logs", metavar="DIR", help="also keep each run's TensorBoard directory and console log in DIR/ALGO__ENV__SEED/")
    parser.add_argument("--executor", choices=["processes", "slurm", "local"], default="processes",
                        help="processes: --workers local processes; slurm: one submitit job per run; local: submitit's local executor")  # fmt: skip
    parser.add_argument("--slurm-partition", default="")
    parser.add_argument("--slurm-timeout-min", type=int, default=180)
    args = parser.parse_args(argv)

    if args.report:
        rows = report(args.results)
        print(table(rows))
        print(f"written: {os.path.join(args.results, 'mujoco_1m.md')}, mujoco_1m.csv and plots/mujoco_1m_*.png")
        return
    unknown = [a for a in args.algos if a not in ALGOS]
    if unknown:
        sys.exit(f"error: unknown --algos {unknown[0]}; choose among {', '.join(ALGOS)}")
    if args.total_timesteps != TOTAL_TIMESTEPS and os.path.abspath(args.results) == RESULTS:
        sys.exit(f"error: --total-timesteps {args.total_timesteps} is not the suite's {TOTAL_TIMESTEPS}; add --results DIR so these runs do not mix with the recorded ones")
    if args.workers < 1:
        sys.exit("error: --workers must be at least 1")
    jobs = suite(args.algos, args.envs, args.seeds, args.total_timesteps, extra)
    todo = [job for job in jobs if not os.path.exists(curve_path(args.results, *job[:3]))]
    outdated = stale(jobs, args.results)
    if args.dry_run:
        for algo, env_id, seed, command in jobs:
            print(("done  " if (algo, env_id, seed, command) not in todo else "to do ") + shlex.join(command))
        for path, recorded, _ in outdated:
            print(f"stale {os.path.relpath(path)} was run as: {recorded}")
        print(f"{len(jobs)} runs: {len(jobs) - len(todo)} done ({len(outdated)} of them stale), {len(todo)} to do")
        return
    if outdated:
        path, recorded, current = outdated[0]
        sys.exit(f"error: {len(outdated)} recorded curves were run with other settings than the suite gives now"
                 f" (e.g. {os.path.relpath(path)}: `{recorded}`, now `{current}`); delete them to rerun them (--dry-run lists them)")  # fmt: skip
    missing = sorted({a for a, _, _, _ in todo if not os.path.exists(os.path.join(REPO, "algos", f"{a}.py"))})
    if missing:
        sys.exit(f"error: algos/{missing[0]}.py does not exist yet; leave it out with --algos")
    print(f"{len(jobs)} runs: {len(jobs) - len(todo)} already done, {len(todo)} to run", flush=True)
    if args.executor == "processes":
        failures = run_local(todo, args.results, args.workers, args.keep_logs)
    else:
        folder = os.path.join(tempfile.gettempdir(), "pg-benchmark-submitit")
        failures = run_submitit(todo, args.results, args.executor, args.slurm_partition, args.slurm_timeout_min, folder, args.keep_logs)
    report(args.results)
    if failures:
        sys.exit("failed runs:\n" + "\n".join(failures))


if __name__ == "__main__":
    main()
