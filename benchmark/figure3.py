"""The slides' figure 3 (the PPO paper's), like for like: every script with ONE setting for the
paper's seven MuJoCo tasks, 1M steps, seeds 1-3, then the report with honest uncertainty.

    python benchmark/figure3.py                  # run what is missing (resumes), then the report
    python benchmark/figure3.py --dry-run        # the 126 commands, done or to do
    python benchmark/figure3.py --algos trpo --envs Swimmer-v5 --seeds 1 --workers 1
    python benchmark/figure3.py --report         # rebuild figure3.md and its plots from the curves

One setting per script, the same on all seven tasks: ppo_clip and ppo_kl with their defaults
(the PPO paper's MuJoCo hyper-parameters, completed from CleanRL where the paper is silent),
trpo with its defaults (OpenAI Baselines' trpo_mpi MuJoCo setting with sb3-contrib's lambda,
network and line search; not the setting of the paper's TRPO curve, which the paper does not
give); a2c, a3c and reinforce with their MuJoCo setting of
benchmark/configs.py (A2C_MUJOCO, A3C_MUJOCO, REINFORCE_MUJOCO). A run is the command
`python algos/<algo>.py --env-id ENV --seed S --total-timesteps 1000000 <setting>`, run and
recorded as benchmark/run.py does (one curve file per run, its header holding the command,
machine, versions, wall time and SPS), into benchmark/results/figure3/mujoco_1m/. Before
running into that default directory (not with --results DIR), a job whose command another
study already ran to the letter adopts that curve (a byte-for-byte copy): the PPO objectives
study's clip_0.2 and adaptive_kl_0.01 runs are ppo_clip's and ppo_kl's defaults, and the MuJoCo
suite's runs on three tasks are the same commands for trpo (Hopper, Walker2d), a2c and a3c.

The report (benchmark/results/figure3.md): per task, each script's mean +- std over seeds of
the metric (mean return of the last 100 training episodes at 1M steps, as CleanRL and the PPO
paper's table 1) beside the paper's figure-3 curve at 1M and the other published numbers of one
setting for every task at 1M steps; the aggregate over the seven tasks: each run normalised per
task (the random policy 0, the best mean over seeds among the scripts with all 21 runs 1), then
the interquartile mean (IQM) over all 21 runs of each script with a 95% stratified bootstrap
confidence interval (Agarwal et al. 2021), and their plain mean; the seven-panel figure and the
interval plot.
"""

import argparse
import filecmp
import io
import os
import shlex
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmark import run  # noqa: E402
from benchmark.common import REPO, script_command  # noqa: E402
from benchmark.configs import A2C_MUJOCO, A3C_MUJOCO, REINFORCE_MUJOCO  # noqa: E402

ALGOS = ["ppo_clip", "ppo_kl", "trpo", "a2c", "a3c", "reinforce"]
ENVS = ["HalfCheetah-v5", "Hopper-v5", "InvertedDoublePendulum-v5", "InvertedPendulum-v5",
        "Reacher-v5", "Swimmer-v5", "Walker2d-v5"]  # fmt: skip
SEEDS = [1, 2, 3]
TOTAL_TIMESTEPS = 1_000_000
RESULTS = os.path.join(REPO, "benchmark", "results", "figure3")
# One setting per script for all seven tasks.
SETTINGS = {"ppo_clip": [], "ppo_kl": [], "trpo": [], "a2c": A2C_MUJOCO, "a3c": A3C_MUJOCO, "reinforce": REINFORCE_MUJOCO}
# Where a job's curve may already exist, run with exactly its command: (directory of curve
# files, the file-name prefix there for each script).
SOURCES = [
    (os.path.join(REPO, "benchmark", "results", "ppo_objectives", "mujoco_1m"), {"ppo_clip": "clip_0.2", "ppo_kl": "adaptive_kl_0.01"}),
    (os.path.join(REPO, "benchmark", "results", "mujoco_1m"), {a: a for a in ["trpo", "a2c", "a3c"]}),
]  # reinforce: the suite's Hopper and Walker2d curves are copies of this suite's, not a source
RANDOM_SCORES = os.path.join(REPO, "benchmark", "results", "ppo_objectives", "random_policy.csv")
BOOTSTRAP_SAMPLES = 10_000
BOOTSTRAP_SEED = 0

