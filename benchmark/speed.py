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

ppo_clip.py beside its peers, in the same run, with the same settings (the PPO paper's MuJoCo
setting: one environment, 2048 steps x 10 epochs x minibatches of 64, 64-64 tanh networks,
observation and reward normalisation) and one torch thread each (OMP_NUM_THREADS=1):

    pip install -r benchmark/requirements-peers.txt          # Stable-Baselines3, pinned
    python benchmark/speed.py --peers [--cleanrl PATH/TO/cleanrl/ppo_continuous_action.py]

Stable-Baselines3's PPO runs when it is installed; CleanRL's ppo_continuous_action.py runs when
--cleanrl points to a copy the user downloaded (it is never copied into this repository). It was
written for gymnasium 0.29; the two lines gymnasium 1.x rejects or changes are patched in a
temporary copy (CLEANRL_PATCHES). Writes benchmark/results/speed_peers.csv and .md.

Where a ppo_clip.py step goes, in microseconds: its rollout step (the same calls as its loop,
timed phase by phase) and its minibatch update, at the paper's setting on HalfCheetah-v5:

    python benchmark/speed.py --profile          # writes benchmark/results/speed_profile.md
"""

import argparse
import csv
import glob
import hashlib
import os
import shlex
import subprocess
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


# ---------------------------------------------------------------- peers

PEER_ENV = "HalfCheetah-v5"
PEER_BUDGET = 81920  # 40 iterations of 2048 steps
# The PPO paper's MuJoCo setting, in each program's own arguments (CleanRL's defaults are it).
PAPER_PPO_CLIP = [
    "--num-envs", "1", "--num-steps", "2048", "--num-minibatches", "32", "--update-epochs", "10",
    "--learning-rate", "3e-4", "--gamma", "0.99", "--gae-lambda", "0.95", "--clip-coef", "0.2",
    "--ent-coef", "0", "--vf-coef", "0.5", "--max-grad-norm", "0.5", "--hidden-size", "64",
    "--activation", "tanh", "--torch-threads", "1",
]  # fmt: skip
# (what CleanRL's script says, what gymnasium 1.x needs): TransformObservation's observation
# space became a required argument (None keeps the wrapped one).
CLEANRL_PATCHES = [
    ("gym.wrappers.TransformObservation(env, lambda obs: np.clip(obs, -10, 10))",
     "gym.wrappers.TransformObservation(env, lambda obs: np.clip(obs, -10, 10), None)"),
]
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def sb3_child(env_id, total_timesteps, seed):
    """Stable-Baselines3's PPO at the paper's setting, one thread; prints its training steps/s
    (steps over the time of model.learn, as its own time/fps counts)."""
    import gymnasium as gym
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    torch.set_num_threads(1)
    env = VecNormalize(DummyVecEnv([lambda: gym.make(env_id)]), gamma=0.99)
    model = PPO("MlpPolicy", env, n_steps=2048, batch_size=64, n_epochs=10, learning_rate=3e-4,
                gamma=0.99, gae_lambda=0.95, clip_range=0.2, ent_coef=0.0, vf_coef=0.5,
                max_grad_norm=0.5, device="cpu", seed=seed)  # fmt: skip
    start = time.perf_counter()
    model.learn(total_timesteps)
    print(f"SPS {model.num_timesteps / (time.perf_counter() - start):.1f}")


def timed(cmd, cwd):
    """(seconds, stdout) of a command run with one thread."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=dict(os.environ, **ONE_THREAD), capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed with exit code {proc.returncode}:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start, proc.stdout


