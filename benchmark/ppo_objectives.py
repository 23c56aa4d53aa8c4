"""The PPO paper's comparison of surrogate objectives (Schulman et al. 2017, table 1), rerun.

Seven MuJoCo tasks x seeds 1-3 x 1M steps, each setting one command of ppo_clip.py or ppo_kl.py
with the scripts' defaults (the paper's MuJoCo settings: T 2048, 10 epochs, minibatch 64, Adam
3e-4, gamma 0.99, lambda 0.95, 64-64 tanh) and one switch:

    no clipping or penalty   ppo_kl.py --no-adaptive --init-beta 0   (the loss is exactly
                             -E[r_t A_t]: beta KL is 0 * KL, every other line is shared)
    clipping, eps            ppo_clip.py --clip-coef eps                  eps = 0.1, 0.2, 0.3
    adaptive KL, d_targ      ppo_kl.py --kl-target d_targ (beta_0 = 1)    d_targ = 0.003, 0.01, 0.03
    fixed KL, beta           ppo_kl.py --no-adaptive --init-beta beta     beta = 0.3, 1, 3, 10

Clipping at 0.2 and adaptive KL at 0.01 are the scripts' defaults, so those two settings pass no
switch: their commands on Hopper-v5 and Walker2d-v5 are then the 1M suite's own
(benchmark/run.py, configs.py gives those tasks the defaults), and a suite curve recorded with
the identical command is copied in instead of being run again (12 of the 84 runs).

Score of a run: the mean return of its last 100 training episodes. Normalised as in the paper:
per task, the random policy scores 0 and the best setting (mean over seeds) 1; a setting's
normalised score is the mean over its 21 runs (7 tasks x 3 seeds).

    python benchmark/ppo_objectives.py                   # the four headline settings (resumes)
    python benchmark/ppo_objectives.py --settings all    # all eleven of the paper
    python benchmark/ppo_objectives.py --dry-run         # the commands, done or to do
    python benchmark/ppo_objectives.py --report          # rebuild table and plots from the curves
    python benchmark/ppo_objectives.py --executor slurm --slurm-partition cpu

Runs go through benchmark/run.py's runner: each finished run writes one curve file,
benchmark/results/ppo_objectives/mujoco_1m/<setting>__<env>__<seed>.csv (its header holds the
command, machine and versions); a run whose curve exists is not repeated. The random policy's
score per task is measured once (uniformly random actions, 100 episodes) into random_policy.csv.
"""

import argparse
import csv
import os
import re
import shlex
import shutil
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmark import run  # noqa: E402
from benchmark.common import REPO, machine_description, script_command  # noqa: E402

RESULTS = os.path.join(REPO, "benchmark", "results", "ppo_objectives")
ENVS = ["HalfCheetah-v5", "Hopper-v5", "InvertedDoublePendulum-v5", "InvertedPendulum-v5",
        "Reacher-v5", "Swimmer-v5", "Walker2d-v5"]  # fmt: skip
SEEDS = [1, 2, 3]
TOTAL_TIMESTEPS = 1_000_000
RANDOM_EPISODES = 100
# name: (script, arguments, the paper's normalised score in table 1)
SETTINGS = {
    "no_clip_no_penalty": ("ppo_kl", ["--no-adaptive", "--init-beta", "0"], -0.39),
    "clip_0.1": ("ppo_clip", ["--clip-coef", "0.1"], 0.76),
    "clip_0.2": ("ppo_clip", [], 0.82),  # the default --clip-coef
    "clip_0.3": ("ppo_clip", ["--clip-coef", "0.3"], 0.70),
    "adaptive_kl_0.003": ("ppo_kl", ["--kl-target", "0.003"], 0.68),
    "adaptive_kl_0.01": ("ppo_kl", [], 0.74),  # the default --kl-target (and --init-beta 1)
    "adaptive_kl_0.03": ("ppo_kl", ["--kl-target", "0.03"], 0.71),
    "fixed_kl_0.3": ("ppo_kl", ["--no-adaptive", "--init-beta", "0.3"], 0.62),
    "fixed_kl_1": ("ppo_kl", ["--no-adaptive", "--init-beta", "1"], 0.71),
    "fixed_kl_3": ("ppo_kl", ["--no-adaptive", "--init-beta", "3"], 0.72),
    "fixed_kl_10": ("ppo_kl", ["--no-adaptive", "--init-beta", "10"], 0.69),
}
HEADLINE = ["no_clip_no_penalty", "clip_0.2", "adaptive_kl_0.01", "fixed_kl_1"]
CURVE = re.compile(r"([\w.]+)__([\w.-]+)__(\d+)\.csv")


