"""Speed benchmark: each script's training steps per second beside the raw environment rate.

In one run on this machine, for each environment: the raw step rate of the same vector
environment and wrappers the scripts use (random actions, no agent), then each script's own
charts/SPS (rollout and learning, start-up excluded) over a fixed short budget, run through
its CLI with the settings of benchmark/configs.py. One process at a time, so runs do not
compete for cores.

    python benchmark/speed.py                      # every script, HalfCheetah-v5 and CartPole-v1
    python benchmark/speed.py --scripts ppo_clip --envs HalfCheetah-v5

Prints a table and writes benchmark/results/speed.csv and speed.md (with machine and
package versions). Adding a script: add its name to SCRIPTS.

A3C's scaling with cores: a3c.py with 1, 2, ... up to the number of cores workers on
HalfCheetah-v5, interleaved and median of --repeats, and the speed-up over one worker:

    python benchmark/speed.py --a3c-scaling      # writes benchmark/results/a3c_scaling.csv and .md
"""

import argparse
import csv
import os
import shlex
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmark.common import REPO, machine_description, read_scalars, run_script, script_command  # noqa: E402
from benchmark.configs import script_args  # noqa: E402

SCRIPTS = ["reinforce", "a2c", "a3c", "trpo", "ppo_kl", "ppo_clip"]
ENVS = ["HalfCheetah-v5", "CartPole-v1"]
BUDGET = {"HalfCheetah-v5": 20480, "CartPole-v1": 40960}


def num_envs_of(args):
    return int(args[args.index("--num-envs") + 1]) if "--num-envs" in args else 1


