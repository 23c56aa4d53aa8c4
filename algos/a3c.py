"""A3C: asynchronous advantage actor-critic (algorithm S3).

Mnih, Badia, Mirza, Graves, Lillicrap, Harley, Silver, Kavukcuoglu (2016), "Asynchronous
Methods for Deep Reinforcement Learning", arXiv:1602.01783; advantages from Schulman et al.
(2016), "High-Dimensional Continuous Control Using Generalized Advantage Estimation",
arXiv:1506.02438.

K worker processes (num_workers), each with one environment and a local copy theta' of the
global parameters theta (in shared memory), repeat without any lock (Hogwild):

    theta' <- theta                                       (synchronise)
    act with pi_theta' for up to t_max steps or until the episode ends, T <- T + 1 at each
        step (the global step counter, shared; the run stops at T_max)
    R = 0 at termination, V(s_t) otherwise                (V(final obs) at a time-limit truncation)
    for i = t-1 .. t_start:  R <- r_i + gamma R
        dtheta' += grad log pi_theta'(a_i|s_i) (R - V(s_i)) + c_2 grad H[pi_theta'](s_i)
        dtheta' += c_1 d(R - V(s_i))^2 / dtheta'
    apply dtheta' to theta with the shared RMSProp            (no lock)

Algorithm S3 sums these terms over the segment; this script averages them (E_t below: S3's
dtheta' divided by the segment's length t) and clips the result's norm to max_grad_norm before
the step, as a2c.py does with its batch, so that the two scripts share one loss. What differs
from S3: a segment cut short by an episode's end (t < t_max) weighs each of its transitions
t_max / t times as much as a full segment does, and the value term is 0.5 c_1 (R - V)^2 (L^VF
below), half of S3's, as in a2c.py. So the transitions of one worker's segment, at
most t_max of them, give one gradient step (RMSProp) on

    A_t        = R_t - V(s_t)                                               (advantage)
    L^PG       = E_t[ log pi_theta(a_t | s_t) A_t ]                           (maximised)
    L^VF       = 0.5 E_t[ (V(s_t) - R_t)^2 ]                                  (minimised)
    loss       = -L^PG + c_1 L^VF - c_2 H[pi_theta](s_t)

with the n-step return R_t = r_t + gamma r_{t+1} + ... + gamma^(n-1) r_{t+n-1} + gamma^n V(s_{t+n})
bootstrapped from the state after the rollout, computed as GAE(gamma, lambda=1):
    delta_t = r_t + gamma V(s_{t+1}) - V(s_t)      (V(s_{t+1}) = 0 after a termination)
    A_t     = delta_t + gamma lambda A_{t+1}       (the sum stops at an episode boundary)
    R_t     = A_t + V(s_t)                         (the value target)
lambda = 1 gives the n-step advantage above, lambda = 0 the one-step TD advantage
r_t + gamma V(s_{t+1}) - V(s_t) of the slides; values in between trade bias for variance.

At a time-limit truncation the episode did not really end, so V(s_{t+1}) is the value of the
final observation, not zero. The knobs that matter most, beside the number of workers:
num_steps (t_max, the n of the n-step return), learning_rate, ent_coef, and shared_trunk (one
body for actor and critic, as in the paper, or two networks). The defaults are a2c.py's (the
A3C paper's RMSProp (g <- alpha g + (1 - alpha) dtheta^2, theta <- theta - eta dtheta /
sqrt(g + eps)) with alpha 0.99, entropy 0.01, gamma 0.99; OpenAI Baselines' A2C's eps 1e-5, c_1
0.5 and gradient-norm clip 0.5; two hidden layers of 64 tanh units), with the same departure:
observations are normalised and rewards scaled by the running std of the discounted return on
every task, discrete ones too.

Here t_max = 20 and the learning rate is 2e-4, not a2c.py's 5 and 7e-4: RMSProp's step has
about the same size whatever the batch, and a worker steps on its own segment where a2c.py
steps on 8 x 5 transitions, so with a2c.py's settings it moves theta about 8 times as far per
transition. A segment of 20
steps once where t_max 5 steps four times: 2e-4 keeps the distance per transition of 1e-4 at
t_max 5 (four noisy steps of 1e-4 spread as far as one of 2e-4 whose noise is halved), for a
quarter of the updates. What these defaults give on CartPole-v1 and InvertedPendulum-v5:
algos/a3c.md ("Results"). The worker count
defaults to the machine's cores; the same settings learn and hold with 2, 4 and 8 workers on
both tasks (seeds 1-3 at 4 and 8, 1-5 at 2; algos/a3c.md, "Results"); more are not measured.
"""

import contextlib
import io
import math
import os
import queue
import random
import signal
import sys
import time
import traceback
import warnings
from dataclasses import asdict, dataclass, replace
from typing import Literal, Optional

import gymnasium as gym
import numpy as np
import torch
import torch.multiprocessing as mp
import torch.nn as nn
import tyro
from torch.utils.tensorboard import SummaryWriter

SCRIPT = os.path.basename(__file__)


