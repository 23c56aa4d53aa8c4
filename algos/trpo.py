"""TRPO: trust-region policy optimisation (and a natural-gradient step of fixed KL, a switch).

Schulman, Levine, Moritz, Jordan, Abbeel (2015), "Trust Region Policy Optimization",
arXiv:1502.05477; the natural gradient from Kakade (2001), "A Natural Policy Gradient";
advantages from Schulman et al. (2016), "High-Dimensional Continuous Control Using
Generalized Advantage Estimation", arXiv:1506.02438.

Each iteration collects T steps from N environments with the current policy pi_old, then
solves, to second order around theta_old,

    maximise   L(theta) = E_t[ pi_theta(a_t | s_t) / pi_old(a_t | s_t) A_t ]      (surrogate)
    subject to KL-bar(theta) = E_t[ KL[pi_old(.|s_t), pi_theta(.|s_t)] ] <= delta

With g = grad L and H = the Hessian of KL-bar at theta_old (the Fisher matrix),
    x = H^-1 g                  by cg_iters steps of conjugate gradient on products H v
                                (the code's H v is (H + damping I) v throughout)
    s = sqrt(2 delta / x^T H x) x                 (the full step: 0.5 s^T H s = delta)
    theta = theta_old + 0.8^j s                   (backtracking: the first j that improves
                                                   L and keeps KL-bar <= delta; else no update)
Without the line search (--no-line-search) the update is always theta_old + s: the natural
gradient direction x at the fixed KL-normalised size delta, not Kakade's natural policy
gradient theta_old + eta x with a fixed learning rate eta (whose KL grows with x^T H x).
The value function is fitted separately by minibatch Adam on L^VF = 0.5 E_t[ (V(s_t) - R_t)^2 ],
with GAE(gamma, lambda) advantages
    delta_t = r_t + gamma V(s_{t+1}) - V(s_t)      (V(s_{t+1}) = 0 after a termination)
    A_t     = delta_t + gamma lambda A_{t+1}       (the sum stops at an episode boundary)
    R_t     = A_t + V(s_t)                         (the value target)

At a time-limit truncation the episode did not really end, so V(s_{t+1}) is the value of the
final observation, not zero. The knobs that matter most: max_kl (delta), num_steps (T),
damping and cg_iters. The defaults come from three sources. OpenAI Baselines' trpo_mpi (its
MuJoCo defaults): T = 1024, delta 0.01, damping 0.1, 10 CG iterations, gamma 0.99, and the value
function fitted by Adam 1e-3 for 5 epochs of minibatches of 64 (16 per batch). sb3-contrib's
TRPO: lambda 0.95, two hidden layers of 64 tanh units, and the line search, backtracking by 0.8
up to 10 times to the first step that improves L with KL-bar within delta (trpo_mpi's has
lambda 0.98, layers of 32 units, and backtracks by 0.5, accepting KL-bar up to 1.5 delta; here
KL-bar is E[KL(pi_old || pi_theta)], where sb3-contrib measures KL(pi_theta || pi_old) and
accepts it strictly below delta). CleanRL's continuous-action wrappers, as in ppo_clip.py:
observations normalised and rewards scaled (trpo_mpi normalises observations only).
"""

import contextlib
import io
import math
import os
import random
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Literal, Optional

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import tyro
from torch.utils.tensorboard import SummaryWriter

SCRIPT = os.path.basename(__file__)


