"""Paths that neither the update references nor the learning curves reach: the action a saved
model takes in evaluation (the mode of the policy, inside the action bounds), and what A3C's
workers share or must not share when there are two of them (their seeds, RMSProp's g, the lock
on the observation statistics), the KL that A3C logs, and the direction of the log-ratio in
the logged approx_kl of the scripts that take one step a batch."""

import copy
import multiprocessing
import os
import queue
import threading
from unittest import mock

import gymnasium as gym
import numpy as np
import pytest
import torch

from tests.scripts import importable, load, train_in_process

SCRIPTS = ["reinforce", "a2c", "a3c", "trpo", "ppo_kl", "ppo_clip"]


# ---------------------------------------------------------------- evaluation


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_evaluation_action_is_the_mode_of_the_policy(script):
    # argmax_a pi(a|s) for Discrete (logits near uniform at initialisation, so a sampled action
    # differs from it in most of the 64 states), the Gaussian's mean for Box.
    module = load(script)
    torch.manual_seed(0)
    obs = torch.randn(64, 3)
    discrete = module.Agent(3, gym.spaces.Discrete(4))
    with torch.no_grad():
        assert torch.equal(discrete.get_deterministic_action(obs), discrete.actor(obs).argmax(-1))
    box = module.Agent(3, gym.spaces.Box(-1.0, 1.0, (2,), np.float32))
    with torch.no_grad():
        assert torch.equal(box.get_deterministic_action(obs), box.actor(obs))


class OutOfBounds(torch.nn.Module):
    """A Box policy whose mean action is 5, outside RawActionReward's [-1, 1]."""

    continuous = True

    def get_deterministic_action(self, obs):
        return torch.full((obs.shape[0], 1), 5.0)


@pytest.mark.parametrize("script", SCRIPTS)
def test_evaluation_clips_the_mean_action_to_the_bounds(script):
    # RawActionReward-v0 pays the action it is given, unclipped, for 10 steps: the clipped
    # mean 1 returns 10 an episode, the unclipped 5 would return 50.
    module = load(script)
    with mock.patch.object(module, "load_checkpoint", lambda path, env_id: (OutOfBounds(), None, {})):
        returns = module.evaluate("model.pt", "tests.fake_envs:RawActionReward-v0", 2, seed=0)
    assert returns == [10.0, 10.0]


# ---------------------------------------------------------------- A3C with two workers