# The tasks on which a script's one setting was chosen by this project (benchmark/configs.py:
# A2C's Optuna study, carried over to A3C). The PPO paper chose ppo_clip's epsilon 0.2 and
# ppo_kl's d_targ 0.01 on all seven tasks (its table 1), and its figure 3 runs epsilon 0.2.
CHOSEN_ON = {"a2c": ["HalfCheetah-v5", "Hopper-v5", "Walker2d-v5"], "a3c": ["HalfCheetah-v5", "Hopper-v5", "Walker2d-v5"]}
# Curves recorded on an earlier version of their script, each named by the wall time its header
# holds (a rerun records another, and the entry must go: tests/test_figure3.py), with what that
# version did differently and why its curves stand for the script as it is.
EARLIER_VERSION = [
    ("the rollout drew each action in torch, one forward pass per step, where ppo_clip.py and ppo_kl.py draw it with "
     "a numpy copy of the actor and numpy's Gaussian noise: the same algorithm and hyper-parameters with other rounding "
     "and other random draws, so a rerun reproduces these curves statistically, not bit for bit",
     {("ppo_clip", "HalfCheetah-v5", 1): "1120.8", ("ppo_clip", "HalfCheetah-v5", 2): "614.1", ("ppo_clip", "HalfCheetah-v5", 3): "613.7",
      ("ppo_clip", "Hopper-v5", 1): "721.6", ("ppo_clip", "Hopper-v5", 2): "720.8", ("ppo_clip", "Hopper-v5", 3): "705.9",
      ("ppo_clip", "Walker2d-v5", 1): "746.2", ("ppo_clip", "Walker2d-v5", 2): "1466.6", ("ppo_clip", "Walker2d-v5", 3): "1460.8",
      ("ppo_kl", "HalfCheetah-v5", 1): "570.2", ("ppo_kl", "HalfCheetah-v5", 2): "571.9", ("ppo_kl", "HalfCheetah-v5", 3): "528.2",
      ("ppo_kl", "Hopper-v5", 1): "1510.7", ("ppo_kl", "Hopper-v5", 2): "1500.3", ("ppo_kl", "Hopper-v5", 3): "1583.6",
      ("ppo_kl", "Walker2d-v5", 1): "1649.5", ("ppo_kl", "Walker2d-v5", 2): "1798.1", ("ppo_kl", "Walker2d-v5", 3): "1752.0"}),
]  # fmt: skip
# The PPO paper's figure 3 (Schulman et al. 2017, 1M steps, 3 seeds, MuJoCo v1, one setting
# per algorithm), values read off the plot (../shared/ANCHORS.md); Reacher and Swimmer not read.
FIGURE3 = {
    "ppo_clip": ("PPO (Clip)", {"HalfCheetah-v5": 1800, "Hopper-v5": 2330, "InvertedDoublePendulum-v5": 8000, "InvertedPendulum-v5": 1000, "Walker2d-v5": 3460}),
    "trpo": ("TRPO", {"HalfCheetah-v5": 0, "Hopper-v5": 2100, "InvertedDoublePendulum-v5": 200, "InvertedPendulum-v5": 1000, "Walker2d-v5": 1100}),
    "a2c": ("A2C", {"HalfCheetah-v5": 1000, "Hopper-v5": 900, "InvertedDoublePendulum-v5": 7100, "InvertedPendulum-v5": 1000, "Walker2d-v5": 850}),
}  # fmt: skip
# Other published 1M numbers with the same protocol (one setting for all tasks), with their
# source and metric (../shared/ANCHORS.md).
PUBLISHED = [
    ("ppo_clip", "CleanRL ppo_continuous_action defaults, v4, 3 seeds; last 100 training episodes",
     {"HalfCheetah-v5": "1443 ± 46", "Hopper-v5": "2383 ± 272", "InvertedPendulum-v5": "963 ± 22", "Walker2d-v5": "2288 ± 572"}),
    ("ppo_clip", "OpenAI Baselines ppo2, benchmarks_mujoco1M, v1, 6 seeds; mean at 1M steps (which episodes it averages is not given with it)",
     {"HalfCheetah-v5": "1669", "Hopper-v5": "2316", "InvertedDoublePendulum-v5": "7103", "InvertedPendulum-v5": "809", "Walker2d-v5": "3425"}),
    ("trpo", "OpenAI Baselines trpo_mpi, benchmarks_mujoco1M, v1, 6 seeds; mean at 1M steps (which episodes it averages is not given with it)",
     {"HalfCheetah-v5": "1290", "Hopper-v5": "1913", "InvertedDoublePendulum-v5": "6732", "InvertedPendulum-v5": "905", "Walker2d-v5": "2343"}),
]  # fmt: skip