@dataclass
class Args:
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    """the name of this experiment (part of the run directory's name)"""
    seed: int = 1
    """seed of torch, numpy, random and the environments (worker i: seed + i)"""
    torch_deterministic: bool = True
    """use torch's deterministic algorithms (A3C's curve still varies: workers race)"""
    torch_threads: int = 1
    """torch intra-op threads; one is fastest for these small networks"""
    env_id: str = "HalfCheetah-v5"
    """the gymnasium environment id"""
    total_timesteps: int = 1_000_000
    """total environment steps of the run (all environments together)"""
    num_workers: int = os.cpu_count() or 1
    """number of worker processes (actor-learners), each with one environment (default: cores)"""
    capture_video: bool = False
    """record videos of environment 0 and of the evaluation episodes into videos/"""
    save_model: bool = False
    """save weights, observation statistics and args to runs/<run>/model.pt, then evaluate"""
    eval_episodes: int = 10
    """number of episodes of the evaluation after training or from --eval-checkpoint"""
    eval_checkpoint: Optional[str] = None
    """evaluate this saved model.pt on --env-id instead of training (env seeds: --seed + 100000)"""
    normalize_obs: bool = True
    """normalise observations by running mean and std (both kinds of action)"""
    normalize_reward: bool = True
    """divide rewards by the running std of the discounted return (both kinds of action)"""
    clip_actions: bool = True
    """continuous actions only: clip actions to the action space bounds before env.step"""

    # Algorithm-specific arguments
    learning_rate: float = 2e-4
    """RMSProp learning rate"""
    anneal_lr: bool = True
    """anneal the learning rate linearly towards zero over the run"""
    num_steps: int = 20
    """steps per worker per update, at most (t_max, the n of the n-step return)"""
    gamma: float = 0.99
    """discount factor gamma"""
    gae_lambda: float = 1.0
    """GAE lambda: 1 is the n-step return, 0 the one-step TD advantage"""
    rmsprop_alpha: float = 0.99
    """RMSProp smoothing constant alpha"""
    rmsprop_eps: float = 1e-5
    """RMSProp epsilon (inside the square root, as in the paper)"""
    norm_adv: bool = False
    """normalise advantages over the transitions of each update"""
    ent_coef: float = 0.01
    """entropy bonus coefficient c_2"""
    vf_coef: float = 0.5
    """value loss coefficient c_1"""
    max_grad_norm: float = 0.5
    """global gradient-norm clipping threshold"""
    shared_trunk: bool = False
    """one hidden body for actor and critic (two heads) instead of two networks"""
    hidden_size: int = 64
    """units in each of the two hidden layers of actor and critic"""
    activation: Literal["tanh", "relu"] = "tanh"
    """nonlinearity of the hidden layers"""
    log_std_init: float = 0.0
    """continuous actions only: initial log-std of the Gaussian policy (-2: std 0.14)"""
    log_every: int = 100
    """updates between a worker's messages to the TensorBoard writer (losses averaged over them)"""


def compute_gae(rewards, values, next_values, terminations, dones, gamma, gae_lambda):
    """GAE(gamma, lambda) advantages and value targets over a rollout of shape [T, N].

    next_values[t] is V(s_{t+1}): the value of the next observation, or of the final
    observation when the episode was truncated at step t.
        delta_t = r_t + gamma * V(s_{t+1}) * (1 - terminated_t) - V(s_t)
        A_t     = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}
        R_t     = A_t + V(s_t)
    done_t = terminated_t or truncated_t: the recursion never crosses an episode boundary.
    """
    advantages = np.zeros_like(rewards)
    last_gae = np.zeros_like(rewards[0])
    for t in reversed(range(len(rewards))):
        delta = rewards[t] + gamma * next_values[t] * (1.0 - terminations[t]) - values[t]
        last_gae = delta + gamma * gae_lambda * (1.0 - dones[t]) * last_gae
        advantages[t] = last_gae
    return advantages, advantages + values


def normalize_advantages(advantages, eps=1e-8):
    # A' = (A - mean(A)) / (std(A) + eps)
    return (advantages - advantages.mean()) / (advantages.std() + eps)


def policy_gradient_loss(log_probs, advantages):
    # -L^PG = -E[ log pi_theta(a_t|s_t) A_t ]; its gradient is the policy gradient estimate
    # -E[ grad log pi_theta(a_t|s_t) A_t ], with A_t held constant (no gradient through it)
    return -(log_probs * advantages.detach()).mean()


def value_loss(values, returns):
    # L^VF = 0.5 E[(V(s_t) - R_t)^2]
    return 0.5 * ((values - returns) ** 2).mean()


def approx_kl(logratio):
    # KL[pi_old, pi_theta] ~ E[(r - 1) - log r], an unbiased, non-negative estimator (Schulman's k3)
    return ((logratio.exp() - 1) - logratio).mean()


def annealed_learning_rate(learning_rate, iteration, num_iterations):
    # lr_i = lr_0 * (1 - (i - 1) / num_iterations) for iteration i = 1 .. num_iterations
    return learning_rate * (1.0 - (iteration - 1.0) / num_iterations)


def explained_variance(values, returns):
    # 1 - Var[R - V] / Var[R]: 1 is a perfect critic, 0 no better than a constant
    var_returns = np.var(returns)
    return np.nan if var_returns == 0 else 1.0 - np.var(returns - values) / var_returns


def gaussian_log_prob(mean, log_std, action):
    # log N(a; mu, sigma^2 I)
    #     = sum_i [ -(a_i - mu_i)^2 / (2 sigma_i^2) - log sigma_i - log(2 pi) / 2 ]
    return (
        -0.5 * ((action - mean) / log_std.exp()) ** 2 - log_std - 0.5 * np.log(2 * np.pi)
    ).sum(-1)


def gaussian_entropy(log_std):
    # H[N(mu, sigma^2 I)] = sum_i [ log sigma_i + log(2 pi e) / 2 ]
    return (log_std + 0.5 * np.log(2 * np.pi * np.e)).sum(-1)


def categorical_log_prob(logits, action):
    # log pi(a|s) = logits_a - log sum_b exp(logits_b)
    return torch.log_softmax(logits, -1).gather(-1, action.long().unsqueeze(-1)).squeeze(-1)


def categorical_entropy(logits):
    # H[pi(.|s)] = -sum_a pi(a|s) log pi(a|s)
    log_p = torch.log_softmax(logits, -1)
    return -(log_p.exp() * log_p).sum(-1)


