"""REINFORCE: Monte-Carlo policy gradient with reward-to-go and a baseline.

Williams (1992), "Simple Statistical Gradient-Following Algorithms for Connectionist
Reinforcement Learning", Machine Learning 8, with its reinforcement baseline b made a function of
the state, as in Sutton, McAllester, Singh, Mansour (2000), "Policy Gradient Methods for
Reinforcement Learning with Function Approximation".

Each update collects a batch of complete episodes with the current policy and takes one
gradient step (Adam) on the log-derivative-trick estimate

    grad J ~ (1/N) sum_n sum_t grad log pi_theta(a_t | s_t) (G_t - b(s_t))
    G_t    = sum_{t' >= t} gamma^(t' - t) r_t'      (reward-to-go: rewards before t do not enter)
    A_t    = G_t - b(s_t)                          (b: none, the batch mean of G, or V(s))
    L^PG   = E_t[ log pi_theta(a_t | s_t) A_t ]                         (maximised)
    L^VF   = 0.5 E_t[ (V(s_t) - G_t)^2 ]            (minimised; fits the value baseline)
    loss   = -L^PG + c_1 L^VF - c_2 H[pi_theta](s_t)

The loss averages over all steps of the batch: the slides' (1/N) sum over episodes divided by
the batch's mean episode length, a factor that changes as the episodes lengthen. A baseline that
depends only on the state leaves the expected gradient unchanged and lowers its variance;
--baseline none shows the variance it removes (losses/advantage_std in TensorBoard).

Complete episodes: every batch starts new episodes in all N environments and steps them until
the finished episodes hold batch_size steps; then each environment finishes the episode it is
in, and steps after an environment's last counted episode are discarded: they are not counted
in global_step and their episodes are not logged (logging them would favour the episodes that
end early, and count steps that no update sees). At a time-limit truncation the episode did not
really end: with the value baseline, G_t adds gamma^(T - t + 1) V(final obs) (T: the episode's
last step) for the rewards the time limit cut off; without a learned value there is nothing to
bootstrap from, and G_t ends at the truncation (biased low near the limit). A step that
terminates never bootstraps, even when the time limit truncates it too (gymnasium's TimeLimit
then sets both flags).
The knobs that matter most: baseline, batch_size, learning_rate. The defaults, chosen so that
one setting learns and holds CartPole-v1 and InvertedPendulum-v5: 4 environments, batches of at
least 1000 steps, Adam 1e-2 annealed linearly towards 0, gamma 0.99, two hidden layers of 64
tanh units, rewards scaled by the running std of the discounted return on every task, discrete
ones too, and raw observations. Unscaled, CartPole's discounted returns reach 100 (1 / (1 -
gamma)), the value loss grows with their square, and the 0.5 clip divides the whole gradient,
the policy's part too, by one norm (losses/grad_norm); with observations normalised by running
statistics (--normalize-obs, which a2c.py and a3c.py need) CartPole-v1 does not hold on every
seed (benchmark/results/targets/reinforce__CartPole-v1__normalize_obs.md). What the defaults
give: algos/reinforce.md ("Results").
MuJoCo tasks whose observations span several scales may want --normalize-obs.
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
    num_envs: int = 4
    """number of parallel environments (gymnasium SyncVectorEnv)"""
    capture_video: bool = False
    """record videos of environment 0 and of the evaluation episodes into videos/"""
    save_model: bool = False
    """save weights, observation statistics and args to runs/<run>/model.pt, then evaluate"""
    eval_episodes: int = 10
    """number of episodes of the evaluation after training or from --eval-checkpoint"""
    eval_checkpoint: Optional[str] = None
    """evaluate this saved model.pt on --env-id instead of training (env seeds: --seed + 100000)"""
    normalize_obs: bool = False
    """normalise observations by running mean and std (off: see the module docstring)"""
    normalize_reward: bool = True
    """divide rewards by the running std of the discounted return (both kinds of action)"""
    clip_actions: bool = True
    """continuous actions only: clip actions to the action space bounds before env.step"""

    # Algorithm-specific arguments
    learning_rate: float = 1e-2
    """Adam learning rate"""
    anneal_lr: bool = True
    """anneal the learning rate linearly towards zero over the run"""
    batch_size: int = 1000
    """environment steps of complete episodes per update (at least)"""
    gamma: float = 0.99
    """discount factor gamma"""
    baseline: Literal["none", "mean", "value"] = "value"
    """b(s_t): none, the batch-average return, or a learned V(s) fitted to G_t"""
    norm_adv: bool = False
    """normalise advantages within each batch (off: it would hide what the baseline does)"""
    ent_coef: float = 0.0
    """entropy bonus coefficient c_2"""
    vf_coef: float = 0.5
    """value loss coefficient c_1 (value baseline only)"""
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


def discounted_reward_to_go(rewards, dones, bootstrap, gamma):
    """Reward-to-go of every step of a batch of shape [T, N], episode by episode.

        G_t = r_t + gamma * G_{t+1}          inside an episode
        G_t = r_t + gamma * bootstrap_t      at its last step (done_t)
    so G_t = sum_{t'=t}^{T} gamma^(t'-t) r_t' + gamma^(T-t+1) bootstrap_T; bootstrap_T is
    V(final obs) after a truncation (value baseline) and 0 after a termination.
    """
    returns = np.zeros_like(rewards)
    running = np.zeros_like(rewards[0])
    for t in reversed(range(len(rewards))):
        running = rewards[t] + gamma * np.where(dones[t], bootstrap[t], running)
        returns[t] = running
    return returns


def baseline_advantages(returns, values, baseline):
    # A_t = G_t - b(s_t), with b = 0 ("none"), the batch mean of G ("mean"), or V(s_t) ("value")
    if baseline == "none":
        return returns
    if baseline == "mean":
        return returns - returns.mean()
    return returns - values


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
    """Train REINFORCE; returns the run directory and the (global_step, episodic_return) pairs."""
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
    obs_rms = RunningMeanStd(obs_space.shape) if args.normalize_obs else None
    return_rms = RunningMeanStd() if args.normalize_reward else None
    discounted_return = np.zeros(args.num_envs)
    low, high = (action_space.low, action_space.high) if continuous else (None, None)

    agent = Agent(
        obs_space.shape[0], action_space, args.hidden_size, args.shared_trunk, args.activation,
        args.log_std_init,
    )
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5, fused=True)

    # an estimate: batches overrun their quota
    num_iterations = args.total_timesteps // args.batch_size
    N = args.num_envs

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
    seed = args.seed
    iteration = 0

    # batches have no fixed size, so the loop counts steps
    while global_step < args.total_timesteps:
        iteration += 1
        # batches vary in size, so the schedule counts environment steps instead of iterations
        lr = args.learning_rate
        if args.anneal_lr:
            lr = annealed_learning_rate(args.learning_rate, global_step + 1, args.total_timesteps)
        optimizer.param_groups[0]["lr"] = lr

        # ---- rollout: complete episodes with the current policy, at least batch_size steps ----
        next_obs, _ = envs.reset(seed=seed)  # every batch starts new episodes
        seed = None  # seeded once; later resets continue the environments' random streams
        next_obs = prepare(next_obs, update=True)
        discounted_return[:] = 0.0
        keys = ("obs", "actions", "logprobs", "rewards", "dones", "values", "dists", "final_values")
        buf = {k: [] for k in keys}
        episode_length = np.zeros(N, np.int64)
        last_done = np.full(N, -1)  # the last step of each environment's last counted episode
        counted, counting = 0, np.ones(N, bool)
        step = 0
        while counting.any():
            global_step += int(counting.sum())  # the steps that enter the batch
            with torch.inference_mode():
                action, logprob, _, value, dist = agent.get_action_and_value(
                    torch.from_numpy(next_obs)
                )
            action = action.numpy()
            buf["obs"].append(next_obs)
            buf["actions"].append(action)
            buf["logprobs"].append(logprob.numpy())
            buf["values"].append(value.numpy())
            buf["dists"].append(dist.numpy())

            env_action = np.clip(action, low, high) if continuous and args.clip_actions else action
            next_obs, reward, terminations, truncations, infos = envs.step(env_action)
            dones = terminations | truncations
            if return_rms is not None:
                discounted_return = discounted_return * args.gamma + reward
                return_rms.update(discounted_return)
                reward = scale_reward(reward, return_rms)
                discounted_return[dones] = 0.0
            next_obs = prepare(next_obs, update=True)
            buf["rewards"].append(reward.astype(np.float32))
            buf["dones"].append(dones)

            final_values = np.zeros(N, np.float32)
            # bootstrap the cut-off tail with V(final obs); never after a termination, even on
            # the time limit's last step, where TimeLimit sets both flags
            cut = truncations & ~terminations
            if cut.any() and args.baseline == "value":
                final_obs = prepare(np.stack(infos["final_obs"][cut]), update=False)
                with torch.inference_mode():
                    final_values[cut] = agent.get_value(torch.from_numpy(final_obs)).numpy()
            buf["final_values"].append(final_values)
            if "final_info" in infos and "episode" in infos["final_info"]:
                ep = infos["final_info"]["episode"]
                # only counted episodes: the others would favour those that end early
                for i in np.nonzero(infos["final_info"]["_episode"] & counting)[0]:
                    episodic_returns.append((global_step, float(ep["r"][i])))
                    writer.add_scalar("charts/episodic_return", ep["r"][i], global_step)
                    writer.add_scalar("charts/episodic_length", ep["l"][i], global_step)

            episode_length += 1
            finished = dones & counting
            counted += int(episode_length[finished].sum())
            last_done[finished] = step
            episode_length[dones] = 0
            # quota met: each environment stops after its current episode
            if counted >= args.batch_size:
                counting &= ~dones
            step += 1

        # ---- returns: reward-to-go of each complete episode, then A_t = G_t - b(s_t) ----
        b = {k: np.stack(v) for k, v in buf.items()}
        returns = discounted_reward_to_go(b["rewards"], b["dones"], b["final_values"], args.gamma)
        # [T, N] mask of the steps of counted episodes
        valid = np.arange(len(returns))[:, None] <= last_done[None, :]
        advantages = baseline_advantages(returns[valid], b["values"][valid], args.baseline)

        # ---- update: one Adam step on the whole batch ----
        b_obs = torch.from_numpy(b["obs"][valid])
        b_actions = torch.from_numpy(b["actions"][valid])
        b_logprobs = torch.from_numpy(b["logprobs"][valid])
        b_advantages = torch.from_numpy(advantages)
        b_returns = torch.from_numpy(returns[valid])
        b_dists = torch.from_numpy(b["dists"][valid])
        old_log_std = agent.actor_logstd.detach().clone() if continuous else None

        _, newlogprob, entropy, newvalue, _ = agent.get_action_and_value(b_obs, b_actions)
        b_advantages = normalize_advantages(b_advantages) if args.norm_adv else b_advantages
        pg_loss = policy_gradient_loss(newlogprob, b_advantages)
        v_loss = value_loss(newvalue, b_returns)
        entropy_loss = entropy.mean()
        value_term = args.vf_coef * v_loss if args.baseline == "value" else 0.0
        loss = pg_loss - args.ent_coef * entropy_loss + value_term

        optimizer.zero_grad()
        loss.backward()
        # g <- g * min(1, max_norm / ||g||)
        grad_norm = nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
        optimizer.step()

        stats = {"policy_loss": pg_loss.item(), "value_loss": v_loss.item(),
                 "entropy": entropy_loss.item(), "advantage_std": b_advantages.std().item(),
                 "return_std": b_returns.std().item(), "grad_norm": grad_norm.item()}
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
        ev = explained_variance(b["values"][valid], returns[valid])
        writer.add_scalar("losses/explained_variance", ev, global_step)
        if iteration % print_every == 0 or global_step >= args.total_timesteps:
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
    counts = ["torch_threads", "total_timesteps", "num_envs", "eval_episodes", "batch_size",
              "hidden_size"]
    check_fields(args, counts, lambda v: v >= 1, "a positive integer")
    positive = ["learning_rate", "max_grad_norm"]
    check_fields(args, positive, lambda v: 0 < v < math.inf, "positive and finite")
    check_fields(args, ["ent_coef", "vf_coef"], lambda v: 0 <= v < math.inf, "0 or more, finite")
    check_fields(args, ["gamma"], lambda v: 0 < v <= 1, "in (0, 1]")
    baselines = ["none", "mean", "value"]
    check_fields(args, ["baseline"], lambda v: v in baselines, f"one of {baselines}")
    check_fields(args, ["log_std_init"], math.isfinite, "a finite number")
    check_fields(args, ["activation"], lambda v: v in ACTIVATIONS, f"one of {list(ACTIVATIONS)}")
    if args.total_timesteps < args.batch_size:
        fail(
            f"--total-timesteps {args.total_timesteps} is less than one batch "
            f"(--batch-size {args.batch_size}); raise it or shrink the batch"
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