def setting_command(algo, env_id, seed, total_timesteps=TOTAL_TIMESTEPS):
    return script_command(algo, env_id, seed, total_timesteps, SETTINGS[algo])


def jobs(algos, envs, seeds, total_timesteps=TOTAL_TIMESTEPS):
    """[(algo, env_id, seed, command)], seed-major: every (algo, task) gets seed 1 before any
    gets seed 2, so a partial suite covers the whole table."""
    return [(a, e, s, setting_command(a, e, s, total_timesteps)) for s in seeds for a in algos for e in envs]


def recorded_source(job, sources=SOURCES):
    """The first existing curve file that another study ran with this job's exact command."""
    algo, env_id, seed, command = job
    for directory, prefixes in sources:
        if algo not in prefixes:
            continue
        path = os.path.join(directory, f"{prefixes[algo]}__{env_id}__{seed}.csv")
        if os.path.exists(path) and run.read_curve(path)[0].get("command") == shlex.join(command):
            return path
    return None


def adopt(todo, results, sources=SOURCES):
    """Copy the curve of each job that another study ran to the letter; returns the jobs left."""
    left = []
    for job in todo:
        source = recorded_source(job, sources)
        if source is None:
            left.append(job)
            continue
        target = run.curve_path(results, *job[:3])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(source, target + ".partial")
        os.replace(target + ".partial", target)
        print(f"adopted {os.path.relpath(source, REPO)}", flush=True)
    return left


# ---------------------------------------------------------------- statistics


def iqm(x):
    """Interquartile mean: the mean of the middle half of the sorted values, cutting
    floor(n / 4) from each end (scipy.stats.trim_mean(x, 0.25), as rliable uses)."""
    x = np.sort(np.asarray(x, dtype=np.float64).ravel())
    k = int(0.25 * len(x))
    return float(x[k : len(x) - k].mean())


def stratified_bootstrap(scores, statistic=iqm, samples=BOOTSTRAP_SAMPLES, seed=BOOTSTRAP_SEED):
    """The bootstrap distribution of statistic(all runs), stratified by task: scores is
    [runs, tasks]; each resample draws `runs` runs with replacement within every task (column)
    separately, so each task keeps its weight. Returns the `samples` statistics."""
    scores = np.asarray(scores, dtype=np.float64)
    runs, tasks = scores.shape
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, runs, size=(samples, runs, tasks))
    resampled = scores[idx, np.arange(tasks)]  # resampled[k, i, t] = scores[idx[k, i, t], t]
    return np.array([statistic(r) for r in resampled])


def stratified_bootstrap_ci(scores, statistic=iqm, samples=BOOTSTRAP_SAMPLES, alpha=0.05, seed=BOOTSTRAP_SEED):
    """The percentile interval (alpha / 2, 1 - alpha / 2) of the stratified bootstrap."""
    stats = stratified_bootstrap(scores, statistic, samples, seed)
    return float(np.quantile(stats, alpha / 2)), float(np.quantile(stats, 1 - alpha / 2))


def normalise(finals, random_scores):
    """finals: {(algo, env_id): [metric of each seed]}. Per task, the random policy scores 0 and
    the best script's mean over seeds 1: (x - random) / (best mean - random). Returns
    {(algo, env_id): [normalised score of each seed]} and {env_id: the best mean}."""
    envs = sorted({e for _, e in finals})
    best = {e: max(np.mean(v) for (a, e2), v in finals.items() if e2 == e) for e in envs}
    out = {(a, e): [(x - random_scores[e]) / (best[e] - random_scores[e]) for x in v] for (a, e), v in finals.items()}
    return out, best


# ---------------------------------------------------------------- the report


def collect(results):
    """{(algo, env_id, seed): (header, steps, returns)} of every curve present."""
    return run.collect(results)


