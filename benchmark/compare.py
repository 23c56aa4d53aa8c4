"""Compare variants of a script (or several scripts) on one environment: learning curves of
several seeds each, through the CLI, plotted as mean and min-max band on a common step grid.

    python benchmark/compare.py --env-id CartPole-v1 --budget 300000 --name reinforce_baselines \
        --variant "none=reinforce --baseline none" --variant "mean=reinforce --baseline mean" \
        --variant "value=reinforce --baseline value"

Each --variant is LABEL=SCRIPT [ARGS...]. Writes benchmark/results/plots/<name>.png and
<name>.md: the command, machine and versions, and per variant the mean return of the last 20
episodes at the end of the budget (mean and std over seeds).
"""

import argparse
import os
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmark.common import REPO, machine_description  # noqa: E402
from benchmark.targets import one_run  # noqa: E402


def binned_mean(curve, budget, bins):
    """Mean return of the episodes ending in each of `bins` equal step bins, carried forward."""
    edges = np.linspace(0, budget, bins + 1)
    steps = np.array([s for s, _ in curve], dtype=float)
    returns = np.array([r for _, r in curve], dtype=float)
    out, last = [], returns[0] if len(returns) else np.nan
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (steps > lo) & (steps <= hi)
        last = returns[inside].mean() if inside.any() else last
        out.append(last)
    return np.array(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-id", required=True)
    parser.add_argument("--budget", type=int, required=True)
    parser.add_argument("--variant", action="append", required=True, help='LABEL=SCRIPT [ARGS...]')
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--name", required=True, help="output file name (without extension)")
    parser.add_argument("--bins", type=int, default=50)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()

    variants = []
    for spec in args.variant:
        label, rest = spec.split("=", 1)
        script, *extra = shlex.split(rest)
        variants.append((label, script, extra))
    jobs = [(script, args.env_id, seed, args.budget, extra) for _, script, extra in variants for seed in args.seeds]
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(one_run, jobs))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = (np.arange(args.bins) + 0.5) * args.budget / args.bins
    fig, ax = plt.subplots(figsize=(7, 4.2))
    lines = ["| variant | command | final mean(last 20), mean +/- std over seeds |", "|---|---|---|"]
    for k, (label, script, extra) in enumerate(variants):
        runs = results[k * len(args.seeds) : (k + 1) * len(args.seeds)]
        curves = np.array([binned_mean(curve, args.budget, args.bins) for _, curve, _ in runs])
        finals = [np.mean([r for _, r in curve[-20:]]) for _, curve, _ in runs]
        ax.plot(x, curves.mean(0), lw=2, label=f"{label}")
        ax.fill_between(x, curves.min(0), curves.max(0), alpha=0.2)
        lines.append(f"| {label} | `python algos/{script}.py --env-id {args.env_id} --total-timesteps {args.budget} {shlex.join(extra)}` | {np.mean(finals):.1f} +/- {np.std(finals):.1f} |")
    ax.set_xlabel("global step")
    ax.set_ylabel("episodic return")
    ax.set_title(f"{args.env_id}: mean and min-max over seeds {', '.join(map(str, args.seeds))}")
    ax.legend()
    fig.tight_layout()
    out = os.path.join(REPO, "benchmark", "results", "plots")
    os.makedirs(out, exist_ok=True)
    fig.savefig(os.path.join(out, f"{args.name}.png"), dpi=100)
    command = "python benchmark/compare.py " + shlex.join(sys.argv[1:])
    with open(os.path.join(out, f"{args.name}.md"), "w") as f:
        f.write(f"# {args.name}: {args.env_id}, {args.budget} steps, seeds {', '.join(map(str, args.seeds))}\n\n")
        f.write(f"Produced by:\n\n    {command}\n\nMachine: {machine_description()}; {time.strftime('%Y-%m-%d')}.\n\n")
        f.write("\n".join(lines) + f"\n\n![{args.name}]({args.name}.png)\n")
    print("\n".join(lines))
    print(f"written to benchmark/results/plots/{args.name}.png and .md")


if __name__ == "__main__":
    main()
