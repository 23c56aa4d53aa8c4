"""A2C: advantage actor-critic in its synchronous form (OpenAI Baselines' A2C).

Mnih, Badia, Mirza, Graves, Lillicrap, Harley, Silver, Kavukcuoglu (2016), "Asynchronous
Methods for Deep Reinforcement Learning", arXiv:1602.01783; advantages from Schulman et al.
(2016), "High-Dimensional Continuous Control Using Generalized Advantage Estimation",
arXiv:1506.02438.

N environments (num_envs) step in lockstep; every t_max steps, the N * t_max transitions
give one gradient step (RMSProp) on

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
final observation, not zero. The knobs that matter most, beside the number of environments:
num_steps (t_max, the n of the n-step return), learning_rate, ent_coef, and shared_trunk (one
body for actor and critic, as in the paper, or two networks). The defaults: the A3C paper's
RMSProp (g <- alpha g + (1 - alpha) dtheta^2, theta <- theta - eta dtheta / sqrt(g + eps)) with
alpha 0.99, its t_max 5, entropy 0.01 and gamma 0.99; OpenAI Baselines' A2C's eps 1e-5,
learning rate 7e-4 annealed linearly, c_1 0.5 and gradient-norm clip 0.5 (the paper samples its
learning rates from LogUniform(1e-4, 1e-2)); 8 environments; two hidden layers of 64 tanh units.
One departure from both: observations are normalised and rewards scaled by the running std of
the discounted return on every task, discrete ones too; with them one setting learns and holds
CartPole-v1 and InvertedPendulum-v5 (algos/a2c.md, "Results"; the criterion: benchmark/README.md,
"Defaults that learn and hold").
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
    num_envs: int = 8
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
    """normalise observations by running mean and std (both kinds of action)"""
    normalize_reward: bool = True
    """divide rewards by the running std of the discounted return (both kinds of action)"""
    clip_actions: bool = True
    """continuous actions only: clip actions to the action space bounds before env.step"""

    # Algorithm-specific arguments
    learning_rate: float = 7e-4
    """RMSProp learning rate"""
    anneal_lr: bool = True
    """anneal the learning rate linearly towards zero over the run"""
    num_steps: int = 5
    """steps per environment per update (t_max, the n of the n-step return)"""
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


class RMSprop:
    """The A3C paper's non-centred RMSProp, with g starting at zero:
        g     <- alpha g + (1 - alpha) dtheta^2
        theta <- theta - eta dtheta / sqrt(g + eps)
    From zero, the first steps are up to 1 / sqrt(1 - alpha) (10) times the steady size.
    TensorFlow 1's RMSPropOptimizer (OpenAI Baselines' A2C) has the same update but starts g at
    one; torch.optim.RMSprop starts it at zero but adds eps after the root.
    step() takes the gradients as an argument, as a3c.py's shared version does."""

    def __init__(self, params, alpha=0.99, eps=1e-5):
        self.params = list(params)
        self.square_avg = [torch.zeros_like(p) for p in self.params]
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
    """dtheta of the batch's loss (the gradients are cleared first), clipped, then one RMSProp
    step of theta."""
    agent.zero_grad(set_to_none=True)
    loss.backward()
    # g <- g * min(1, max_norm / ||g||)
    nn.utils.clip_grad_norm_(agent.parameters(), max_grad_norm)
    optimizer.step([p.grad for p in agent.parameters()], lr)