def report(results=RESULTS):
    curves = collect(results)
    finals = {}
    for (algo, env_id, seed), (_, _, returns) in sorted(curves.items()):
        finals.setdefault((algo, env_id), []).append(run.final_return(returns))
    random_scores = run_random_scores()
    text = markdown(curves, finals, random_scores, results)
    with open(os.path.join(results, "..", "figure3.md"), "w") as f:
        f.write(text)
    plots(curves, finals, random_scores, results)
    return text


def run_random_scores():
    with open(RANDOM_SCORES) as f:
        rows = [line.rstrip("\n").split(",") for line in f if not line.startswith("#")]
    return {env_id: float(score) for env_id, score in rows[1:]}


def aggregate(finals, random_scores):
    """({algo: (IQM, low, high, mean, runs)}, {env_id: best mean}) over the scripts with all 21
    runs (the normalisers are the best means among those scripts); ({}, {}) when none has."""
    complete = [a for a in ALGOS if all(len(finals.get((a, e), [])) == len(SEEDS) for e in ENVS)]
    if not complete:
        return {}, {}
    norm, best = normalise({k: v for k, v in finals.items() if k[0] in complete}, random_scores)
    out = {}
    for algo in complete:
        scores = np.array([norm[(algo, e)] for e in ENVS]).T  # [seeds, tasks]
        low, high = stratified_bootstrap_ci(scores)
        out[algo] = (iqm(scores), low, high, float(scores.mean()), scores.size)
    return out, best


def adopted_lines(results, sources=SOURCES):
    """Markdown: how many curves are byte-for-byte copies of each source study's runs."""
    counts, directory = {}, run.curves_dir(results)
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        algo, env_id, seed = name[: -len(".csv")].split("__")
        source = recorded_source((algo, env_id, int(seed), setting_command(algo, env_id, int(seed))), sources)
        if source is not None and filecmp.cmp(source, os.path.join(directory, name), shallow=False):
            per = counts.setdefault(f"`{os.path.relpath(os.path.dirname(source), REPO)}/`", {})
            per[algo] = per.get(algo, 0) + 1
    if not counts:
        return "No curve is adopted from another study."
    parts = [f"{where} ({', '.join(f'{a} {k}' for a, k in per.items())})" for where, per in sorted(counts.items())]
    return "Curves adopted from other studies (byte-for-byte copies of runs of the same command): " + "; ".join(parts) + "."


def earlier_lines(curves):
    """Markdown: the curves recorded on an earlier version of their script (EARLIER_VERSION)."""
    lines = []
    for what, runs in EARLIER_VERSION:
        held = sorted(k for k, wall in runs.items() if k in curves and curves[k][0].get("wall_time_s") == wall)
        if held:
            cells = {}
            for algo, env_id, seed in held:
                cells.setdefault((algo, env_id), []).append(str(seed))
            where = "; ".join(f"{a}.py {e} seeds {', '.join(s)}" for (a, e), s in cells.items())
            lines.append(f"Recorded on an earlier version of the script ({len(held)} curves: {where}): {what}.")
    return "\n\n".join(lines) if lines else "Every curve was recorded on the scripts as they are."


def aggregate_notes(finals, best, complete):
    """Markdown: how the interval is drawn, what it leaves out, and normalisers set on a tuned task."""
    text = ("IQM: the mean of the middle half of the 21 sorted runs (the 11 left when 5 are cut from each end, so a"
            " task's three runs can all drop out); mean: of all 21. A run can score above 1, the normaliser being a mean"
            f" over seeds. The interval is the percentile interval of {BOOTSTRAP_SAMPLES:,} stratified resamples (numpy seed"
            f" {BOOTSTRAP_SEED}). With three runs a task it is narrow: a resample of three values spreads less than"
            " new runs would (the bootstrap variance of a mean of three is 2/3 of the unbiased estimate), and each task's"
            " normaliser is held fixed while it is itself a mean of three runs.")
    tuned = []
    for env_id, value in best.items():
        setter = [a for a in complete if np.mean(finals[(a, env_id)]) == value]
        tuned += [f"{env_id} ({a}.py, {value:.0f})" for a in setter if env_id in CHOSEN_ON.get(a, [])]
    if tuned:
        text += " A normaliser set by a script on a task its setting was chosen on: " + "; ".join(tuned) + "."
    return text