def gaussian_kl(mean_old, log_std_old, mean, log_std):
    # KL[N_old || N] = sum_i [ log(sigma_i / sigma_old_i)
    #                          + (sigma_old_i^2 + (mu_old_i - mu_i)^2) / (2 sigma_i^2) - 1/2 ]
    return (
        log_std
        - log_std_old
        + ((2 * log_std_old).exp() + (mean_old - mean) ** 2) / (2 * (2 * log_std).exp())
        - 0.5
    ).sum(-1)


def categorical_kl(logits_old, logits):
    # KL[p_old || p] = sum_a p_old(a) (log p_old(a) - log p(a))
    log_p_old, log_p = torch.log_softmax(logits_old, -1), torch.log_softmax(logits, -1)
    return (log_p_old.exp() * (log_p_old - log_p)).sum(-1)


class RunningMeanStd:
    """Running mean and variance of a stream of batches (Chan et al.'s parallel algorithm)."""
    # updated in place, so that its arrays can be views of shared memory (see shared_stats)

    def __init__(self, shape=()):
        self.mean = np.zeros(shape, np.float64)
        self.var = np.ones(shape, np.float64)
        self.count = np.full((), 1e-4)

    def update(self, x):
        batch_count = x.shape[0]
        batch_mean = x.sum(axis=0) / batch_count
        batch_var = ((x - batch_mean) ** 2).sum(axis=0) / batch_count
        delta = batch_mean - self.mean
        total = self.count + batch_count
        self.mean[...] = self.mean + delta * batch_count / total
        m2 = (
            self.var * self.count
            + batch_var * batch_count
            + delta**2 * self.count * batch_count / total
        )
        self.var[...] = m2 / total
        self.count[...] = total


def shared_stats(tensors, shape):
    """A RunningMeanStd whose mean, var and count are views of three shared-memory tensors:
    every worker that builds one from the same tensors updates the same statistics (under a
    lock), so that all workers and the saved model see the same normalisation."""
    rms = RunningMeanStd(shape)
    rms.mean, rms.var, rms.count = (t.numpy() for t in tensors)
    return rms


def normalize_obs(obs, obs_rms, clip=10.0, eps=1e-8):
    # s' = clip((s - mean) / sqrt(var + eps), -10, 10), as float32 for the network
    normalized = (obs - obs_rms.mean) / np.sqrt(obs_rms.var + eps)
    return np.clip(normalized, -clip, clip).astype(np.float32)


def scale_reward(reward, return_rms, clip=10.0, eps=1e-8):
    # r' = clip(r / sqrt(Var[G] + eps), -10, 10), where return_rms tracks G_t = gamma G_{t-1} + r_t,
    # each environment's running discounted return (reset to 0 at the end of an episode)
    return np.clip(reward / np.sqrt(return_rms.var + eps), -clip, clip)


class SharedRMSprop:
    """The A3C paper's non-centred RMSProp, with g starting at zero:
        g     <- alpha g + (1 - alpha) dtheta^2
        theta <- theta - eta dtheta / sqrt(g + eps)
    From zero, the first steps are up to 1 / sqrt(1 - alpha) (10) times the steady size.
    TensorFlow 1's RMSPropOptimizer (OpenAI Baselines' A2C) has the same update but starts g at
    one; torch.optim.RMSprop starts it at zero but adds eps after the root.
    g lives in shared memory beside theta, made before the workers start; each worker calls
    step() with its own gradients as an argument, without a lock (Hogwild)."""

    def __init__(self, params, alpha=0.99, eps=1e-5):
        self.params = list(params)
        self.square_avg = [torch.zeros_like(p).share_memory_() for p in self.params]
        self.alpha, self.eps = alpha, eps

    @torch.no_grad()
    def step(self, grads, lr):
        for theta, g, dtheta in zip(self.params, self.square_avg, grads):
            g.mul_(self.alpha).addcmul_(dtheta, dtheta, value=1.0 - self.alpha)
            theta.addcdiv_(dtheta, (g + self.eps).sqrt(), value=-lr)


def layer_init(layer, std=np.sqrt(2), bias_const=0.0):
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias_const)
    return layer


ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


def mlp(in_dim, hidden_size, out_dim, out_std, activation="tanh"):
    return nn.Sequential(
        layer_init(nn.Linear(in_dim, hidden_size)),
        ACTIVATIONS[activation](),
        layer_init(nn.Linear(hidden_size, hidden_size)),
        ACTIVATIONS[activation](),
        layer_init(nn.Linear(hidden_size, out_dim), std=out_std),
    )


class Agent(nn.Module):
    """Actor and critic: separate networks, or one shared body with two linear heads (by
    default 64-64 tanh). Discrete actions: Categorical over logits. Box actions: diagonal Gaussian
    with a state-independent, learned log-std."""

    def __init__(
        self, obs_dim, action_space, hidden_size=64, shared_trunk=False, activation="tanh",
        log_std_init=0.0,
    ):
        super().__init__()
        self.continuous = isinstance(action_space, gym.spaces.Box)
        act_dim = action_space.shape[0] if self.continuous else int(action_space.n)
        if shared_trunk:  # the same body module in both: its gradient sums both losses
            trunk = nn.Sequential(
                layer_init(nn.Linear(obs_dim, hidden_size)), ACTIVATIONS[activation](),
                layer_init(nn.Linear(hidden_size, hidden_size)), ACTIVATIONS[activation](),
            )
            self.critic = nn.Sequential(trunk, layer_init(nn.Linear(hidden_size, 1), std=1.0))
            self.actor = nn.Sequential(trunk, layer_init(nn.Linear(hidden_size, act_dim), std=0.01))
        else:
            self.critic = mlp(obs_dim, hidden_size, 1, out_std=1.0, activation=activation)
            self.actor = mlp(obs_dim, hidden_size, act_dim, out_std=0.01, activation=activation)
        if self.continuous:
            self.actor_logstd = nn.Parameter(torch.full((act_dim,), float(log_std_init)))

    def get_value(self, obs):
        return self.critic(obs).squeeze(-1)

    def get_action(self, obs):
        """Sample a ~ pi(.|s): the actor's forward pass alone, all the rollout needs."""
        out = self.actor(obs)
        if self.continuous:
            return out + self.actor_logstd.exp() * torch.randn_like(out)
        return torch.multinomial(torch.softmax(out, -1), 1).squeeze(-1)

    def evaluate_actions(self, obs, action):
        """log pi(a|s), H[pi(.|s)], V(s) and the distribution's parameters (the Gaussian's mean
        or the logits) of the actions taken."""
        out = self.actor(obs)
        if self.continuous:
            log_std = self.actor_logstd.expand_as(out)
            log_prob, entropy = gaussian_log_prob(out, log_std, action), gaussian_entropy(log_std)
        else:
            log_prob, entropy = categorical_log_prob(out, action), categorical_entropy(out)
        return log_prob, entropy, self.get_value(obs), out

    def kl(self, old_out, old_log_std, out):
        """KL[pi_old(.|s), pi(.|s)] per state, from pi_old's mean and log-std (or logits) and
        pi's mean (or logits); pi's log-std is actor_logstd."""
        if self.continuous:
            return gaussian_kl(old_out, old_log_std, out, self.actor_logstd)
        return categorical_kl(old_out, out)

    def get_deterministic_action(self, obs):
        """The mean action (Box) or the most likely one (Discrete), for evaluation."""
        out = self.actor(obs)
        return out if self.continuous else out.argmax(-1)


