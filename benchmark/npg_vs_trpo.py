"""The natural policy gradient against TRPO: what the line search is for.

Both take the same step direction x = H^-1 g scaled to the trust region's quadratic model,
s = sqrt(2 delta / x^T H x) x, so that 0.5 s^T H s = delta. NPG (`algos/trpo.py --no-line-search`)
takes s as it is; TRPO backtracks (0.8^j s) until the exact mean KL is within delta and the
surrogate improves. Where the quadratic model is good, as on CartPole at delta 0.01, the two runs
are the same computation. This tool runs both on a task and trust-region size where they need
not be, and reports per update: the exact KL of NPG's full step against delta, how often TRPO
backtracked or rejected the step, and both learning curves.

    python benchmark/npg_vs_trpo.py                         # the recorded comparison (resumes)
    python benchmark/npg_vs_trpo.py --report                # rebuild table and plot from the runs
    python benchmark/npg_vs_trpo.py --env-id Hopper-v5 --max-kl 0.1 --seeds 1 --results /tmp/x

Each run is `python algos/trpo.py --env-id ENV --seed S --total-timesteps T --max-kl DELTA
[--no-line-search]`. A finished run writes benchmark/results/npg_vs_trpo/<variant>__<seed>.csv
(one row per update: global_step, kl, line_search_steps, line_search_accepted,
surrogate_improvement, and the episode returns in a second file <variant>__<seed>.returns.csv),
each written whole or not at all; a run whose files exist is not repeated.
"""

import argparse
import csv
import os
import shlex
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmark.common import REPO, machine_description, read_scalars, run_script, script_command  # noqa: E402

RESULTS = os.path.join(REPO, "benchmark", "results", "npg_vs_trpo")
VARIANTS = {"trpo": [], "npg": ["--no-line-search"]}
UPDATE_TAGS = ["losses/kl", "losses/line_search_steps", "losses/line_search_accepted",
               "losses/surrogate_improvement"]  # fmt: skip
WINDOW = 20  # the final return: mean of the last WINDOW training episodes


def command(variant, env_id, seed, total_timesteps, max_kl):
    return script_command("trpo", env_id, seed, total_timesteps, ["--max-kl", str(max_kl), *VARIANTS[variant]])


def paths(results, variant, seed):
    base = os.path.join(results, f"{variant}__{seed}")
    return base + ".csv", base + ".returns.csv"


def write_atomic(path, header, columns, rows):
    tmp = path + ".partial"
    with open(tmp, "w", newline="") as f:
        f.writelines(f"# {key}: {value}\n" for key, value in header.items())
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(rows)
    os.replace(tmp, path)


def read_table(path):
    """(header dict, {column: np.array}) of a file written by write_atomic."""
    header, rows, columns = {}, [], None
    with open(path) as f:
        for line in f:
            if line.startswith("# "):
                key, value = line[2:].rstrip("\n").split(": ", 1)
                header[key] = value
            elif columns is None:
                columns = line.rstrip("\n").split(",")
            else:
                rows.append([float(v) for v in line.rstrip("\n").split(",")])
    data = np.array(rows, dtype=np.float64).reshape(-1, len(columns))
    return header, {c: data[:, i] for i, c in enumerate(columns)}


def run_one(variant, seed, args):
    """One trpo.py run in a temporary directory; writes its two files."""
    cmd = command(variant, args.env_id, seed, args.total_timesteps, args.max_kl)
    start = time.time()
    with tempfile.TemporaryDirectory() as workdir:
        run_dir = run_script(cmd, workdir)
        scalars = {tag: read_scalars(run_dir, tag) for tag in UPDATE_TAGS}
        returns = read_scalars(run_dir)
    steps = [s for s, _ in scalars["losses/kl"]]
    for tag in UPDATE_TAGS:  # one value per update, logged at the same steps
        assert [s for s, _ in scalars[tag]] == steps, tag
    header = {"command": shlex.join(cmd), "machine": machine_description(),
              "date": time.strftime("%Y-%m-%d"), "wall_time_s": f"{time.time() - start:.1f}"}
    update_path, returns_path = paths(args.results, variant, seed)
    rows = [(s, *(f"{scalars[tag][i][1]:.6g}" for tag in UPDATE_TAGS)) for i, s in enumerate(steps)]
    write_atomic(returns_path, header, ["global_step", "episodic_return"],
                 [(s, f"{r:.2f}") for s, r in returns])
    write_atomic(update_path, header, ["global_step"] + [t.split("/")[1] for t in UPDATE_TAGS], rows)
    return variant, seed, time.time() - start


# ---------------------------------------------------------------- the report


def update_statistics(kl, steps, accepted, improvement, max_kl):
    """Per-update summary of one variant's runs (arrays concatenated over seeds): the exact KL of
    the step taken in units of delta, how often it exceeded delta, how often the line search
    backtracked (steps > 1) or rejected the step (accepted = 0), how often the surrogate fell."""
    ratio = kl / max_kl
    return {
        "updates": len(kl),
        "median KL / delta": float(np.median(ratio)),
        "90th pct KL / delta": float(np.percentile(ratio, 90)),
        "max KL / delta": float(np.max(ratio)),
        "KL > delta": float(np.mean(ratio > 1.0)),
        "KL > 2 delta": float(np.mean(ratio > 2.0)),
        "backtracked": float(np.mean(steps > 1)),
        "rejected": float(np.mean(accepted == 0)),
        "surrogate fell": float(np.mean(improvement < 0)),
    }