def run_peer(name, cleanrl, budget, seed=1):
    """(training steps/s by the program's own counter, steps/s of the whole process, command)."""
    with tempfile.TemporaryDirectory() as workdir:
        if name == "ppo_clip.py":
            cmd = [sys.executable, os.path.join(REPO, "algos", "ppo_clip.py"), "--env-id", PEER_ENV,
                   "--seed", str(seed), "--total-timesteps", str(budget), *PAPER_PPO_CLIP]  # fmt: skip
            seconds, _ = timed(cmd, workdir)
            sps = read_scalars(glob.glob(os.path.join(workdir, "runs", "*"))[0], "charts/SPS")[-1][1]
        elif name == "Stable-Baselines3 PPO":
            cmd = [sys.executable, os.path.abspath(__file__), "--sb3-child", "--seed", str(seed), "--budget", str(budget)]
            seconds, out = timed(cmd, workdir)
            sps = float(out.split("SPS ")[-1])
        else:
            with open(cleanrl) as f:
                source = f.read()
            for old, new in CLEANRL_PATCHES:
                if old not in source:
                    raise SystemExit(f"error: {cleanrl} lacks the line this benchmark patches for gymnasium 1.x ({old!r}): "
                                     "use CleanRL's cleanrl/ppo_continuous_action.py (tested at commit fe8d8a0)")
                source = source.replace(old, new)
            patched = os.path.join(workdir, "cleanrl_ppo_continuous_action.py")
            with open(patched, "w") as f:
                f.write(source)
            cmd = [sys.executable, patched, "--env-id", PEER_ENV, "--seed", str(seed), "--total-timesteps", str(budget), "--no-cuda"]
            seconds, _ = timed(cmd, workdir)
            sps = read_scalars(glob.glob(os.path.join(workdir, "runs", "*"))[0], "charts/SPS")[-1][1]
    # the command as a reader types it from the repository root (CleanRL: the patched copy)
    shown = {"ppo_clip.py": "algos/ppo_clip.py", "Stable-Baselines3 PPO": "benchmark/speed.py"}
    return float(sps), budget / seconds, shlex.join(["python", shown.get(name, "<patched copy of --cleanrl>"), *cmd[2:]])