def update(agent, optimizer, loss, lr, max_grad_norm):
    """dtheta' of the segment's loss on the local agent (its gradients are cleared first),
    clipped, then handed to the shared RMSProp as an argument, never through the global
    parameters' .grad (pytorch-a3c's hand-off, which on torch >= 2 lets the local gradients
    accumulate)."""
    agent.zero_grad(set_to_none=True)
    loss.backward()
    # g <- g * min(1, max_norm / ||g||)
    nn.utils.clip_grad_norm_(agent.parameters(), max_grad_norm)
    optimizer.step([p.grad for p in agent.parameters()], lr)


def next_step(global_step, total_timesteps):
    """T <- T + 1 on the shared step counter, under its lock (two workers reading T at once
    would both write T + 1); None once T has reached T_max."""
    with global_step.get_lock():
        if global_step.value >= total_timesteps:
            return None
        global_step.value += 1
        return global_step.value


def actor_learner(
    rank, args, messages, go, stop, run_name, global_agent, optimizer, step_counter, obs_stats,
    obs_lock,
):
    """Algorithm S3 in one worker: its own environment, local parameters theta' and reward
    scaling statistics; observation statistics shared with every worker. Stops when the budget
    is spent, when `stop` is set, or when the main process is gone."""
    args = replace(args, seed=args.seed + rank, torch_threads=1)  # seed + rank, one thread each
    obs_space, action_space = check_env(args.env_id)
    continuous = isinstance(action_space, gym.spaces.Box)

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(args.torch_deterministic)
    torch.set_num_threads(args.torch_threads)

    envs = gym.vector.SyncVectorEnv(
        [
            make_env(args.env_id, i, args.capture_video, f"videos/{run_name}")
            for i in [rank]  # one environment per worker
        ],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    envs.action_space.seed(args.seed)
    obs_rms = shared_stats(obs_stats, obs_space.shape) if obs_stats is not None else None
    return_rms = RunningMeanStd() if args.normalize_reward else None
    discounted_return = np.zeros(1)
    low, high = (action_space.low, action_space.high) if continuous else (None, None)

    agent = Agent(
        obs_space.shape[0], action_space, args.hidden_size, args.shared_trunk, args.activation,
        args.log_std_init,
    )
    # theta', the local copy: synchronised from theta, which the shared optimiser steps

    T, N = args.num_steps, 1
    obs_buf = np.zeros((T, N) + obs_space.shape, np.float32)
    actions_buf = np.zeros((T, N) + action_space.shape, np.float32 if continuous else np.int64)
    rewards_buf = np.zeros((T, N), np.float32)
    terminations_buf = np.zeros((T, N), np.float32)
    dones_buf = np.zeros((T, N), np.float32)
    final_values_buf = np.zeros((T, N), np.float32)  # V(final obs) where an episode was truncated

    def prepare(obs, update):
        if obs_rms is None:
            return obs.astype(np.float32)
        if update:
            with obs_lock:  # the statistics are shared by every worker
                obs_rms.update(obs)
        return normalize_obs(obs, obs_rms)

    totals, my_steps, num_updates = {}, 0, 0
    global_step = 0
    next_obs, _ = envs.reset(seed=args.seed)
    next_obs = prepare(next_obs, update=True)
    if not wait_for_go(rank, messages, go, stop):  # start together: SPS counts training
        return
    start_time = time.time()

    while not stopped(stop):
        with torch.no_grad():  # synchronise: theta' <- theta
            for local, shared in zip(agent.parameters(), global_agent.parameters()):
                local.copy_(shared)

        # ---- rollout: up to t_max steps of this worker's environment, or to the episode's end ----
        final_values_buf[:] = 0.0
        truncated_buf = np.zeros((T, N), bool)
        t = 0  # steps taken in this segment
        for step in range(T):
            now = next_step(step_counter, args.total_timesteps)  # T <- T + 1, until T_max
            if now is None:
                break
            global_step, t = now, step + 1
            obs_buf[step] = next_obs
            with torch.inference_mode():
                action = agent.get_action(torch.from_numpy(next_obs)).numpy()
            actions_buf[step] = action

            env_action = np.clip(action, low, high) if continuous and args.clip_actions else action
            next_obs, reward, terminations, truncations, infos = envs.step(env_action)
            dones = terminations | truncations
            if return_rms is not None:
                discounted_return = discounted_return * args.gamma + reward
                return_rms.update(discounted_return)
                reward = scale_reward(reward, return_rms)
                discounted_return[dones] = 0.0
            next_obs = prepare(next_obs, update=True)
            rewards_buf[step], terminations_buf[step], dones_buf[step] = reward, terminations, dones

            if truncations.any():  # bootstrap from the final observation of a truncated episode
                final_obs = prepare(np.stack(infos["final_obs"][truncations]), update=False)
                with torch.inference_mode():
                    final_values = agent.get_value(torch.from_numpy(final_obs)).numpy()
                final_values_buf[step, truncations] = final_values
                truncated_buf[step] = truncations
            if "final_info" in infos and "episode" in infos["final_info"]:
                ep = infos["final_info"]["episode"]
                for i in np.nonzero(infos["final_info"]["_episode"])[0]:
                    messages.put(("episode", global_step, float(ep["r"][i]), int(ep["l"][i])))
            if dones[0]:
                break
        if t == 0:  # the budget is spent
            messages.put(("done", rank, time.time()))
            break
        my_steps += t

        # ---- log pi(a_t|s_t), H and V(s_t) of the segment: one pass, with gradients ----
        b_obs = torch.from_numpy(obs_buf[:t].reshape((-1,) + obs_space.shape))
        b_actions = torch.from_numpy(actions_buf[:t].reshape((-1,) + action_space.shape))
        logprob, entropy, value, out = agent.evaluate_actions(b_obs, b_actions)
        values = value.detach().numpy().reshape(t, N)  # theta' has not moved yet: V_old(s_t)

        # ---- advantages: GAE(gamma, lambda), V(s_{t+1}) from the next step or the final obs ----
        with torch.inference_mode():
            last_value = agent.get_value(torch.from_numpy(next_obs)).numpy()
        next_values = np.concatenate([values[1:], last_value[None]])
        next_values = np.where(truncated_buf[:t], final_values_buf[:t], next_values)
        advantages, returns = compute_gae(
            rewards_buf[:t], values, next_values, terminations_buf[:t], dones_buf[:t],
            args.gamma, args.gae_lambda,
        )

        # ---- update: dtheta' from this segment, applied to theta by the shared RMSProp ----
        b_advantages = torch.from_numpy(advantages.reshape(-1))
        b_returns = torch.from_numpy(returns.reshape(-1))
        old_log_std = agent.actor_logstd.detach().clone() if continuous else None
        lr = args.learning_rate
        if args.anneal_lr:
            lr = annealed_learning_rate(args.learning_rate, global_step, args.total_timesteps)

        if args.norm_adv and t > 1:  # the std of one advantage is NaN
            b_advantages = normalize_advantages(b_advantages)
        pg_loss = policy_gradient_loss(logprob, b_advantages)
        v_loss = value_loss(value, b_returns)
        entropy_loss = entropy.mean()
        loss = pg_loss - args.ent_coef * entropy_loss + args.vf_coef * v_loss

        update(agent, optimizer, loss, lr, args.max_grad_norm)

        ev = explained_variance(values.reshape(-1), returns.reshape(-1))
        stats = {"policy_loss": pg_loss.item(), "value_loss": v_loss.item(),
                 "entropy": entropy_loss.item(), "explained_variance": np.nan_to_num(ev)}
        totals = {key: totals.get(key, 0.0) + value for key, value in stats.items()}
        num_updates += 1
        if num_updates % args.log_every != 0:  # the losses go out averaged over log_every updates
            continue
        stats, totals = {key: total / args.log_every for key, total in totals.items()}, {}
        # the exact mean KL[pi_theta', pi_theta] over the segment: theta' (the rollout's) against
        # the global theta after this step, other workers' steps since the sync included
        with torch.no_grad():
            newlogprob, _, _, new_out = global_agent.evaluate_actions(b_obs, b_actions)
            stats["kl"] = global_agent.kl(out.detach(), old_log_std, new_out).mean().item()
            stats["approx_kl"] = approx_kl(newlogprob - logprob.detach()).item()
        worker_sps = my_steps / (time.time() - start_time)
        messages.put(("log", rank, global_step, stats, lr, worker_sps))

    envs.close()


def train(args):
    """Train A3C; returns the run directory and the (global_step, episodic_return) pairs."""
    validate_args(args)
    obs_space, action_space = check_env(args.env_id)

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(args.torch_deterministic)
    torch.set_num_threads(args.torch_threads)
    if args.capture_video:
        os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering

    run_dir = make_run_dir(args.env_id, args.exp_name, args.seed)
    run_name = os.path.basename(run_dir)
    writer = SummaryWriter(run_dir)
    table = "\n".join(f"|{k}|{v}|" for k, v in asdict(args).items())
    writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + table)

    # ---- the model, in shared memory before the workers start: theta, g, the obs statistics ----
    agent = Agent(
        obs_space.shape[0], action_space, args.hidden_size, args.shared_trunk, args.activation,
        args.log_std_init,
    )
    agent.share_memory()
    optimizer = SharedRMSprop(agent.parameters(), alpha=args.rmsprop_alpha, eps=args.rmsprop_eps)
    obs_stats = None
    if args.normalize_obs:
        rms = RunningMeanStd(obs_space.shape)
        arrays = (rms.mean, rms.var, rms.count)
        obs_stats = tuple(torch.from_numpy(x).share_memory_() for x in arrays)
    obs_rms = shared_stats(obs_stats, obs_space.shape) if obs_stats is not None else None

    episodic_returns = []
    steps_taken, error, interrupted = run_workers(
        args, writer, run_name, agent, optimizer, obs_stats, episodic_returns
    )

    eval_returns = None
    if args.save_model:
        model_path = f"{run_dir}/model.pt"
        save_checkpoint(model_path, agent, obs_rms, args)
        print(f"model saved to {model_path}")
    if args.save_model and error is None and not interrupted:  # evaluate only a finished run
        eval_returns = evaluate(
            model_path, args.env_id, args.eval_episodes, args.seed + 100_000,
            args.capture_video, f"videos/{run_name}-eval",
        )
        for i, r in enumerate(eval_returns):
            writer.add_scalar("eval/episodic_return", r, i)
        print(
            f"eval: mean return {np.mean(eval_returns):.1f} +/- {np.std(eval_returns):.1f} "
            f"over {len(eval_returns)} episodes"
        )
    writer.close()
    if error is not None:
        raise SystemExit(f"error: {error}")
    if interrupted:
        raise SystemExit(f"interrupted at step {steps_taken}; TensorBoard flushed to {run_dir}")
    episodic_returns = sorted(episodic_returns)  # the workers' episodes, in the order of T
    return {"run_dir": run_dir, "episodic_returns": episodic_returns, "eval_returns": eval_returns}