def markdown(curves, finals, random_scores, results=RESULTS):
    out = io.StringIO()
    n = len(curves)
    out.write("# The PPO paper's figure 3, like for like: six scripts, seven MuJoCo tasks, one setting each\n\n")
    out.write("Rebuilt by `python benchmark/figure3.py --report` from the curves in `benchmark/results/figure3/mujoco_1m/`; the runs by\n")
    out.write("`python benchmark/figure3.py` (each curve's header holds its exact command, machine, package versions, wall time and SPS).\n")
    out.write(f"{n} of {len(ALGOS) * len(ENVS) * len(SEEDS)} curves recorded.\n\n")
    out.write("Protocol: 1M steps, seeds 1-3, one setting per script for all seven tasks (ppo_clip, ppo_kl, trpo: their defaults;\n")
    out.write("a2c, a3c, reinforce: A2C_MUJOCO, A3C_MUJOCO, REINFORCE_MUJOCO of benchmark/configs.py). Metric: mean return of\n")
    out.write("the last 100 training episodes at the end of the budget (stochastic policy), mean ± std (ddof 0) over seeds.\n")
    out.write("Paper: Schulman et al. 2017, figure 3 (MuJoCo v1, 1M steps, 3 seeds): its training curve of the same algorithm at\n")
    out.write("1M steps, read off the plot for five tasks (`~`; the Reacher and Swimmer panels were not read, and their cells show\n")
    out.write("no paper value). The figure has no PPO-KL, A3C or REINFORCE curve\n")
    out.write("(its \"Vanilla PG, Adaptive\" adapts Adam's step size to the KL divergence after each batch, where reinforce.py\n")
    out.write("anneals a fixed step size; its values were not read off the plot).\n\n")
    out.write("<!-- BEGIN headline -->\n")
    out.write("| task | " + " | ".join(f"{a}.py" for a in ALGOS) + " |\n|---|" + "---|" * len(ALGOS) + "\n")
    for env_id in ENVS:
        cells = []
        for algo in ALGOS:
            v = finals.get((algo, env_id))
            paper = FIGURE3.get(algo, (None, {}))[1].get(env_id)
            if not v:
                cell = "not run"
            else:
                digits = 1 if abs(np.mean(v)) < 10 else 0  # Reacher's returns: -4.3 and -6.0 differ
                cell = f"{v[0]:.{digits}f} (1 seed)" if len(v) == 1 else (
                    f"{np.mean(v):.{digits}f} ± {np.std(v):.{digits}f}" + (f" ({len(v)} seeds)" if len(v) < len(SEEDS) else ""))
                cell += " †" if env_id in CHOSEN_ON.get(algo, []) else ""
            if paper is not None:
                cell += f"<br>paper ~{paper}" + (f": {versus(v, paper)}" if v and len(v) == len(SEEDS) else "")
            cells.append(cell)
        out.write(f"| {env_id} | " + " | ".join(cells) + " |\n")
    agg, best = aggregate(finals, random_scores)
    out.write(f"\n{n} of {len(ALGOS) * len(ENVS) * len(SEEDS)} curves recorded. Against the paper's value (read off its plot, so"
              " a gap of a few percent is not resolved): `above` or `below` by the mean over the three seeds, `within 1 std`"
              " where the gap between the mean, rounded as shown, and that value is at most the standard deviation over seeds; a cell of fewer than three seeds gets no mark."
              " These are not the MuJoCo suite's targets (benchmark/README.md). † the script's setting was chosen on this task"
              " (a2c.py's and a3c.py's on HalfCheetah-v5, Hopper-v5 and Walker2d-v5); ppo_clip.py's epsilon and ppo_kl.py's"
              f" d_targ are the values the PPO paper chose on all seven tasks. {ranking_summary(finals)}\n\n")
    if agg:
        out.write("Aggregate over the seven tasks (scripts with all 21 runs): interquartile mean of the per-task normalised scores\n")
        out.write("(random policy 0, the best mean over seeds among these scripts 1) with its 95% stratified bootstrap confidence\n"
                  "interval:\n\n")
        out.write("| script | IQM | 95% CI | mean | runs |\n|---|---|---|---|---|\n")
        for algo, (value, low, high, mean, runs) in sorted(agg.items(), key=lambda kv: -kv[1][0]):
            out.write(f"| {algo}.py | {value:.2f} | [{low:.2f}, {high:.2f}] | {mean:.2f} | {runs} |\n")
        out.write("\n" + aggregate_notes(finals, best, list(agg)) + "\n")
    else:
        out.write("Aggregate: no script has all 21 runs yet.\n")
    out.write("<!-- END headline -->\n\n")
    out.write("![the seven tasks](figure3/plots/figure3_tasks.png)\n\n")
    out.write("## The ranking against the paper's figure 3\n\n")
    out.write("Per task, the order of the scripts whose algorithm the figure shows (PPO-Clip, TRPO, A2C) and that have all three\n")
    out.write("seeds there, by the mean over seeds here and by the value read off the figure; a task where two of the figure's\n")
    out.write("values tie (InvertedPendulum's 1000s) is left out, and `=` marks two means that tie here. Where the orders differ,\n")
    out.write("each pair the other way round is given with its gap and the two standard deviations over seeds:\n\n")
    out.write(ranking(finals) + "\n\n")
    out.write("## Runs that end far below their own best\n\n")
    out.write("A run whose final metric (the mean of its last 100 episodes) is less than half of the way from the random\n")
    out.write("policy to the best value that metric took during the run (on a grid of 100 points):\n\n")
    out.write(collapses(curves, random_scores) + "\n\n")
    if agg:
        out.write("![IQM with 95% CI](figure3/plots/figure3_iqm.png)\n\n")
    out.write("## Published numbers with one setting for every task at 1M steps\n\n")
    out.write("Task version, seeds and metric differ by row (column 2); none is the metric of this report's cells exactly.\n\n")
    out.write("| script | source; metric | " + " | ".join(ENVS) + " |\n|---|---|" + "---|" * len(ENVS) + "\n")
    for algo, (name, values) in FIGURE3.items():
        out.write(f"| {algo}.py | PPO paper fig. 3, {name}, v1, 3 seeds; the training curve at 1M steps, read off the plot | " + " | ".join(f"~{values[e]}" if e in values else "–" for e in ENVS) + " |\n")
    for algo, source, values in PUBLISHED:
        out.write(f"| {algo}.py | {source} | " + " | ".join(values.get(e, "–") for e in ENVS) + " |\n")
    out.write("\n## Normalisation\n\n")
    out.write("| task | random policy (`benchmark/results/ppo_objectives/random_policy.csv`) | best mean among the scripts with all 21 runs |\n|---|---|---|\n")
    for env_id in ENVS:
        b = f"{best[env_id]:.1f}" if env_id in best else "–"
        out.write(f"| {env_id} | {random_scores[env_id]:.1f} | {b} |\n")
    out.write("\n" + adopted_lines(results) + "\n")
    out.write("\n" + earlier_lines(curves) + "\n")
    machines = {}
    for (algo, env_id, seed), (header, _, _) in sorted(curves.items()):
        machines.setdefault(header["machine"], {}).setdefault(algo, {}).setdefault(env_id, []).append(str(seed))
    out.write("\nMachines and package versions of the runs, and the curves run on each, by script, task and seeds\n"
              "(requirements.txt pins the versions the README's quick start installs; a line with other versions ran with those):\n\n")
    for machine, cells in sorted(machines.items()):
        count = sum(len(seeds) for envs in cells.values() for seeds in envs.values())
        where = "; ".join(f"{a}: " + ", ".join(f"{e} {' '.join(s)}" for e, s in sorted(envs.items()))
                          for a, envs in sorted(cells.items(), key=lambda kv: ALGOS.index(kv[0])))
        out.write(f"- {machine}: {count} curves\n  ({where})\n")
    return out.getvalue()