@dataclass
class Args:
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    """the name of this experiment (part of the run directory's name)"""
    seed: int = 1
    """seed of torch, numpy, random and the environments"""
    torch_deterministic: bool = True
    """use torch's deterministic algorithms (same seed, same curve)"""
    torch_threads: int = 1
    """torch intra-op threads; one is fastest for these small networks"""
    env_id: str = "HalfCheetah-v5"
    """the gymnasium environment id"""
    total_timesteps: int = 1_000_000
    """total environment steps of the run (all environments together)"""
    num_envs: int = 1
    """number of parallel environments (gymnasium SyncVectorEnv)"""
    capture_video: bool = False
    """record videos of environment 0 and of the evaluation episodes into videos/"""
    save_model: bool = False
    """save weights, observation statistics and args to runs/<run>/model.pt, then evaluate"""
    eval_episodes: int = 10
    """number of episodes of the evaluation after training or from --eval-checkpoint"""
    eval_checkpoint: Optional[str] = None
    """evaluate this saved model.pt on --env-id instead of training (env seeds: --seed + 100000)"""
    normalize_obs: bool = True
    """continuous actions only: normalise observations by running mean and std"""
    normalize_reward: bool = True
    """continuous actions only: divide rewards by the running std of the discounted return"""
    clip_actions: bool = True
    """continuous actions only: clip actions to the action space bounds before env.step"""

    # Algorithm-specific arguments
    learning_rate: float = 1e-3
    """Adam learning rate of the value function"""
    anneal_lr: bool = False
    """anneal the value function's learning rate linearly towards zero over the run"""
    num_steps: int = 1024
    """steps per environment per rollout (T)"""
    gamma: float = 0.99
    """discount factor gamma"""
    gae_lambda: float = 0.95
    """GAE lambda"""
    norm_adv: bool = True
    """normalise advantages over the batch"""
    max_kl: float = 0.01
    """trust-region size delta: the bound on the mean KL[pi_old, pi_theta]"""
    damping: float = 0.1
    """damping added to the Fisher matrix: (H + damping I) v"""
    cg_iters: int = 10
    """conjugate-gradient iterations"""
    line_search: bool = True
    """backtracking line search (--no-line-search: always the full step s, of KL size delta)"""
    backtrack_coef: float = 0.8
    """the step shrinks by this factor at each try of the line search"""
    backtrack_iters: int = 10
    """tries of the line search"""
    vf_epochs: int = 5
    """epochs of the value function's Adam"""
    vf_minibatches: int = 16
    """minibatches per value epoch; must divide num_envs * num_steps"""
    hidden_size: int = 64
    """units in each of the two hidden layers of actor and critic"""
    activation: Literal["tanh", "relu"] = "tanh"
    """nonlinearity of the hidden layers"""
    log_std_init: float = 0.0
    """continuous actions only: initial log-std of the Gaussian policy (-2: std 0.14)"""


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


def surrogate(new_log_probs, old_log_probs, advantages):
    # L(theta) = E[ pi_theta(a|s) / pi_old(a|s) A ] = E[ exp(log pi_theta - log pi_old) A ]
    return ((new_log_probs - old_log_probs).exp() * advantages).mean()


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


def flat_grad(output, params, create_graph=False):
    # the gradient of a scalar with respect to all params, as one flat vector
    grads = torch.autograd.grad(output, params, create_graph=create_graph)
    return torch.cat([g.reshape(-1) for g in grads])


def get_flat_params(params):
    return torch.cat([p.detach().reshape(-1) for p in params])


def set_flat_params(params, flat):
    offset = 0
    for p in params:
        p.data.copy_(flat[offset : offset + p.numel()].view_as(p))
        offset += p.numel()


def fisher_vector_product(mean_kl_fn, params, v, damping):
    # (H + damping I) v, where H = Hessian of the mean KL[pi_old, pi_theta] at theta = theta_old,
    # by double back-propagation: H v = grad( (grad KL)^T v ); the KL's gradient is 0 there,
    # and its Hessian is the Fisher information matrix of the policy.
    grad_kl = flat_grad(mean_kl_fn(), params, create_graph=True)
    return flat_grad(grad_kl @ v, params) + damping * v