class SeedRecording(gym.Env):
    """Random observations, reward 1 for action 1, 20 steps an episode; writes each reset's seed
    to a file named by the process, in the working directory (the run's: worker processes start
    in it)."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            with open(f"reset_seeds_{os.getpid()}.txt", "a") as f:
                f.write(f"{seed}\n")
        self.t = 0
        return self.np_random.uniform(-1, 1, 4).astype(np.float32), {}

    def step(self, action):
        self.t += 1
        return self.np_random.uniform(-1, 1, 4).astype(np.float32), float(action), False, self.t >= 20, {}


gym.register("SeedRecording-v0", entry_point=SeedRecording)


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    """a3c.py's train with 2 workers on SeedRecording for 400 steps: (the optimizer the main
    process built, the first seed each worker process reset its environment with)."""
    tmp_path = tmp_path_factory.mktemp("a3c")
    module = importable("a3c")
    made = []
    args = module.Args(env_id="tests.test_rare_paths:SeedRecording-v0", num_workers=2, total_timesteps=400, num_steps=5,
                       seed=7)
    with mock.patch.object(module, "run_workers", recording(module.run_workers, made)):
        train_in_process("a3c", args, tmp_path)
    firsts = sorted(int(p.read_text().split()[0]) for p in tmp_path.glob("reset_seeds_*.txt"))
    return made[0], firsts


def recording(run_workers, made):
    """run_workers, which also appends the optimizer it is given to made."""

    def run(args, writer, run_name, agent, optimizer, *rest):
        made.append(optimizer)
        return run_workers(args, writer, run_name, agent, optimizer, *rest)

    return run


def test_each_a3c_worker_seeds_its_environment_with_seed_plus_rank(two_workers):
    _, firsts = two_workers
    assert firsts == [7, 8]


def test_two_a3c_workers_step_the_one_shared_rmsprop_g(two_workers):
    # Algorithm S3: one g for all threads. The workers' steps must move the g of the optimizer
    # the main process built (a worker with its own g leaves it at zero).
    optimizer, _ = two_workers
    assert all(torch.count_nonzero(g) > 0 for g in optimizer.square_avg)


def one_worker(module, args, lock=None, logits_bias=None):
    """a3c.py's actor_learner as the one worker, in this process (patches reach it): (the
    global agent before the run, after it, and the losses each update logged)."""
    obs_space, action_space = module.check_env(args.env_id)
    torch.manual_seed(args.seed)
    agent = module.Agent(obs_space.shape[0], action_space, args.hidden_size)
    if logits_bias is not None:
        with torch.no_grad():
            agent.actor[-1].bias.copy_(torch.tensor(logits_bias))
    before = copy.deepcopy(agent)
    optimizer = module.SharedRMSprop(agent.parameters(), alpha=args.rmsprop_alpha, eps=args.rmsprop_eps)
    rms = module.RunningMeanStd(obs_space.shape)
    stats = tuple(torch.from_numpy(np.asarray(x)) for x in (rms.mean, rms.var, rms.count))
    messages, go, stop = queue.Queue(), threading.Event(), threading.Event()
    go.set()
    counter = multiprocessing.get_context("fork").Value("q", 0)
    with mock.patch.object(module, "stopped", lambda s: s.is_set()):
        module.actor_learner(0, args, messages, go, stop, "run", agent, optimizer, counter, stats, lock or threading.Lock())
    logged = [body[2] for kind, *body in iter(lambda: messages.get() if not messages.empty() else ("end",), ("end",))
              if kind == "log"]
    return before, agent, logged


def test_a3c_updates_the_shared_observation_statistics_under_the_lock():
    # The statistics of one worker in this process are a subclass whose update checks the lock:
    # a worker updating them without it would lose other workers' updates in a race.
    module = importable("a3c")
    lock, calls = threading.Lock(), []

    class Checked(module.RunningMeanStd):
        def update(self, x):
            calls.append(lock.locked())
            super().update(x)

    def checked_stats(tensors, shape):
        rms = Checked(shape)
        rms.mean, rms.var, rms.count = (t.numpy() for t in tensors)
        return rms

    args = module.Args(env_id="tests.fake_envs:AlternatingTruncatedBox-v0", num_workers=1, num_steps=5,
                       total_timesteps=20, hidden_size=8, normalize_obs=True, normalize_reward=False)
    with mock.patch.object(module, "shared_stats", checked_stats):
        one_worker(module, args, lock)
    assert len(calls) >= 20 and all(calls), calls


def test_a3c_logs_kl_old_to_new():
    # losses/kl of one update (one worker, one 5-step segment) on a Discrete task with a constant
    # observation: the exact KL[pi_old || pi_theta] between the two categoricals there, not the
    # reverse. pi_old starts far from uniform, so that the two directions differ (for a Gaussian
    # whose sigma the step leaves alone they are equal).
    module = importable("a3c")
    args = module.Args(env_id="tests.fake_envs:ConstantRewardTruncated-v0", num_workers=1, num_steps=5,
                       total_timesteps=5, hidden_size=8, log_every=1, ent_coef=1.0, learning_rate=0.5,
                       max_grad_norm=100.0, seed=1)
    before, after, logged = one_worker(module, args, logits_bias=[2.0, -2.0])
    (stats,) = logged
    obs = torch.zeros(1, 1)
    with torch.no_grad():
        p, q = (torch.distributions.Categorical(logits=a.actor(obs).double()) for a in (before, after))
    forward, reverse = torch.distributions.kl_divergence(p, q).item(), torch.distributions.kl_divergence(q, p).item()
    assert abs(forward - reverse) > 0.1 * forward, (forward, reverse)
    assert stats["kl"] == pytest.approx(forward, rel=1e-3)


# ---------------------------------------------------------------- the logged approx_kl


@pytest.mark.parametrize("script", ["reinforce", "a2c", "a3c"])
def test_the_logged_approx_kl_takes_log_new_over_old(script, tmp_path):
    # approx_kl is k3 = (r - 1) - log r with log r = log pi_theta(a|s) - log pi_old(a|s) after
    # the update, for the batch's actions. On a two-action task with a constant observation each
    # log r is log(q_a / p_a) of its action a; the reversed ratio gives -log(q_a / p_a), other
    # values whenever q_0 q_1 != p_0 p_1 (pi_old starts far from uniform to make them differ).
    module = importable("a3c") if script == "a3c" else load(script)
    env_id = "tests.fake_envs:ConstantRewardTruncated-v0"
    seen, agents = [], []
    real = module.approx_kl

    def spy(logratio):
        seen.append(logratio.detach().double().reshape(-1).clone())
        return real(logratio)

    class Biased(module.Agent):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            with torch.no_grad():
                self.actor[-1].bias.copy_(torch.tensor([1.0, -1.0]))
            agents.append((self, copy.deepcopy(self)))

    common = dict(env_id=env_id, hidden_size=8, ent_coef=1.0, learning_rate=0.5, max_grad_norm=100.0, seed=1)
    with mock.patch.object(module, "approx_kl", spy):
        if script == "a3c":
            args = module.Args(num_workers=1, num_steps=5, total_timesteps=5, log_every=1, **common)
            before, after, _ = one_worker(module, args, logits_bias=[1.0, -1.0])
        else:
            tiny = {"reinforce": dict(num_envs=2, batch_size=20, total_timesteps=20),
                    "a2c": dict(num_envs=2, num_steps=5, total_timesteps=10)}[script]
            previous = os.getcwd()
            os.chdir(tmp_path)
            try:
                with mock.patch.object(module, "Agent", Biased):
                    module.train(module.Args(**tiny, **common))
            finally:
                os.chdir(previous)
            (after, before), = agents
    (logratio,) = seen
    obs = torch.zeros(1, 1)
    with torch.no_grad():
        p, q = (torch.softmax(a.actor(obs).double(), -1)[0] for a in (before, after))
    expected = torch.log(q / p)
    assert abs(expected.sum().item()) > 1e-2, expected  # the reversed values are other values
    distance = (logratio[:, None] - expected[None, :]).abs().min(1).values
    assert distance.max().item() < 1e-4, (logratio, expected)