def final_return(returns):
    return float(np.mean(returns[-WINDOW:]))


def max_kl_of(header):
    words = shlex.split(header["command"])
    return float(words[words.index("--max-kl") + 1])


def report(results):
    runs = {}
    for name in sorted(os.listdir(results)):
        if name.endswith(".csv") and not name.endswith(".returns.csv"):
            variant, seed = name[: -len(".csv")].split("__")
            header, updates = read_table(os.path.join(results, name))
            _, returns = read_table(os.path.join(results, name[: -len(".csv")] + ".returns.csv"))
            runs[(variant, int(seed))] = (header, updates, returns)
    if not runs:
        sys.exit(f"error: no runs in {results}")
    deltas = {max_kl_of(h) for h, _, _ in runs.values()}
    if len(deltas) != 1:
        sys.exit(f"error: runs of several --max-kl in {results}: {sorted(deltas)}; use one --results per delta")
    (max_kl,) = deltas
    lines = ["# NPG against TRPO", ""]
    lines += ["Rebuilt by `python benchmark/npg_vs_trpo.py --report` from the runs in this directory;",
              "each run's command (and machine, package versions, wall time) heads its file:", ""]
    lines += sorted({f"    {h['command']}" for h, _, _ in runs.values()}) + [""]
    lines += [f"Machine: {m}" for m in sorted({h["machine"] for h, _, _ in runs.values()})] + [""]
    stats_cols = ["updates", "median KL / delta", "90th pct KL / delta", "max KL / delta",
                  "KL > delta", "KL > 2 delta", "backtracked", "rejected", "surrogate fell"]
    lines += ["Per update, over all seeds' updates (KL: the exact mean KL[pi_old, pi_theta] of the step",
              "taken, logged as losses/kl; fractions of updates):", ""]
    lines += ["| variant | " + " | ".join(stats_cols) + " |", "|---|" + "---|" * len(stats_cols)]
    for variant in VARIANTS:
        seeds = sorted(s for v, s in runs if v == variant)
        if not seeds:
            continue
        cat = {k: np.concatenate([runs[(variant, s)][1][k] for s in seeds]) for k in runs[(variant, seeds[0])][1]}
        st = update_statistics(cat["kl"], cat["line_search_steps"], cat["line_search_accepted"],
                               cat["surrogate_improvement"], max_kl)
        cells = [f"{st[c]:d}" if c == "updates" else (f"{st[c]:.2f}" if "/" in c else f"{100 * st[c]:.0f}%")
                 for c in stats_cols]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    lines += ["", f"Final return of each seed (mean of its last {WINDOW} training episodes):", ""]
    all_seeds = sorted({s for _, s in runs})
    lines += ["| variant | " + " | ".join(f"seed {s}" for s in all_seeds) + " | mean |",
              "|---|" + "---|" * (len(all_seeds) + 1)]
    for variant in VARIANTS:
        finals = {s: final_return(runs[(v, s)][2]["episodic_return"]) for v, s in runs if v == variant}
        if not finals:
            continue
        cells = [f"{finals[s]:.0f}" if s in finals else "–" for s in all_seeds]
        lines.append(f"| {variant} | " + " | ".join(cells) + f" | {np.mean(list(finals.values())):.0f} |")
    with open(os.path.join(results, "npg_vs_trpo.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    plot(runs, results, max_kl)
    return "\n".join(lines)


def plot(runs, results, max_kl):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    colors = {"trpo": "tab:blue", "npg": "tab:red"}
    for (variant, seed), (_, updates, returns) in sorted(runs.items()):
        r = returns["episodic_return"]
        smooth = np.convolve(r, np.ones(WINDOW) / WINDOW, mode="valid") if len(r) >= WINDOW else r
        left.plot(returns["global_step"][len(r) - len(smooth):], smooth, color=colors[variant], alpha=0.7,
                  label=f"{variant} seed {seed}")
        right.plot(updates["global_step"], updates["kl"] / max_kl, ".", color=colors[variant], alpha=0.6,
                   markersize=3, label=f"{variant} seed {seed}")
    right.axhline(1.0, color="k", lw=1, ls="--")
    right.set_yscale("log")
    left.set_xlabel("global step")
    left.set_ylabel(f"mean return of the last {WINDOW} episodes")
    right.set_xlabel("global step")
    right.set_ylabel("KL of the step taken / delta")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(results, "npg_vs_trpo.png"), dpi=80, metadata={"Software": None})
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-id", default="Hopper-v5")
    parser.add_argument("--max-kl", type=float, default=0.05)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--total-timesteps", type=int, default=300_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--results", default=RESULTS)
    parser.add_argument("--report", action="store_true", help="only rebuild the table and plot")
    args = parser.parse_args()
    os.makedirs(args.results, exist_ok=True)
    if not args.report:
        todo = [(v, s) for v in VARIANTS for s in args.seeds if not os.path.exists(paths(args.results, v, s)[0])]
        print(f"{2 * len(args.seeds) - len(todo)} runs done, {len(todo)} to run", flush=True)
        with ThreadPoolExecutor(max(1, args.workers)) as pool:
            for variant, seed, wall in pool.map(lambda job: run_one(*job, args), todo):
                print(f"{variant} seed {seed} finished in {wall:.0f} s", flush=True)
    print(report(args.results))


if __name__ == "__main__":
    main()
