"""Measure the slides' variance claims about the policy gradient on a fixed, partly trained policy.

    python benchmark/pg_variance.py                         # CartPole-v1 and InvertedPendulum-v5
    python benchmark/pg_variance.py --envs CartPole-v1 --episodes 1000 --seed 2
    python benchmark/pg_variance.py --quick                 # a tiny run, written to runs/pg_variance_quick

The claims, for J(theta) = E_tau[ sum_t gamma^t r_t ] (gamma = 0.99) and the score
psi_t = grad_theta log pi_theta(a_t | s_t) over the actor's parameters:

  (a) a baseline b that does not depend on the action leaves the gradient estimate unbiased and
      lowers its variance:           E[ sum_t psi_t b(s_t) ] = 0;
  (b) reward-to-go lowers it further than the whole return R(tau) = sum_t gamma^t r_t:
          grad J = E[ sum_t psi_t R(tau) ] = E[ sum_t psi_t gamma^t G_t ],
          G_t = sum_{t' >= t} gamma^(t' - t) r_t'  (rewards before t do not depend on a_t);
  (c) the constant baseline of least variance for sum_t psi_t (R(tau) - b) is, per parameter
      component k, b*_k = E[ Psi_k^2 R(tau) ] / E[ Psi_k^2 ] with Psi = sum_t psi_t (the score
      of the whole trajectory); for one b shared by all components (least trace of the
      covariance) b* = E[ ||Psi||^2 R(tau) ] / E[ ||Psi||^2 ];
  (d) importance sampling E_p[f] = E_q[f p/q] is unbiased, with a variance that grows as q moves
      away from p: for two Gaussians of equal variance Var_q[p/q] = exp(2 KL[p||q]) - 1 (why TRPO
      and PPO keep pi_theta near pi_old).

How. reinforce.py is trained briefly in process (its train(Args(..., save_model=True)), then its
load_checkpoint: observation statistics frozen), so that the policy is partly trained. Three
independent samples of episodes with that stochastic policy: a "fit" sample gives the constant
baselines, b* and a fitted V(s) (K/2 episodes); a "reference" sample gives the reference
gradient g_ref (its lowest-variance unbiased estimator, reward-to-go minus V; K episodes); the
"main" sample (K episodes), cut into M = K/N batches of N, gives every estimator's M batch
estimates. reinforce.py's batch-mean baseline (the mean G_t of the batch itself) is measured over
batches of N, 2 and 1 episodes, to show its bias shrink as the batch grows. Every estimator is
sum_t w_t psi_t with its own per-step weight w_t (or a per-component combination of two such
sums), so all of them are computed from the same per-step score vectors
(torch.func.vmap(grad(log pi))) of the same episodes. Per estimator: the total variance of one
batch estimate (the trace of its covariance over the M batches) and its ratio to R(tau)'s, and
its bias statistic

    z = ||mean of the M batch estimates - g_ref|| / sqrt( tr Cov_est / M + tr Cov_ref / K_ref ),

for two independent unbiased means E||xbar - ybar||^2 = tr Cov_x / M + tr Cov_y / K_ref
exactly, so z is about 1 for an unbiased estimator and grows as sqrt(M) for a biased one; the
scripts' own form sum_t psi_t (G_t - V(s_t)), without gamma^t, is one of the biased ones.

Then importance sampling: episodes from a behaviour policy q shifted away from p by c (the
Gaussian's mean moved by c standard deviations; the logits moved by c times a fixed direction),
the same gradient of J(p) estimated with the trajectory weight prod_t p/q (unbiased), the
per-decision weights (unbiased), PPO's per-step ratio p_t/q_t (biased: it ignores that q visits
other states), and no correction; variance, bias and the weights' effective sample size against
the KL (K/2 episodes for each q). Last, on CartPole-v1, learning curves of a tiny REINFORCE loop
with the estimators R(tau), reward-to-go and reward-to-go - V, 3 seeds of 100k steps
(reinforce.py's own --baseline none/mean/value comparison is in algos/reinforce.md, Results).

Writes benchmark/results/pg_variance/<env>.md (tables, with the command, machine and package
versions), <env>.csv (every number), <env>_*.png plots. Deterministic given --seed.
Each formula is one small function below with its equation beside it; tests/test_pg_variance.py
checks them against closed forms.
"""

import argparse
import contextlib
import csv
import io
import os
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
from torch.func import functional_call, grad, vmap

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmark.common import REPO, load_script, machine_description  # noqa: E402

reinforce = load_script("reinforce")

GAMMA = 0.99
ENVS = ["CartPole-v1", "InvertedPendulum-v5"]
SNAPSHOT_STEPS = {"CartPole-v1": 10_000, "InvertedPendulum-v5": 20_000}  # partly trained
KL_TARGETS = [0.0, 0.001, 0.003, 0.01, 0.03, 0.1]  # KL[p || q] per step of the behaviour policies
OUT = os.path.join(REPO, "benchmark", "results", "pg_variance")


# ============================================================================================
# The estimators: each is sum_t w_t psi_t (psi_t = grad log pi(a_t|s_t)) with its own weight w_t
# ============================================================================================

def discounts(length, gamma):
    # gamma^t, t = 0 .. T-1
    return gamma ** np.arange(length, dtype=np.float64)


def trajectory_return(rewards, gamma):
    # R(tau) = sum_t gamma^t r_t
    return float(np.dot(discounts(len(rewards), gamma), rewards))


def reward_to_go(rewards, gamma):
    # G_t = sum_{t' >= t} gamma^(t' - t) r_t'   (reinforce.py's discounted_reward_to_go on one episode)
    rewards = np.asarray(rewards, np.float64)[:, None]
    dones = np.zeros_like(rewards, bool)
    dones[-1] = True
    return reinforce.discounted_reward_to_go(rewards, dones, np.zeros_like(rewards), gamma)[:, 0]


def score_sum(scores, weights):
    # sum_t w_t psi_t, psi_t = grad log pi(a_t|s_t): scores [T, P], weights [T] or [T, k] -> [P] or [P, k]
    return np.asarray(scores, np.float64).T @ np.asarray(weights, np.float64)


def whole_return_weights(rewards, gamma, b=0.0):
    # g = sum_t psi_t (R(tau) - b): the same weight R(tau) - b at every step
    return np.full(len(rewards), trajectory_return(rewards, gamma) - b)


def reward_to_go_weights(rewards, gamma, baseline=0.0):
    # g = sum_t psi_t gamma^t (G_t - b(s_t)): reward-to-go, with b(s_t) a constant or V(s_t)
    return discounts(len(rewards), gamma) * (reward_to_go(rewards, gamma) - baseline)


def script_weights(rewards, gamma, baseline=0.0):
    # g = sum_t psi_t (G_t - b(s_t)): the scripts' form, without gamma^t (biased for grad J)
    return reward_to_go(rewards, gamma) - baseline


def batch_mean_weights(batch_rewards, gamma):
    # A_t = G_t - mean of G over every step of the batch (reinforce.py's baseline_advantages
    # "mean"): the baseline depends on the episode's own returns, so it is slightly biased;
    # returns each episode's weights gamma^t A_t
    returns = [reward_to_go(r, gamma) for r in batch_rewards]
    advantages = reinforce.baseline_advantages(np.concatenate(returns), None, "mean")
    ends = np.cumsum([len(r) for r in returns])[:-1]
    return [discounts(len(a), gamma) * a for a in np.split(advantages, ends)]


def optimal_constant_baseline(score_sums, returns, weights=None):
    # b*_k = E[Psi_k^2 R(tau)] / E[Psi_k^2], Psi = sum_t psi_t: the b of least Var[Psi_k (R - b)]
    # score_sums [K, P], returns [K]; weights: probabilities of the K trajectories (default equal)
    sq = np.asarray(score_sums, np.float64) ** 2
    return np.average(sq * np.asarray(returns)[:, None], axis=0, weights=weights) / np.average(
        sq, axis=0, weights=weights
    )


def optimal_scalar_baseline(score_sums, returns, weights=None):
    # b* = E[||Psi||^2 R(tau)] / E[||Psi||^2]: the one b of least tr Cov[Psi (R - b)]
    sq = (np.asarray(score_sums, np.float64) ** 2).sum(1)
    return np.average(sq * returns, weights=weights) / np.average(sq, weights=weights)