def versus(values, paper):
    """A cell's mark against the paper's value: the mean over seeds, rounded to an integer as the
    cells with a paper value show it, within 1 std over seeds of it, else above or below."""
    gap = round(float(np.mean(values))) - paper
    return "within 1 std" if abs(gap) <= np.std(values) else ("above" if gap > 0 else "below")


def orders(finals):
    """[(env_id, same order as the paper's, markdown line)]: per task, the paper's order and ours of
    the scripts the figure shows that have all three seeds there (a task where two of the figure's
    values tie is left out); a tie here is written `=` and is not the paper's order."""
    out = []
    for env_id in ENVS:
        algos = [a for a in FIGURE3 if env_id in FIGURE3[a][1] and len(finals.get((a, env_id), [])) == len(SEEDS)]
        paper = {a: FIGURE3[a][1][env_id] for a in algos}
        if len(algos) < 2 or len(set(paper.values())) < len(paper):
            continue
        mean = {a: float(np.mean(finals[(a, env_id)])) for a in algos}
        theirs = sorted(algos, key=lambda a: -paper[a])
        ours = sorted(algos, key=lambda a: -mean[a])
        same = theirs == ours and len(set(mean.values())) == len(mean)
        written = ours[0] + "".join((" = " if mean[b] == mean[a] else " > ") + b for a, b in zip(ours, ours[1:]))
        if same:
            verdict = "same order"
        else:
            swapped = [(a, b) for i, a in enumerate(theirs) for b in theirs[i + 1 :] if mean[b] >= mean[a]]
            verdict = "differs: " + "; ".join(
                f"{b} {'ties' if mean[b] == mean[a] else 'above'} {a} (gap {mean[b] - mean[a]:.0f}; std {np.std(finals[(b, env_id)]):.0f}"
                f" and {np.std(finals[(a, env_id)]):.0f})" for a, b in swapped)  # fmt: skip
        tuned = [f"{a}.py" for a in algos if env_id in CHOSEN_ON.get(a, [])]
        verdict += f" ({' and '.join(tuned)}: setting chosen on this task)" if tuned else ""
        out.append((env_id, same, f"- {env_id}: paper {' > '.join(theirs)}; here {written}: {verdict}"))
    return out


