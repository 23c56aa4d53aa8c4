"""Machine-independent checks of each script's update: the script's train() runs in this process
for one or two updates on tests/fake_envs_ref.py's RecordingEnv, which records every observation
it emits, every action it receives and every reward and flag it returns; an independent,
deliberately naive reference written here replays that batch from the same initial parameters
(torch.manual_seed(seed), then Agent(...), as train() builds them) and must arrive at the same
parameters, observation statistics and logged losses. The references use only the Agent class of
the script (to build the network) and share no helpers with each other or with the scripts: each
one is written from its script's equations (the docstrings and the slides), in float64 loops.

What a reference replays, from the recorded tape of each environment:
- the rollout's bookkeeping: each environment seeded once (seed + i at its first reset, never
  again), which transitions enter the batch (REINFORCE's complete episodes
  and its quota, A3C's segments that end at t_max or at the episode's end), which observation
  the policy saw (normalised by the running statistics of every observation emitted so far),
  which reward (scaled by the running std of the discounted return, reset at an episode's end
  and, in REINFORCE, at each batch's start), which value bootstraps a truncation (V of the final
  observation, normalised with the statistics of that moment) and which terminations do not,
  the schedule's "both" episodes (terminated on the time limit's last step) included;
- the update: returns or GAE(gamma, lambda), advantage normalisation, the loss terms with their
  coefficients (the ones that are off by default turned on in at least one case per script),
  gradient clipping, the optimiser written out (Adam with eps 1e-5, the A3C paper's RMSProp),
  the minibatch and epoch structure (the permutations are those the script drew: a spy records
  torch.randperm), PPO-KL's beta, TRPO's conjugate gradient on the explicit Hessian of the mean
  KL and its backtracking line search.

Tolerance: the script computes in float32, the reference in float64, so they differ by float32
rounding (a relative 6e-8 per operation, a few hundred operations deep) and nothing else. The
parameters are compared by their change over the run, element by element, within RTOL = 1e-5 of
the largest change plus 2 ulp of the float32 parameter (the checkpoint stores float32). Adam's
first step lr * g / (|g| + eps) turns the rounding of a gradient element near zero into a change
of lr * 1e-8 / 1e-5 = 1e-3 lr: the Adam cases therefore clip the gradient to a tiny norm
(--max-grad-norm 1e-6), so that every element is below eps and Adam's step is smooth in g (it
also makes every loss term's scale visible in the step, which a sign-like Adam step would hide).
TRPO's critic takes unclipped Adam steps (the script has no clipping there), so its tolerance
is 1e-4 of the largest change (measured: 2e-5 at worst). Logged scalars are float32 in TensorBoard: 1e-5 relative plus
1e-6 absolute.

Action clipping (--clip-actions, on by default) is judged apart, since the tape records the clipped
action the environment received and not the sampled one: on an environment that ignores its
actions, a run with clipping and one without must end bit for bit the same, while the environment
received clip(a) in the one and a in the other.

The planted bugs that each test must catch are listed in PLANTED; `python -m
tests.test_reference_update` (or REFERENCE_PLANTED=1 pytest tests/test_reference_update.py)
applies each to a copy of its script and runs that script's cases on it."""

import contextlib
import copy
import importlib
import importlib.util
import math
import os
import signal
import sys
import tempfile

import gymnasium as gym
import numpy as np
import pytest
import torch
import tyro

import tests.fake_envs_ref  # noqa: F401  (registers the environments)
from tests.fake_envs_ref import read_records
from tests.scripts import REPO, importable, load

RTOL = 1e-5
STAT_RTOL, STAT_ATOL = 1e-5, 1e-6
ENV = "tests.fake_envs_ref:Recording-v0"
BOX = "tests.fake_envs_ref:RecordingBox-v0"
COMMON = ["--hidden-size", 8, "--save-model", "--eval-episodes", 1]


# ------------------------------------------------------------------ running a script, reading its tape

class Run:
    """One train() of a script: its args, result, checkpoint, scalars, tapes and permutations."""