def least_variance_coefficient(u, v, weights=None):
    # b* = E[u . v] / E[v . v]: the b of least tr Cov[u - b v] when E[v] = 0 (u, v: [K, P] per
    # episode). u = Psi R(tau), v = Psi gives optimal_scalar_baseline; u = sum_t psi_t gamma^t G_t,
    # v = sum_t psi_t gamma^t the constant baseline of least variance for reward-to-go
    u, v = np.asarray(u, np.float64), np.asarray(v, np.float64)
    return np.average((u * v).sum(1), weights=weights) / np.average((v * v).sum(1), weights=weights)


# ---- importance sampling: episodes from q, the gradient of J at p; psi_t = grad log p(a_t|s_t)

def importance_weight(logp, logq):
    # p(a|s) / q(a|s) = exp(log p - log q)
    return np.exp(np.asarray(logp, np.float64) - np.asarray(logq, np.float64))


def trajectory_importance_weight(logp, logq):
    # w(tau) = p(tau) / q(tau) = prod_t p(a_t|s_t) / q(a_t|s_t)   (the transitions cancel; t: last axis)
    return np.exp(np.sum(np.asarray(logp, np.float64) - np.asarray(logq, np.float64), axis=-1))


def trajectory_is_weights(rewards, gamma, values, logp, logq):
    # g = w(tau) sum_t psi_t gamma^t (G_t - V(s_t)):  E_q[g] = E_p[sum_t psi_t gamma^t (G_t - V)]
    return trajectory_importance_weight(logp, logq) * reward_to_go_weights(rewards, gamma, values)


def per_decision_is_weights(rewards, gamma, values, logp, logq):
    # g = sum_t psi_t [ sum_{t' >= t} gamma^t' r_t' w_{0:t'} - gamma^t V(s_t) w_{0:t} ],
    # w_{0:t} = prod_{t'' <= t} p/q: each term weighted only by the actions it depends on (unbiased)
    w = np.exp(np.cumsum(np.asarray(logp, np.float64) - np.asarray(logq, np.float64)))
    disc = discounts(len(rewards), gamma)
    weighted_tail = np.cumsum((disc * rewards * w)[::-1])[::-1]
    return weighted_tail - disc * values * w


def ppo_ratio_weights(rewards, gamma, values, logp, logq):
    # g = sum_t (p_t / q_t) psi_t gamma^t (G_t - V(s_t)): the gradient of PPO's surrogate
    # sum_t (pi_theta / pi_old) A_t at pi_old = q; biased for grad J(p): q's states and G_t stay
    return importance_weight(logp, logq) * reward_to_go_weights(rewards, gamma, values)


def effective_sample_size(w):
    # ESS = (sum_i w_i)^2 / sum_i w_i^2   (K for equal weights, 1 when one weight dominates)
    w = np.asarray(w, np.float64)
    return float(w.sum() ** 2 / (w**2).sum())


def gaussian_shift_kl(c, action_dims=1):
    # KL[N(mu, sigma^2) || N(mu + c sigma, sigma^2)] = c^2 / 2 per action dimension
    return action_dims * c**2 / 2


def gaussian_weight_variance(kl):
    # Var_q[p/q] = E_q[(p/q)^2] - 1 = exp(2 KL[p||q]) - 1 for two Gaussians of equal variance
    return np.expm1(2 * kl)


# ---- statistics of M batch estimates

def batch_means(per_episode, n):
    # one batch estimate = (1/N) sum_{i in batch} g_i:  [K, ...] -> [K // N, ...]
    k = len(per_episode) // n * n
    return per_episode[:k].reshape(k // n, n, *per_episode.shape[1:]).mean(1)


def total_variance(estimates):
    # tr Cov[g] = sum_k Var[g_k], over the rows of estimates [M, P] (unbiased, ddof 1)
    return float(np.var(estimates, axis=0, ddof=1).sum())


def bias_statistic(mean, tr_cov, m, ref_mean, ref_tr_cov, ref_m):
    # z = ||xbar - ybar|| / sqrt(tr Cov_x / M + tr Cov_y / M_ref): E[z^2] = 1 when both are
    # unbiased means of independent samples; a bias adds ||bias||^2 / (that) to z^2
    return float(np.linalg.norm(mean - ref_mean) / np.sqrt(tr_cov / m + ref_tr_cov / ref_m))


def cosine(x, y):
    # cos(x, y) = <x, y> / (||x|| ||y||)
    return float(np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y)))


# ============================================================================================
# The policy snapshot, its episodes and its per-step score vectors
# ============================================================================================

def train_snapshot(env_id, steps, seed, workdir):
    """reinforce.py's own train(Args(..., save_model=True)), then its load_checkpoint: the agent
    and its frozen observation statistics."""
    args = reinforce.Args(env_id=env_id, total_timesteps=steps, seed=seed, save_model=True, eval_episodes=5)
    previous = os.getcwd()
    os.chdir(workdir)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            result = reinforce.train(args)
        agent, obs_rms, _ = reinforce.load_checkpoint(os.path.join(result["run_dir"], "model.pt"), env_id)
    finally:
        os.chdir(previous)
    agent.eval()
    return agent, obs_rms, result


class Policy:
    """p: the snapshot's actor (obs normalised by frozen statistics); q: p with its Gaussian mean
    moved by c standard deviations, or its logits by c times a fixed unit direction."""

    def __init__(self, agent, obs_rms=None):
        self.agent, self.obs_rms, self.continuous = agent, obs_rms, agent.continuous
        n_out = agent.actor[-1].out_features
        direction = torch.linspace(1.0, -1.0, n_out)  # discrete: (1, -1)/sqrt(2) for two actions
        self.direction = direction / direction.norm()

    def prepare(self, obs):
        if self.obs_rms is None:
            return np.asarray(obs, np.float32)
        return reinforce.normalize_obs(obs, self.obs_rms)

    def log_std(self, out):
        return self.agent.actor_logstd.expand_as(out)

    def shifted(self, out, c):
        # continuous: mu_q = mu_p + c sigma in every action dimension; discrete: l_q = l_p + c d
        if self.continuous:
            return out + c * self.log_std(out).exp()
        return out + c * self.direction

    def log_prob(self, out, action):
        if self.continuous:
            return reinforce.gaussian_log_prob(out, self.log_std(out), action)
        return reinforce.categorical_log_prob(out, action)

    def kl(self, out_p, out_q):
        if self.continuous:
            log_std = self.log_std(out_p)
            return reinforce.gaussian_kl(out_p, log_std, out_q, log_std)
        return reinforce.categorical_kl(out_p, out_q)

    def sample(self, out, generator):
        if self.continuous:
            return out + self.log_std(out).exp() * torch.randn(out.shape, generator=generator)
        return torch.multinomial(torch.softmax(out, -1), 1, generator=generator).squeeze(-1)


@dataclass
class Episode:
    obs: np.ndarray  # [T, obs_dim] as the network sees them (normalised)
    actions: np.ndarray  # [T] or [T, act_dim], sampled from q (q = p on-policy)
    rewards: np.ndarray  # [T], raw
    logp: np.ndarray  # [T] log p(a_t|s_t)
    logq: np.ndarray  # [T] log q(a_t|s_t)
    kl: np.ndarray  # [T] KL[p(.|s_t) || q(.|s_t)]
    truncated: bool
    index: int  # the order in which the episodes were started