def jobs(settings, envs, seeds, total_timesteps):
    """[(setting, env_id, seed, command)] as benchmark/run.py's runner takes them, task by task
    (a stopped comparison has whole tasks to normalise)."""
    return [
        (name, env_id, seed, script_command(SETTINGS[name][0], env_id, seed, total_timesteps, SETTINGS[name][1]))
        for env_id in envs
        for name in settings
        for seed in seeds
    ]


def suite_curve(job, suite_results=None):
    """The 1M suite's curve file of a job if the suite ran its command to the letter (the curve's
    header says so), else None."""
    setting, env_id, seed, command = job
    source = run.curve_path(suite_results or run.RESULTS, SETTINGS[setting][0], env_id, seed)
    if os.path.exists(source) and run.read_curve(source)[0].get("command") == shlex.join(command):
        return source
    return None


def adopt_suite_curves(todo, results, suite_results=None):
    """Copy into `results` the 1M suite's curve of each job whose command the suite ran to the
    letter; returns the jobs left to run."""
    left = []
    for setting, env_id, seed, command in todo:
        source = suite_curve((setting, env_id, seed, command), suite_results)
        if source:
            target = run.curve_path(results, setting, env_id, seed)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(source, target + ".partial")
            os.replace(target + ".partial", target)
            print(f"copied the suite's curve {os.path.relpath(source, REPO)}", flush=True)
        else:
            left.append((setting, env_id, seed, command))
    return left


# ---------------------------------------------------------------- scores


def normalized_scores(scores, random_scores):
    """The paper's normalisation. scores: {(setting, env_id): [score of each seed]};
    random_scores: {env_id: the random policy's score}. Per task, the random policy maps to 0
    and the best setting's mean over seeds to 1:
        normalised = (score - random) / (best mean - random)
    Returns {setting: the mean of its runs' normalised scores over all tasks and seeds}, over
    the tasks where every setting has a score (others are left out, so that settings compare)."""
    settings = sorted({s for s, _ in scores})
    envs = sorted(e for e in {e for _, e in scores} if all((s, e) in scores for s in settings))
    out = {}
    for setting in settings:
        runs = []
        for env_id in envs:
            best = max(np.mean(scores[(s, env_id)]) for s in settings)
            low = random_scores[env_id]
            runs += [(x - low) / (best - low) for x in scores[(setting, env_id)]]
        out[setting] = float(np.mean(runs)) if runs else float("nan")
    return out


def rank_correlation(a, b):
    """Spearman's rank correlation of two equally long sequences (no ties expected)."""
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def random_policy_score(env_id, episodes=RANDOM_EPISODES, seed=0):
    """Mean return of uniformly random actions over `episodes` episodes."""
    import gymnasium as gym

    env = gym.make(env_id)
    env.action_space.seed(seed)
    total = []
    for i in range(episodes):
        env.reset(seed=seed + i)
        ret, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            ret += float(reward)
            done = terminated or truncated
        total.append(ret)
    env.close()
    return float(np.mean(total))


def random_scores_file(results):
    return os.path.join(results, "random_policy.csv")


def read_random_scores(results):
    path = random_scores_file(results)
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        rows = [line for line in f if not line.startswith("#")]
    return {row["env_id"]: float(row["score"]) for row in csv.DictReader(rows)}