def conjugate_gradient(Avp, b, iters=10, tol=1e-10):
    """Solve A x = b for symmetric positive definite A, given only v -> A v; x starts at 0.
    Returns x and the residual norm ||b - A x||."""
    x = torch.zeros_like(b)
    r = b.clone()  # residual b - A x
    p = b.clone()  # search direction
    rr = r @ r
    for _ in range(iters):
        if rr < tol:
            break
        Ap = Avp(p)
        alpha = rr / (p @ Ap)
        x += alpha * p
        r -= alpha * Ap
        rr_new = r @ r
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x, rr.sqrt().item()


def natural_step(x, Hx, max_kl):
    # s = sqrt(2 delta / x^T H x) x: the step along x = H^-1 g whose quadratic KL model
    #     0.5 s^T H s = delta
    return (2.0 * max_kl / (x @ Hx)).sqrt() * x


def line_search(
    surrogate_and_kl, params, full_step, max_kl, backtrack_coef=0.8, backtrack_iters=10
):
    """Try theta_old + backtrack_coef^j * full_step for j = 0, 1, ...; accept the first step
    whose surrogate improves on theta_old's and whose mean KL <= max_kl. `surrogate_and_kl()`
    returns (surrogate, mean KL) at the current parameters. If none is accepted, theta_old is
    restored. Returns (accepted, tries, surrogate improvement)."""
    theta_old = get_flat_params(params)
    surrogate_old, _ = surrogate_and_kl()
    for j in range(backtrack_iters):
        set_flat_params(params, theta_old + backtrack_coef**j * full_step)
        surrogate_new, kl = surrogate_and_kl()
        if kl <= max_kl and surrogate_new > surrogate_old:
            return True, j + 1, surrogate_new - surrogate_old
    set_flat_params(params, theta_old)
    return False, backtrack_iters, 0.0


class RunningMeanStd:
    """Running mean and variance of a stream of batches (Chan et al.'s parallel algorithm)."""

    def __init__(self, shape=()):
        self.mean = np.zeros(shape, np.float64)
        self.var = np.ones(shape, np.float64)
        self.count = 1e-4

    def update(self, x):
        batch_count = x.shape[0]
        batch_mean = x.sum(axis=0) / batch_count
        batch_var = ((x - batch_mean) ** 2).sum(axis=0) / batch_count
        delta = batch_mean - self.mean
        total = self.count + batch_count
        self.mean = self.mean + delta * batch_count / total
        m2 = (
            self.var * self.count
            + batch_var * batch_count
            + delta**2 * self.count * batch_count / total
        )
        self.var = m2 / total
        self.count = total


def normalize_obs(obs, obs_rms, clip=10.0, eps=1e-8):
    # s' = clip((s - mean) / sqrt(var + eps), -10, 10), as float32 for the network
    normalized = (obs - obs_rms.mean) / np.sqrt(obs_rms.var + eps)
    return np.clip(normalized, -clip, clip).astype(np.float32)


def scale_reward(reward, return_rms, clip=10.0, eps=1e-8):
    # r' = clip(r / sqrt(Var[G] + eps), -10, 10), where return_rms tracks G_t = gamma G_{t-1} + r_t,
    # each environment's running discounted return (reset to 0 at the end of an episode)
    return np.clip(reward / np.sqrt(return_rms.var + eps), -clip, clip)


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
    """Actor and critic, separate networks (by default 64-64 tanh). Discrete actions:
    Categorical over logits. Box actions: diagonal Gaussian with a state-independent, learned
    log-std."""

    def __init__(self, obs_dim, action_space, hidden_size=64, activation="tanh", log_std_init=0.0):
        super().__init__()
        self.continuous = isinstance(action_space, gym.spaces.Box)
        act_dim = action_space.shape[0] if self.continuous else int(action_space.n)
        self.critic = mlp(obs_dim, hidden_size, 1, out_std=1.0, activation=activation)
        self.actor = mlp(obs_dim, hidden_size, act_dim, out_std=0.01, activation=activation)
        if self.continuous:
            self.actor_logstd = nn.Parameter(torch.full((act_dim,), float(log_std_init)))

    def get_value(self, obs):
        return self.critic(obs).squeeze(-1)

    def get_action_and_value(self, obs, action=None):
        """Sample an action (if none is given); return it, log pi(a|s), H, V(s), and the
        distribution's parameters (the Gaussian's mean or the logits)."""
        out = self.actor(obs)
        if self.continuous:
            log_std = self.actor_logstd.expand_as(out)
            if action is None:
                action = out + log_std.exp() * torch.randn_like(out)
            log_prob, entropy = gaussian_log_prob(out, log_std, action), gaussian_entropy(log_std)
        else:
            if action is None:
                action = torch.multinomial(torch.softmax(out, -1), 1).squeeze(-1)
            log_prob, entropy = categorical_log_prob(out, action), categorical_entropy(out)
        return action, log_prob, entropy, self.get_value(obs), out

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