def sample_episodes(policy, env_id, seed, episodes=None, min_steps=None, shift=0.0, num_envs=16):
    """Complete episodes from q (p shifted by `shift`), num_envs at a time: `episodes` of them, or
    as many as are started before the finished ones hold min_steps steps. Episode i resets with
    its own seed; the actions come from one generator seeded with `seed`."""
    envs = [gym.make(env_id) for _ in range(num_envs)]
    generator = torch.Generator().manual_seed(seed)
    low, high = (envs[0].action_space.low, envs[0].action_space.high) if policy.continuous else (None, None)
    finished, started, finished_steps = [], 0, 0
    current, obs = [None] * num_envs, [None] * num_envs

    def more():
        return started < episodes if episodes is not None else finished_steps < min_steps

    def start(i):
        nonlocal started
        env_seed = int(np.random.SeedSequence([seed, started]).generate_state(1)[0])
        obs[i], _ = envs[i].reset(seed=env_seed)
        current[i] = {"index": started, "obs": [], "actions": [], "rewards": [], "logp": [], "logq": [], "kl": []}
        started += 1

    for i in range(num_envs):
        if more():
            start(i)
    while any(c is not None for c in current):
        active = [i for i in range(num_envs) if current[i] is not None]
        x = policy.prepare(np.stack([obs[i] for i in active]))
        with torch.inference_mode():
            out_p = policy.agent.actor(torch.from_numpy(x))
            out_q = policy.shifted(out_p, shift) if shift else out_p
            action = policy.sample(out_q, generator)
            logp, logq = policy.log_prob(out_p, action), policy.log_prob(out_q, action)
            kl = policy.kl(out_p, out_q) if shift else torch.zeros(len(active))
        action, logp, logq, kl = action.numpy(), logp.numpy(), logq.numpy(), kl.numpy()
        for j, i in enumerate(active):
            a = np.clip(action[j], low, high) if policy.continuous else int(action[j])
            next_obs, reward, terminated, truncated, _ = envs[i].step(a)
            ep = current[i]
            for key, value in (("obs", x[j]), ("actions", action[j]), ("rewards", reward), ("logp", logp[j]),
                               ("logq", logq[j]), ("kl", kl[j])):
                ep[key].append(value)
            obs[i] = next_obs
            if terminated or truncated:
                finished.append(Episode(
                    np.array(ep["obs"]), np.array(ep["actions"]), np.array(ep["rewards"], np.float64),
                    np.array(ep["logp"]), np.array(ep["logq"]), np.array(ep["kl"]), bool(truncated), ep["index"],
                ))
                finished_steps += len(ep["rewards"])
                current[i] = None
                if more():
                    start(i)
    for env in envs:
        env.close()
    return sorted(finished, key=lambda e: e.index)


def actor_parameters(agent):
    """The actor's parameters (and the Gaussian's log-std): the theta of log pi_theta."""
    params = {k: v.detach() for k, v in agent.actor.named_parameters()}
    if agent.continuous:
        params["log_std"] = agent.actor_logstd.detach()
    return params


def make_score_function(policy):
    """psi(s, a) = grad_theta log pi_theta(a|s) of one step, vectorised over steps (vmap)."""
    agent = policy.agent

    def log_prob(params, obs, action):
        out = functional_call(agent.actor, {k: v for k, v in params.items() if k != "log_std"}, (obs,))
        if agent.continuous:
            return reinforce.gaussian_log_prob(out, params["log_std"].expand_as(out), action)
        return reinforce.categorical_log_prob(out, action)

    return vmap(grad(log_prob), in_dims=(None, 0, 0))


def episode_score_sums(policy, episodes, weights, group_steps=2048):
    """sum_t w_t psi_t of each episode for each column of its weights [T_i, k]: yields one
    [P, k] array per episode, in order. The per-step scores psi_t (P floats a step) are made a
    group of episodes at a time and dropped after use."""
    params, score = actor_parameters(policy.agent), make_score_function(policy)
    group = []

    def flush():
        obs = torch.from_numpy(np.concatenate([episodes[i].obs for i in group]))
        actions = torch.from_numpy(np.concatenate([episodes[i].actions for i in group]))
        g = score(params, obs, actions)
        flat = torch.cat([g[k].reshape(len(obs), -1) for k in params], 1).numpy()
        ends = np.cumsum([len(episodes[i].rewards) for i in group])[:-1]
        for i, scores in zip(group, np.split(flat, ends)):
            yield score_sum(scores, weights[i])
        group.clear()

    steps = 0
    for i, episode in enumerate(episodes):
        group.append(i)
        steps += len(episode.rewards)
        if steps >= group_steps:
            yield from flush()
            steps = 0
    if group:
        yield from flush()