def measure_random_scores(results, envs):
    """Measure the envs missing from random_policy.csv and rewrite it (atomically, through a
    temporary file of this process's own: runners on other tasks may start at the same time)."""
    scores = read_random_scores(results)
    missing = [env_id for env_id in envs if env_id not in scores]
    if not missing:
        return scores
    for env_id in missing:
        scores[env_id] = random_policy_score(env_id)
        print(f"random policy on {env_id}: {scores[env_id]:.1f}", flush=True)
    os.makedirs(results, exist_ok=True)
    path = random_scores_file(results)
    partial = f"{path}.{os.getpid()}.partial"
    with open(partial, "w", newline="") as f:
        f.write(f"# measured by: python benchmark/ppo_objectives.py (random_policy_score: {RANDOM_EPISODES} "
                "episodes of uniformly random actions, env.reset(seed=i), action_space.seed(0))\n")
        f.write(f"# machine: {machine_description()}\n")
        writer = csv.writer(f)
        writer.writerow(["env_id", "score"])
        writer.writerows((e, f"{scores[e]:.2f}") for e in sorted(scores))
    os.replace(partial, path)
    return scores


# ---------------------------------------------------------------- the report


def collect(results):
    """{(setting, env_id, seed): (header, steps, returns)} of every curve file present."""
    out, directory = {}, run.curves_dir(results)
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        match = CURVE.fullmatch(name)
        if match and match[1] in SETTINGS:
            out[(match[1], match[2], int(match[3]))] = run.read_curve(os.path.join(directory, name))
    return out