def train(args):
    """Train TRPO; returns the run directory and the (global_step, episodic_return) pairs."""
    validate_args(args)
    obs_space, action_space = check_env(args.env_id)
    continuous = isinstance(action_space, gym.spaces.Box)

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

    envs = gym.vector.SyncVectorEnv(
        [
            make_env(args.env_id, i, args.capture_video, f"videos/{run_name}")
            for i in range(args.num_envs)
        ],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    envs.action_space.seed(args.seed)
    obs_rms = RunningMeanStd(obs_space.shape) if continuous and args.normalize_obs else None
    return_rms = RunningMeanStd() if continuous and args.normalize_reward else None
    discounted_return = np.zeros(args.num_envs)
    low, high = (action_space.low, action_space.high) if continuous else (None, None)

    agent = Agent(
        obs_space.shape[0], action_space, args.hidden_size, args.activation, args.log_std_init
    )
    value_params = agent.critic.parameters()  # Adam fits only the value function
    optimizer = torch.optim.Adam(value_params, lr=args.learning_rate, eps=1e-5, fused=True)
    policy_params = list(agent.actor.parameters()) + ([agent.actor_logstd] if continuous else [])

    batch_size = args.num_envs * args.num_steps
    minibatch_size = batch_size // args.vf_minibatches
    num_iterations = args.total_timesteps // batch_size
    T, N = args.num_steps, args.num_envs
    obs_buf = np.zeros((T, N) + obs_space.shape, np.float32)
    actions_buf = np.zeros((T, N) + action_space.shape, np.float32 if continuous else np.int64)
    logprobs_buf = np.zeros((T, N), np.float32)
    rewards_buf = np.zeros((T, N), np.float32)
    terminations_buf = np.zeros((T, N), np.float32)
    dones_buf = np.zeros((T, N), np.float32)
    values_buf = np.zeros((T, N), np.float32)
    # pi_old's mean or logits
    dists_buf = np.zeros((T, N, agent.actor[-1].out_features), np.float32)
    final_values_buf = np.zeros((T, N), np.float32)  # V(final obs) where an episode was truncated

    def prepare(obs, update):
        if obs_rms is None:
            return obs.astype(np.float32)
        if update:
            obs_rms.update(obs)
        return normalize_obs(obs, obs_rms)

    episodic_returns = []
    global_step = 0
    start_time = time.time()
    print_every = max(1, num_iterations // 20)
    next_obs, _ = envs.reset(seed=args.seed)
    next_obs = prepare(next_obs, update=True)

    for iteration in range(1, num_iterations + 1):
        lr = args.learning_rate
        if args.anneal_lr:
            lr = annealed_learning_rate(args.learning_rate, iteration, num_iterations)
        optimizer.param_groups[0]["lr"] = lr

        # ---- rollout: T steps of every environment with the current policy ----
        final_values_buf[:] = 0.0
        truncated_buf = np.zeros((T, N), bool)
        for step in range(T):
            global_step += N
            obs_buf[step] = next_obs
            with torch.inference_mode():
                action, logprob, _, value, dist = agent.get_action_and_value(
                    torch.from_numpy(next_obs)
                )
            action = action.numpy()
            actions_buf[step], logprobs_buf[step] = action, logprob.numpy()
            values_buf[step], dists_buf[step] = value.numpy(), dist.numpy()

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
                    episodic_returns.append((global_step, float(ep["r"][i])))
                    writer.add_scalar("charts/episodic_return", ep["r"][i], global_step)
                    writer.add_scalar("charts/episodic_length", ep["l"][i], global_step)

        # ---- advantages: GAE(gamma, lambda), V(s_{t+1}) from the next step or the final obs ----
        with torch.inference_mode():
            last_value = agent.get_value(torch.from_numpy(next_obs)).numpy()
        next_values = np.concatenate([values_buf[1:], last_value[None]])
        next_values = np.where(truncated_buf, final_values_buf, next_values)
        advantages, returns = compute_gae(
            rewards_buf, values_buf, next_values, terminations_buf, dones_buf,
            args.gamma, args.gae_lambda,
        )

        # ---- policy update: a natural gradient step inside the trust region KL-bar <= delta ----
        b_obs = torch.from_numpy(obs_buf.reshape((-1,) + obs_space.shape))
        b_actions = torch.from_numpy(actions_buf.reshape((-1,) + action_space.shape))
        b_logprobs = torch.from_numpy(logprobs_buf.reshape(-1))
        b_advantages = torch.from_numpy(advantages.reshape(-1))
        b_returns = torch.from_numpy(returns.reshape(-1))
        b_dists = torch.from_numpy(dists_buf.reshape(batch_size, -1))
        old_log_std = agent.actor_logstd.detach().clone() if continuous else None
        b_advantages = normalize_advantages(b_advantages) if args.norm_adv else b_advantages

        def mean_kl():  # KL-bar(theta) = E_t[ KL[pi_old(.|s_t), pi_theta(.|s_t)] ]
            return agent.kl(b_dists, old_log_std, agent.actor(b_obs)).mean()

        def surrogate_and_kl():  # (L(theta), KL-bar(theta)) at the current parameters
            with torch.no_grad():
                _, newlogprob, _, _, _ = agent.get_action_and_value(b_obs, b_actions)
                return surrogate(newlogprob, b_logprobs, b_advantages).item(), mean_kl().item()

        _, newlogprob, entropy, _, _ = agent.get_action_and_value(b_obs, b_actions)
        surrogate_old = surrogate(newlogprob, b_logprobs, b_advantages)
        g = flat_grad(surrogate_old, policy_params)
        Hv = lambda v: fisher_vector_product(mean_kl, policy_params, v, args.damping)  # noqa: E731
        x, cg_residual = conjugate_gradient(Hv, g, args.cg_iters)
        full_step = natural_step(x, Hv(x), args.max_kl)
        if args.line_search:
            accepted, tries, improvement = line_search(
                surrogate_and_kl, policy_params, full_step, args.max_kl,
                args.backtrack_coef, args.backtrack_iters,
            )
        else:  # the natural policy gradient: take the full step, whatever it does
            before, _ = surrogate_and_kl()
            set_flat_params(policy_params, get_flat_params(policy_params) + full_step)
            accepted, tries, improvement = True, 0, surrogate_and_kl()[0] - before

        # ---- value update: minibatch Adam epochs on L^VF ----
        v_losses = []
        for epoch in range(args.vf_epochs):
            perm = torch.randperm(batch_size)
            for start in range(0, batch_size, minibatch_size):
                mb = perm[start : start + minibatch_size]
                v_loss = value_loss(agent.get_value(b_obs[mb]), b_returns[mb])
                optimizer.zero_grad()
                v_loss.backward()
                optimizer.step()
                v_losses.append(v_loss.item())

        stats = {"policy_loss": -surrogate_old.item(), "value_loss": float(np.mean(v_losses)),
                 "entropy": entropy.mean().item(), "surrogate_improvement": improvement,
                 "line_search_steps": tries, "line_search_accepted": float(accepted),
                 "cg_residual": cg_residual}
        num_updates = 1
        # d: the exact mean KL[pi_old, pi_theta] over the whole batch after the update
        with torch.no_grad():
            _, newlogprob, _, _, new_dists = agent.get_action_and_value(b_obs, b_actions)
            d = agent.kl(b_dists, old_log_std, new_dists).mean().item()
            stats["approx_kl"] = approx_kl(newlogprob - b_logprobs).item()
        writer.add_scalar("losses/kl", d, global_step)

        sps = int(global_step / (time.time() - start_time))
        writer.add_scalar("charts/learning_rate", lr, global_step)
        writer.add_scalar("charts/SPS", sps, global_step)
        for key, total in stats.items():
            writer.add_scalar(f"losses/{key}", total / num_updates, global_step)
        ev = explained_variance(values_buf.reshape(-1), returns.reshape(-1))
        writer.add_scalar("losses/explained_variance", ev, global_step)
        if iteration % print_every == 0 or iteration == num_iterations:
            recent = [r for _, r in episodic_returns[-20:]]
            mean_return = f"{np.mean(recent):9.1f}" if recent else "      n/a"
            print(
                f"step {global_step:>9d}  return(last 20) {mean_return}  SPS {sps:>5d}",
                flush=True,
            )

    envs.close()
    eval_returns = None
    if args.save_model:
        model_path = f"{run_dir}/model.pt"
        save_checkpoint(model_path, agent, obs_rms, args)
        print(f"model saved to {model_path}")
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
    return {"run_dir": run_dir, "episodic_returns": episodic_returns, "eval_returns": eval_returns}


# ---- plumbing: environments, checkpoints, evaluation, run directory, argument checks ----

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
        obs_space.shape[0], action_space, saved_args["hidden_size"], saved_args["activation"]
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
    counts = ["torch_threads", "total_timesteps", "num_envs", "eval_episodes", "num_steps",
              "cg_iters", "backtrack_iters", "vf_epochs", "vf_minibatches", "hidden_size"]
    check_fields(args, counts, lambda v: v >= 1, "a positive integer")
    positive = ["learning_rate", "max_kl"]
    check_fields(args, positive, lambda v: 0 < v < math.inf, "positive and finite")
    check_fields(args, ["damping"], lambda v: 0 <= v < math.inf, "0 or more, finite")
    check_fields(args, ["backtrack_coef"], lambda v: 0 < v < 1, "in (0, 1)")
    check_fields(args, ["gamma"], lambda v: 0 < v <= 1, "in (0, 1]")
    check_fields(args, ["gae_lambda"], lambda v: 0 <= v <= 1, "in [0, 1]")
    check_fields(args, ["log_std_init"], math.isfinite, "a finite number")
    check_fields(args, ["activation"], lambda v: v in ACTIVATIONS, f"one of {list(ACTIVATIONS)}")
    batch_size = args.num_envs * args.num_steps
    if batch_size % args.vf_minibatches != 0:
        divisors = [d for d in (1, 2, 4, 8, 16, 32, 64) if batch_size % d == 0]
        fail(
            f"--vf-minibatches {args.vf_minibatches} does not divide the batch "
            f"num_envs * num_steps = {batch_size}; use one of {divisors}"
        )
    if args.norm_adv and batch_size < 2:
        fail(
            "--norm-adv needs a batch of 2 transitions or more (the std of one is NaN): "
            "raise --num-steps or use --no-norm-adv"
        )
    if args.total_timesteps < batch_size:
        fail(
            f"--total-timesteps {args.total_timesteps} is less than one batch "
            f"(num_envs * num_steps = {batch_size}); raise it or shrink the batch"
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
