"""Measure an acceptance target: does a script reach a return threshold within a step budget?

For each seed, runs the script through its CLI (in a temporary directory), reads
charts/episodic_return back from TensorBoard, and reports the first global step at which the
mean of the last `--window` episodes reached `--threshold`, the best such mean within the
budget, and the mean at the end of the budget (with --hold, that one must reach the threshold
too: the script learns and holds). Seeds run in parallel (`--workers`).

    python benchmark/targets.py --script a2c --env-id CartPole-v1 --budget 300000 \
        --threshold 475 --seeds 1 2 3 4 5 --workers 2 --record --hold --tag defaults

Arguments after `--` go to the script unchanged. With --record, the table is written to
benchmark/results/targets/<script>__<env_id>[__<tag>].md with this command in its header.
"""

import argparse
import os
import shlex
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmark.common import REPO, machine_description, read_scalars, run_script, script_command  # noqa: E402


def trailing_means(curve, window):
    """[(step, mean of the last `window` returns)] once `window` episodes have finished."""
    returns = np.array([r for _, r in curve], dtype=np.float64)
    if len(returns) < window:
        return []
    csum = np.cumsum(np.insert(returns, 0, 0.0))
    means = (csum[window:] - csum[:-window]) / window
    return [(curve[i + window - 1][0], float(m)) for i, m in enumerate(means)]


def judge(curve, window, threshold, budget):
    """(first step the trailing mean reached threshold or None, best trailing mean, final one)."""
    means = [(s, m) for s, m in trailing_means(curve, window) if s <= budget]
    if not means:
        return None, float("nan"), float("nan")
    first = next((s for s, m in means if m >= threshold), None)
    return first, max(m for _, m in means), means[-1][1]


def one_run(job):
    script, env_id, seed, budget, extra = job
    command = script_command(script, env_id, seed, budget, extra)
    start = time.time()
    with tempfile.TemporaryDirectory() as workdir:
        curve = read_scalars(run_script(command, workdir))
    return seed, curve, time.time() - start


def main():
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--script", required=True, help="algos/<script>.py, e.g. ppo_clip")
    parser.add_argument("--env-id", required=True)
    parser.add_argument("--budget", type=int, required=True, help="total timesteps of each run")
    parser.add_argument("--threshold", type=float, required=True)
    parser.add_argument("--window", type=int, default=20, help="episodes in the trailing mean")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--record", action="store_true", help="write the table to benchmark/results/targets/")
    parser.add_argument("--tag", default="", help="suffix of the recorded file name")
    parser.add_argument("--hold", action="store_true", help="also require the final mean to be at or above the threshold")
    args = parser.parse_args(argv)

    jobs = [(args.script, args.env_id, s, args.budget, extra) for s in args.seeds]
    with ProcessPoolExecutor(args.workers) as pool:
        results = sorted(pool.map(one_run, jobs))

    lines = [
        f"| seed | first step with mean(last {args.window}) >= {args.threshold:g} | best mean(last {args.window}) | final mean(last {args.window}) | wall s |",
        "|---|---|---|---|---|",
    ]
    all_pass = True
    for seed, curve, wall in results:
        first, best, final = judge(curve, args.window, args.threshold, args.budget)
        all_pass &= first is not None and (not args.hold or final >= args.threshold)
        lines.append(f"| {seed} | {first if first is not None else 'not reached'} | {best:.1f} | {final:.1f} | {wall:.0f} |")
    goal = f"reaches {args.threshold:g} within {args.budget} steps" + (" and ends at or above it" if args.hold else "")
    verdict = f"Target {'met' if all_pass else 'NOT met'}: {'every' if all_pass else 'not every'} seed {goal}."
    table = "\n".join(lines)
    print(table)
    print(verdict)
    if args.record:
        cmd = "python benchmark/targets.py " + shlex.join(sys.argv[1:])
        run_cmd = shlex.join(script_command(args.script, args.env_id, "<seed>", args.budget, extra))
        name = f"{args.script}__{args.env_id}" + (f"__{args.tag}" if args.tag else "") + ".md"
        path = os.path.join(REPO, "benchmark", "results", "targets", name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(f"# {args.script}.py on {args.env_id}: mean of last {args.window} episodes >= {args.threshold:g} within {args.budget} steps\n\n")
            f.write(f"Recorded by:\n\n    {cmd}\n\nEach run:\n\n    {run_cmd}\n\n")
            f.write(f"Machine: {machine_description()}; recorded {time.strftime('%Y-%m-%d')}.\n\n{table}\n\n{verdict}\n")
        print(f"written to {os.path.relpath(path, REPO)}")


if __name__ == "__main__":
    main()