# ---- processes: start the workers, relay their messages, stop them (Ctrl-C, kill, a crash) ----

def run_workers(args, writer, run_name, agent, optimizer, obs_stats, episodic_returns):
    """The launcher: start the workers, write TensorBoard from their messages until they are
    done, then stop them. Returns T, the error that stopped the run (or None), and whether it
    was interrupted (Ctrl-C or kill)."""
    error, interrupted = None, False
    start_time = end_time = time.time()
    print_every = next_print = max(1, args.total_timesteps // 20)
    workers, step_counter, obs_lock, messages, go, stop = start_workers(
        args, run_name, agent, optimizer, obs_stats
    )
    steps_taken = step_counter.get_obj()  # T, read lock-free: a killed main never leaves it held
    try:
        for kind, *body in receive(workers, messages, go):
            if kind == "go":  # every worker is set up: the clock starts
                start_time = body[0]
            elif kind == "episode":
                log_episode(writer, episodic_returns, *body)
            elif kind == "log":
                rank, step, stats, lr, worker_sps = body
                sps = int(steps_taken.value / (time.time() - start_time))
                show = step >= next_print
                next_print += print_every if show else 0
                writer.add_scalar(f"charts/SPS_worker{rank}", worker_sps, step)
                log_update(writer, episodic_returns, step, lr, sps, stats, show)
            elif kind == "done":  # a worker found the budget spent: the clock stops
                end_time = max(end_time, body[1])
            elif kind == "error":  # a worker failed (details: its traceback) or was killed
                error, details = body
                if details:
                    print(details, file=sys.stderr)
                break
    except KeyboardInterrupt:
        interrupted = True
    stop_workers(workers, messages, stop)
    end_time = end_time if end_time > start_time else time.time()
    sps = int(steps_taken.value / max(end_time - start_time, 1e-9))
    writer.add_scalar("charts/SPS", sps, steps_taken.value)
    print(f"step {steps_taken.value:>9d}  SPS {sps:>5d}  ({args.num_workers} workers)", flush=True)
    return steps_taken.value, error, interrupted


def worker(rank, args, messages, go, stop, *shared):
    """A worker process: runs actor_learner and reports its exception to the main process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process handles Ctrl-C, sets `stop`
    try:
        actor_learner(rank, args, messages, go, stop, *shared)
    except Exception as e:
        error = f"worker {rank} failed: {type(e).__name__}: {e}"
        messages.put(("error", error, traceback.format_exc()))
        raise SystemExit(1)
    if stopped(stop):  # stopped early: leave without waiting to flush the queue
        messages.cancel_join_thread()


def stopped(stop):
    """In a worker: the main process has set `stop`, or is gone (killed)."""
    return stop.is_set() or not mp.parent_process().is_alive()


def wait_for_go(rank, messages, go, stop):
    """In a worker: report ready, then wait until every worker is; False if stopped first."""
    messages.put(("ready", rank))
    while not go.wait(timeout=1.0):
        if stopped(stop):
            return False
    return True


def start_workers(args, run_name, agent, optimizer, obs_stats):
    """Start the workers; returns them and what they share with the main process, which holds
    all of it while they run (each worker unpickles its arguments after start() returns). They
    fork from a server that imported torch and gymnasium once (forkserver), not new interpreters
    that import them again (spawn: 2.5 s of CPU each) nor this process, whose threads' locks
    they would copy (fork). torch.use_deterministic_algorithms imports torch._inductor.config."""
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(
        ["numpy", "torch", "gymnasium", "tyro", "torch.utils.tensorboard", "torch._inductor.config"]
    )
    step_counter, obs_lock = ctx.Value("q", 0), ctx.Lock()
    messages, go, stop = ctx.Queue(), ctx.Event(), ctx.Event()
    shared = (messages, go, stop, run_name, agent, optimizer, step_counter, obs_stats, obs_lock)
    workers = [
        ctx.Process(target=worker, args=(rank, args, *shared), daemon=True)
        for rank in range(args.num_workers)
    ]
    for w in workers:
        w.start()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops the run like Ctrl-C
    return workers, step_counter, obs_lock, messages, go, stop


def receive(workers, messages, go):
    """The workers' messages until all have exited; once all are ready, sets `go` and yields
    ("go", the time); for a worker that died without a message (killed), an "error"."""
    ready = 0
    while True:
        try:
            message = messages.get(timeout=0.2)
        except queue.Empty:
            dead = [(i, w.exitcode) for i, w in enumerate(workers) if w.exitcode not in (None, 0)]
            if dead:
                yield ("error", "worker {} died with exit code {}".format(*dead[0]), None)
            if dead or all(w.exitcode is not None for w in workers):
                return
            continue
        if message[0] == "ready":
            ready += 1
            if ready < len(workers):
                continue
            print(f"{len(workers)} workers started", flush=True)
            message = ("go", time.time())
            go.set()
        yield message


def stop_workers(workers, messages, stop):
    """Stop every worker, wait a few seconds, then terminate what is left."""
    stop.set()
    deadline = time.time() + 5.0
    for w in workers:
        while w.is_alive() and time.time() < deadline:
            w.join(timeout=0.1)
            while True:  # drain, so that no worker blocks on a full queue
                try:
                    messages.get_nowait()
                except (queue.Empty, OSError, EOFError):
                    break
        if w.is_alive():
            w.terminate()
            w.join()


# ---- plumbing: environments, checkpoints, evaluation, run directory, logs, argument checks ----

def fail(message):
    """Stop with a one-line error that says what to change (before anything is written)."""
    raise SystemExit("error: " + " ".join(str(message).split()))  # one line, whatever it quotes


def _mujoco_warning(message):
    # MuJoCo writes its warnings to MUJOCO_LOG.TXT in the working directory. The v5 models
    # trigger a deprecation warning for 'settotalmass' at every load: silence that one, print
    # the others.
    if "settotalmass" not in message:
        print(f"MuJoCo warning: {message}", file=sys.stderr)


def make_env(env_id, idx, capture_video, video_dir):
    """Thunk for one environment: RecordEpisodeStatistics first, so logged returns are raw."""

    def thunk():
        if capture_video and idx == 0:
            env = gym.make(env_id, render_mode="rgb_array")
            env = gym.wrappers.RecordVideo(env, video_dir)
        else:
            env = gym.make(env_id)
        return gym.wrappers.RecordEpisodeStatistics(env)

    return thunk


def check_env(env_id):
    """Make one environment to read its spaces; a clear error for anything unsupported."""
    try:
        import mujoco

        mujoco.set_mju_user_warning(_mujoco_warning)
    except ImportError:
        pass
    with warnings.catch_warnings(record=True) as caught:  # shown only once the id works
        try:
            env = gym.make(env_id)
        except (gym.error.Error, ModuleNotFoundError, ImportError) as e:
            fail(
                f"unknown or unavailable --env-id {env_id!r} ({e}); "
                "pick a registered id such as CartPole-v1 or HalfCheetah-v5"
            )
    for w in caught:
        warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    obs_space, action_space = env.observation_space, env.action_space
    env.close()
    if not (isinstance(obs_space, gym.spaces.Box) and len(obs_space.shape) == 1):
        fail(
            f"{SCRIPT} needs a flat Box observation space; {env_id} has {obs_space}: "
            "pick another --env-id"
        )
    flat_box = isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1
    if not (isinstance(action_space, gym.spaces.Discrete) or flat_box):
        fail(
            f"{SCRIPT} supports Discrete and flat Box action spaces; {env_id} has {action_space}: "
            "pick another --env-id"
        )
    return obs_space, action_space


def save_checkpoint(path, agent, obs_rms, args):
    obs_stats = None
    if obs_rms is not None:
        obs_stats = {k: torch.as_tensor(getattr(obs_rms, k)) for k in ("mean", "var", "count")}
    torch.save(
        {"script": SCRIPT, "model": agent.state_dict(), "obs_rms": obs_stats, "args": asdict(args)},
        path,
    )


def load_checkpoint(path, env_id):
    """Rebuild the agent and its frozen observation statistics; one-line errors on mismatch."""
    if not os.path.isfile(path):
        fail(f"checkpoint {path!r} not found: pass the model.pt of a run trained with --save-model")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        saved_by, saved_args, state = ckpt.get("script"), ckpt["args"], ckpt["model"]
    except Exception as e:
        fail(
            f"{path!r} is not a {SCRIPT} checkpoint ({type(e).__name__}); "
            "pass the model.pt of a run trained with --save-model"
        )
    if saved_by != SCRIPT:  # another script's model, or one saved before checkpoints named theirs
        fix = f"evaluate it with algos/{saved_by}" if saved_by else "retrain with --save-model"
        fail(f"{path!r} was saved by {saved_by or 'an older version'}, not by {SCRIPT}: {fix}")
    obs_space, action_space = check_env(env_id)
    agent = Agent(
        obs_space.shape[0], action_space, saved_args["hidden_size"], saved_args["shared_trunk"],
        saved_args["activation"],
    )
    try:
        agent.load_state_dict(state)
    except RuntimeError:
        fail(
            f"checkpoint {path!r} was trained on {saved_args['env_id']}, whose spaces differ "
            f"from {env_id}'s: pass --env-id {saved_args['env_id']}"
        )
    obs_rms = None
    if ckpt["obs_rms"] is not None:
        obs_rms = RunningMeanStd(obs_space.shape)
        obs_rms.mean, obs_rms.var = ckpt["obs_rms"]["mean"].numpy(), ckpt["obs_rms"]["var"].numpy()
        obs_rms.count = float(ckpt["obs_rms"]["count"])
    return agent, obs_rms, saved_args


def evaluate(model_path, env_id, eval_episodes, seed, capture_video=False, video_dir=None):
    """Returns of eval_episodes episodes with the deterministic policy and frozen statistics."""
    agent, obs_rms, _ = load_checkpoint(model_path, env_id)
    agent.eval()
    envs = gym.vector.SyncVectorEnv(
        [make_env(env_id, 0, capture_video, video_dir)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    obs, _ = envs.reset(seed=seed)
    episodic_returns = []
    while len(episodic_returns) < eval_episodes:
        obs = normalize_obs(obs, obs_rms) if obs_rms is not None else obs.astype(np.float32)
        with torch.inference_mode():
            action = agent.get_deterministic_action(torch.from_numpy(obs)).numpy()
        if agent.continuous:
            action = np.clip(action, envs.single_action_space.low, envs.single_action_space.high)
        obs, _, _, _, infos = envs.step(action)
        if "final_info" in infos and "episode" in infos["final_info"]:
            episodic_returns.append(float(infos["final_info"]["episode"]["r"][0]))
    envs.close()
    return episodic_returns


def log_episode(writer, episodic_returns, step, episodic_return, length):
    """Record a finished episode: its return (kept for the result) and length at step T."""
    episodic_returns.append((step, float(episodic_return)))
    writer.add_scalar("charts/episodic_return", episodic_return, step)
    writer.add_scalar("charts/episodic_length", length, step)


def log_update(writer, episodic_returns, step, lr, sps, losses, show):
    """Write an update's scalars to TensorBoard; if show, print the progress line."""
    writer.add_scalar("charts/learning_rate", lr, step)
    writer.add_scalar("charts/SPS", sps, step)
    for key, value in losses.items():
        writer.add_scalar(f"losses/{key}", value, step)
    if show:
        recent = [r for _, r in episodic_returns[-20:]]
        mean_return = f"{np.mean(recent):9.1f}" if recent else "      n/a"
        print(f"step {step:>9d}  return(last 20) {mean_return}  SPS {sps:>5d}", flush=True)


def make_run_dir(env_id, exp_name, seed):
    """runs/{env_id}__{exp_name}__{seed}__{unix time}, with a suffix if that name is taken."""
    base = f"runs/{env_id}__{exp_name}__{seed}__{int(time.time())}"
    run_dir, n = base, 0
    while True:
        try:
            os.makedirs(run_dir)
            return run_dir
        except FileExistsError:
            n += 1
            run_dir = f"{base}-{n}"


def check_fields(args, names, ok, what):
    """fail() at the first field in names whose value v is not ok(v): it must be `what`."""
    for name in names:
        value = getattr(args, name)
        if not ok(value):
            fail(f"--{name.replace('_', '-')} must be {what}, not {value!r}")


def validate_args(args):
    """Check every field of Args before anything is written or started (tyro checks only
    the types): fail() with one line that says what to change."""
    if not args.exp_name or "/" in args.exp_name or "\0" in args.exp_name:
        fail(
            f"--exp-name {args.exp_name!r} is part of the run directory's name: "
            "give a non-empty name without '/'"
        )
    if not 0 <= args.seed <= 2**32 - 1 - 100_000:
        fail(
            f"--seed must be in [0, {2**32 - 1 - 100_000}] (numpy's seeds, less the 100000 "
            f"that evaluation adds), not {args.seed}"
        )
    if args.eval_checkpoint is not None and not os.path.isfile(args.eval_checkpoint):
        fail(
            f"--eval-checkpoint {args.eval_checkpoint!r} not found: pass the model.pt of a "
            "run trained with --save-model"
        )
    counts = ["torch_threads", "total_timesteps", "num_workers", "eval_episodes", "num_steps",
              "hidden_size", "log_every"]
    check_fields(args, counts, lambda v: v >= 1, "a positive integer")
    positive = ["learning_rate", "rmsprop_eps", "max_grad_norm"]
    check_fields(args, positive, lambda v: 0 < v < math.inf, "positive and finite")
    check_fields(args, ["ent_coef", "vf_coef"], lambda v: 0 <= v < math.inf, "0 or more, finite")
    check_fields(args, ["rmsprop_alpha"], lambda v: 0 <= v < 1, "in [0, 1)")
    check_fields(args, ["gamma"], lambda v: 0 < v <= 1, "in (0, 1]")
    check_fields(args, ["gae_lambda"], lambda v: 0 <= v <= 1, "in [0, 1]")
    check_fields(args, ["log_std_init"], math.isfinite, "a finite number")
    check_fields(args, ["activation"], lambda v: v in ACTIVATIONS, f"one of {list(ACTIVATIONS)}")
    batch_size = args.num_workers * args.num_steps
    if args.total_timesteps < batch_size:
        fail(
            f"--total-timesteps {args.total_timesteps} is less than one segment per worker "
            f"(num_workers * num_steps = {batch_size}); raise it or use fewer workers"
        )
    cores = os.cpu_count() or 1
    if args.eval_checkpoint is None and args.num_workers > cores:  # before any worker starts
        print(
            f"warning: --num-workers {args.num_workers} is more than the {cores} cores here: "
            "the workers take turns on them (fine for studying learning, not for speed)",
            file=sys.stderr, flush=True,
        )


def evaluate_checkpoint(args):
    """Standalone evaluation of --eval-checkpoint, on the environment seeds of the evaluation
    after training (seed + 100000); logs eval/episodic_return to a new run."""
    validate_args(args)
    returns = evaluate(
        args.eval_checkpoint, args.env_id, args.eval_episodes, args.seed + 100_000,
        args.capture_video, f"videos/{args.env_id}__{args.exp_name}-eval__{args.seed}",
    )
    run_dir = make_run_dir(args.env_id, f"{args.exp_name}-eval", args.seed)
    with SummaryWriter(run_dir) as writer:
        for i, r in enumerate(returns):
            writer.add_scalar("eval/episodic_return", r, i)
    for i, r in enumerate(returns):
        print(f"eval episode {i}: return {r:.1f}")
    print(
        f"eval: mean return {np.mean(returns):.1f} +/- {np.std(returns):.1f} "
        f"over {len(returns)} episodes"
    )
    return returns


def parse_args(argv=None):
    """tyro.cli(Args), with tyro's boxed parse error (an unknown option, a malformed number, a
    choice not offered) condensed to one line by fail(); --help as tyro prints it."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            args = tyro.cli(Args, args=argv)
    except SystemExit as e:
        if e.code in (0, None):
            raise
        message = []  # tyro's box: its title, then the first rows of text between two rules
        for row in captured.getvalue().splitlines()[1:]:
            row = row.strip("\u2502| ")  # its sides, in UTF-8 or in ASCII
            if row.strip("\u2500\u2570\u256f-+"):
                message.append(row)
            elif message:
                break
        fail(" ".join(message) or f"the command line does not parse: see {SCRIPT} --help")
    sys.stderr.write(captured.getvalue())  # tyro's warnings, if any
    return args


if __name__ == "__main__":
    args = parse_args()
    evaluate_checkpoint(args) if args.eval_checkpoint else train(args)