def raw_env_sps(env_id, num_envs, steps):
    """Steps per second of the scripts' vector env (RecordEpisodeStatistics, SAME_STEP
    autoreset) with random actions: the ceiling a training loop could reach."""
    import gymnasium as gym
    import mujoco

    mujoco.set_mju_user_warning(lambda message: None)
    envs = gym.vector.SyncVectorEnv(
        [lambda: gym.wrappers.RecordEpisodeStatistics(gym.make(env_id)) for _ in range(num_envs)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    envs.reset(seed=0)
    envs.action_space.seed(0)
    actions = [envs.action_space.sample() for _ in range(1000)]
    start = time.perf_counter()
    for i in range(steps // num_envs):
        envs.step(actions[i % 1000])
    elapsed = time.perf_counter() - start
    envs.close()
    return steps / elapsed


def script_sps(script, env_id, budget, extra=()):
    """The script's own charts/SPS at the end of a run of `budget` steps."""
    command = script_command(script, env_id, 1, budget, [*script_args(script, env_id), *extra])
    with tempfile.TemporaryDirectory() as workdir:
        sps = read_scalars(run_script(command, workdir), "charts/SPS")
    return sps[-1][1], command


def a3c_scaling(repeats, max_workers, env_id="HalfCheetah-v5", budget=60000):
    """a3c.py's SPS with 1 .. max_workers workers (interleaved, median of repeats), and the
    speed-up over one worker; writes benchmark/results/a3c_scaling.csv and .md."""
    counts = list(range(1, max_workers + 1))
    raws, spss, commands = [], {k: [] for k in counts}, {}
    for _ in range(repeats):
        raws.append(raw_env_sps(env_id, 1, 20000))
        for k in counts:
            sps, command = script_sps("a3c", env_id, budget, ["--num-workers", str(k)])
            spss[k].append(sps)
            commands[k] = shlex.join(command)
    raw = float(np.median(raws))
    base = float(np.median(spss[1]))
    rows = [{"workers": k, "sps": round(float(np.median(spss[k]))), "speedup": round(float(np.median(spss[k])) / base, 2),
             "runs": " ".join(str(round(x)) for x in spss[k])} for k in counts]  # fmt: skip
    table = ["| workers | sps (median) | speed-up over 1 worker | the runs' sps |", "|---|---|---|---|"]
    table += [f"| {r['workers']} | {r['sps']} | {r['speedup']:.2f}x | {r['runs']} |" for r in rows]
    print("\n".join(table))
    results = os.path.join(REPO, "benchmark", "results")
    with open(os.path.join(results, "a3c_scaling.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with open(os.path.join(results, "a3c_scaling.md"), "w") as f:
        f.write(f"# a3c.py steps per second against the number of workers, {env_id}\n\n")
        f.write(f"Recorded by `{shlex.join(['python', 'benchmark/speed.py', *sys.argv[1:]])}` on {time.strftime('%Y-%m-%d')}.\n\n")
        f.write(f"Machine: {machine_description()}.\n\n")
        f.write(f"sps: a3c.py's own charts/SPS over a {budget}-step run (all workers together, from the moment every worker is ready "
                f"to the moment the budget is spent); median of {repeats} runs, the worker counts interleaved. "
                f"Raw single-environment rate in the same run: {raw:.0f} steps/s (median of {repeats}).\n\n")  # fmt: skip
        f.write("\n".join(table) + "\n\nThe runs:\n\n" + "\n".join(f"    {c}" for c in commands.values()) + "\n")
    print("written to benchmark/results/a3c_scaling.csv and a3c_scaling.md")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scripts", nargs="+", default=SCRIPTS)
    parser.add_argument("--envs", nargs="+", default=ENVS)
    parser.add_argument("--repeats", type=int, default=3, help="measurements of each rate; the median is reported")
    parser.add_argument("--no-write", action="store_true", help="print only, do not write benchmark/results/")
    parser.add_argument("--a3c-scaling", action="store_true", help="measure only a3c.py's scaling with 1 .. --max-workers workers")
    parser.add_argument("--max-workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    if args.a3c_scaling:
        return a3c_scaling(args.repeats, args.max_workers)

    rows, commands = [], []
    for env_id in args.envs:
        raws = {script: [] for script in args.scripts}
        spss = {script: [] for script in args.scripts}
        for _ in range(args.repeats):  # scripts interleaved, so all see the same machine load
            for script in args.scripts:
                raws[script].append(raw_env_sps(env_id, num_envs_of(script_args(script, env_id)), 20000))
                sps, command = script_sps(script, env_id, BUDGET[env_id])
                spss[script].append(sps)
                if len(spss[script]) == 1:
                    commands.append(shlex.join(command))
        for script in args.scripts:
            raw, sps = float(np.median(raws[script])), float(np.median(spss[script]))
            rows.append({"script": script, "env_id": env_id, "sps": round(sps), "raw_env_sps": round(raw), "sps_over_raw": round(sps / raw, 3)})
            print(f"{script:>12s} {env_id:>16s}  sps {sps:8.0f}  raw env {raw:8.0f}  ratio {sps / raw:.3f}", flush=True)

    table = ["| script | env_id | sps | raw_env_sps | sps_over_raw |", "|---|---|---|---|---|"]
    table += [f"| {r['script']} | {r['env_id']} | {r['sps']} | {r['raw_env_sps']} | {r['sps_over_raw']} |" for r in rows]
    print("\n".join(table))
    if args.no_write:
        return
    results = os.path.join(REPO, "benchmark", "results")
    os.makedirs(results, exist_ok=True)
    with open(os.path.join(results, "speed.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with open(os.path.join(results, "speed.md"), "w") as f:
        f.write("# Training speed against the raw environment step rate\n\n")
        f.write(f"Recorded by `{shlex.join(['python', 'benchmark/speed.py', *sys.argv[1:]])}` on {time.strftime('%Y-%m-%d')}.\n\n")
        f.write(f"Machine: {machine_description()}.\n\n")
        f.write("sps: the script's own charts/SPS at the end of a run (rollout and learning, start-up excluded). ")
        f.write("raw_env_sps: the same vector environment with random actions and no agent, 20000 steps. ")
        f.write(f"Each is the median of {args.repeats} measurements; the raw one is taken just before each run of the script, ")
        f.write("and the scripts' runs are interleaved, so that every script sees the same machine load.\n\n")
        f.write("\n".join(table) + "\n\nThe runs:\n\n" + "\n".join(f"    {c}" for c in commands) + "\n")
    print("written to benchmark/results/speed.csv and speed.md")


if __name__ == "__main__":
    main()