def fit_value_function(obs, returns, seed, epochs=20, batch=256, hidden=64):
    """V(s) ~ E[G_t | s_t = s]: a 64-64 tanh MLP (like the scripts' critics) fitted by least
    squares, min_V mean_t (V(s_t) - G_t)^2, with Adam on an independent sample."""
    torch.manual_seed(seed)
    mean, std = float(returns.mean()), float(returns.std() + 1e-8)
    net = nn.Sequential(nn.Linear(obs.shape[1], hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.from_numpy(obs)
    y = torch.from_numpy(((returns - mean) / std).astype(np.float32))
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=generator).split(batch):
            loss = ((net(x[idx]).squeeze(-1) - y[idx]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

    def value(o):
        with torch.inference_mode():
            return mean + std * net(torch.from_numpy(o)).squeeze(-1).numpy().astype(np.float64)

    return value


def per_component_baseline_estimate(psi_r, psi, b):
    # g_k = Psi_k R(tau) - b_k Psi_k = sum_t psi_t,k (R(tau) - b_k): one constant per component
    return psi_r - b * psi


# ============================================================================================
# (a)-(c): every estimator on the same episodes of the snapshot
# ============================================================================================

# name, per-step weight w_t of sum_t w_t psi_t, unbiased for grad J?
ESTIMATORS = [
    ("R(tau)", "R(tau)", True),
    ("R(tau) - b, b = mean R(tau)", "R(tau) - b", True),
    ("R(tau) - b*_k per component", "R(tau) - b*_k", True),
    ("R(tau) - b* scalar", "R(tau) - b*", True),
    ("reward-to-go", "gamma^t G_t", True),
    ("reward-to-go - b, b = mean G_t", "gamma^t (G_t - b)", True),
    ("reward-to-go - b*, least-variance constant", "gamma^t (G_t - b*)", True),
    ("reward-to-go - batch mean (reinforce.py's 'mean')", "gamma^t (G_t - mean of the batch's G)", False),
    ("the same, the mean over batches of 2", "gamma^t (G_t - mean of 2 episodes' G)", False),
    ("the same, over 1 episode (its own mean G_t)", "gamma^t (G_t - mean of the episode's G)", False),
    ("reward-to-go - V(s_t)", "gamma^t (G_t - V(s_t))", True),
    ("scripts' form: G_t (--baseline none)", "G_t", False),
    ("scripts' form: G_t - V(s_t) (--baseline value)", "G_t - V(s_t)", False),
]


def estimator_weights(episode, baselines, value, batch_mean):
    """[T, 14]: the per-step weights of the estimators of ESTIMATORS (the third column holds the
    weights of Psi R(tau); R(tau) - b*_k is combined per component from it and the last column, 1).
    batch_mean: the episode's weights with the batch-mean baseline over N, 2 and 1 episodes."""
    r, v = episode.rewards, value(episode.obs)
    return np.column_stack([
        whole_return_weights(r, GAMMA),
        whole_return_weights(r, GAMMA, baselines["mean R"]),
        whole_return_weights(r, GAMMA),
        whole_return_weights(r, GAMMA, baselines["b* scalar"]),
        reward_to_go_weights(r, GAMMA),
        reward_to_go_weights(r, GAMMA, baselines["mean G"]),
        reward_to_go_weights(r, GAMMA, baselines["b* reward-to-go"]),
        *batch_mean,
        reward_to_go_weights(r, GAMMA, v),
        script_weights(r, GAMMA),
        script_weights(r, GAMMA, v),
        np.ones(len(r)),  # Psi = sum_t psi_t
    ])


def batched(policy, episodes, weights, n):
    """[M, k, P]: the batch means (1/N) sum_i sum_t w_t psi_t over M = K // N batches of N episodes."""
    sums = np.stack([g.T for g in episode_score_sums(policy, episodes, weights)])
    return batch_means(sums, n)


def estimator_table(estimates, names, g_ref, ref_tr_cov, ref_m, baseline_name):
    """Per estimator [M, P]: tr Cov, its ratio to baseline_name's, bias statistic, cosine."""
    m = len(next(iter(estimates.values())))
    rows = {}
    for name in names:
        x = estimates[name]
        mean, tr = x.mean(0), total_variance(x)
        rows[name] = {
            "tr_cov": tr,
            "rel_std": float(np.sqrt(tr) / np.linalg.norm(g_ref)),
            "z": bias_statistic(mean, tr, m, g_ref, ref_tr_cov, ref_m),
            "cosine": cosine(mean, g_ref),
            "mean_norm": float(np.linalg.norm(mean)),
        }
    for name in names:
        rows[name]["ratio"] = rows[name]["tr_cov"] / rows[baseline_name]["tr_cov"]
    return rows


def bootstrap_ratio(x, y, seed, resamples=400):
    """95% interval of tr Cov[x] / tr Cov[y] ([M, P] each, the same batches) when the M batches
    are resampled with replacement; uses the batches' Gram matrices: tr Cov of a resample with
    counts c is (sum_j c_j ||x_j||^2 - c^T X X^T c / M) / (M - 1)."""
    m = len(x)
    gx, gy = x @ x.T, y @ y.T
    counts = np.random.default_rng(seed).multinomial(m, np.full(m, 1.0 / m), size=resamples).astype(np.float64)

    def trace(gram, c):
        return (c @ np.diag(gram) - np.einsum("ri,ij,rj->r", c, gram, c) / m) / (m - 1)

    ratios = trace(gx, counts) / trace(gy, counts)
    return float(np.percentile(ratios, 2.5)), float(np.percentile(ratios, 97.5))


def bootstrap_minimiser_se(x, y, seed, resamples=400):
    """Standard error of b = B / C = sum_k Cov[x_k, y_k] / sum_k Var[y_k] ([M, P] each) when the
    M batches are resampled with replacement (Gram matrices, as in bootstrap_ratio)."""
    m = len(x)
    gxy, gyy = x @ y.T, y @ y.T
    counts = np.random.default_rng(seed).multinomial(m, np.full(m, 1.0 / m), size=resamples).astype(np.float64)

    def cross(gram, c):
        return c @ np.diag(gram) - np.einsum("ri,ij,rj->r", c, gram, c) / m

    return float(np.std(cross(gxy, counts) / cross(gyy, counts)))


def on_policy_study(policy, env_id, episodes, n, seed, log):
    """(a)-(c). Returns the results and what the importance-sampling study reuses."""
    k_fit, k_ref = max(episodes // 2, 2 * n), episodes
    t0 = time.time()
    fit = sample_episodes(policy, env_id, seed=seed * 1000 + 1, episodes=k_fit)
    returns_fit = np.array([trajectory_return(e.rewards, GAMMA) for e in fit])
    rtg_fit = np.concatenate([reward_to_go(e.rewards, GAMMA) for e in fit])
    fit_weights = [np.column_stack([np.ones(len(e.rewards)), reward_to_go_weights(e.rewards, GAMMA),
                                    discounts(len(e.rewards), GAMMA)]) for e in fit]
    sums = np.stack(list(episode_score_sums(policy, fit, fit_weights)))  # [K_fit, P, 3]
    psi_fit = sums[:, :, 0]
    baselines = {
        "mean R": float(returns_fit.mean()),
        "mean G": float(rtg_fit.mean()),
        "b*_k": optimal_constant_baseline(psi_fit, returns_fit),
        "b* scalar": optimal_scalar_baseline(psi_fit, returns_fit),
        "b* reward-to-go": least_variance_coefficient(sums[:, :, 1], sums[:, :, 2]),
    }
    # the standard error of b* scalar: bootstrap over the fit sample's episodes
    sq = (psi_fit**2).sum(1)
    idx = np.random.default_rng(seed).integers(0, k_fit, size=(400, k_fit))
    baselines["b* scalar se"] = float(np.std((sq[idx] * returns_fit[idx]).sum(1) / sq[idx].sum(1)))
    del sums, psi_fit
    value = fit_value_function(np.concatenate([e.obs for e in fit]), rtg_fit, seed)
    log(f"  fit sample: {k_fit} episodes, {len(rtg_fit)} steps; b = {baselines['mean R']:.2f}, "
        f"b* = {baselines['b* scalar']:.2f} ({time.time() - t0:.0f} s)")

    t0 = time.time()
    ref = sample_episodes(policy, env_id, seed=seed * 1000 + 2, episodes=k_ref)
    ref_weights = [reward_to_go_weights(e.rewards, GAMMA, value(e.obs))[:, None] for e in ref]
    total, total_sq = 0.0, 0.0
    for g in episode_score_sums(policy, ref, ref_weights):
        total, total_sq = total + g[:, 0], total_sq + g[:, 0] ** 2
    g_ref = total / k_ref
    ref_tr_cov = float(((total_sq - k_ref * g_ref**2) / (k_ref - 1)).sum())  # per episode
    ref_returns = np.concatenate([reward_to_go(e.rewards, GAMMA) for e in ref])
    explained = reinforce.explained_variance(np.concatenate([value(e.obs) for e in ref]), ref_returns)
    log(f"  reference sample: {k_ref} episodes ({time.time() - t0:.0f} s)")

    t0 = time.time()
    main = sample_episodes(policy, env_id, seed=seed * 1000 + 3, episodes=episodes)
    batch_mean = [[], [], []]  # the batch-mean baseline over the batches of N, over pairs, over single episodes
    for column, size in zip(batch_mean, (n, 2, 1)):
        for i in range(0, len(main), size):
            column += batch_mean_weights([e.rewards for e in main[i : i + size]], GAMMA)
    weights = [estimator_weights(e, baselines, value, b) for e, b in zip(main, zip(*batch_mean))]
    b = batched(policy, main, weights, n)  # [M, 14, P]
    names = [name for name, _, _ in ESTIMATORS]
    estimates = {name: b[:, j] for j, name in enumerate(names)}
    estimates[names[2]] = per_component_baseline_estimate(b[:, 2], b[:, 13], baselines["b*_k"])
    rows = estimator_table(estimates, names, g_ref, ref_tr_cov, k_ref, "R(tau)")
    for j, name in enumerate(names):
        rows[name]["ratio_ci"] = bootstrap_ratio(estimates[name], estimates["R(tau)"], seed + j)
    log(f"  main sample: {episodes} episodes in {len(b)} batches of {n} ({time.time() - t0:.0f} s)")

    # (c): tr Cov[Psi (R - b)] of a batch is the parabola A - 2 b B + b^2 C in b
    psi_r, psi = b[:, 0], b[:, 13]
    var_r, var_psi = np.var(psi_r, 0, ddof=1), np.var(psi, 0, ddof=1)
    cov = ((psi_r - psi_r.mean(0)) * (psi - psi.mean(0))).sum(0) / (len(b) - 1)
    scan = {"A": float(var_r.sum()), "B": float(cov.sum()), "C": float(var_psi.sum()),
            "per_component_min": float((var_r - cov**2 / var_psi).sum()),
            "b_k_in_sample": cov / var_psi, "var_psi": var_psi,
            "minimiser_se": bootstrap_minimiser_se(psi_r, psi, seed)}

    lengths = np.array([len(e.rewards) for e in main])
    info = {
        "k_fit": k_fit, "k_ref": k_ref, "episodes": episodes, "n": n, "m": len(b), "params": len(g_ref),
        "fit_steps": len(rtg_fit), "ref_steps": len(ref_returns), "main_steps": int(lengths.sum()),
        "mean_return": float(np.mean([e.rewards.sum() for e in main])),
        "std_return": float(np.std([e.rewards.sum() for e in main])),
        "mean_length": float(lengths.mean()), "max_length": int(lengths.max()),
        "truncated": float(np.mean([e.truncated for e in main])),
        "mean_discounted_return": float(np.mean([trajectory_return(e.rewards, GAMMA) for e in main])),
        "explained_variance": float(explained), "g_ref_norm": float(np.linalg.norm(g_ref)),
        "ref_tr_cov_episode": ref_tr_cov,
    }
    return {"rows": rows, "baselines": baselines, "scan": scan, "info": info,
            "g_ref": g_ref, "ref_tr_cov": ref_tr_cov, "fit": fit, "value": value}


# ============================================================================================
# (d): importance sampling from a behaviour policy q moved away from p
# ============================================================================================

IS_ESTIMATORS = [
    ("trajectory weight prod_t p/q", trajectory_is_weights, True),
    ("per-decision weights w_{0:t}", per_decision_is_weights, True),
    ("PPO's per-step ratio p_t/q_t", ppo_ratio_weights, False),
    ("no correction", lambda r, g, v, lp, lq: reward_to_go_weights(r, g, v), False),
]


def shift_for_kl(policy, fit, kl):
    """c such that the mean KL[p||q] per step over the fit sample's states is kl: closed form
    c = sqrt(2 kl / dims) for the Gaussian, bisection for the logits."""
    if kl == 0:
        return 0.0
    with torch.inference_mode():
        out = policy.agent.actor(torch.from_numpy(np.concatenate([e.obs for e in fit])))
    if policy.continuous:
        return float(np.sqrt(2 * kl / out.shape[1]))
    lo, hi = 0.0, 50.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if policy.kl(out, policy.shifted(out, mid)).mean().item() < kl else (lo, mid)
    return (lo + hi) / 2


def importance_sampling_study(policy, env_id, on_policy, episodes, n, seed, kl_targets, log):
    fit, value, g_ref = on_policy["fit"], on_policy["value"], on_policy["g_ref"]
    with torch.inference_mode():
        fit_out = [policy.agent.actor(torch.from_numpy(e.obs)) for e in fit]
    results = []
    for j, target in enumerate(kl_targets):
        t0 = time.time()
        c = shift_for_kl(policy, fit, target)
        eps = sample_episodes(policy, env_id, seed=seed * 1000 + 10 + j, episodes=episodes, shift=c)
        weights = [np.column_stack([f(e.rewards, GAMMA, value(e.obs), e.logp, e.logq) for _, f, _ in IS_ESTIMATORS])
                   for e in eps]
        b = batched(policy, eps, weights, n)
        names = [name for name, _, _ in IS_ESTIMATORS]
        estimates = {name: b[:, i] for i, name in enumerate(names)}
        rows = estimator_table(estimates, names, g_ref, on_policy["ref_tr_cov"], on_policy["info"]["k_ref"], names[0])
        for name in names:  # on-policy: reward-to-go - V(s_t), tr Cov of a batch from the reference sample
            rows[name]["ratio_on_policy"] = rows[name]["tr_cov"] / (on_policy["ref_tr_cov"] / n)
        w = np.array([trajectory_importance_weight(e.logp, e.logq) for e in eps])
        with torch.inference_mode():  # sum_t KL_t along p's own episodes (the fit sample)
            kl_p = np.array([policy.kl(o, policy.shifted(o, c)).sum().item() if c else 0.0 for o in fit_out])
        results.append({
            "target": target, "c": c,
            "kl_step": float(np.concatenate([e.kl for e in eps]).mean()),
            "kl_traj": float(np.mean([e.kl.sum() for e in eps])),
            "kl_step_p": float(kl_p.sum() / sum(len(e.rewards) for e in fit)),
            "w_mean": float(w.mean()), "w_var": float(w.var(ddof=1)), "w_max_share": float(w.max() / w.sum()),
            "ess_fraction": effective_sample_size(w) / len(w),
            "w_var_predicted": float(np.mean(gaussian_weight_variance(kl_p))),
            "mean_length": float(np.mean([len(e.rewards) for e in eps])),
            "mean_return": float(np.mean([e.rewards.sum() for e in eps])),
            "rows": rows, "m": len(b),
        })
        log(f"  IS c={c:.3f}: KL/step {results[-1]['kl_step']:.4f}, ESS/K {results[-1]['ess_fraction']:.3f} "
            f"({time.time() - t0:.0f} s)")
    return results


# ============================================================================================
# Learning curves: a tiny REINFORCE loop with three of the estimators (CartPole-v1)
# ============================================================================================

LEARNING_FORMS = {
    "R(tau)": lambda r, v: whole_return_weights(r, GAMMA),
    "reward-to-go": lambda r, v: reward_to_go_weights(r, GAMMA),
    "reward-to-go - V(s_t)": lambda r, v: reward_to_go_weights(r, GAMMA, v),
}


def learning_curve(env_id, form, seed, total_steps, batch_steps=1000, lr=5e-3, value_steps=10, num_envs=4):
    """REINFORCE: each update samples complete episodes (at least batch_steps steps, num_envs at a
    time, as reinforce.py's defaults: 4 environments, 1000 steps) and takes one
    Adam step on -(1/N) sum_i sum_t w_t log pi(a_t|s_t), w_t the form's weight; for the value
    form V(s) (the critic) then takes value_steps Adam steps on mean_t (V(s_t) - G_t)^2. Raw
    observations and rewards. Returns [(steps so far, mean return of the batch's episodes)]."""
    torch.manual_seed(seed)
    obs_space, action_space = reinforce.check_env(env_id)
    agent = reinforce.Agent(obs_space.shape[0], action_space)
    policy = Policy(agent)
    actor_params = list(agent.actor.parameters()) + ([agent.actor_logstd] if agent.continuous else [])
    opt = torch.optim.Adam(actor_params, lr=lr)
    value_opt = torch.optim.Adam(agent.critic.parameters(), lr=1e-2)
    steps, curve, iteration = 0, [], 0
    while steps < total_steps:
        iteration += 1
        eps = sample_episodes(policy, env_id, seed=seed * 100_000 + iteration, min_steps=batch_steps, num_envs=num_envs)
        obs = torch.from_numpy(np.concatenate([e.obs for e in eps]))
        actions = torch.from_numpy(np.concatenate([e.actions for e in eps]))
        with torch.no_grad():
            values = agent.get_value(obs).numpy().astype(np.float64)
        ends = np.cumsum([len(e.rewards) for e in eps])[:-1]
        w = np.concatenate([LEARNING_FORMS[form](e.rewards, v) for e, v in zip(eps, np.split(values, ends))])
        log_prob = policy.log_prob(agent.actor(obs), actions)
        loss = -(log_prob * torch.from_numpy(w).float()).sum() / len(eps)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if form == "reward-to-go - V(s_t)":
            targets = torch.from_numpy(np.concatenate([reward_to_go(e.rewards, GAMMA) for e in eps])).float()
            for _ in range(value_steps):
                v_loss = reinforce.value_loss(agent.get_value(obs), targets)
                value_opt.zero_grad()
                v_loss.backward()
                value_opt.step()
        steps += len(obs)
        curve.append((steps, float(np.mean([e.rewards.sum() for e in eps]))))
    return curve


# ============================================================================================
# Output: <env>.md, <env>.csv, plots
# ============================================================================================

def fmt(x, digits=3):
    if isinstance(x, str):
        return x
    if x == 0 or not np.isfinite(x):
        return f"{x:g}"
    return f"{x:.{digits}g}" if abs(x) < 1e4 else f"{x:.{digits}e}"


def csv_rows(env_id, on, is_results, curves):
    rows = []
    for key, value in on["info"].items():
        rows.append((env_id, "snapshot", key, "", value))
    for key in ("mean R", "mean G", "b* scalar", "b* scalar se", "b* reward-to-go"):
        rows.append((env_id, "baselines", key, "", on["baselines"][key]))
    bk = on["baselines"]["b*_k"]
    rows += [(env_id, "baselines", "b*_k", f"component {k}", v) for k, v in enumerate(bk)]
    for name, row in on["rows"].items():
        for metric, value in row.items():
            if metric == "ratio_ci":
                rows += [(env_id, "estimators", name, "ratio_ci_low", value[0]), (env_id, "estimators", name, "ratio_ci_high", value[1])]
            else:
                rows.append((env_id, "estimators", name, metric, value))
    for key in ("A", "B", "C", "per_component_min", "minimiser_se"):
        rows.append((env_id, "baseline_scan", key, "", on["scan"][key]))
    for res in is_results:
        prefix = f"kl_target={res['target']}"
        for key, value in res.items():
            if key != "rows":
                rows.append((env_id, "importance_sampling", prefix, key, value))
        for name, row in res["rows"].items():
            for metric, value in row.items():
                rows.append((env_id, "importance_sampling", f"{prefix}; {name}", metric, value))
    for form, runs in (curves or {}).items():
        for seed, curve in runs.items():
            rows += [(env_id, "learning_curve", f"{form}; seed {seed}", step, ret) for step, ret in curve]
    return rows


def markdown(env_id, command, machine, elapsed, cpu, on, is_results, curves, snapshot_steps, seed, plots):
    info, rows, bl, scan = on["info"], on["rows"], on["baselines"], on["scan"]
    act = "Gaussian (continuous)" if on["continuous"] else "categorical"
    lines = [
        f"# Policy-gradient variance on {env_id}",
        "",
        "Produced by:",
        "",
        f"    {command}",
        "",
        f"Machine: {machine}; {time.strftime('%Y-%m-%d')}. This environment took {elapsed:.0f} s of the run "
        f"(wall clock; {cpu:.0f} s of CPU time in one thread).",
        "",
        f"J = E[sum_t gamma^t r_t] with gamma = {GAMMA}; psi_t = grad log pi(a_t|s_t) over the actor's "
        f"P = {info['params']} parameters ({act} policy). Every estimator is sum_t w_t psi_t per episode "
        "(the functions of benchmark/pg_variance.py named below), averaged over a batch of N episodes.",
        "",
        f"**The snapshot.** `reinforce.train(Args(env_id=\"{env_id}\", total_timesteps={snapshot_steps}, seed={seed}, "
        "save_model=True))`, then `reinforce.load_checkpoint` (observation statistics frozen). Its stochastic "
        f"policy on the main sample: return {info['mean_return']:.1f} +/- {info['std_return']:.1f} "
        f"(sum of raw rewards), mean length {info['mean_length']:.1f} steps (longest {info['max_length']}), "
        f"{100 * info['truncated']:.1f}% of the episodes truncated by the time limit; R(tau) = "
        f"sum_t gamma^t r_t averages {info['mean_discounted_return']:.2f}.",
        "",
        f"**Samples** (independent, the same policy): *fit* {info['k_fit']} episodes ({info['fit_steps']} steps): "
        f"b = mean R(tau) = {bl['mean R']:.3f}, b = mean G_t = {bl['mean G']:.3f}, "
        f"b* = {bl['b* scalar']:.3f} (`optimal_scalar_baseline`), b* of reward-to-go = {bl['b* reward-to-go']:.3f} "
        f"(`least_variance_coefficient`), b*_k (`optimal_constant_baseline`; median "
        f"{np.median(bl['b*_k']):.3f}, 10-90% {np.percentile(bl['b*_k'], 10):.3f} to {np.percentile(bl['b*_k'], 90):.3f}), "
        "V(s) (`fit_value_function`: a 64-64 tanh MLP fitted by least squares to G_t; explained variance "
        f"on the reference sample {info['explained_variance']:.3f}); *reference* {info['k_ref']} episodes: "
        f"g_ref = mean of reward-to-go - V(s_t), ||g_ref|| = {info['g_ref_norm']:.4g}, tr Cov of one episode's "
        f"term {info['ref_tr_cov_episode']:.4g}; *main* {info['episodes']} episodes ({info['main_steps']} steps) in "
        f"M = {info['m']} batches of N = {info['n']}.",
        "",
        f"## (a), (b): variance and bias of one batch estimate (N = {info['n']} episodes)",
        "",
        "tr Cov: the total variance of one batch estimate, sum over the P components of their variance "
        f"over the M = {info['m']} batches. Ratio: to R(tau)'s, with a 95% bootstrap interval (batches "
        "resampled). sqrt(tr Cov)/||g_ref||: the noise of one batch estimate relative to the gradient. "
        "z = ||mean of the M batch estimates - g_ref|| / sqrt(tr Cov/M + tr Cov_ref/K_ref) (`bias_statistic`): "
        "for two independent unbiased means E||xbar - ybar||^2 = tr Cov_x/M + tr Cov_y/K_ref exactly, so z is "
        "about 1 (rarely above 2) for an unbiased estimator, and a bias adds ||bias||^2 / (tr Cov/M + "
        "tr Cov_ref/K_ref) to z^2. cos: cosine of the mean with g_ref.",
        "",
        "| estimator | w_t (per episode: sum_t w_t psi_t) | unbiased in theory | tr Cov | ratio to R(tau) [95%] | sqrt(tr Cov)/norm(g_ref) | z | cos |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, weight, unbiased in ESTIMATORS:
        r = rows[name]
        lines.append(
            f"| {name} | {weight} | {'yes' if unbiased else 'no'} | {fmt(r['tr_cov'])} | {r['ratio']:.3f} "
            f"[{r['ratio_ci'][0]:.3f}, {r['ratio_ci'][1]:.3f}] | {r['rel_std']:.2f} | {r['z']:.2f} | {r['cosine']:.4f} |"
        )
    a, b, c = scan["A"], scan["B"], scan["C"]
    b_hat = b / c

    def rel(x):
        return (a - 2 * x * b + x * x * c) / a

    bk_in = scan["b_k_in_sample"]
    weights = scan["var_psi"] / scan["var_psi"].sum()
    lines += [
        "",
        "Functions: `whole_return_weights`, `reward_to_go_weights`, `batch_mean_weights`, `script_weights`, "
        "`per_component_baseline_estimate`, `score_sum`. The scripts' form omits gamma^t: its expectation is "
        "sum_t E[psi_t G_t], not grad J (reinforce.py further divides by the batch's number of steps).",
        "",
        "## (c): the variance-optimal constant baseline",
        "",
        "tr Cov[Psi (R(tau) - b)] of a batch estimate is a parabola in b, A - 2 b B + b^2 C (A, B, C: sums over "
        "the components of Var[Psi R], Cov[Psi R, Psi], Var[Psi] over the main sample's batches), least at "
        "b = B / C. Set against b* from the formula on the independent fit sample (+/-: bootstrap standard "
        "errors, over the fit sample's episodes and over the main sample's batches):",
        "",
        "| b | value | tr Cov(b) / tr Cov(0) |",
        "|---|---|---|",
        "| none | 0 | 1 |",
        f"| mean R(tau) (fit sample) | {bl['mean R']:.3f} | {rel(bl['mean R']):.4f} |",
        f"| b* = E[norm(Psi)^2 R] / E[norm(Psi)^2] (fit sample) | {bl['b* scalar']:.3f} +/- {bl['b* scalar se']:.3f} | {rel(bl['b* scalar']):.4f} |",
        f"| the minimiser B / C on the main sample (in-sample) | {b_hat:.3f} +/- {scan['minimiser_se']:.3f} | {rel(b_hat):.4f} |",
        f"| b*_k = E[Psi_k^2 R] / E[Psi_k^2] per component (fit sample) | median {np.median(bl['b*_k']):.3f} | "
        f"{rows['R(tau) - b*_k per component']['tr_cov'] / rows['R(tau)']['tr_cov']:.4f} |",
        f"| the per-component minimisers on the main sample (in-sample) | median {np.median(bk_in):.3f} | "
        f"{scan['per_component_min'] / a:.4f} |",
        "",
        f"b*_k (fit sample) against the in-sample minimisers B_k / C_k, weighted by Var[Psi_k]: weighted mean "
        f"{np.dot(weights, bl['b*_k']):.3f} against {np.dot(weights, bk_in):.3f}; weighted correlation "
        f"{weighted_corr(bl['b*_k'], bk_in, weights):.3f}.",
        "",
        f"![tr Cov against b]({os.path.basename(plots['baseline'])})",
        "",
        "## (d): importance sampling",
        "",
        "Episodes from q, the snapshot p moved away: "
        + ("the Gaussian's mean moved by c standard deviations (KL[p||q] = c^2/2 per step exactly, "
           "`gaussian_shift_kl`)." if on["continuous"] else
           "its logits moved by c (1, -1)/sqrt(2) (c found by bisection so that the mean KL[p||q] per step "
           "over the fit sample's states hits the target; the table gives it measured on q's own episodes).")
        + f" {is_results[0]['m'] * info['n'] if is_results else 0} episodes per c, batches of N = {info['n']}. The same gradient "
        "of J(p), with p's scores psi_t = grad log p(a_t|s_t): "
        "w(tau) sum_t psi_t gamma^t (G_t - V(s_t)) with w(tau) = prod_t p/q (`trajectory_is_weights`, unbiased); "
        "per-decision weights w_{0:t} (`per_decision_is_weights`, unbiased); PPO's per-step ratio "
        "sum_t (p_t/q_t) psi_t gamma^t (G_t - V(s_t)) (`ppo_ratio_weights`: biased, q's states and q's G_t stay); "
        "no correction at all. Variance ratios are to the on-policy reward-to-go - V(s_t), tr Cov of a batch of N "
        "from the reference sample (tr Cov of one episode / N); the c = 0 rows, the same estimator on another "
        "sample, show how far such a ratio strays by chance (a few long episodes weigh heavily).",
        "",
        "The trajectory weights w(tau) (`trajectory_importance_weight`; E_q[w] = 1): predicted Var_q[w] = "
        "E_p[exp(2 sum_t KL_t)] - 1 over the fit sample's own episodes (`gaussian_weight_variance` per "
        "trajectory: exact for Gaussian steps of a fixed-length episode, here an approximation since the length "
        "depends on the actions); a sample's variance of heavy-tailed weights falls short of the true one once the "
        "effective sample size (`effective_sample_size`) is small.",
        "",
        "| c | KL/step on q's episodes | KL/step on p's | KL per episode | q's mean length | mean w | Var w | predicted Var w | ESS / K | largest w / sum w |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for res in is_results:
        lines.append(
            f"| {res['c']:.4f} | {res['kl_step']:.4f} | {res['kl_step_p']:.4f} | {res['kl_traj']:.3f} | "
            f"{res['mean_length']:.1f} | {res['w_mean']:.3f} | {fmt(res['w_var'])} | {fmt(res['w_var_predicted'])} | "
            f"{res['ess_fraction']:.3f} | {res['w_max_share']:.3f} |"
        )
    lines += [
        "",
        "| c | KL/step | estimator | tr Cov / on-policy | z | cos |",
        "|---|---|---|---|---|---|",
    ]
    for res in is_results:
        for name, _, _ in IS_ESTIMATORS:
            r = res["rows"][name]
            lines.append(f"| {res['c']:.4f} | {res['kl_step']:.4f} | {name} | {fmt(r['ratio_on_policy'])} | "
                         f"{r['z']:.2f} | {r['cosine']:.4f} |")
    lines += ["", f"![importance sampling]({os.path.basename(plots['is'])})", ""]
    if curves:
        budget = max(s for runs in curves.values() for curve in runs.values() for s, _ in curve[-1:])
        lines += [
            "## Learning curves: a tiny REINFORCE loop with three estimators",
            "",
            "`learning_curve`: batches of complete episodes (at least 1000 steps, 4 environments at a time, as "
            "reinforce.py's defaults), one Adam step (5e-3) on -(1/N) sum_i sum_t w_t log pi(a_t|s_t), raw "
            "observations and rewards, no gradient clipping; the value form's critic fitted to G_t by 10 Adam "
            f"steps per batch. Seeds {', '.join(map(str, next(iter(curves.values())).keys()))}; up to {budget} steps. "
            "Each point of a curve is the mean return of one batch's episodes. Area: the curve's mean over the "
            f"run (interpolated on a grid of steps); final: the mean of the batches that end in the last 10% "
            f"of the steps.",
            "",
            "| estimator | area, mean over seeds | final, per seed | final, mean over seeds |",
            "|---|---|---|---|",
        ]
        for form, runs in curves.items():
            area = [curve_area(curve) for curve in runs.values()]
            final = [curve_final(curve) for curve in runs.values()]
            lines.append(f"| {form} | {np.mean(area):.1f} | {', '.join(f'{x:.1f}' for x in final)} | {np.mean(final):.1f} |")
        lines += ["", f"![learning curves]({os.path.basename(plots['curves'])})", ""]
    lines += [f"![variance of the estimators]({os.path.basename(plots['variance'])})", ""]
    return "\n".join(lines)


def curve_area(curve, points=200):
    # (1 / S) integral_0^S return(s) ds of the batch means, interpolated linearly between batches
    steps, returns = np.array(curve, np.float64).T
    grid = np.linspace(steps[0], steps[-1], points)
    return float(np.interp(grid, steps, returns).mean())


def curve_final(curve, fraction=0.1):
    # mean of the batch means whose batches end in the last `fraction` of the steps
    steps, returns = np.array(curve, np.float64).T
    return float(returns[steps >= (1 - fraction) * steps[-1]].mean())


def weighted_corr(x, y, w):
    # corr_w(x, y) = cov_w(x, y) / sqrt(var_w(x) var_w(y)), weights w summing to 1
    mx, my = np.dot(w, x), np.dot(w, y)
    return float(np.dot(w, (x - mx) * (y - my)) / np.sqrt(np.dot(w, (x - mx) ** 2) * np.dot(w, (y - my) ** 2)))


def make_plots(env_id, out, on, is_results, curves):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = {k: os.path.join(out, f"{env_id}_{k}.png") for k in ("variance", "baseline", "is")}
    paths["curves"] = os.path.join(out, f"{env_id}_learning_curves.png")

    rows = on["rows"]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    names = [name for name, _, _ in ESTIMATORS]
    ratios = [rows[n]["ratio"] for n in names]
    err = np.array([[rows[n]["ratio"] - rows[n]["ratio_ci"][0], rows[n]["ratio_ci"][1] - rows[n]["ratio"]] for n in names]).T
    colors = ["tab:blue" if unbiased else "tab:red" for _, _, unbiased in ESTIMATORS]
    ax.barh(range(len(names)), ratios, xerr=err, color=colors)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("tr Cov of a batch estimate / that of R(tau)  (red: biased for grad J)")
    ax.set_title(f"{env_id}: variance of the policy-gradient estimators")
    fig.tight_layout()
    fig.savefig(paths["variance"], dpi=110)
    plt.close(fig)

    scan, bl = on["scan"], on["baselines"]
    a, b, c = scan["A"], scan["B"], scan["C"]
    b_star, b_hat = bl["b* scalar"], b / c
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, (lo, hi) in zip(axes, ((0.0, 2 * b_star), (0.95 * b_star, 1.05 * b_star))):
        grid = np.linspace(lo, hi, 300)
        ax.plot(grid, (a - 2 * grid * b + grid**2 * c) / a, color="k", lw=2, label="tr Cov(b) / tr Cov(0), main sample")
        ax.axvline(bl["mean R"], ls="--", color="tab:gray", label=f"mean R(tau) = {bl['mean R']:.2f}")
        ax.axvspan(b_star - bl["b* scalar se"], b_star + bl["b* scalar se"], color="tab:blue", alpha=0.15)
        ax.axvline(b_star, color="tab:blue", label=f"b* (fit sample) = {b_star:.2f} +/- {bl['b* scalar se']:.2f}")
        ax.axvline(b_hat, ls=":", color="tab:red", label=f"in-sample minimiser = {b_hat:.2f} +/- {scan['minimiser_se']:.2f}")
        ax.set_xlabel("constant baseline b in sum_t psi_t (R(tau) - b)")
    axes[0].set_ylabel("relative total variance")
    axes[0].set_title("the whole parabola")
    axes[1].set_title("zoomed: b* +/- 5%")
    axes[1].legend(fontsize=8)
    fig.suptitle(f"{env_id}: claim (c), the variance-optimal constant baseline")
    fig.tight_layout()
    fig.savefig(paths["baseline"], dpi=110)
    plt.close(fig)

    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 4.2))
    kl = [r["kl_step"] for r in is_results]
    for name, _, unbiased in IS_ESTIMATORS:
        style = "o-" if unbiased else "s--"
        ax1.plot(kl, [r["rows"][name]["ratio_on_policy"] for r in is_results], style, label=name)
        ax2.plot(kl, [r["rows"][name]["z"] for r in is_results], style, label=name)
    ax1.set_yscale("log")
    ax1.set_ylabel("tr Cov of a batch estimate / on-policy")
    ax1.set_title("variance of the gradient estimate")
    ax1.legend(fontsize=8)
    ax2.axhline(1, color="k", lw=0.8)
    ax2.set_yscale("log")
    ax2.set_ylabel("bias statistic z (about 1: no bias seen)")
    ax2.set_title("bias against g_ref")
    ax3.plot(kl, [max(r["w_var"], 1e-3) for r in is_results], "o-", label="Var_q[w(tau)], measured")
    ax3.plot(kl, [max(r["w_var_predicted"], 1e-3) for r in is_results], "k:", label="E_p[exp(2 sum_t KL_t)] - 1")
    ax3.set_yscale("log")
    ax3.set_ylim(1e-2, 1e4)
    ax3.set_ylabel("variance of w(tau) (the prediction leaves the plot)")
    twin = ax3.twinx()
    twin.plot(kl, [r["ess_fraction"] for r in is_results], "s-", color="tab:orange", label="ESS / K (right)")
    twin.set_ylim(0, 1.05)
    twin.set_ylabel("effective sample size / K")
    ax3.set_title("trajectory weights w(tau) = prod_t p/q")
    handles = ax3.get_legend_handles_labels()
    extra = twin.get_legend_handles_labels()
    ax3.legend(handles[0] + extra[0], handles[1] + extra[1], fontsize=8, loc="center left")
    for ax in (ax1, ax2, ax3):
        ax.set_xscale("symlog", linthresh=1e-3)
        ax.set_xlim(-1e-4, 1.5 * max(kl))
        ax.set_xlabel("KL[p || q] per step")
    fig.suptitle(f"{env_id}: importance sampling from q moved away from p")
    fig.tight_layout()
    fig.savefig(paths["is"], dpi=110)
    plt.close(fig)

    if curves:
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for form, runs in curves.items():
            grid = np.linspace(0, min(curve[-1][0] for curve in runs.values()), 50)
            ys = np.array([np.interp(grid, [s for s, _ in curve], [r for _, r in curve]) for curve in runs.values()])
            line, = ax.plot(grid, ys.mean(0), lw=2, label=form)
            ax.fill_between(grid, ys.min(0), ys.max(0), alpha=0.2, color=line.get_color())
        ax.set_xlabel("environment steps")
        ax.set_ylabel("mean return of the batch's episodes")
        ax.set_title(f"{env_id}: tiny REINFORCE, mean and min-max over {len(next(iter(curves.values())))} seeds")
        ax.legend()
        fig.tight_layout()
        fig.savefig(paths["curves"], dpi=110)
        plt.close(fig)
    return paths


def write_summary(out):
    """summary.md: the headline numbers of every <env>.csv in out, side by side (for the README)."""
    import glob

    data = {}
    for path in sorted(glob.glob(os.path.join(out, "*.csv"))):
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        if rows:
            data[rows[0]["env_id"]] = rows
    envs = [e for e in ENVS if e in data] + [e for e in data if e not in ENVS]

    def get(env, section, item, metric=""):
        for row in data[env]:
            if row["section"] == section and row["item"] == item and row["metric"] == metric:
                return float(row["value"])
        return float("nan")

    lines = ["# Policy-gradient variance: summary", "",
             f"Made by `python benchmark/pg_variance.py` from {', '.join(f'{e}.csv' for e in envs)}; every table "
             "and its definitions are in <env>.md.", "",
             "(a), (b): tr Cov of one batch estimate (N episodes) over that of R(tau); z: the bias statistic "
             "(about 1 when no bias shows, large when one does).", "",
             "| estimator | unbiased in theory | " + " | ".join(f"{e}: ratio | z" for e in envs) + " |",
             "|---|---|" + "---|---|" * len(envs)]
    for name, _, unbiased in ESTIMATORS:
        cells = [f"{get(e, 'estimators', name, 'ratio'):.3f} | {get(e, 'estimators', name, 'z'):.2f}" for e in envs]
        lines.append(f"| {name} | {'yes' if unbiased else 'no'} | " + " | ".join(cells) + " |")
    lines += ["", "(c): tr Cov(b) / tr Cov(0) of sum_t psi_t (R(tau) - b), the main sample; b* from the fit sample.", "",
              "| env_id | b = mean R(tau) | b* scalar | in-sample minimiser | b*_k per component |",
              "|---|---|---|---|---|"]
    for e in envs:
        a, b, c = (get(e, "baseline_scan", k) for k in "ABC")

        def rel(x):
            return (a - 2 * x * b + x * x * c) / a

        mean_r, b_star = get(e, "baselines", "mean R"), get(e, "baselines", "b* scalar")
        lines.append(
            f"| {e} | {mean_r:.2f}: {rel(mean_r):.4f} | {b_star:.2f} +/- {get(e, 'baselines', 'b* scalar se'):.2f}: "
            f"{rel(b_star):.4f} | {b / c:.2f} +/- {get(e, 'baseline_scan', 'minimiser_se'):.2f}: {rel(b / c):.4f} | "
            f"{get(e, 'estimators', 'R(tau) - b*_k per component', 'ratio'):.4f} |")
    lines += ["", "(d): episodes from q, KL[p||q] per step measured on them; tr Cov of a batch estimate over the "
              "on-policy one's; z against g_ref.", "",
              "| env_id | KL/step | Var w(tau) | ESS / K | trajectory weight: ratio, z | per-decision: ratio, z | "
              "PPO's per-step ratio: ratio, z, cos |",
              "|---|---|---|---|---|---|---|"]
    for e in envs:
        targets = sorted({row["item"] for row in data[e] if row["section"] == "importance_sampling" and ";" not in row["item"]},
                         key=lambda t: float(t.split("=")[1]))
        for t in targets:
            def m(name, metric):
                return get(e, "importance_sampling", f"{t}; {name}", metric)

            traj, pd, ppo = (IS_ESTIMATORS[i][0] for i in range(3))
            lines.append(
                f"| {e} | {get(e, 'importance_sampling', t, 'kl_step'):.4f} | {fmt(get(e, 'importance_sampling', t, 'w_var'))} | "
                f"{get(e, 'importance_sampling', t, 'ess_fraction'):.3f} | {fmt(m(traj, 'ratio_on_policy'))}, {m(traj, 'z'):.2f} | "
                f"{fmt(m(pd, 'ratio_on_policy'))}, {m(pd, 'z'):.2f} | {fmt(m(ppo, 'ratio_on_policy'))}, {m(ppo, 'z'):.2f}, "
                f"{m(ppo, 'cosine'):.3f} |")
    for e in envs:
        curves = {}
        for row in data[e]:
            if row["section"] == "learning_curve":
                form, seed = row["item"].rsplit("; seed ", 1)
                curves.setdefault(form, {}).setdefault(seed, []).append((float(row["metric"]), float(row["value"])))
        if curves:
            lines += ["", f"Learning curves, {e} (tiny REINFORCE loop; mean return of a batch's episodes):", "",
                      "| estimator | area, mean over seeds | final, per seed | final, mean over seeds |", "|---|---|---|---|"]
            for form, runs in curves.items():
                area = [curve_area(curve) for curve in runs.values()]
                final = [curve_final(curve) for curve in runs.values()]
                lines.append(f"| {form} | {np.mean(area):.1f} | {', '.join(f'{x:.1f}' for x in final)} | {np.mean(final):.1f} |")
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", nargs="+", default=ENVS)
    parser.add_argument("--episodes", type=int, default=None,
                        help="K, the main sample (default 2000; --quick 100); the fit sample has K/2, the reference "
                             "K, each behaviour policy K/2")
    parser.add_argument("--batch-episodes", type=int, default=10, help="N, episodes per batch estimate")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="a tiny run (100 episodes, 3 behaviour policies, short curves)")
    parser.add_argument("--out", default=None, help="output folder (default benchmark/results/pg_variance; "
                                                    "--quick: runs/pg_variance_quick)")
    args = parser.parse_args()
    episodes = args.episodes or (100 if args.quick else 2000)
    out = args.out or (os.path.join("runs", "pg_variance_quick") if args.quick else OUT)
    kl_targets = [0.0, 0.01, 0.1] if args.quick else KL_TARGETS
    curve_steps, curve_seeds = (10_000, [args.seed]) if args.quick else (100_000, [args.seed, args.seed + 1, args.seed + 2])
    command = "python benchmark/pg_variance.py" + "".join(f" {shlex.quote(a)}" for a in sys.argv[1:])
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    machine = machine_description()

    def log(message):
        print(message, flush=True)

    start, start_cpu = time.time(), time.process_time()
    for env_id in args.envs:
        t_env, cpu_env = time.time(), time.process_time()
        log(f"{env_id}:")
        with tempfile.TemporaryDirectory() as workdir:
            agent, obs_rms, _ = train_snapshot(env_id, SNAPSHOT_STEPS.get(env_id, 20_000), args.seed, workdir)
        torch.use_deterministic_algorithms(True)
        policy = Policy(agent, obs_rms)
        log(f"  snapshot trained ({time.time() - t_env:.0f} s)")
        on = on_policy_study(policy, env_id, episodes, args.batch_episodes, args.seed, log)
        on["continuous"] = policy.continuous
        is_results = importance_sampling_study(policy, env_id, on, max(episodes // 2, 2 * args.batch_episodes),
                                               args.batch_episodes, args.seed, kl_targets, log)
        curves = None
        if env_id == "CartPole-v1":
            t0 = time.time()
            curves = {form: {s: learning_curve(env_id, form, s, curve_steps) for s in curve_seeds} for form in LEARNING_FORMS}
            log(f"  learning curves ({time.time() - t0:.0f} s)")
        plots = make_plots(env_id, out, on, is_results, curves)
        elapsed, cpu = time.time() - t_env, time.process_time() - cpu_env
        with open(os.path.join(out, f"{env_id}.md"), "w") as f:
            f.write(markdown(env_id, command, machine, elapsed, cpu, on, is_results, curves,
                             SNAPSHOT_STEPS.get(env_id, 20_000), args.seed, plots))
        with open(os.path.join(out, f"{env_id}.csv"), "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["env_id", "section", "item", "metric", "value"])
            writer.writerows(csv_rows(env_id, on, is_results, curves))
        log(f"  wrote {out}/{env_id}.md ({elapsed:.0f} s, {cpu:.0f} s of CPU)")
    write_summary(out)
    log(f"total {time.time() - start:.0f} s wall clock, {time.process_time() - start_cpu:.0f} s of CPU")


if __name__ == "__main__":
    main()