def ranking(finals):
    """Markdown: the lines of orders() and on how many tasks the order is the paper's."""
    tasks = orders(finals)
    if not tasks:
        return "No task has two of these scripts with all three seeds yet."
    same = sum(s for _, s, _ in tasks)
    return "\n".join(line for _, _, line in tasks) + f"\n\nThe same order on {same} of {len(tasks)} tasks compared."


def ranking_summary(finals):
    """One sentence for the headline: on how many tasks the order is the paper's, and which."""
    tasks = orders(finals)
    if not tasks:
        return ""
    same = [env_id for env_id, s, _ in tasks if s]
    return (f"The order of PPO-Clip, TRPO and A2C is the figure's on {len(same)} of {len(tasks)} tasks compared"
            + (f" ({', '.join(same)}; per task in benchmark/results/figure3.md)." if same else "."))


def collapses(curves, random_scores):
    """Markdown lines: the runs whose final metric is below random + (peak - random) / 2."""
    grid = np.linspace(0, TOTAL_TIMESTEPS, 101)[1:]
    lines = []
    for (algo, env_id, seed), (_, steps, returns) in sorted(curves.items(), key=lambda kv: (ALGOS.index(kv[0][0]), kv[0][1:])):
        trail = run.trailing_curve(steps, returns, grid)
        peak, at, final = np.nanmax(trail), grid[np.nanargmax(trail)], run.final_return(returns)
        if final < random_scores[env_id] + (peak - random_scores[env_id]) / 2:
            lines.append(f"- {algo}.py {env_id} seed {seed}: {peak:.0f} at {at / 1e6:.2f}M steps, {final:.0f} at the end")
    return "\n".join(lines) if lines else "None."