def report(results):
    """Write ppo_objectives.md and the plots from the curves and random_policy.csv alone."""
    curves, random_scores = collect(results), read_random_scores(results)
    scores = {}
    for (setting, env_id, _), (_, _, returns) in sorted(curves.items()):
        scores.setdefault((setting, env_id), []).append(run.final_return(returns))
    # the headline settings always (a task is complete only when they all have it), others once run
    settings = [s for s in SETTINGS if s in HEADLINE or any(k[0] == s for k in scores)]
    envs = [e for e in ENVS if any(k[1] == e for k in scores)]
    seeds = {}
    for setting, env_id, seed in curves:
        seeds.setdefault((setting, env_id), set()).add(seed)

    def has_all_seeds(setting, env_id):
        return set(SEEDS) <= seeds.get((setting, env_id), set())

    # a task is complete once every headline setting has all its seeds there; a setting is scored
    # (and can be the best, 1) once it has all seeds on every complete task
    complete = [e for e in envs if all(has_all_seeds(s, e) for s in HEADLINE)]
    scored = [s for s in settings if complete and all(has_all_seeds(s, e) for e in complete)]
    unmeasured = [e for e in complete if e not in random_scores]
    if unmeasured:
        sys.exit(f"error: {random_scores_file(results)} has no random-policy score for {unmeasured[0]}; "
                 f"python benchmark/ppo_objectives.py --envs {unmeasured[0]} measures it (before running "
                 "what is missing there)")
    norm = normalized_scores({k: v for k, v in scores.items() if k[1] in complete and k[0] in scored},
                             random_scores) if complete else {}  # fmt: skip
    lines = ["# The PPO paper's objectives compared (table 1), rerun", ""]
    lines += ["Rebuilt by `python benchmark/ppo_objectives.py --report` from the curves in",
              "`benchmark/results/ppo_objectives/mujoco_1m/` and `random_policy.csv`; the runs by",
              "`python benchmark/ppo_objectives.py` (each curve's header holds its exact command).", ""]
    lines += [f"Score: mean return of the last {run.WINDOW} training episodes at the end of the run; normalised per task",
              "(random policy 0, best setting's mean over seeds 1) and averaged over the runs of the tasks that are",
              f"complete for every headline setting ({len(complete)} of {len(ENVS)}: {', '.join(complete) or 'none yet'}).",
              f"1 is the best of the {len(scored) or len(settings)} settings scored here, where the paper's column is normalised",
              "against the best of its eleven: with fewer settings, compare the two columns by rank, not by value.", ""]
    lines += ["| setting | command | normalised score (here) | paper, table 1 |", "|---|---|---|---|"]
    for s in settings:
        script, extra = SETTINGS[s][:2]
        here = f"{norm[s]:.2f}" if s in norm else "incomplete"
        command = f"`{script}.py {shlex.join(extra)}`" if extra else f"`{script}.py` (its defaults)"
        lines.append(f"| {s} | {command} | {here} | {SETTINGS[s][2]:.2f} |")
    if len(norm) >= 3:
        order = sorted(norm, key=norm.get, reverse=True)
        paper = sorted(norm, key=lambda s: SETTINGS[s][2], reverse=True)
        rho = rank_correlation([norm[s] for s in norm], [SETTINGS[s][2] for s in norm])
        lines += ["", f"Ranking here: {' > '.join(order)}.", f"Paper's ranking: {' > '.join(paper)}."]
        if len(complete) == len(ENVS):
            verdict = "the ranking reproduces" if order == paper else "the ranking differs"
            lines.append(f"Spearman rank correlation: {rho:.2f} ({verdict}).")
        else:  # a verdict on part of the tasks would be the paper's claim tested on other tasks
            lines.append(f"Spearman rank correlation so far: {rho:.2f}; no verdict before all {len(ENVS)} "
                         f"tasks are complete ({len(complete)} of {len(ENVS)} now).")
    if norm:  # where the averages come from: the same normalisation, one task at a time
        per_task = {e: normalized_scores({k: v for k, v in scores.items() if k[1] == e and k[0] in norm}, random_scores)
                    for e in complete}  # fmt: skip
        lines += ["", "Normalised per task (mean over seeds; the task's random policy 0, its best setting 1):", ""]
        lines += ["| normalised, per task | " + " | ".join(complete) + " |", "|---|" + "---|" * len(complete)]
        lines += [f"| {s} | " + " | ".join(f"{per_task[e][s]:.2f}" for e in complete) + " |" for s in settings if s in norm]
    lines += ["", "Per task, the score (mean ± std over seeds, seeds in brackets); random policy in the last row:", ""]
    lines += ["| score (mean ± std, seeds) | " + " | ".join(envs) + " |", "|---|" + "---|" * len(envs)]
    for s in settings:
        cells = []
        for e in envs:
            x = scores.get((s, e), [])
            cells.append(f"{np.mean(x):.0f} ± {np.std(x):.0f} ({len(x)})" if x else "–")
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    lines.append("| random policy | " + " | ".join(f"{random_scores[e]:.0f}" if e in random_scores else "–" for e in envs) + " |")
    machines = sorted({h["machine"] for h, _, _ in curves.values()})
    lines += ["", "Machines and package versions of the runs:", ""] + [f"- {m}" for m in machines]
    os.makedirs(results, exist_ok=True)
    with open(os.path.join(results, "ppo_objectives.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    if curves:
        plots(curves, envs, settings, norm, results, complete)
    return "\n".join(lines)


def plots(curves, envs, settings, norm, results, complete):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 4
    rows = (len(envs) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.5 * rows), squeeze=False)
    for ax, env_id in zip(axes.flat, envs):
        for s in settings:
            seeds = sorted(k[2] for k in curves if k[0] == s and k[1] == env_id)
            if not seeds:
                continue
            total = max(curves[(s, env_id, x)][1][-1] for x in seeds)
            grid = np.linspace(0, total, 101)[1:]
            ys = np.array([run.trailing_curve(*curves[(s, env_id, x)][1:], grid) for x in seeds])
            ax.plot(grid, np.nanmean(ys, axis=0), label=f"{s} ({len(seeds)})")
        ax.set_title(env_id)
        ax.set_xlabel("global step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(envs):]:
        ax.axis("off")
    fig.suptitle(f"mean over seeds of the mean return of the last {run.WINDOW} episodes")
    fig.tight_layout()
    fig.savefig(os.path.join(results, "ppo_objectives_tasks.png"), dpi=70, metadata={"Software": None})
    plt.close(fig)
    summary = os.path.join(results, "ppo_objectives_summary.png")
    if not norm and os.path.exists(summary):  # no complete task (any more): no summary
        os.remove(summary)
    if norm:
        names = [s for s in settings if s in norm]
        fig, ax = plt.subplots(figsize=(1.2 * len(names) + 2, 3.5))
        x = np.arange(len(names))
        ax.bar(x - 0.2, [norm[s] for s in names], 0.4, label="here")
        ax.bar(x + 0.2, [SETTINGS[s][2] for s in names], 0.4, label="PPO paper, table 1")
        ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("normalised score")
        ax.axhline(0, color="k", lw=0.8)
        ax.legend(fontsize=8)
        tasks = f"all {len(ENVS)} tasks" if len(complete) == len(ENVS) else f"{len(complete)} of {len(ENVS)} tasks: {', '.join(complete)}"
        ax.set_title(f"normalised over {tasks}", fontsize=8)
        fig.tight_layout()
        fig.savefig(summary, dpi=80, metadata={"Software": None})
        plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])  # fmt: skip
    parser.add_argument("--settings", nargs="+", default=HEADLINE, help=f"names among {', '.join(SETTINGS)}, or all")
    parser.add_argument("--envs", nargs="+", default=ENVS)
    parser.add_argument("--seeds", type=int, nargs="+", default=SEEDS)
    parser.add_argument("--total-timesteps", type=int, default=TOTAL_TIMESTEPS)
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="runs at a time (local processes)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, done or to do, and exit")
    parser.add_argument("--report", action="store_true", help="only rebuild the table and plots from the curves")
    parser.add_argument("--results", default=RESULTS)
    parser.add_argument("--executor", choices=["processes", "slurm", "local"], default="processes")
    parser.add_argument("--slurm-partition", default="")
    parser.add_argument("--slurm-timeout-min", type=int, default=240)
    args = parser.parse_args()
    settings = list(SETTINGS) if args.settings == ["all"] else args.settings
    unknown = [s for s in settings if s not in SETTINGS]
    if unknown:
        sys.exit(f"error: unknown --settings {unknown[0]}; choose among {', '.join(SETTINGS)}, or all")
    if args.total_timesteps != TOTAL_TIMESTEPS and os.path.abspath(args.results) == RESULTS:
        sys.exit(f"error: --total-timesteps {args.total_timesteps} is not the comparison's {TOTAL_TIMESTEPS}; add --results DIR")
    if args.report:
        print(report(args.results))
        return
    todo_all = jobs(settings, args.envs, args.seeds, args.total_timesteps)
    todo = [j for j in todo_all if not os.path.exists(run.curve_path(args.results, *j[:3]))]
    if args.dry_run:
        adopt = [j for j in todo if suite_curve(j)]
        for job in todo_all:
            state = "adopt " if job in adopt else "to do " if job in todo else "done  "
            print(state + shlex.join(job[3]))
        print(f"{len(todo_all)} runs: {len(todo_all) - len(todo)} done, {len(adopt)} to copy from the "
              f"1M suite, {len(todo) - len(adopt)} to run")
        return
    measure_random_scores(args.results, args.envs)
    todo = adopt_suite_curves(todo, args.results)
    print(f"{len(todo_all)} runs: {len(todo_all) - len(todo)} already done, {len(todo)} to run", flush=True)
    if args.executor == "processes":
        failures = run.run_local(todo, args.results, args.workers)
    else:
        folder = os.path.join(tempfile.gettempdir(), "ppo-objectives-submitit")
        failures = run.run_submitit(todo, args.results, args.executor, args.slurm_partition, args.slurm_timeout_min, folder)
    print(report(args.results))
    if failures:
        sys.exit("failed runs:\n" + "\n".join(failures))


if __name__ == "__main__":
    main()