def train(module, argv, cwd):
    """module.train(args) in this process, in cwd (a3c.py's worker processes start there too),
    with torch.randperm spied on; returns a Run."""
    run = Run()
    run.args = tyro.cli(module.Args, args=[str(a) for a in [*COMMON, *argv]])
    run.perms, real = [], torch.randperm

    def spy(*a, **k):
        perm = real(*a, **k)
        run.perms.append(perm.clone())
        return perm

    previous, sigterm = os.getcwd(), signal.getsignal(signal.SIGTERM)
    torch.randperm = spy
    os.chdir(cwd)
    try:
        run.result = module.train(run.args)
    finally:
        torch.randperm = real
        os.chdir(previous)
        signal.signal(signal.SIGTERM, sigterm)
    run.run_dir = os.path.join(str(cwd), run.result["run_dir"])
    run.ckpt = torch.load(os.path.join(run.run_dir, "model.pt"), weights_only=True)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(run.run_dir, size_guidance={"scalars": 0})
    acc.Reload()
    run.scalars = {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
    records = read_records(str(cwd))
    n = getattr(run.args, "num_envs", 1)
    for i in range(n):  # each environment is seeded once, at its first reset, with seed + i
        seeds = [r["seed"] for r in records[run.args.seed + i] if r["kind"] == "reset"]
        assert seeds[0] == run.args.seed + i and all(s is None for s in seeds[1:]), (
            f"environment {i} was reset with the seeds {seeds}: later resets must continue its random stream")
    run.tapes = [tape(records[run.args.seed + i]) for i in range(n)]
    assert len({len(t) for t in run.tapes}) == 1, "the environments did not step in lockstep"
    return run


def tape(records):
    """The steps one environment took, in order: the raw observation the script had when it chose
    the action, the action, the raw reward and flags, the observation the step returned (the final
    one when the episode ended), the observation presented after it (the next reset's when the
    episode ended), and whether a reset by the script itself (not an autoreset) came just before."""
    steps, current, autoreset, fresh = [], None, False, False
    for rec in records:
        if rec["kind"] == "reset":
            current = np.array(rec["obs"], np.float64)
            if autoreset:
                steps[-1]["after"], autoreset = current, False
            else:
                fresh = True
            continue
        final = np.array(rec["obs"], np.float64)
        steps.append(dict(obs=current, action=rec["action"], reward=rec["reward"], terminated=rec["terminated"],
                          truncated=rec["truncated"], final_obs=final, after=final, new_batch=fresh))
        current, fresh, autoreset = final, False, rec["terminated"] or rec["truncated"]
    return steps


def rebuild(module, args, script):
    """The initial agent exactly as train() builds it: torch.manual_seed(seed), then Agent(...)."""
    env = gym.make(args.env_id)
    obs_dim, space = env.observation_space.shape[0], env.action_space
    torch.manual_seed(args.seed)
    if script in ("reinforce", "a2c", "a3c"):
        return module.Agent(obs_dim, space, args.hidden_size, args.shared_trunk, args.activation, args.log_std_init)
    return module.Agent(obs_dim, space, args.hidden_size, args.activation, args.log_std_init)


def assert_params(script, initial, run, reference, rtol=RTOL, keys=None):
    """The script's change of every parameter equals the reference's, element by element."""
    final, ref = run.ckpt["model"], reference.state_dict()
    keys = keys or list(initial)
    scale = max((ref[k] - initial[k].double()).abs().max().item() for k in keys)
    assert scale > 0, f"{script}: the reference did not move the parameters"
    for k in keys:
        change, ref_change = final[k].double() - initial[k].double(), ref[k] - initial[k].double()
        tol = rtol * scale + 2 * 2.0**-23 * torch.maximum(final[k].double().abs(), initial[k].double().abs())
        err = (change - ref_change).abs()
        assert (err <= tol).all(), (
            f"{script}: parameter {k} moved differently from the reference: max |difference| "
            f"{err.max().item():.3g} (tolerance {tol.max().item():.3g}, largest change {scale:.3g})")


def assert_scalars(script, run, expected, rtol=STAT_RTOL, atol=STAT_ATOL):
    """Each logged tag holds the reference's [(step, value)]."""
    for tag, values in expected.items():
        logged = run.scalars.get(tag, [])
        assert [s for s, _ in logged] == [s for s, _ in values], f"{script}: {tag} logged at steps {[s for s, _ in logged]}, expected {[s for s, _ in values]}"
        for (step, got), (_, want) in zip(logged, values):
            assert abs(got - want) <= rtol * abs(want) + atol, f"{script}: {tag} at step {step} is {got:.7g}, the reference's {want:.7g}"


def assert_obs_stats(script, run, stats):
    saved = run.ckpt["obs_rms"]
    if stats is None:
        assert saved is None, f"{script}: observation statistics saved where none are kept"
        return
    mean, var, count = stats
    assert saved is not None, f"{script}: no observation statistics saved"
    assert abs(float(saved["count"]) - count) <= 1e-6 * count, f"{script}: the statistics saw {float(saved['count'])} observations, the reference {count}"
    np.testing.assert_allclose(saved["mean"].numpy(), mean, rtol=1e-6, atol=1e-9, err_msg=f"{script}: observation mean")
    np.testing.assert_allclose(saved["var"].numpy(), var, rtol=1e-6, atol=1e-9, err_msg=f"{script}: observation variance")


def initial_state(agent):
    return {k: v.detach().clone() for k, v in agent.state_dict().items()}


# ------------------------------------------------------------------ REINFORCE

def reference_reinforce(agent, args, tapes):
    """REINFORCE from its docstring, in float64: batches of complete episodes (the quota rule),
    reward-to-go with V(final obs) after a truncation only, A = G - V, one Adam step per batch.
    Returns the statistics' final (mean, var, count), the logged scalars and the logged episodes."""
    N, gamma, c0 = len(tapes), args.gamma, 1e-4
    params = list(agent.parameters())
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    adam_t = 0
    obs_seen, returns_seen = [], []

    def stats(rows):  # mean and variance of every row so far, with the prior (mean 0, var 1, count c0)
        x = np.array(rows)
        mean = x.sum(0) / (len(x) + c0)
        return mean, (c0 * (1.0 + mean**2) + ((x - mean) ** 2).sum(0)) / (len(x) + c0)

    def seen(o):
        if not args.normalize_obs:
            return o
        mean, var = stats(obs_seen)
        return np.clip((o - mean) / np.sqrt(var + 1e-8), -10, 10)

    def value(o):
        with torch.no_grad():
            return agent.critic(torch.tensor(np.array(o))).squeeze(-1).numpy()

    scalars, episodes = {}, []
    global_step, s, total_steps = 0, 0, len(tapes[0])
    while global_step < args.total_timesteps:
        assert s < total_steps and all(t[s]["new_batch"] for t in tapes), "REINFORCE: a batch does not start with new episodes"
        lr = args.learning_rate * (1 - global_step / args.total_timesteps) if args.anneal_lr else args.learning_rate
        if args.normalize_obs:
            obs_seen.extend(t[s]["obs"] for t in tapes)
        current = [seen(t[s]["obs"]) for t in tapes]
        R = np.zeros(N)  # the discounted return of the reward scaling starts again with the batch
        # the quota: the first step at which the episodes finished so far hold batch_size steps;
        # each environment then finishes the episode it is in and stops
        ends = [[k for k in range(total_steps - s) if t[s + k]["terminated"] or t[s + k]["truncated"]] for t in tapes]
        finished, quota_step = 0, None
        for k in range(total_steps - s):
            for i in range(N):
                if k in ends[i]:
                    start = max([e for e in ends[i] if e < k], default=-1) + 1
                    finished += k - start + 1
            if finished >= args.batch_size:
                quota_step = k
                break
        assert quota_step is not None, "REINFORCE: the tape ends before the quota"
        last = [min(e for e in ends[i] if e >= quota_step) for i in range(N)]
        K = max(last) + 1
        rows = [[] for _ in range(N)]
        for k in range(K):
            global_step += sum(k <= last[i] for i in range(N))
            steps = [t[s + k] for t in tapes]
            raw = np.array([st["reward"] for st in steps])
            done = np.array([st["terminated"] or st["truncated"] for st in steps])
            reward = raw
            if args.normalize_reward:
                R = gamma * R + raw
                returns_seen.extend(R)
                reward = np.clip(raw / np.sqrt(stats(returns_seen)[1] + 1e-8), -10, 10)
                R[done] = 0.0
            if args.normalize_obs:
                obs_seen.extend(st["after"] for st in steps)
            for i, st in enumerate(steps):
                final = seen(st["final_obs"])
                rows[i].append(dict(obs=current[i], action=st["action"], reward=reward[i], raw=raw[i],
                                    terminated=st["terminated"], truncated=st["truncated"], final=final))
                if done[i] and k <= last[i]:
                    start = max([e for e in ends[i] if e < k], default=-1) + 1
                    episodes.append((global_step, sum(r["raw"] for r in rows[i][start:k + 1])))
            current = [seen(st["after"]) for st in steps]
        s += K

        # reward-to-go of every counted step, backwards; bootstrap only a truncation without termination
        batch = []
        for i in range(N):
            G = 0.0
            out = []
            for k in reversed(range(last[i] + 1)):
                r = rows[i][k]
                if r["terminated"]:
                    G = r["reward"]
                elif r["truncated"]:
                    G = r["reward"] + gamma * (value([r["final"]])[0] if args.baseline == "value" else 0.0)
                else:
                    G = r["reward"] + gamma * G
                out.append((k, G))
            batch += [(k, i, G) for k, G in out]
        batch.sort()  # the script's order: step by step, environment by environment
        obs = torch.tensor(np.array([rows[i][k]["obs"] for k, i, _ in batch]))
        G = torch.tensor([g for _, _, g in batch])
        V = agent.critic(obs).squeeze(-1)
        A = G - (V.detach() if args.baseline == "value" else (G.mean() if args.baseline == "mean" else 0.0))
        if args.norm_adv:
            A = (A - A.mean()) / (A.std() + 1e-8)
        out = agent.actor(obs)
        if agent.continuous:
            a = torch.tensor([rows[i][k]["action"] for k, i, _ in batch], dtype=torch.float64)
            ls = agent.actor_logstd
            logp = (-0.5 * ((a - out) / ls.exp()) ** 2 - ls - 0.5 * math.log(2 * math.pi)).sum(-1)
            H = (ls + 0.5 * math.log(2 * math.pi * math.e)).sum().expand(len(batch))
        else:
            a = torch.tensor([rows[i][k]["action"] for k, i, _ in batch])
            logz = torch.log(torch.exp(out).sum(-1))
            logp = out[torch.arange(len(batch)), a] - logz
            p = torch.exp(out - logz[:, None])
            H = -(p * (out - logz[:, None])).sum(-1)
        pg = -(logp * A).mean()
        vf = 0.5 * ((V - G) ** 2).mean()
        loss = pg - args.ent_coef * H.mean() + (args.vf_coef * vf if args.baseline == "value" else 0.0)
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
        norm = math.sqrt(sum((g**2).sum().item() for g in grads))
        scale = min(1.0, args.max_grad_norm / (norm + 1e-6))
        adam_t += 1
        with torch.no_grad():
            for j, (p, g) in enumerate(zip(params, grads)):
                g = g * scale
                m[j] = 0.9 * m[j] + 0.1 * g
                v[j] = 0.999 * v[j] + 0.001 * g * g
                p -= lr * (m[j] / (1 - 0.9**adam_t)) / ((v[j] / (1 - 0.999**adam_t)).sqrt() + 1e-5)
        for tag, val in [("policy_loss", pg.item()), ("value_loss", vf.item()), ("entropy", H.mean().item()),
                         ("advantage_std", A.std().item()), ("return_std", G.std().item()), ("grad_norm", norm)]:
            scalars.setdefault(f"losses/{tag}", []).append((global_step, val))
    assert s == total_steps, f"REINFORCE: the environments took {total_steps} steps, the batches need {s}"
    obs_stats = None
    if args.normalize_obs:
        mean, var = stats(obs_seen)
        obs_stats = (mean, var, len(obs_seen) + c0)
    return obs_stats, scalars, episodes


REINFORCE_CASES = {
    # two batches: the second starts new episodes and a new discounted return; shared trunk so
    # the value loss's coefficient shows in the actor's step; an entropy bonus
    "discrete": [ENV, "--num-envs", 2, "--batch-size", 12, "--total-timesteps", 24, "--normalize-obs",
                 "--shared-trunk", "--ent-coef", 0.3, "--vf-coef", 0.7, "--learning-rate", 0.1,
                 "--max-grad-norm", 1e-6],
    "box": [BOX, "--num-envs", 3, "--batch-size", 10, "--total-timesteps", 10, "--no-clip-actions",
            "--norm-adv", "--ent-coef", 0.2, "--learning-rate", 0.1, "--max-grad-norm", 1e-6,
            "--log-std-init", -0.5],
}


def check_reinforce(module, case, cwd):
    run = train(module, ["--env-id", *REINFORCE_CASES[case]], cwd)
    initial = rebuild(module, run.args, "reinforce")
    start = initial_state(initial)
    reference = copy.deepcopy(initial).double()
    obs_stats, scalars, episodes = reference_reinforce(reference, run.args, run.tapes)
    logged, counted = sorted(run.result["episodic_returns"]), sorted(episodes)
    assert [s for s, _ in logged] == [s for s, _ in counted] and np.allclose([r for _, r in logged], [r for _, r in counted]), (
        f"REINFORCE: the logged episodes {logged} are not the counted ones {counted}")
    assert_obs_stats("reinforce", run, obs_stats)
    assert_scalars("reinforce", run, scalars)
    assert_params("reinforce", start, run, reference)


# ------------------------------------------------------------------ A2C

def reference_a2c(agent, args, tapes):
    """A2C from its docstring, in float64: N environments in lockstep, t_max steps each, GAE(gamma,
    lambda) with V(final obs) after a truncation and 0 after a termination, one step of the A3C
    paper's RMSProp (g <- alpha g + (1 - alpha) d^2, theta <- theta - lr d / sqrt(g + eps)) per
    update, the learning rate annealed per iteration."""
    N, T, gamma, lam, c0 = args.num_envs, args.num_steps, args.gamma, args.gae_lambda, 1e-4
    iterations = args.total_timesteps // (N * T)
    params = list(agent.parameters())
    square = [torch.zeros_like(p) for p in params]
    obs_seen, returns_seen = [], []

    def stats(rows):
        x = np.array(rows)
        mean = x.sum(0) / (len(x) + c0)
        return mean, (c0 * (1.0 + mean**2) + ((x - mean) ** 2).sum(0)) / (len(x) + c0)

    def seen(o):
        if not args.normalize_obs:
            return o
        mean, var = stats(obs_seen)
        return np.clip((o - mean) / np.sqrt(var + 1e-8), -10, 10)

    def V(rows):
        return agent.critic(torch.tensor(np.array(rows))).squeeze(-1)

    if args.normalize_obs:
        obs_seen.extend(t[0]["obs"] for t in tapes)
    current = [seen(t[0]["obs"]) for t in tapes]
    R = np.zeros(N)
    scalars = {}
    assert len(tapes[0]) == iterations * T, f"A2C: the environments took {len(tapes[0])} steps, not {iterations * T}"
    for it in range(1, iterations + 1):
        rows = []  # rows[k][i]
        for k in range(T):
            steps = [t[(it - 1) * T + k] for t in tapes]
            raw = np.array([st["reward"] for st in steps])
            done = np.array([st["terminated"] or st["truncated"] for st in steps])
            reward = raw
            if args.normalize_reward:
                R = gamma * R + raw
                returns_seen.extend(R)
                reward = np.clip(raw / np.sqrt(stats(returns_seen)[1] + 1e-8), -10, 10)
                R[done] = 0.0
            if args.normalize_obs:
                obs_seen.extend(st["after"] for st in steps)
            rows.append([dict(obs=current[i], action=st["action"], reward=reward[i], terminated=st["terminated"],
                              truncated=st["truncated"], final=seen(st["final_obs"])) for i, st in enumerate(steps)])
            current = [seen(st["after"]) for st in steps]
        flat = [rows[k][i] for k in range(T) for i in range(N)]
        obs = torch.tensor(np.array([r["obs"] for r in flat]))
        values = V([r["obs"] for r in flat])
        v_old = values.detach().numpy().reshape(T, N)
        with torch.no_grad():
            v_last = V(current).numpy()
        adv = np.zeros((T, N))
        for i in range(N):
            running = 0.0
            for k in reversed(range(T)):
                r = rows[k][i]
                if r["terminated"]:
                    v_next = 0.0
                elif r["truncated"]:
                    with torch.no_grad():
                        v_next = V([r["final"]]).item()
                else:
                    v_next = v_old[k + 1, i] if k + 1 < T else v_last[i]
                delta = r["reward"] + gamma * v_next - v_old[k, i]
                running = delta + (0.0 if (r["terminated"] or r["truncated"]) else gamma * lam * running)
                adv[k, i] = running
        targets = torch.tensor((adv + v_old).reshape(-1))
        A = torch.tensor(adv.reshape(-1))
        if args.norm_adv:
            A = (A - A.mean()) / (A.std() + 1e-8)
        out = agent.actor(obs)
        if agent.continuous:
            a = torch.tensor([r["action"] for r in flat], dtype=torch.float64)
            ls = agent.actor_logstd
            logp = (-0.5 * ((a - out) / ls.exp()) ** 2 - ls - 0.5 * math.log(2 * math.pi)).sum(-1)
            H = (ls + 0.5 * math.log(2 * math.pi * math.e)).sum().expand(len(flat))
        else:
            a = torch.tensor([r["action"] for r in flat])
            logz = torch.log(torch.exp(out).sum(-1))
            logp = out[torch.arange(len(flat)), a] - logz
            H = -(torch.exp(out - logz[:, None]) * (out - logz[:, None])).sum(-1)
        pg = -(logp * A).mean()
        vf = 0.5 * ((values - targets) ** 2).mean()
        loss = pg - args.ent_coef * H.mean() + args.vf_coef * vf
        lr = args.learning_rate * (1 - (it - 1) / iterations) if args.anneal_lr else args.learning_rate
        grads = torch.autograd.grad(loss, params)
        norm = math.sqrt(sum((g**2).sum().item() for g in grads))
        scale = min(1.0, args.max_grad_norm / (norm + 1e-6))
        with torch.no_grad():
            for j, (p, g) in enumerate(zip(params, grads)):
                g = g * scale
                square[j] = args.rmsprop_alpha * square[j] + (1 - args.rmsprop_alpha) * g * g
                p -= lr * g / (square[j] + args.rmsprop_eps).sqrt()
        ret = targets.numpy()
        ev = 1 - np.var(ret - v_old.reshape(-1)) / np.var(ret)
        for tag, val in [("policy_loss", pg.item()), ("value_loss", vf.item()), ("entropy", H.mean().item()),
                         ("explained_variance", ev)]:
            scalars.setdefault(f"losses/{tag}", []).append((it * N * T, val))
    obs_stats = None
    if args.normalize_obs:
        mean, var = stats(obs_seen)
        obs_stats = (mean, var, len(obs_seen) + c0)
    return obs_stats, scalars


A2C_CASES = {
    # two iterations: RMSProp's g and the statistics carry over, the learning rate anneals
    "discrete": [ENV, "--num-envs", 2, "--num-steps", 5, "--total-timesteps", 20, "--shared-trunk",
                 "--gae-lambda", 0.9, "--ent-coef", 0.3, "--vf-coef", 0.7, "--learning-rate", 0.01],
    "box": [BOX, "--num-envs", 3, "--num-steps", 4, "--total-timesteps", 12, "--no-clip-actions",
            "--norm-adv", "--gamma", 0.9, "--ent-coef", 0.2, "--learning-rate", 0.01, "--log-std-init", -0.5],
}


def check_a2c(module, case, cwd):
    run = train(module, ["--env-id", *A2C_CASES[case]], cwd)
    initial = rebuild(module, run.args, "a2c")
    start = initial_state(initial)
    reference = copy.deepcopy(initial).double()
    obs_stats, scalars = reference_a2c(reference, run.args, run.tapes)
    assert_obs_stats("a2c", run, obs_stats)
    assert_scalars("a2c", run, scalars)
    assert_params("a2c", start, run, reference)


# ------------------------------------------------------------------ A3C (one worker: no race)

def reference_a3c(agent, args, tape_):
    """Algorithm S3 for one worker, in float64: segments of up to t_max steps that also end with
    the episode, R bootstrapped from V(s) after the segment (V(final obs) after a truncation, 0
    after a termination), GAE(gamma, lambda) over the segment, the shared RMSProp written out, the
    learning rate annealed by the global step T at the segment's end."""
    gamma, lam, c0, total = args.gamma, args.gae_lambda, 1e-4, args.total_timesteps
    params = list(agent.parameters())
    square = [torch.zeros_like(p) for p in params]
    obs_seen, returns_seen = [], []

    def stats(rows):
        x = np.array(rows)
        mean = x.sum(0) / (len(x) + c0)
        return mean, (c0 * (1.0 + mean**2) + ((x - mean) ** 2).sum(0)) / (len(x) + c0)

    def seen(o):
        if not args.normalize_obs:
            return o
        mean, var = stats(obs_seen)
        return np.clip((o - mean) / np.sqrt(var + 1e-8), -10, 10)

    def V(rows):
        return agent.critic(torch.tensor(np.array(rows))).squeeze(-1)

    if args.normalize_obs:
        obs_seen.append(tape_[0]["obs"])
    current = seen(tape_[0]["obs"])
    R, T_global, s, scalars = 0.0, 0, 0, {}
    while T_global < total:
        seg = []
        while len(seg) < args.num_steps and T_global < total:
            T_global += 1
            st = tape_[s]
            s += 1
            reward = st["reward"]
            if args.normalize_reward:
                R = gamma * R + st["reward"]
                returns_seen.append(R)
                reward = float(np.clip(st["reward"] / np.sqrt(stats(returns_seen)[1] + 1e-8), -10, 10))
                R = 0.0 if (st["terminated"] or st["truncated"]) else R
            if args.normalize_obs:
                obs_seen.append(st["after"])
            seg.append(dict(obs=current, action=st["action"], reward=reward, terminated=st["terminated"],
                            truncated=st["truncated"], final=seen(st["final_obs"])))
            current = seen(st["after"])
            if st["terminated"] or st["truncated"]:
                break
        t = len(seg)
        values = V([r["obs"] for r in seg])
        v_old = values.detach().numpy()
        adv, running = np.zeros(t), 0.0
        for k in reversed(range(t)):
            r = seg[k]
            with torch.no_grad():
                if r["terminated"]:
                    v_next = 0.0
                elif r["truncated"]:
                    v_next = V([r["final"]]).item()
                else:
                    v_next = v_old[k + 1] if k + 1 < t else V([current]).item()
            running = r["reward"] + gamma * v_next - v_old[k] + (0.0 if (r["terminated"] or r["truncated"]) else gamma * lam * running)
            adv[k] = running
        targets = torch.tensor(adv + v_old)
        A = torch.tensor(adv)
        if args.norm_adv and t > 1:
            A = (A - A.mean()) / (A.std() + 1e-8)
        obs = torch.tensor(np.array([r["obs"] for r in seg]))
        out = agent.actor(obs)
        if agent.continuous:
            a = torch.tensor([r["action"] for r in seg], dtype=torch.float64)
            ls = agent.actor_logstd
            logp = (-0.5 * ((a - out) / ls.exp()) ** 2 - ls - 0.5 * math.log(2 * math.pi)).sum(-1)
            H = (ls + 0.5 * math.log(2 * math.pi * math.e)).sum().expand(t)
        else:
            a = torch.tensor([r["action"] for r in seg])
            logz = torch.log(torch.exp(out).sum(-1))
            logp = out[torch.arange(t), a] - logz
            H = -(torch.exp(out - logz[:, None]) * (out - logz[:, None])).sum(-1)
        pg = -(logp * A).mean()
        vf = 0.5 * ((values - targets) ** 2).mean()
        loss = pg - args.ent_coef * H.mean() + args.vf_coef * vf
        lr = args.learning_rate * (1 - (T_global - 1) / total) if args.anneal_lr else args.learning_rate
        grads = torch.autograd.grad(loss, params)
        norm = math.sqrt(sum((g**2).sum().item() for g in grads))
        scale = min(1.0, args.max_grad_norm / (norm + 1e-6))
        with torch.no_grad():
            for j, (p, g) in enumerate(zip(params, grads)):
                g = g * scale
                square[j] = args.rmsprop_alpha * square[j] + (1 - args.rmsprop_alpha) * g * g
                p -= lr * g / (square[j] + args.rmsprop_eps).sqrt()
        ret = targets.numpy()
        ev = 0.0 if np.var(ret) == 0 else 1 - np.var(ret - v_old) / np.var(ret)
        for tag, val in [("policy_loss", pg.item()), ("value_loss", vf.item()), ("entropy", H.mean().item()),
                         ("explained_variance", ev)]:
            scalars.setdefault(f"losses/{tag}", []).append((T_global, val))
    assert s == len(tape_), f"A3C: the environment took {len(tape_)} steps, the segments need {s}"
    obs_stats = None
    if args.normalize_obs:
        mean, var = stats(obs_seen)
        obs_stats = (mean, var, len(obs_seen) + c0)
    return obs_stats, scalars


A3C_CASES = {
    # segments cut by t_max = 4 and by episodes of 1 to 5 steps (all three kinds of end); the last
    # one cut by the budget
    "discrete": [ENV, "--num-workers", 1, "--num-steps", 4, "--total-timesteps", 19, "--log-every", 1,
                 "--shared-trunk", "--gae-lambda", 0.9, "--norm-adv", "--ent-coef", 0.3, "--vf-coef", 0.7,
                 "--learning-rate", 0.01],
    "box": [BOX, "--num-workers", 1, "--num-steps", 3, "--total-timesteps", 12, "--log-every", 1,
            "--no-clip-actions", "--gamma", 0.9, "--ent-coef", 0.2, "--learning-rate", 0.01, "--log-std-init", -0.5],
}


def check_a3c(module, case, cwd):
    run = train(module, ["--env-id", *A3C_CASES[case]], cwd)
    initial = rebuild(module, run.args, "a3c")
    start = initial_state(initial)
    reference = copy.deepcopy(initial).double()
    obs_stats, scalars = reference_a3c(reference, run.args, run.tapes[0])
    assert_obs_stats("a3c", run, obs_stats)
    assert_scalars("a3c", run, scalars)
    assert_params("a3c", start, run, reference)



# ------------------------------------------------------------------ PPO-Clip

def reference_ppo_clip(agent, args, tapes, perms):
    """PPO-Clip from its docstring, in float64: T steps of N environments (observation and reward
    normalisation for Box actions only), GAE(gamma, lambda), then K epochs of minibatch Adam on
    -L^CLIP + c_1 L^VF - c_2 H over the permutations the script drew, the gradient clipped to
    max_grad_norm / (||g|| + 1e-6), early stop on the epoch's approximate KL."""
    N, T, gamma, lam, c0 = args.num_envs, args.num_steps, args.gamma, args.gae_lambda, 1e-4
    batch, iterations = N * T, args.total_timesteps // (N * T)
    mb_size, eps = batch // args.num_minibatches, args.clip_coef
    params = list(agent.parameters())
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    adam_t, perms = 0, list(perms)
    norm_obs = agent.continuous and args.normalize_obs
    norm_reward = agent.continuous and args.normalize_reward
    obs_seen, returns_seen = [], []

    def stats(rows):
        x = np.array(rows)
        mean = x.sum(0) / (len(x) + c0)
        return mean, (c0 * (1.0 + mean**2) + ((x - mean) ** 2).sum(0)) / (len(x) + c0)

    def seen(o):
        if not norm_obs:
            return o
        mean, var = stats(obs_seen)
        return np.clip((o - mean) / np.sqrt(var + 1e-8), -10, 10)

    def policy(obs, actions):  # log pi(a|s), H, and the distribution's parameters
        out = agent.actor(obs)
        if agent.continuous:
            ls = agent.actor_logstd
            logp = (-0.5 * ((actions - out) / ls.exp()) ** 2 - ls - 0.5 * math.log(2 * math.pi)).sum(-1)
            return logp, (ls + 0.5 * math.log(2 * math.pi * math.e)).sum().expand(len(obs)), out
        logz = torch.log(torch.exp(out).sum(-1))
        logp = out[torch.arange(len(obs)), actions] - logz
        return logp, -(torch.exp(out - logz[:, None]) * (out - logz[:, None])).sum(-1), out

    def kl(old, new):  # exact KL[pi_old || pi_theta] per state
        if agent.continuous:
            ls, ls_old = agent.actor_logstd, old_log_std
            return (ls - ls_old + (torch.exp(2 * ls_old) + (old - new) ** 2) / (2 * torch.exp(2 * ls)) - 0.5).sum(-1)
        p_old = torch.softmax(old, -1)
        return (p_old * (torch.log(p_old) - torch.log(torch.softmax(new, -1)))).sum(-1)

    if norm_obs:
        obs_seen.extend(t[0]["obs"] for t in tapes)
    current = [seen(t[0]["obs"]) for t in tapes]
    R = np.zeros(N)
    scalars = {}
    assert len(tapes[0]) == iterations * T, f"PPO: the environments took {len(tapes[0])} steps, not {iterations * T}"
    for it in range(1, iterations + 1):
        rows = []
        for k in range(T):
            steps = [t[(it - 1) * T + k] for t in tapes]
            raw = np.array([st["reward"] for st in steps])
            done = np.array([st["terminated"] or st["truncated"] for st in steps])
            reward = raw
            if norm_reward:
                R = gamma * R + raw
                returns_seen.extend(R)
                reward = np.clip(raw / np.sqrt(stats(returns_seen)[1] + 1e-8), -10, 10)
                R[done] = 0.0
            if norm_obs:
                obs_seen.extend(st["after"] for st in steps)
            rows.append([dict(obs=current[i], action=st["action"], reward=reward[i], terminated=st["terminated"],
                              truncated=st["truncated"], final=seen(st["final_obs"])) for i, st in enumerate(steps)])
            current = [seen(st["after"]) for st in steps]
        flat = [rows[k][i] for k in range(T) for i in range(N)]  # index t * N + i
        obs = torch.tensor(np.array([r["obs"] for r in flat]))
        actions = torch.tensor([r["action"] for r in flat], dtype=torch.float64 if agent.continuous else torch.long)
        with torch.no_grad():
            logp_old, _, dist_old = policy(obs, actions)
            v_old = agent.critic(obs).squeeze(-1)
            v_after = agent.critic(torch.tensor(np.array(current))).squeeze(-1).numpy()
            old_log_std = agent.actor_logstd.clone() if agent.continuous else None
        vo = v_old.numpy().reshape(T, N)
        adv = np.zeros((T, N))
        for i in range(N):
            running = 0.0
            for k in reversed(range(T)):
                r = rows[k][i]
                if r["terminated"]:
                    v_next = 0.0
                elif r["truncated"]:
                    with torch.no_grad():
                        v_next = agent.critic(torch.tensor(r["final"][None])).item()
                else:
                    v_next = vo[k + 1, i] if k + 1 < T else v_after[i]
                running = r["reward"] + gamma * v_next - vo[k, i] + (0.0 if (r["terminated"] or r["truncated"]) else gamma * lam * running)
                adv[k, i] = running
        A_all, ret_all = torch.tensor(adv.reshape(-1)), torch.tensor((adv + vo).reshape(-1))
        lr = args.learning_rate * (1 - (it - 1) / iterations) if args.anneal_lr else args.learning_rate
        totals = dict(policy_loss=0.0, value_loss=0.0, entropy=0.0, old_approx_kl=0.0, approx_kl=0.0, clipfrac=0.0)
        updates = 0
        for epoch in range(args.update_epochs):
            assert perms, "the script drew fewer permutations than the epochs need"
            perm = perms.pop(0)
            assert sorted(perm.tolist()) == list(range(batch)), "PPO: an epoch's permutation is not of the whole batch"
            epoch_kl = 0.0
            for start in range(0, batch, mb_size):
                idx = perm[start:start + mb_size]
                logp, H, _ = policy(obs[idx], actions[idx])
                V = agent.critic(obs[idx]).squeeze(-1)
                logratio = logp - logp_old[idx]
                ratio = torch.exp(logratio)
                A = A_all[idx]
                if args.norm_adv:
                    A = (A - A.mean()) / (A.std() + 1e-8)
                pg = -torch.minimum(ratio * A, torch.clamp(ratio, 1 - eps, 1 + eps) * A).mean()
                sq = (V - ret_all[idx]) ** 2
                if args.vf_clip is not None:
                    clipped = v_old[idx] + torch.clamp(V - v_old[idx], -args.vf_clip, args.vf_clip)
                    sq = torch.maximum(sq, (clipped - ret_all[idx]) ** 2)
                vf = 0.5 * sq.mean()
                loss = pg - args.ent_coef * H.mean() + args.vf_coef * vf
                grads = torch.autograd.grad(loss, params, allow_unused=True)
                grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
                norm = math.sqrt(sum((g**2).sum().item() for g in grads))
                scale = min(1.0, args.max_grad_norm / (norm + 1e-6))
                adam_t += 1
                with torch.no_grad():
                    for j, (p, g) in enumerate(zip(params, grads)):
                        g = g * scale
                        m[j] = 0.9 * m[j] + 0.1 * g
                        v[j] = 0.999 * v[j] + 0.001 * g * g
                        p -= lr * (m[j] / (1 - 0.9**adam_t)) / ((v[j] / (1 - 0.999**adam_t)).sqrt() + 1e-5)
                k3 = ((ratio - 1) - logratio).mean().item()
                totals["policy_loss"] += pg.item()
                totals["value_loss"] += vf.item()
                totals["entropy"] += H.mean().item()
                totals["old_approx_kl"] += (-logratio).mean().item()
                totals["approx_kl"] += k3
                totals["clipfrac"] += ((ratio - 1).abs() > eps).double().mean().item()
                epoch_kl += k3 / args.num_minibatches
                updates += 1
            if args.target_kl is not None and epoch_kl > args.target_kl:
                break
        with torch.no_grad():
            d = kl(dist_old, agent.actor(obs)).mean().item()
        ret = ret_all.numpy()
        ev = 1 - np.var(ret - vo.reshape(-1)) / np.var(ret)
        for tag, val in [*[(k, x / updates) for k, x in totals.items()], ("kl", d), ("explained_variance", ev)]:
            scalars.setdefault(f"losses/{tag}", []).append((it * batch, val))
    assert not perms, f"PPO: the script drew {len(perms)} permutations more than the epochs need"
    obs_stats = None
    if norm_obs:
        mean, var = stats(obs_seen)
        obs_stats = (mean, var, len(obs_seen) + c0)
    return obs_stats, scalars


PPO_CLIP_CASES = {
    # two iterations of 3 epochs of 4 minibatches: the ratio leaves [1 - eps, 1 + eps], the value
    # loss is clipped, the entropy bonus is on
    "discrete": [ENV, "--num-envs", 2, "--num-steps", 8, "--total-timesteps", 32, "--num-minibatches", 4,
                 "--update-epochs", 3, "--clip-coef", 0.05, "--vf-clip", 0.02, "--ent-coef", 0.3, "--vf-coef", 0.7,
                 "--learning-rate", 0.2, "--max-grad-norm", 1e-6],
    # Box: observation and reward normalisation on; early stop on the epochs' approximate KL
    "box": [BOX, "--num-envs", 2, "--num-steps", 6, "--total-timesteps", 24, "--num-minibatches", 3,
            "--update-epochs", 4, "--gae-lambda", 0.8, "--no-clip-actions", "--no-norm-adv", "--ent-coef", 0.2,
            "--target-kl", 1e-4, "--learning-rate", 0.2, "--max-grad-norm", 1e-6, "--log-std-init", -0.5],
}


def check_ppo_clip(module, case, cwd):
    run = train(module, ["--env-id", *PPO_CLIP_CASES[case]], cwd)
    initial = rebuild(module, run.args, "ppo_clip")
    start = initial_state(initial)
    reference = copy.deepcopy(initial).double()
    obs_stats, scalars = reference_ppo_clip(reference, run.args, run.tapes, run.perms)
    assert_obs_stats("ppo_clip", run, obs_stats)
    assert_scalars("ppo_clip", run, scalars)
    assert_params("ppo_clip", start, run, reference)


# ------------------------------------------------------------------ PPO-KL

def reference_ppo_kl(agent, args, tapes, perms):
    """PPO-KL from its docstring, in float64: as PPO-Clip's reference with -L^KLPEN = -E[r A - beta
    KL[pi_old, pi_theta]] (the exact KL at each state), and beta doubled when the batch's mean KL
    after the epochs is >= 1.5 d_targ, halved when it is <= d_targ / 1.5."""
    N, T, gamma, lam, c0 = args.num_envs, args.num_steps, args.gamma, args.gae_lambda, 1e-4
    batch, iterations = N * T, args.total_timesteps // (N * T)
    mb_size, beta = batch // args.num_minibatches, args.init_beta
    params = list(agent.parameters())
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    adam_t, perms = 0, list(perms)
    norm_obs = agent.continuous and args.normalize_obs
    norm_reward = agent.continuous and args.normalize_reward
    obs_seen, returns_seen = [], []

    def stats(rows):
        x = np.array(rows)
        mean = x.sum(0) / (len(x) + c0)
        return mean, (c0 * (1.0 + mean**2) + ((x - mean) ** 2).sum(0)) / (len(x) + c0)

    def seen(o):
        if not norm_obs:
            return o
        mean, var = stats(obs_seen)
        return np.clip((o - mean) / np.sqrt(var + 1e-8), -10, 10)

    def policy(obs, actions):  # log pi(a|s), H, and the distribution's parameters
        out = agent.actor(obs)
        if agent.continuous:
            ls = agent.actor_logstd
            logp = (-0.5 * ((actions - out) / ls.exp()) ** 2 - ls - 0.5 * math.log(2 * math.pi)).sum(-1)
            return logp, (ls + 0.5 * math.log(2 * math.pi * math.e)).sum().expand(len(obs)), out
        logz = torch.log(torch.exp(out).sum(-1))
        logp = out[torch.arange(len(obs)), actions] - logz
        return logp, -(torch.exp(out - logz[:, None]) * (out - logz[:, None])).sum(-1), out

    def kl(old, new):  # exact KL[pi_old || pi_theta] per state
        if agent.continuous:
            ls, ls_old = agent.actor_logstd, old_log_std
            return (ls - ls_old + (torch.exp(2 * ls_old) + (old - new) ** 2) / (2 * torch.exp(2 * ls)) - 0.5).sum(-1)
        p_old = torch.softmax(old, -1)
        return (p_old * (torch.log(p_old) - torch.log(torch.softmax(new, -1)))).sum(-1)

    if norm_obs:
        obs_seen.extend(t[0]["obs"] for t in tapes)
    current = [seen(t[0]["obs"]) for t in tapes]
    R = np.zeros(N)
    scalars = {}
    assert len(tapes[0]) == iterations * T, f"PPO-KL: the environments took {len(tapes[0])} steps, not {iterations * T}"
    for it in range(1, iterations + 1):
        rows = []
        for k in range(T):
            steps = [t[(it - 1) * T + k] for t in tapes]
            raw = np.array([st["reward"] for st in steps])
            done = np.array([st["terminated"] or st["truncated"] for st in steps])
            reward = raw
            if norm_reward:
                R = gamma * R + raw
                returns_seen.extend(R)
                reward = np.clip(raw / np.sqrt(stats(returns_seen)[1] + 1e-8), -10, 10)
                R[done] = 0.0
            if norm_obs:
                obs_seen.extend(st["after"] for st in steps)
            rows.append([dict(obs=current[i], action=st["action"], reward=reward[i], terminated=st["terminated"],
                              truncated=st["truncated"], final=seen(st["final_obs"])) for i, st in enumerate(steps)])
            current = [seen(st["after"]) for st in steps]
        flat = [rows[k][i] for k in range(T) for i in range(N)]  # index t * N + i
        obs = torch.tensor(np.array([r["obs"] for r in flat]))
        actions = torch.tensor([r["action"] for r in flat], dtype=torch.float64 if agent.continuous else torch.long)
        with torch.no_grad():
            logp_old, _, dist_old = policy(obs, actions)
            v_old = agent.critic(obs).squeeze(-1)
            v_after = agent.critic(torch.tensor(np.array(current))).squeeze(-1).numpy()
            old_log_std = agent.actor_logstd.clone() if agent.continuous else None
        vo = v_old.numpy().reshape(T, N)
        adv = np.zeros((T, N))
        for i in range(N):
            running = 0.0
            for k in reversed(range(T)):
                r = rows[k][i]
                if r["terminated"]:
                    v_next = 0.0
                elif r["truncated"]:
                    with torch.no_grad():
                        v_next = agent.critic(torch.tensor(r["final"][None])).item()
                else:
                    v_next = vo[k + 1, i] if k + 1 < T else v_after[i]
                running = r["reward"] + gamma * v_next - vo[k, i] + (0.0 if (r["terminated"] or r["truncated"]) else gamma * lam * running)
                adv[k, i] = running
        A_all, ret_all = torch.tensor(adv.reshape(-1)), torch.tensor((adv + vo).reshape(-1))
        lr = args.learning_rate * (1 - (it - 1) / iterations) if args.anneal_lr else args.learning_rate
        totals = dict(policy_loss=0.0, value_loss=0.0, entropy=0.0, old_approx_kl=0.0, approx_kl=0.0)
        updates = 0
        for epoch in range(args.update_epochs):
            assert perms, "the script drew fewer permutations than the epochs need"
            perm = perms.pop(0)
            assert sorted(perm.tolist()) == list(range(batch)), "PPO-KL: an epoch's permutation is not of the whole batch"
            epoch_kl = 0.0
            for start in range(0, batch, mb_size):
                idx = perm[start:start + mb_size]
                logp, H, out = policy(obs[idx], actions[idx])
                V = agent.critic(obs[idx]).squeeze(-1)
                logratio = logp - logp_old[idx]
                ratio = torch.exp(logratio)
                A = A_all[idx]
                if args.norm_adv:
                    A = (A - A.mean()) / (A.std() + 1e-8)
                pg = -(ratio * A - beta * kl(dist_old[idx], out)).mean()
                sq = (V - ret_all[idx]) ** 2
                if args.vf_clip is not None:
                    clipped = v_old[idx] + torch.clamp(V - v_old[idx], -args.vf_clip, args.vf_clip)
                    sq = torch.maximum(sq, (clipped - ret_all[idx]) ** 2)
                vf = 0.5 * sq.mean()
                loss = pg - args.ent_coef * H.mean() + args.vf_coef * vf
                grads = torch.autograd.grad(loss, params, allow_unused=True)
                grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
                norm = math.sqrt(sum((g**2).sum().item() for g in grads))
                scale = min(1.0, args.max_grad_norm / (norm + 1e-6))
                adam_t += 1
                with torch.no_grad():
                    for j, (p, g) in enumerate(zip(params, grads)):
                        g = g * scale
                        m[j] = 0.9 * m[j] + 0.1 * g
                        v[j] = 0.999 * v[j] + 0.001 * g * g
                        p -= lr * (m[j] / (1 - 0.9**adam_t)) / ((v[j] / (1 - 0.999**adam_t)).sqrt() + 1e-5)
                k3 = ((ratio - 1) - logratio).mean().item()
                totals["policy_loss"] += pg.item()
                totals["value_loss"] += vf.item()
                totals["entropy"] += H.mean().item()
                totals["old_approx_kl"] += (-logratio).mean().item()
                totals["approx_kl"] += k3
                epoch_kl += k3 / args.num_minibatches
                updates += 1
            if args.target_kl is not None and epoch_kl > args.target_kl:
                break
        with torch.no_grad():
            d = kl(dist_old, agent.actor(obs)).mean().item()
        ret = ret_all.numpy()
        ev = 1 - np.var(ret - vo.reshape(-1)) / np.var(ret)
        for tag, val in [*[(k, x / updates) for k, x in totals.items()], ("kl", d), ("explained_variance", ev), ("beta", beta)]:
            scalars.setdefault(f"losses/{tag}", []).append((it * batch, val))
        if args.adaptive:
            beta = 2 * beta if d >= 1.5 * args.kl_target else (beta / 2 if d <= args.kl_target / 1.5 else beta)
    assert not perms, f"PPO-KL: the script drew {len(perms)} permutations more than the epochs need"
    obs_stats = None
    if norm_obs:
        mean, var = stats(obs_seen)
        obs_stats = (mean, var, len(obs_seen) + c0)
    return obs_stats, scalars


PPO_KL_CASES = {
    # two iterations: beta adapts after the first (the KL is far from d_targ), and the second's
    # loss uses the new beta; the entropy bonus and the clipped value loss on
    "discrete": [ENV, "--num-envs", 2, "--num-steps", 8, "--total-timesteps", 32, "--num-minibatches", 4,
                 "--update-epochs", 3, "--init-beta", 3.0, "--kl-target", 0.001, "--vf-clip", 0.02, "--ent-coef", 0.3,
                 "--vf-coef", 0.7, "--learning-rate", 0.2, "--max-grad-norm", 1e-6],
    "box": [BOX, "--num-envs", 2, "--num-steps", 6, "--total-timesteps", 24, "--num-minibatches", 3,
            "--update-epochs", 2, "--gae-lambda", 0.8, "--no-clip-actions", "--ent-coef", 0.2, "--init-beta", 0.5,
            "--kl-target", 1.0, "--learning-rate", 0.2, "--max-grad-norm", 1e-6, "--log-std-init", -0.5],
}


def check_ppo_kl(module, case, cwd):
    run = train(module, ["--env-id", *PPO_KL_CASES[case]], cwd)
    initial = rebuild(module, run.args, "ppo_kl")
    start = initial_state(initial)
    reference = copy.deepcopy(initial).double()
    obs_stats, scalars = reference_ppo_kl(reference, run.args, run.tapes, run.perms)
    assert_obs_stats("ppo_kl", run, obs_stats)
    assert_scalars("ppo_kl", run, scalars)
    assert_params("ppo_kl", start, run, reference)


# ------------------------------------------------------------------ TRPO

def reference_trpo(agent, args, tapes, perms):
    """TRPO from its docstring, in float64: T steps of N environments (normalisation for Box
    actions only), GAE(gamma, lambda), advantages normalised over the batch; g the gradient of
    the surrogate L(theta) = E[pi_theta / pi_old A]; x from conjugate gradient in loops on the
    explicit matrix H + damping I, H the Hessian of the mean KL[pi_old, pi_theta] (built column by
    column, so every Fisher-vector product is exact); the step sqrt(2 delta / x^T (H + damping I) x)
    x, shrunk by backtrack_coef until the mean KL <= delta and L improves (else theta_old); then
    the value function's minibatch Adam epochs (no clipping) over the script's permutations."""
    N, T, gamma, lam, c0 = args.num_envs, args.num_steps, args.gamma, args.gae_lambda, 1e-4
    batch, iterations = N * T, args.total_timesteps // (N * T)
    mb_size = batch // args.vf_minibatches
    critic = list(agent.critic.parameters())
    m = [torch.zeros_like(p) for p in critic]
    v = [torch.zeros_like(p) for p in critic]
    adam_t, perms = 0, list(perms)
    norm_obs = agent.continuous and args.normalize_obs
    norm_reward = agent.continuous and args.normalize_reward
    obs_seen, returns_seen = [], []
    names = [n for n, _ in agent.actor.named_parameters()]
    shapes = [p.shape for _, p in agent.actor.named_parameters()]

    def stats(rows):
        x = np.array(rows)
        mean = x.sum(0) / (len(x) + c0)
        return mean, (c0 * (1.0 + mean**2) + ((x - mean) ** 2).sum(0)) / (len(x) + c0)

    def seen(o):
        if not norm_obs:
            return o
        mean, var = stats(obs_seen)
        return np.clip((o - mean) / np.sqrt(var + 1e-8), -10, 10)

    def unflatten(theta):  # the actor's weights and the log-std from one flat vector
        out, i = {}, 0
        for n, shape in zip(names, shapes):
            out[n] = theta[i:i + shape.numel()].reshape(shape)
            i += shape.numel()
        return out, (theta[i:] if agent.continuous else None)

    def flat_policy():
        parts = [p.detach().reshape(-1) for p in agent.actor.parameters()]
        return torch.cat(parts + ([agent.actor_logstd.detach()] if agent.continuous else []))

    def log_prob_and_kl(theta, obs, actions, dist_old, log_std_old):
        weights, ls = unflatten(theta)
        out = torch.func.functional_call(agent.actor, weights, (obs,))
        if agent.continuous:
            logp = (-0.5 * ((actions - out) / ls.exp()) ** 2 - ls - 0.5 * math.log(2 * math.pi)).sum(-1)
            kl = (ls - log_std_old + (torch.exp(2 * log_std_old) + (dist_old - out) ** 2) / (2 * torch.exp(2 * ls)) - 0.5).sum(-1)
            return logp, kl.mean()
        logz = torch.log(torch.exp(out).sum(-1))
        logp = out[torch.arange(len(obs)), actions] - logz
        p_old = torch.softmax(dist_old, -1)
        return logp, (p_old * (torch.log(p_old) - (out - logz[:, None]))).sum(-1).mean()

    if norm_obs:
        obs_seen.extend(t[0]["obs"] for t in tapes)
    current = [seen(t[0]["obs"]) for t in tapes]
    R = np.zeros(N)
    scalars = {}
    assert len(tapes[0]) == iterations * T, f"TRPO: the environments took {len(tapes[0])} steps, not {iterations * T}"
    for it in range(1, iterations + 1):
        rows = []
        for k in range(T):
            steps = [t[(it - 1) * T + k] for t in tapes]
            raw = np.array([st["reward"] for st in steps])
            done = np.array([st["terminated"] or st["truncated"] for st in steps])
            reward = raw
            if norm_reward:
                R = gamma * R + raw
                returns_seen.extend(R)
                reward = np.clip(raw / np.sqrt(stats(returns_seen)[1] + 1e-8), -10, 10)
                R[done] = 0.0
            if norm_obs:
                obs_seen.extend(st["after"] for st in steps)
            rows.append([dict(obs=current[i], action=st["action"], reward=reward[i], terminated=st["terminated"],
                              truncated=st["truncated"], final=seen(st["final_obs"])) for i, st in enumerate(steps)])
            current = [seen(st["after"]) for st in steps]
        flat = [rows[k][i] for k in range(T) for i in range(N)]
        obs = torch.tensor(np.array([r["obs"] for r in flat]))
        actions = torch.tensor([r["action"] for r in flat], dtype=torch.float64 if agent.continuous else torch.long)
        theta_old = flat_policy()
        with torch.no_grad():
            dist_old = agent.actor(obs)
            log_std_old = agent.actor_logstd.clone() if agent.continuous else None
            logp_old, _ = log_prob_and_kl(theta_old, obs, actions, dist_old, log_std_old)
            v_old = agent.critic(obs).squeeze(-1).numpy().reshape(T, N)
            v_after = agent.critic(torch.tensor(np.array(current))).squeeze(-1).numpy()
        adv = np.zeros((T, N))
        for i in range(N):
            running = 0.0
            for k in reversed(range(T)):
                r = rows[k][i]
                if r["terminated"]:
                    v_next = 0.0
                elif r["truncated"]:
                    with torch.no_grad():
                        v_next = agent.critic(torch.tensor(r["final"][None])).item()
                else:
                    v_next = v_old[k + 1, i] if k + 1 < T else v_after[i]
                running = r["reward"] + gamma * v_next - v_old[k, i] + (0.0 if (r["terminated"] or r["truncated"]) else gamma * lam * running)
                adv[k, i] = running
        targets = torch.tensor((adv + v_old).reshape(-1))
        A = torch.tensor(adv.reshape(-1))
        if args.norm_adv:
            A = (A - A.mean()) / (A.std() + 1e-8)

        def surrogate(theta):
            logp, _ = log_prob_and_kl(theta, obs, actions, dist_old, log_std_old)
            return (torch.exp(logp - logp_old) * A).mean()

        def mean_kl(theta):
            return log_prob_and_kl(theta, obs, actions, dist_old, log_std_old)[1]

        theta = theta_old.clone().requires_grad_(True)
        L_old = surrogate(theta)
        g = torch.autograd.grad(L_old, theta)[0]
        F = torch.autograd.functional.hessian(mean_kl, theta_old) + args.damping * torch.eye(len(theta_old))
        x, r, p = torch.zeros_like(g), g.clone(), g.clone()
        rr = float(r @ r)
        for _ in range(args.cg_iters):
            if rr < 1e-10:
                break
            Fp = F @ p
            alpha = rr / float(p @ Fp)
            x, r = x + alpha * p, r - alpha * Fp
            rr_new = float(r @ r)
            p, rr = r + (rr_new / rr) * p, rr_new
        step = math.sqrt(2 * args.max_kl / float(x @ (F @ x))) * x
        with torch.no_grad():
            L0 = surrogate(theta_old).item()
            if args.line_search:
                new, tries, improvement, accepted = theta_old, args.backtrack_iters, 0.0, False
                for j in range(args.backtrack_iters):
                    candidate = theta_old + args.backtrack_coef**j * step
                    if mean_kl(candidate).item() <= args.max_kl and surrogate(candidate).item() > L0:
                        new, tries, improvement, accepted = candidate, j + 1, surrogate(candidate).item() - L0, True
                        break
            else:
                new, tries, accepted = theta_old + step, 0, True
                improvement = surrogate(new).item() - L0
            weights, ls = unflatten(new)
            for n, p_ in agent.actor.named_parameters():
                p_.copy_(weights[n])
            if agent.continuous:
                agent.actor_logstd.copy_(ls)
        v_losses = []
        for epoch in range(args.vf_epochs):
            assert perms, "the script drew fewer permutations than the epochs need"
            perm = perms.pop(0)
            assert sorted(perm.tolist()) == list(range(batch)), "TRPO: an epoch's permutation is not of the whole batch"
            for start in range(0, batch, mb_size):
                idx = perm[start:start + mb_size]
                vf = 0.5 * ((agent.critic(obs[idx]).squeeze(-1) - targets[idx]) ** 2).mean()
                grads = torch.autograd.grad(vf, critic)
                adam_t += 1
                with torch.no_grad():
                    for j, (p_, g_) in enumerate(zip(critic, grads)):
                        m[j] = 0.9 * m[j] + 0.1 * g_
                        v[j] = 0.999 * v[j] + 0.001 * g_ * g_
                        p_ -= args.learning_rate * (m[j] / (1 - 0.9**adam_t)) / ((v[j] / (1 - 0.999**adam_t)).sqrt() + 1e-5)
                v_losses.append(vf.item())
        with torch.no_grad():  # the entropy of pi_old, the KL of the new policy
            H = (log_std_old + 0.5 * math.log(2 * math.pi * math.e)).sum().item() if agent.continuous else (
                -(torch.softmax(dist_old, -1) * torch.log_softmax(dist_old, -1)).sum(-1).mean().item())
            d = mean_kl(new).item()
        ret = targets.numpy()
        ev = 1 - np.var(ret - v_old.reshape(-1)) / np.var(ret)
        for tag, val in [("policy_loss", -L_old.item()), ("value_loss", float(np.mean(v_losses))), ("entropy", H),
                         ("surrogate_improvement", improvement), ("line_search_steps", tries),
                         ("line_search_accepted", float(accepted)), ("kl", d), ("explained_variance", ev)]:
            scalars.setdefault(f"losses/{tag}", []).append((it * batch, val))
    assert not perms, f"TRPO: the script drew {len(perms)} permutations more than the value epochs need"
    obs_stats = None
    if norm_obs:
        mean, var = stats(obs_seen)
        obs_stats = (mean, var, len(obs_seen) + c0)
    return obs_stats, scalars


TRPO_CASES = {
    # one iteration of the natural policy gradient: the full step, without line search
    "discrete": [ENV, "--num-envs", 2, "--num-steps", 8, "--total-timesteps", 16, "--vf-minibatches", 4,
                 "--vf-epochs", 3, "--max-kl", 0.05, "--damping", 0.05, "--cg-iters", 8, "--no-line-search",
                 "--learning-rate", 0.01],
    # Box, two iterations: observation and reward normalisation on; a trust region so large that
    # the first line search rejects the full step (its mean KL exceeds delta) and backtracks once
    "box": [BOX, "--num-envs", 2, "--num-steps", 6, "--total-timesteps", 24, "--vf-minibatches", 3,
            "--vf-epochs", 2, "--gae-lambda", 0.8, "--no-clip-actions", "--max-kl", 0.5,
            "--learning-rate", 0.01, "--log-std-init", -0.5],
}


def check_trpo(module, case, cwd):
    run = train(module, ["--env-id", *TRPO_CASES[case]], cwd)
    initial = rebuild(module, run.args, "trpo")
    start = initial_state(initial)
    reference = copy.deepcopy(initial).double()
    obs_stats, scalars = reference_trpo(reference, run.args, run.tapes, run.perms)
    assert_obs_stats("trpo", run, obs_stats)
    assert_scalars("trpo", run, scalars, rtol=1e-4)
    policy = [k for k in start if not k.startswith("critic.")]
    assert_params("trpo", start, run, reference, keys=policy)
    # the critic's Adam steps are not clipped: see the module docstring
    assert_params("trpo", start, run, reference, rtol=1e-4, keys=[k for k in start if k.startswith("critic.")])


# ------------------------------------------------------------------ the tests

CHECKS = {"reinforce": (check_reinforce, REINFORCE_CASES), "a2c": (check_a2c, A2C_CASES), "a3c": (check_a3c, A3C_CASES),
          "ppo_clip": (check_ppo_clip, PPO_CLIP_CASES), "ppo_kl": (check_ppo_kl, PPO_KL_CASES),
          "trpo": (check_trpo, TRPO_CASES)}


def script_module(script):
    return importable("a3c") if script == "a3c" else load(script)


@pytest.mark.parametrize("script,case", [(s, c) for s, (_, cases) in CHECKS.items() for c in cases])
def test_update_matches_naive_reference(script, case, tmp_path):
    CHECKS[script][0](script_module(script), case, tmp_path)


class ActionBlindBox(tests.fake_envs_ref.RecordingEnv):
    """RecordingBox-v0 whose observations and rewards ignore the action (it steps as if it had
    received zeros); the tape still records the action received."""

    def __init__(self):
        super().__init__(box=True)

    def step(self, action):
        self.received = np.asarray(action).tolist()
        return super().step(np.zeros(2, np.float32))

    def _write(self, record):
        super()._write(dict(record, action=self.received) if record["kind"] == "step" else record)


gym.register("ActionBlindBox-v0", entry_point=ActionBlindBox)
BLIND = "tests.test_reference_update:ActionBlindBox-v0"


def with_option(argv, flag, value):
    """argv with `flag value` set (replaced where argv has it)."""
    argv = list(argv)
    if flag in argv:
        argv[argv.index(flag) + 1] = value
        return argv
    return [*argv, flag, value]


@pytest.mark.parametrize("script", [s for s, (_, cases) in CHECKS.items() if "box" in cases])
def test_clipping_changes_what_the_environment_receives_and_nothing_else(script, tmp_path):
    # --clip-actions clips the action the environment receives to its bounds; the log-prob, the
    # stored action and the update stay those of the sampled action. On an environment that
    # ignores its actions, a run with clipping and one without see the same observations and
    # rewards and sample the same actions, so they must end with the same parameters, statistics
    # and losses, bit for bit, while the environment received clip(a) in one and a in the other.
    # Caught: storing the clipped action beside the unclipped action's log-prob (the ratio at
    # theta_old is then not 1 where clipping bit), or computing anything of the update from it.
    check_clipping(script_module(script), script, tmp_path)


def check_clipping(module, script, tmp_path):
    argv = [BLIND, *with_option(CHECKS[script][1]["box"][1:], "--log-std-init", 1.0)]  # sigma = e: most a outside [-1, 1]
    argv.remove("--no-clip-actions")
    (tmp_path / "on").mkdir()
    (tmp_path / "off").mkdir()
    on = train(module, ["--env-id", *argv, "--clip-actions"], tmp_path / "on")
    off = train(module, ["--env-id", *argv, "--no-clip-actions"], tmp_path / "off")
    received_on = np.array([[s["action"] for s in t] for t in on.tapes])
    received_off = np.array([[s["action"] for s in t] for t in off.tapes])
    assert (np.abs(received_off) > 1).mean() > 0.3, "the test needs actions that clipping changes"
    for k, v in off.ckpt["model"].items():
        assert torch.equal(on.ckpt["model"][k], v), f"{script}: clipping the environment's action changed {k}"
    stats_on, stats_off = on.ckpt["obs_rms"], off.ckpt["obs_rms"]
    assert (stats_on is None) == (stats_off is None), f"{script}: observation statistics kept in one run only"
    for k in ("mean", "var") if stats_off is not None else ():
        assert torch.equal(stats_on[k], stats_off[k]), f"{script}: observation statistics differ"
    losses = [tag for tag in off.scalars if tag.startswith("losses/")]
    assert losses and all(on.scalars[tag] == off.scalars[tag] for tag in losses), f"{script}: the losses differ"
    assert np.array_equal(received_on, np.clip(received_off, -1.0, 1.0)), f"{script}: the environment must receive clip(a, low, high)"


ZERO_LR = {"reinforce": REINFORCE_CASES["discrete"], "a2c": A2C_CASES["discrete"], "ppo_clip": PPO_CLIP_CASES["box"],
           "ppo_kl": PPO_KL_CASES["discrete"], "trpo": TRPO_CASES["discrete"]}


@pytest.mark.parametrize("script", list(ZERO_LR))
def test_rebuilt_initial_parameters_are_the_scripts(script, tmp_path):
    # The references start from torch.manual_seed(seed), then Agent(...): with a learning rate of
    # 1e-30 (the scripts refuse 0) the script's saved parameters are those, to float32's
    # resolution (TRPO: its critic; the policy step has no learning rate).
    module = script_module(script)
    run = train(module, ["--env-id", *ZERO_LR[script], "--learning-rate", 1e-30], tmp_path)
    start = initial_state(rebuild(module, run.args, script))
    keys = [k for k in start if k.startswith("critic.")] if script == "trpo" else list(start)
    for k in keys:
        assert torch.allclose(run.ckpt["model"][k], start[k], rtol=0, atol=1e-20), f"{script}: {k} is not rebuilt as train() builds it"


# ------------------------------------------------------------------ planted bugs (opt-in)

# (script, bug, text of algos/<script>.py, what the bug makes of it): each must make that
# script's reference-update cases fail. Run them with `python -m tests.test_reference_update`
# or REFERENCE_PLANTED=1 pytest tests/test_reference_update.py -k planted (0.2 to 1 s each after
# the first, several s for a3c's: not in the default run).
PLANTED = [
    ("reinforce", "wrong sign of the entropy term",
     "loss = pg_loss - args.ent_coef * entropy_loss + value_term", "loss = pg_loss + args.ent_coef * entropy_loss + value_term"),
    ("reinforce", "a step with both flags set bootstraps from V(final obs)",
     "cut = truncations & ~terminations", "cut = truncations"),
    ("reinforce", "the discounted return of the reward scaling is not reset at a batch's start",
     "        discounted_return[:] = 0.0\n", ""),
    ("a2c", "lambda misplaced in GAE (inside delta)",
     "delta = rewards[t] + gamma * next_values[t] * (1.0 - terminations[t]) - values[t]",
     "delta = rewards[t] + gamma * gae_lambda * next_values[t] * (1.0 - terminations[t]) - values[t]"),
    ("a2c", "missing (1 - terminated) mask: terminations bootstrap",
     "delta = rewards[t] + gamma * next_values[t] * (1.0 - terminations[t]) - values[t]",
     "delta = rewards[t] + gamma * next_values[t] - values[t]"),
    ("a2c", "RMSProp's eps outside the square root",
     "theta.addcdiv_(dtheta, (g + self.eps).sqrt(), value=-lr)", "theta.addcdiv_(dtheta, g.sqrt() + self.eps, value=-lr)"),
    ("a2c", "the learning rate is not annealed",
     "lr = annealed_learning_rate(args.learning_rate, iteration, num_iterations)", "lr = args.learning_rate"),
    ("a3c", "wrong sign of the entropy term",
     "loss = pg_loss - args.ent_coef * entropy_loss + args.vf_coef * v_loss",
     "loss = pg_loss + args.ent_coef * entropy_loss + args.vf_coef * v_loss"),
    ("a3c", "a segment does not end with its episode",
     "            if dones[0]:\n                break\n", ""),
    ("a3c", "advantages normalised whatever --norm-adv says",
     "if args.norm_adv and t > 1:", "if t > 1:"),
    ("trpo", "conjugate gradient one iteration short",
     "    for _ in range(iters):\n", "    for _ in range(iters - 1):\n"),
    ("trpo", "no damping in the Fisher-vector product",
     "return flat_grad(grad_kl @ v, params) + damping * v", "return flat_grad(grad_kl @ v, params)"),
    ("trpo", "the line search ignores the KL bound",
     "if kl <= max_kl and surrogate_new > surrogate_old:", "if surrogate_new > surrogate_old:"),
    ("ppo_clip", "update epochs K - 1",
     "for epoch in range(args.update_epochs):", "for epoch in range(args.update_epochs - 1):"),
    ("ppo_clip", "off-by-one minibatch slice",
     "mb = perm[start : start + minibatch_size]", "mb = perm[start : start + minibatch_size - 1]"),
    ("ppo_clip", "asymmetric clipping range",
     "clipped = torch.clamp(ratio, 1.0 - clip_coef, 1.0 + clip_coef) * advantages",
     "clipped = torch.clamp(ratio, 1.0 - clip_coef, 1.0 + 2 * clip_coef) * advantages"),
    ("ppo_clip", "value-loss coefficient halved",
     "loss = pg_loss - args.ent_coef * entropy_loss + args.vf_coef * v_loss",
     "loss = pg_loss - args.ent_coef * entropy_loss + 0.5 * args.vf_coef * v_loss"),
    ("ppo_kl", "wrong sign of the KL penalty",
     "return -(ratio * advantages - beta * kl).mean()", "return -(ratio * advantages + beta * kl).mean()"),
    ("ppo_kl", "beta adapts the wrong way (halved when the KL is large)",
     "    if d >= 1.5 * d_targ:\n        return 2.0 * beta\n", "    if d >= 1.5 * d_targ:\n        return beta / 2.0\n"),
    ("ppo_kl", "the final observation updates the normalisation statistics",
     'final_obs = prepare(np.stack(infos["final_obs"][truncations]), update=False)',
     'final_obs = prepare(np.stack(infos["final_obs"][truncations]), update=True)'),
]


@contextlib.contextmanager
def planted_module(script, old, new):
    """algos/<script>.py with `old` replaced by `new`, loaded from a temporary copy (algos/ is
    never touched); a3c.py under its own name, first on sys.path, so that its worker processes
    import the copy."""
    with open(os.path.join(REPO, "algos", f"{script}.py")) as f:
        source = f.read()
    assert source.count(old) == 1, f"{script}: the planted bug's text occurs {source.count(old)} times"
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, f"{script}.py")
        with open(path, "w") as f:
            f.write(source.replace(old, new))
        if script != "a3c":
            spec = importlib.util.spec_from_file_location(f"planted_{script}", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            yield module
            return
        saved = sys.modules.pop("a3c", None)
        sys.path.insert(0, directory)
        try:
            yield importlib.import_module("a3c")
        finally:
            sys.path.remove(directory)
            sys.modules.pop("a3c", None)
            if saved is not None:
                sys.modules["a3c"] = saved


def planted_failure(script, old, new):
    """The first failing assertion of the script's cases on the planted bug, or None."""
    check, cases = CHECKS[script]
    with planted_module(script, old, new) as module:
        for case in cases:
            with tempfile.TemporaryDirectory() as cwd:
                try:
                    check(module, case, cwd)
                except AssertionError as e:
                    return f"[{case}] {str(e).splitlines()[0]}"
    return None


if os.environ.get("REFERENCE_PLANTED"):  # opt-in, and not even collected otherwise

    @pytest.mark.parametrize("script,bug,old,new", PLANTED, ids=[f"{s}-{b}" for s, b, _, _ in PLANTED])
    def test_planted_bug_is_caught(script, bug, old, new):
        assert planted_failure(script, old, new) is not None, f"{script}: the planted bug '{bug}' passes the reference check"


if __name__ == "__main__":
    caught = 0
    for script, bug, old, new in PLANTED:
        failure = planted_failure(script, old, new)
        caught += failure is not None
        print(f"| {script} | {bug} | {failure or 'NOT CAUGHT'} |", flush=True)
    print(f"{caught} of {len(PLANTED)} planted bugs caught")
    sys.exit(0 if caught == len(PLANTED) else 1)