def learner(args, writer, run_name, agent, optimizer, obs_rms, episodic_returns):
    """The A2C loop: N environments in lockstep, one RMSProp step of theta every t_max steps of
    each; appends the (global_step, episodic_return) pairs to episodic_returns."""
    obs_space, action_space = check_env(args.env_id)
    continuous = isinstance(action_space, gym.spaces.Box)

    envs = gym.vector.SyncVectorEnv(
        [
            make_env(args.env_id, i, args.capture_video, f"videos/{run_name}")
            for i in range(args.num_envs)
        ],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    envs.action_space.seed(args.seed)
    return_rms = RunningMeanStd() if args.normalize_reward else None
    discounted_return = np.zeros(args.num_envs)
    low, high = (action_space.low, action_space.high) if continuous else (None, None)

    batch_size = args.num_envs * args.num_steps
    num_iterations = args.total_timesteps // batch_size
    T, N = args.num_steps, args.num_envs
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
            obs_rms.update(obs)
        return normalize_obs(obs, obs_rms)

    global_step = 0
    print_every = max(1, num_iterations // 20)
    next_obs, _ = envs.reset(seed=args.seed)
    next_obs = prepare(next_obs, update=True)
    start_time = time.time()

    for iteration in range(1, num_iterations + 1):
        # ---- rollout: T steps of every environment with the current policy ----
        final_values_buf[:] = 0.0
        truncated_buf = np.zeros((T, N), bool)
        for step in range(T):
            global_step += N
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
                    log_episode(writer, episodic_returns, global_step, ep["r"][i], ep["l"][i])

        # ---- log pi(a_t|s_t), H and V(s_t) of the batch: one pass, with gradients ----
        b_obs = torch.from_numpy(obs_buf.reshape((-1,) + obs_space.shape))
        b_actions = torch.from_numpy(actions_buf.reshape((-1,) + action_space.shape))
        logprob, entropy, value, out = agent.evaluate_actions(b_obs, b_actions)
        values = value.detach().numpy().reshape(T, N)  # theta has not moved yet: V_old(s_t)

        # ---- advantages: GAE(gamma, lambda), V(s_{t+1}) from the next step or the final obs ----
        with torch.inference_mode():
            last_value = agent.get_value(torch.from_numpy(next_obs)).numpy()
        next_values = np.concatenate([values[1:], last_value[None]])
        next_values = np.where(truncated_buf, final_values_buf, next_values)
        advantages, returns = compute_gae(
            rewards_buf, values, next_values, terminations_buf, dones_buf,
            args.gamma, args.gae_lambda,
        )

        # ---- update: one RMSProp step on the whole batch ----
        b_advantages = torch.from_numpy(advantages.reshape(-1))
        b_returns = torch.from_numpy(returns.reshape(-1))
        old_log_std = agent.actor_logstd.detach().clone() if continuous else None
        lr = args.learning_rate
        if args.anneal_lr:
            lr = annealed_learning_rate(args.learning_rate, iteration, num_iterations)

        b_advantages = normalize_advantages(b_advantages) if args.norm_adv else b_advantages
        pg_loss = policy_gradient_loss(logprob, b_advantages)
        v_loss = value_loss(value, b_returns)
        entropy_loss = entropy.mean()
        loss = pg_loss - args.ent_coef * entropy_loss + args.vf_coef * v_loss

        update(agent, optimizer, loss, lr, args.max_grad_norm)

        ev = explained_variance(values.reshape(-1), returns.reshape(-1))
        stats = {"policy_loss": pg_loss.item(), "value_loss": v_loss.item(),
                 "entropy": entropy_loss.item(), "explained_variance": ev}
        # the exact mean KL[pi_old, pi_theta] over the update's transitions, after it
        with torch.no_grad():
            newlogprob, _, _, new_out = agent.evaluate_actions(b_obs, b_actions)
            stats["kl"] = agent.kl(out.detach(), old_log_std, new_out).mean().item()
            stats["approx_kl"] = approx_kl(newlogprob - logprob.detach()).item()
        sps = int(global_step / (time.time() - start_time))
        show = iteration % print_every == 0 or iteration == num_iterations
        log_update(writer, episodic_returns, global_step, lr, sps, stats, show)

    envs.close()


def train(args):
    """Train A2C; returns the run directory and the (global_step, episodic_return) pairs."""
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

    # ---- the model: theta, RMSProp's g, the observation statistics ----
    agent = Agent(
        obs_space.shape[0], action_space, args.hidden_size, args.shared_trunk, args.activation,
        args.log_std_init,
    )
    optimizer = RMSprop(agent.parameters(), alpha=args.rmsprop_alpha, eps=args.rmsprop_eps)
    obs_rms = RunningMeanStd(obs_space.shape) if args.normalize_obs else None

    episodic_returns = []
    learner(args, writer, run_name, agent, optimizer, obs_rms, episodic_returns)

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
    counts = ["torch_threads", "total_timesteps", "num_envs", "eval_episodes", "num_steps",
              "hidden_size"]
    check_fields(args, counts, lambda v: v >= 1, "a positive integer")
    positive = ["learning_rate", "rmsprop_eps", "max_grad_norm"]
    check_fields(args, positive, lambda v: 0 < v < math.inf, "positive and finite")
    check_fields(args, ["ent_coef", "vf_coef"], lambda v: 0 <= v < math.inf, "0 or more, finite")
    check_fields(args, ["rmsprop_alpha"], lambda v: 0 <= v < 1, "in [0, 1)")
    check_fields(args, ["gamma"], lambda v: 0 < v <= 1, "in (0, 1]")
    check_fields(args, ["gae_lambda"], lambda v: 0 <= v <= 1, "in [0, 1]")
    check_fields(args, ["log_std_init"], math.isfinite, "a finite number")
    check_fields(args, ["activation"], lambda v: v in ACTIVATIONS, f"one of {list(ACTIVATIONS)}")
    batch_size = args.num_envs * args.num_steps
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