def peers(args):
    """ppo_clip.py, Stable-Baselines3 PPO and CleanRL's PPO side by side (see the module doc)."""
    names = ["ppo_clip.py"]
    try:
        import stable_baselines3

        names.append("Stable-Baselines3 PPO")
        sb3_version = stable_baselines3.__version__
    except ImportError:
        sb3_version = None
        print("Stable-Baselines3 is not installed (pip install -r benchmark/requirements-peers.txt): skipped")
    if args.cleanrl:
        if not os.path.exists(args.cleanrl):
            raise SystemExit(f"error: --cleanrl {args.cleanrl}: no such file (CleanRL's cleanrl/ppo_continuous_action.py)")
        names.append("CleanRL ppo_continuous_action.py")
    else:
        print("CleanRL: pass --cleanrl PATH/TO/ppo_continuous_action.py to include it: skipped")
    raws, train, whole, commands = [], {n: [] for n in names}, {n: [] for n in names}, {}
    for r in range(args.repeats):  # interleaved, so that every program sees the same machine
        raws.append(raw_env_sps(PEER_ENV, 1, 20000))
        for name in names:
            sps, process_sps, commands[name] = run_peer(name, args.cleanrl, args.peer_budget)
            train[name].append(sps)
            whole[name].append(process_sps)
            print(f"repeat {r + 1}: {name:>34s}  training {sps:7.0f} steps/s  whole process {process_sps:7.0f} steps/s", flush=True)
    raw = float(np.median(raws))
    ours = float(np.median(train["ppo_clip.py"]))
    rows = []
    for name in names:
        sps = float(np.median(train[name]))
        rows.append({"program": name, "training_sps": round(sps), "whole_process_sps": round(float(np.median(whole[name]))),
                     "ppo_clip_over_it": round(ours / sps, 2), "over_raw_env": round(sps / raw, 3),
                     "runs": " ".join(str(round(x)) for x in train[name])})  # fmt: skip
    table = ["| program | training steps/s | whole process steps/s | ppo_clip.py / it | / raw env rate | the runs |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    table += [f"| {r['program']} | {r['training_sps']} | {r['whole_process_sps']} | {r['ppo_clip_over_it']:.2f}x | "
              f"{r['over_raw_env']:.3f} | {r['runs']} |" for r in rows]  # fmt: skip
    print("\n".join(table) + f"\nraw {PEER_ENV} rate (one environment, random actions): {raw:.0f} steps/s")
    if args.no_write:
        return
    results = os.path.join(REPO, "benchmark", "results")
    with open(os.path.join(results, "speed_peers.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with open(os.path.join(results, "speed_peers.md"), "w") as f:
        f.write(f"# ppo_clip.py beside its peers, {PEER_ENV}, the PPO paper's setting\n\n")
        f.write(f"Recorded by `{shlex.join(['python', 'benchmark/speed.py', *sys.argv[1:]])}` on {time.strftime('%Y-%m-%d')}.\n\n")
        f.write(f"Machine: {machine_description()}; Stable-Baselines3 {sb3_version}.\n\n")
        if args.cleanrl:
            with open(args.cleanrl, "rb") as g:
                f.write(f"CleanRL: {os.path.basename(args.cleanrl)}, sha256 {hashlib.sha256(g.read()).hexdigest()}.\n\n")
        f.write(f"{args.peer_budget} steps per run, one torch thread each (OMP_NUM_THREADS=1), one program at a time, "
                f"the programs interleaved over {args.repeats} repeats (medians). Training steps/s: the program's own "
                "counter (ppo_clip.py's and CleanRL's charts/SPS, Stable-Baselines3's steps over the time of "
                "model.learn). Whole process: steps over the wall time of the process, start-up included. "
                f"Raw environment rate in the same run: {raw:.0f} steps/s (median of {args.repeats}).\n\n")  # fmt: skip
        f.write("\n".join(table) + "\n\nThe runs:\n\n" + "\n".join(f"    {c}" for c in commands.values()) + "\n")
    print("written to benchmark/results/speed_peers.csv and speed_peers.md")


# ---------------------------------------------------------------- profile


def profile(steps=5000, updates=640):
    """Microseconds per rollout step of ppo_clip.py, phase by phase (its own functions, called as
    its loop calls them, one environment, one thread), and per minibatch update of 64."""
    import gymnasium as gym
    import torch

    sys.path.insert(0, os.path.join(REPO, "algos"))
    import ppo_clip as m

    torch.set_num_threads(1)
    envs = gym.vector.SyncVectorEnv([m.make_env(PEER_ENV, 0, False, None)], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    obs_space, action_space = envs.single_observation_space, envs.single_action_space
    agent = m.Agent(obs_space.shape[0], action_space)
    obs_rms, return_rms, discounted = m.RunningMeanStd(obs_space.shape), m.RunningMeanStd(), np.zeros(1)
    obs, _ = envs.reset(seed=1)
    obs = m.normalize_obs(obs, obs_rms)
    weights = agent.actor_weights()
    phases = ["policy forward and sample (numpy)", "clip actions", "env.step", "reward scaling",
              "observation statistics", "the rest of the loop body"]  # fmt: skip
    spent = dict.fromkeys(phases, 0.0)
    for i in range(steps + 500):  # 500 to warm up
        t = [time.perf_counter()]
        action = agent.get_action(obs, weights)
        t.append(time.perf_counter())
        env_action = np.clip(action, action_space.low, action_space.high)
        t.append(time.perf_counter())
        obs, reward, terminations, truncations, infos = envs.step(env_action)
        t.append(time.perf_counter())
        dones = terminations | truncations
        discounted = discounted * 0.99 + reward
        return_rms.update(discounted)
        reward = m.scale_reward(reward, return_rms)
        discounted[dones] = 0.0
        t.append(time.perf_counter())
        obs_rms.update(obs)
        obs = m.normalize_obs(obs, obs_rms)
        t.append(time.perf_counter())
        truncations.any(), "final_info" in infos  # the loop's two checks, nothing to do here
        t.append(time.perf_counter())
        if i >= 500:
            for name, a, b in zip(phases, t, t[1:]):
                spent[name] += b - a
    rollout = {name: 1e6 * v / steps for name, v in spent.items()}
    # one minibatch update of 64 as the loop does it: forward, loss, backward, clip, Adam
    optimizer = torch.optim.Adam(agent.parameters(), lr=3e-4, eps=1e-5, fused=True)
    b_obs = torch.randn(2048, obs_space.shape[0])
    b_actions = torch.randn(2048, action_space.shape[0])
    b_logprobs, b_adv, b_ret, b_val = (torch.randn(2048) for _ in range(4))
    start = None
    for i in range(updates + 64):
        if i == 64:
            start = time.perf_counter()
        mb = torch.randint(0, 2048, (64,))
        newlogprob, entropy, newvalue, _ = agent.evaluate_actions(b_obs[mb], b_actions[mb])
        ratio = (newlogprob - b_logprobs[mb]).exp()
        loss = (m.clipped_surrogate_loss(ratio, m.normalize_advantages(b_adv[mb]), 0.2) - 0.0 * entropy.mean()
                + 0.5 * m.value_loss(newvalue, b_ret[mb], b_val[mb], False))  # fmt: skip
        optimizer.zero_grad()
        loss.backward()
        m.clip_grad_norm(agent.parameters(), 0.5)
        optimizer.step()
    update = 1e6 * (time.perf_counter() - start) / updates
    start = time.perf_counter()
    for _ in range(20):  # pi_old's log-probabilities and V(s) of the 2048-step batch, one pass
        with torch.inference_mode():
            agent.evaluate_actions(b_obs, b_actions)
    batch_pass = 1e6 * (time.perf_counter() - start) / 20 / 2048
    raw = 1e6 / raw_env_sps(PEER_ENV, 1, 20000)
    per_step = sum(rollout.values()) + batch_pass + update * 10 / 64  # 10 epochs x 2048 / 64 minibatches per 2048 steps
    lines = ["| where | microseconds per environment step |", "|---|---|"]
    lines += [f"| rollout: {name} | {us:.0f} |" for name, us in rollout.items()]
    lines += [f"| rollout step in all | {sum(rollout.values()):.0f} |",
              f"| after the rollout: log pi_old(a_t|s_t) and V(s_t) of the batch, one pass | {batch_pass:.0f} |",
              f"| update: 10 epochs x 32 minibatches of 64 per 2048 steps ({update:.0f} per minibatch) | {update * 10 / 64:.0f} |",
              f"| **training step in all** ({1e6 / per_step:.0f} steps/s) | **{per_step:.0f}** |",
              f"| the environment alone (the same vector environment, random actions, no agent) | {raw:.0f} |"]  # fmt: skip
    table = "\n".join(lines)
    print(table)
    with open(os.path.join(REPO, "benchmark", "results", "speed_profile.md"), "w") as f:
        f.write(f"# Where a ppo_clip.py training step goes, {PEER_ENV}, the PPO paper's setting\n\n")
        f.write(f"Recorded by `{shlex.join(['python', 'benchmark/speed.py', *sys.argv[1:]])}` on {time.strftime('%Y-%m-%d')}.\n\n")
        f.write(f"Machine: {machine_description()}.\n\n")
        f.write(f"Rollout: {steps} steps of ppo_clip.py's own functions called as its loop calls them, timed phase by "
                f"phase (one environment, one torch thread, 500 steps of warm-up first). Update: {updates} minibatch "
                "updates of 64 on random data (forward, loss, backward, gradient clipping, fused Adam).\n\n")  # fmt: skip
        f.write(table + "\n")
    print("written to benchmark/results/speed_profile.md")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scripts", nargs="+", default=SCRIPTS)
    parser.add_argument("--envs", nargs="+", default=ENVS)
    parser.add_argument("--repeats", type=int, default=3, help="measurements of each rate; the median is reported")
    parser.add_argument("--no-write", action="store_true", help="print only, do not write benchmark/results/")
    parser.add_argument("--a3c-scaling", action="store_true", help="measure only a3c.py's scaling with 1 .. --max-workers workers")
    parser.add_argument("--max-workers", type=int, default=os.cpu_count())
    parser.add_argument("--profile", action="store_true", help="only where a ppo_clip.py step's microseconds go")
    parser.add_argument("--peers", action="store_true", help="only ppo_clip.py beside Stable-Baselines3 and CleanRL")
    parser.add_argument("--cleanrl", help="with --peers: a downloaded copy of CleanRL's cleanrl/ppo_continuous_action.py")
    parser.add_argument("--peer-budget", type=int, default=PEER_BUDGET, help="with --peers: steps per run")
    parser.add_argument("--sb3-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--budget", type=int, default=PEER_BUDGET, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sb3_child:
        return sb3_child(PEER_ENV, args.budget, args.seed)
    if args.a3c_scaling:
        return a3c_scaling(args.repeats, args.max_workers)
    if args.peers:
        return peers(args)
    if args.profile:
        return profile()

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