def plots(curves, finals, random_scores, results):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(os.path.join(results, "plots"), exist_ok=True)
    fig, axes = plt.subplots(2, 4, figsize=(20, 8.5))
    for ax, env_id in zip(axes.ravel(), ENVS):
        for algo in ALGOS:
            seeds = sorted(k[2] for k in curves if k[0] == algo and k[1] == env_id)
            if not seeds:
                continue
            grid = np.linspace(0, TOTAL_TIMESTEPS, 101)[1:]
            ys = np.array([run.trailing_curve(*curves[(algo, env_id, s)][1:], grid) for s in seeds])
            color, style = f"C{ALGOS.index(algo)}", "-" if len(seeds) == len(SEEDS) else "--"
            ax.plot(grid, np.nanmean(ys, axis=0), color=color, linestyle=style)
            ax.fill_between(grid, np.nanmin(ys, axis=0), np.nanmax(ys, axis=0), color=color, alpha=0.15)
        ax.set_title(env_id)
        ax.set_xlabel("global step")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("mean return of last 100 episodes")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=f"C{i}", label=f"{algo}.py") for i, algo in enumerate(ALGOS)]
    handles.append(Line2D([], [], color="gray", linestyle="--", label=f"fewer than {len(SEEDS)} seeds"))
    axes.ravel()[-1].axis("off")
    axes.ravel()[-1].legend(handles=handles, loc="center", title="script")
    fig.suptitle("one setting per script for all seven tasks; mean over seeds, band: min to max")
    fig.tight_layout()
    fig.savefig(os.path.join(results, "plots", "figure3_tasks.png"), dpi=70, metadata={"Software": None})
    plt.close(fig)
    agg, _ = aggregate(finals, random_scores)
    if agg:
        order = sorted(agg, key=lambda a: agg[a][0])
        fig, ax = plt.subplots(figsize=(6, 0.5 * len(order) + 1.2))
        for i, algo in enumerate(order):
            value, low, high, _, _ = agg[algo]
            ax.plot([low, high], [i, i], lw=6, alpha=0.5)
            ax.plot([value], [i], "k|", ms=14)
        ax.set_yticks(range(len(order)), [f"{a}.py" for a in order])
        ax.set_xlabel("IQM of normalised score (95% stratified bootstrap CI)")
        ax.grid(alpha=0.3, axis="x")
        fig.tight_layout()
        fig.savefig(os.path.join(results, "plots", "figure3_iqm.png"), dpi=80, metadata={"Software": None})
        plt.close(fig)


# ---------------------------------------------------------------- command line


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--algos", nargs="+", default=ALGOS, choices=ALGOS)
    parser.add_argument("--envs", nargs="+", default=ENVS, choices=ENVS)
    parser.add_argument("--seeds", type=int, nargs="+", default=SEEDS)
    parser.add_argument("--total-timesteps", type=int, default=TOTAL_TIMESTEPS)
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="runs at a time (local processes)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, done or to do")
    parser.add_argument("--report", action="store_true", help="only rebuild figure3.md and the plots from the curves")
    parser.add_argument("--results", default=RESULTS, help="results directory (default: benchmark/results/figure3)")
    parser.add_argument("--keep-logs", metavar="DIR", help="also keep each run's TensorBoard directory and console log in DIR/ALGO__ENV__SEED/")
    args = parser.parse_args(argv)
    if args.report:
        print(report(args.results).split("<!-- END headline -->")[0])
        return
    if args.workers < 1:
        sys.exit("error: --workers must be at least 1")
    if args.total_timesteps != TOTAL_TIMESTEPS and os.path.abspath(args.results) == RESULTS:
        sys.exit(f"error: --total-timesteps {args.total_timesteps} is not the suite's {TOTAL_TIMESTEPS}; add --results DIR so these runs do not mix with the recorded ones")
    all_jobs = jobs(args.algos, args.envs, args.seeds, args.total_timesteps)
    todo = [j for j in all_jobs if not os.path.exists(run.curve_path(args.results, *j[:3]))]
    outdated = run.stale(all_jobs, args.results)
    if args.dry_run:
        for job in all_jobs:
            status = "done  " if job not in todo else ("adopt " if recorded_source(job) else "to do ")
            print(status + shlex.join(job[3]))
        print(f"{len(all_jobs)} runs: {len(all_jobs) - len(todo)} done ({len(outdated)} of them stale), {len(todo)} to do")
        return
    if outdated:
        path, recorded, current = outdated[0]
        sys.exit(f"error: {len(outdated)} recorded curves were run with other settings (e.g. {os.path.relpath(path)}: `{recorded}`, now `{current}`); delete them to rerun them")
    if os.path.abspath(args.results) == RESULTS:
        todo = adopt(todo, args.results)
    print(f"{len(all_jobs)} runs: {len(all_jobs) - len(todo)} already done, {len(todo)} to run", flush=True)
    failures = run.run_local(todo, args.results, args.workers, args.keep_logs)
    report(args.results)
    if failures:
        sys.exit("failed runs:\n" + "\n".join(failures))


if __name__ == "__main__":
    main()
