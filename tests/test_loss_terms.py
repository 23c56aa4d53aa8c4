"""Every loss term and switch of every script, checked for its direction and size in the loss
the script itself builds, not only for changing the run.

Each check runs a tiny train() in this process (a3c.py: one worker's actor_learner, in this
process) on tests/fake_envs.py's RawActionReward-v0 (a constant observation, Box actions, the
reward is the action), and records what the script hands to its own functions: the gradient
of the first update before and after clipping, the advantages and returns compute_gae (or
baseline_advantages) returned, the advantages and KL the losses were given, the arguments of
TRPO's conjugate gradient and line search. The answers are closed forms:

    entropy bonus   d(-c_2 mean H)/d log sigma_i = -c_2 for a diagonal Gaussian (H = sum_i
                    log sigma_i + const): the loss's gradient on the log-std falls by exactly c_2
    value term      d(c_1 0.5 mean (V - R)^2)/d b = c_1 mean(V - R) = -c_1 mean(A) for the
                    critic's output bias b, since R = A + V (GAE) or A = G - V (REINFORCE)
    KL              the observation is constant, so pi_old and pi_theta are one Gaussian each,
                    and torch.distributions.kl_divergence(pi_old, pi_theta) is the right KL
    natural step    s = sqrt(2 delta / g^T H^-1 g) H^-1 g with H and g taken from the script's
                    own Fisher-vector product and policy gradient, solved directly
"""

import contextlib
import functools
import multiprocessing
import os
import queue
import tempfile
import threading
from dataclasses import dataclass, field
from unittest import mock

import numpy as np
import pytest
import torch

import tests.fake_envs  # noqa: F401  (registers the fake environments)
from benchmark.common import read_scalars
from tests.scripts import importable, load

# Two alternating observations, Box actions that change nothing (tests/fake_envs.py); the KL
# checks use RAW instead, whose observation is constant 0: there pi(.|s) is one Gaussian.
ENV = "tests.fake_envs:AlternatingTruncatedBox-v0"
RAW = "tests.fake_envs:RawActionReward-v0"
COMMON = {"env_id": ENV, "normalize_reward": False, "hidden_size": 8, "seed": 1}
TINY = {
    "reinforce": {"num_envs": 2, "batch_size": 40, "total_timesteps": 120},
    "a2c": {"num_envs": 2, "num_steps": 5, "total_timesteps": 50},
    "a3c": {"num_workers": 1, "num_steps": 5, "total_timesteps": 50, "log_every": 1},
    "trpo": {"num_envs": 2, "num_steps": 16, "vf_minibatches": 2, "vf_epochs": 1, "total_timesteps": 32},
    "ppo_kl": {"num_envs": 2, "num_steps": 16, "num_minibatches": 1, "update_epochs": 2, "total_timesteps": 64},
    "ppo_clip": {"num_envs": 2, "num_steps": 16, "num_minibatches": 1, "update_epochs": 2, "total_timesteps": 64},
}
SCRIPTS = list(TINY)
WITH_ENTROPY_BONUS = ["reinforce", "a2c", "a3c", "ppo_kl", "ppo_clip"]  # TRPO's step has no loss to add it to
WITH_VALUE_COEF = ["reinforce", "a2c", "a3c", "ppo_kl", "ppo_clip"]  # TRPO fits V with its own Adam
WITH_SHARED_TRUNK = ["reinforce", "a2c", "a3c"]
PPO = ["ppo_kl", "ppo_clip"]


@functools.lru_cache(maxsize=None)
def module_of(script):
    return importable("a3c") if script == "a3c" else load(script)


def train_here(module, args, directory):
    """module.train(args) with `directory` as the working directory; the run directory."""
    previous = os.getcwd()
    os.chdir(directory)
    try:
        return os.path.abspath(module.train(args)["run_dir"])
    finally:
        os.chdir(previous)


@dataclass
class Record:
    """What one tiny run handed to the script's own functions, in call order."""

    agents: list = field(default_factory=list)  # every Agent built (a3c: the global one, then the worker's)
    clips: list = field(default_factory=list)  # per clipping call: (names, grads before, grads after, max_norm)
    gae: list = field(default_factory=list)  # (advantages, returns) of each compute_gae call
    baselines: list = field(default_factory=list)  # (returns, values, baseline, advantages)
    loss_advantages: list = field(default_factory=list)  # the advantages each policy loss was given
    clip_coefs: list = field(default_factory=list)  # (ratio, clip_coef) of each clipped surrogate
    penalties: list = field(default_factory=list)  # (kl, policy (mean, log_std) at the call)
    value_losses: list = field(default_factory=list)  # (args, result) of each value_loss call
    trpo: dict = field(default_factory=dict)
    policy_before: tuple = None  # (mean, log_std) at the first update, before its step
    scalars: dict = field(default_factory=dict)

    def names(self, params):
        by_id = {id(p): n for agent in self.agents for n, p in agent.named_parameters()}
        return [by_id.get(id(p), "?") for p in params]

    def grads(self, i=0, after=False):
        names, before, post, _ = self.clips[i]
        return dict(zip(names, post if after else before))


def policy(agent):
    """(mean, log_std) of the Gaussian policy at the constant observation 0."""
    with torch.no_grad():
        return agent.actor(torch.zeros(1, 1))[0].clone(), agent.actor_logstd.detach().clone()


def kl_brute_force(p, q):
    """KL[p || q] of two diagonal Gaussians given as (mean, log_std), by torch.distributions."""
    normal = lambda d: torch.distributions.Normal(d[0].double(), d[1].double().exp())  # noqa: E731
    return torch.distributions.kl_divergence(normal(p), normal(q)).sum().item()


def recording_patches(module, rec):
    """The patches that make `rec` see the script's calls; each calls the original."""
    patches = []

    class RecordingAgent(module.Agent):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            rec.agents.append(self)

    patches.append(mock.patch.object(module, "Agent", RecordingAgent))

    def clipping(original):
        def wrapper(parameters, max_norm, *a, **k):
            params = list(parameters)
            if not rec.clips:  # the first update's parameters have not moved yet: pi_old
                rec.policy_before = policy(rec.agents[-1])
            before = [None if p.grad is None else p.grad.detach().clone() for p in params]
            out = original(params, max_norm, *a, **k)
            after = [None if p.grad is None else p.grad.detach().clone() for p in params]
            rec.clips.append((rec.names(params), before, after, max_norm))
            return out

        return wrapper

    if hasattr(module, "clip_grad_norm"):  # PPO's own (torch's arithmetic)
        patches.append(mock.patch.object(module, "clip_grad_norm", clipping(module.clip_grad_norm)))
    patches.append(mock.patch.object(torch.nn.utils, "clip_grad_norm_", clipping(torch.nn.utils.clip_grad_norm_)))

    def wrap(name, record):
        if not hasattr(module, name):
            return
        original = getattr(module, name)

        def wrapper(*a, **k):
            out = original(*a, **k)
            record(out, *a, **k)
            return out

        patches.append(mock.patch.object(module, name, wrapper))

    wrap("compute_gae", lambda out, *a, **k: rec.gae.append((np.array(out[0]), np.array(out[1]))))
    wrap("baseline_advantages", lambda out, returns, values, baseline: rec.baselines.append(
        (np.array(returns), np.array(values), baseline, np.array(out))))
    wrap("policy_gradient_loss", lambda out, logp, adv: rec.loss_advantages.append(adv.detach().clone()))
    wrap("surrogate", lambda out, new, old, adv: rec.loss_advantages.append(adv.detach().clone()))

    def clipped(out, ratio, adv, clip_coef):
        rec.loss_advantages.append(adv.detach().clone())
        rec.clip_coefs.append((ratio.detach().clone(), clip_coef))

    wrap("clipped_surrogate_loss", clipped)

    def penalised(out, ratio, adv, kl, beta):
        rec.loss_advantages.append(adv.detach().clone())
        rec.penalties.append((kl.detach().clone(), policy(rec.agents[-1])))

    wrap("kl_penalized_surrogate_loss", penalised)
    wrap("value_loss", lambda out, *a: rec.value_losses.append(([x.detach().clone() if torch.is_tensor(x) else x for x in a], out.item())))

    if hasattr(module, "natural_step"):  # TRPO: the policy gradient g, H v, the step, the line search's KL
        cg = module.conjugate_gradient

        def conjugate_gradient(Avp, b, *a, **k):
            agent = rec.agents[-1]
            params = list(agent.actor.parameters()) + [agent.actor_logstd]
            rec.trpo.setdefault("g", b.detach().clone())
            if "H" not in rec.trpo:  # (H + damping I), column by column, at theta_old
                eye = torch.eye(b.numel(), dtype=b.dtype)
                rec.trpo["H"] = torch.stack([Avp(eye[i]).detach() for i in range(b.numel())], 1).double()
            rec.trpo.setdefault("theta_old", module.get_flat_params(params))
            rec.trpo.setdefault("policy_old", policy(agent))
            return cg(Avp, b, *a, **k)

        patches.append(mock.patch.object(module, "conjugate_gradient", conjugate_gradient))
        fvp = module.fisher_vector_product

        def fisher_vector_product(mean_kl_fn, params, v, damping):
            rec.trpo.setdefault("mean_kl", mean_kl_fn)
            return fvp(mean_kl_fn, params, v, damping)

        patches.append(mock.patch.object(module, "fisher_vector_product", fisher_vector_product))
        search = module.line_search

        def line_search(surrogate_and_kl, params, full_step, *a, **k):
            # the KL the line search bounds, at a point where KL[old||new] and KL[new||old] differ
            theta_old = module.get_flat_params(params)
            probe = theta_old.clone()
            probe[-1] += 0.5  # log sigma + 0.5
            probe[-2] += 0.3  # the actor's output bias: the mean + 0.3
            module.set_flat_params(params, probe)
            rec.trpo["probe"] = (policy(rec.agents[-1]), surrogate_and_kl()[1], rec.trpo["mean_kl"]().item())
            module.set_flat_params(params, theta_old)
            return search(surrogate_and_kl, params, full_step, *a, **k)

        patches.append(mock.patch.object(module, "line_search", line_search))
    return patches


def run_a3c_worker(module, args):
    """a3c.py's actor_learner as one worker, in this process (the patches reach it)."""
    obs_space, action_space = module.check_env(args.env_id)
    torch.manual_seed(args.seed)
    agent = module.Agent(obs_space.shape[0], action_space, args.hidden_size, args.shared_trunk, args.activation,
                         args.log_std_init)
    optimizer = module.SharedRMSprop(agent.parameters(), alpha=args.rmsprop_alpha, eps=args.rmsprop_eps)
    obs_stats = None
    if args.normalize_obs:
        rms = module.RunningMeanStd(obs_space.shape)
        obs_stats = tuple(torch.from_numpy(x) for x in (rms.mean, rms.var, rms.count))
    messages, go, stop = queue.Queue(), threading.Event(), threading.Event()
    go.set()
    counter = multiprocessing.get_context("fork").Value("q", 0)
    with mock.patch.object(module, "stopped", lambda s: s.is_set()):
        module.actor_learner(0, args, messages, go, stop, "run", agent, optimizer, counter, obs_stats, threading.Lock())
    scalars = {}
    while not messages.empty():
        kind, *body = messages.get()
        if kind == "log":
            _, step, stats, lr, _ = body
            for key, value in stats.items():
                scalars.setdefault(f"losses/{key}", []).append((step, value))
    return scalars


@functools.lru_cache(maxsize=None)
def run(script, **overrides):
    """Record of a tiny run of `script` with COMMON, TINY[script] and `overrides`."""
    module = module_of(script)
    settings = {**COMMON, **TINY[script], **overrides}
    args = module.Args(**settings)
    rec = Record()
    with contextlib.ExitStack() as stack:
        for patch in recording_patches(module, rec):
            stack.enter_context(patch)
        if script == "a3c":
            rec.scalars = run_a3c_worker(module, args)
        else:
            with tempfile.TemporaryDirectory() as directory:
                run_dir = train_here(module, args, directory)
                rec.scalars = {tag: read_scalars(run_dir, tag) for tag in ("losses/kl", "losses/entropy")}
    assert rec.agents, "the script built no Agent"
    rec.final_policy = policy(rec.agents[0])  # a3c: the global agent
    return rec


def first_advantages(rec):
    """The first update's advantages before any normalisation: compute_gae's (its first call,
    flattened in the scripts' [T, N] order), or REINFORCE's G - b."""
    if rec.baselines:
        return torch.from_numpy(rec.baselines[0][3]).double()
    return torch.from_numpy(rec.gae[0][0].reshape(-1)).double()


# ---------------------------------------------------------------- entropy bonus: sign and size


@pytest.mark.parametrize("script", WITH_ENTROPY_BONUS)
def test_entropy_bonus_lowers_the_log_std_gradient_by_exactly_its_coefficient(script):
    # loss = ... - c_2 mean H, H = sum_i log sigma_i + const: the first update's gradient on
    # log sigma is the bonus-free one minus c_2, and no other parameter's gradient changes.
    without, with_bonus = run(script, ent_coef=0.0), run(script, ent_coef=0.5)
    g0, g1 = without.grads(), with_bonus.grads()
    torch.testing.assert_close(g1["actor_logstd"] - g0["actor_logstd"], torch.full_like(g0["actor_logstd"], -0.5),
                               rtol=0, atol=1e-5)
    for name in g0:
        if name != "actor_logstd" and g0[name] is not None:
            torch.testing.assert_close(g1[name], g0[name], rtol=1e-5, atol=1e-7, msg=name)


@pytest.mark.parametrize("script", WITH_ENTROPY_BONUS)
def test_entropy_bonus_raises_the_policys_entropy(script):
    # Over a few updates, the bonus leaves the policy wider than the same run without it: the
    # bonus is maximised, not minimised. RAW's reward (the action) hardly depends on the spread,
    # and the clipping threshold is out of the way, so the bonus dominates the log-std's steps.
    settings = {"env_id": RAW, "learning_rate": 0.01, "max_grad_norm": 100.0}
    _, log_std_without = run(script, ent_coef=0.0, **settings).final_policy
    _, log_std_with = run(script, ent_coef=0.5, **settings).final_policy
    assert (log_std_with - log_std_without).min().item() > 0.01, (log_std_with, log_std_without)


# ---------------------------------------------------------------- value coefficient: sign and size


def critic_bias(rec):
    """The name of the critic's output bias (the last bias of agent.critic)."""
    return [n for n, _ in rec.agents[-1].named_parameters() if n.startswith("critic.") and n.endswith("bias")][-1]


@pytest.mark.parametrize("script", WITH_VALUE_COEF)
@pytest.mark.parametrize("vf_coef", [0.5, 2.0])
def test_value_coefficient_scales_the_critic_gradient(script, vf_coef):
    # d(c_1 0.5 mean (V - R)^2)/d b = c_1 mean(V - R) = -c_1 mean(A) for the critic's output bias,
    # with A the first update's advantages (R = A + V); every critic gradient is proportional to c_1.
    rec, unit = run(script, vf_coef=vf_coef), run(script, vf_coef=1.0)
    name = critic_bias(rec)
    expected = -vf_coef * first_advantages(rec).mean().item()
    assert abs(expected) > 1e-3
    assert rec.grads()[name].item() == pytest.approx(expected, rel=1e-4)
    for key, g in rec.grads().items():
        if key.startswith("critic."):
            torch.testing.assert_close(g, vf_coef * unit.grads()[key], rtol=1e-4, atol=1e-7, msg=key)


# ---------------------------------------------------------------- gradient clipping


@pytest.mark.parametrize("script", [s for s in SCRIPTS if s != "trpo"])
@pytest.mark.parametrize("max_grad_norm", [1e-3, 1e6])
def test_max_grad_norm_clips_the_whole_gradient_to_that_norm(script, max_grad_norm):
    # Every update: all of the agent's parameters, g <- g min(1, c / ||g||), so the norm is c
    # when ||g|| > c and the direction is kept.
    rec = run(script, max_grad_norm=max_grad_norm)
    assert rec.clips
    n_params = len(list(rec.agents[-1].parameters()))
    for names, before, after, max_norm in rec.clips:
        assert max_norm == max_grad_norm and len(names) == n_params
        pre = torch.cat([g.reshape(-1) for g in before if g is not None])
        post = torch.cat([g.reshape(-1) for g in after if g is not None])
        expected_norm = min(max_grad_norm, pre.norm().item())
        assert post.norm().item() == pytest.approx(expected_norm, rel=1e-4)
        torch.testing.assert_close(post, pre * (post.norm() / pre.norm()), rtol=1e-4, atol=1e-9)


# ---------------------------------------------------------------- advantage normalisation


def normalized(a):
    return (a - a.mean()) / (a.std() + 1e-8)


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("norm_adv", [True, False])
def test_norm_adv_normalises_the_advantages_the_loss_gets(script, norm_adv):
    # The first policy loss gets (A - mean A) / (std A + 1e-8) with the switch, A itself without
    # (PPO: one minibatch of the whole batch, in the permutation's order, hence sorted).
    rec = run(script, norm_adv=norm_adv)
    raw = first_advantages(rec)
    got = rec.loss_advantages[0].double()
    expected = normalized(raw) if norm_adv else raw
    assert raw.std().item() > 1e-3
    torch.testing.assert_close(got.sort().values, expected.sort().values, rtol=1e-4, atol=1e-5)
    if norm_adv:
        assert abs(got.mean().item()) < 1e-5 and got.std().item() == pytest.approx(1.0, rel=1e-4)


# ---------------------------------------------------------------- REINFORCE's baselines


@pytest.mark.parametrize("baseline", ["none", "mean", "value"])
def test_reinforce_baseline_is_the_one_asked_for(baseline):
    # The script calls baseline_advantages with --baseline, and its policy loss gets G, G - mean G
    # or G - V(s) computed here from the same G and V; the critic is trained (has a gradient)
    # with the value baseline only.
    rec = run("reinforce", baseline=baseline)
    returns, values, asked, _ = rec.baselines[0]
    assert asked == baseline
    expected = {"none": returns, "mean": returns - returns.mean(), "value": returns - values}[baseline]
    np.testing.assert_allclose(rec.loss_advantages[0].numpy(), expected, rtol=1e-5, atol=1e-6)
    assert np.std(values) > 0 and not np.allclose(returns, values)
    critic = [g for n, g in rec.grads().items() if n.startswith("critic.")]
    trained = any(g is not None and g.abs().max().item() > 0 for g in critic)
    assert trained == (baseline == "value")


# ---------------------------------------------------------------- shared trunk


@pytest.mark.parametrize("script", WITH_SHARED_TRUNK)
@pytest.mark.parametrize("shared_trunk", [True, False])
def test_shared_trunk_gets_both_losses_gradients_and_separate_networks_do_not(script, shared_trunk):
    # With one body, its gradient is the policy loss's plus c_1 times the value loss's: linear in
    # c_1 with a non-zero slope. With two networks, no actor gradient depends on c_1.
    g = [run(script, shared_trunk=shared_trunk, vf_coef=c).grads() for c in (0.0, 1.0, 2.0)]
    agent = run(script, shared_trunk=shared_trunk, vf_coef=1.0).agents[-1]
    assert (agent.actor[0] is agent.critic[0]) == shared_trunk
    trunk = {id(p) for p in agent.critic[0].parameters()} if shared_trunk else set()
    names = {id(p): n for n, p in agent.named_parameters()}
    actor = [names[id(p)] for p in agent.actor.parameters()]  # a shared body's are named critic.0.*
    slopes = {n: g[1][n] - g[0][n] for n in actor}
    for n in actor:  # linear in c_1
        torch.testing.assert_close(g[2][n] - g[1][n], slopes[n], rtol=1e-3, atol=1e-6, msg=n)
    moving = [n for n in actor if slopes[n].abs().max().item() > 1e-6]
    if shared_trunk:
        body = {names[i] for i in trunk}
        assert moving and set(moving) <= body, moving  # the body, not the actor's head
    else:
        assert not moving, moving


# ---------------------------------------------------------------- KL: KL[pi_old || pi_theta] at every call site


def test_ppo_kl_penalty_is_kl_old_to_new():
    # The entropy bonus widens the policy over the minibatches, so the two directions differ.
    rec = run("ppo_kl", env_id=RAW, ent_coef=1.0, learning_rate=0.05, max_grad_norm=100.0, update_epochs=4,
              num_minibatches=4, total_timesteps=32)
    old = rec.penalties[0][1]
    kl, new = rec.penalties[-1]
    forward, reverse = kl_brute_force(old, new), kl_brute_force(new, old)
    assert abs(forward - reverse) > 0.1 * forward, (forward, reverse)
    torch.testing.assert_close(kl.double(), torch.full_like(kl.double(), forward), rtol=1e-4, atol=1e-6)


def test_trpo_trust_region_is_kl_old_to_new():
    # The KL that the line search bounds and that the Fisher matrix differentiates, evaluated at
    # a probe with the mean moved by 0.3 and log sigma by 0.5 from pi_old.
    rec = run("trpo", env_id=RAW)
    new, kl_line_search, kl_fisher = rec.trpo["probe"]
    old = rec.trpo["policy_old"]
    forward, reverse = kl_brute_force(old, new), kl_brute_force(new, old)
    assert abs(forward - reverse) > 0.2 * forward
    assert kl_line_search == pytest.approx(forward, rel=1e-4)
    assert kl_fisher == pytest.approx(forward, rel=1e-4)


@pytest.mark.parametrize("script", ["reinforce", "a2c", "trpo", "ppo_kl", "ppo_clip"])
def test_logged_kl_is_kl_old_to_new(script):
    # losses/kl of a one-update run: the exact KL[pi_old || pi_theta] between the policy before
    # and after the update (the entropy bonus, where there is one, widens it so that the two
    # directions differ; TRPO's step moves sigma itself).
    one = {"reinforce": {"total_timesteps": 40}, "a2c": {"total_timesteps": 10},
           "ppo_kl": {"total_timesteps": 32}, "ppo_clip": {"total_timesteps": 32}}.get(script, {})
    bonus = {} if script == "trpo" else {"ent_coef": 1.0, "learning_rate": 0.05, "max_grad_norm": 100.0}
    if script == "trpo":
        bonus = {"max_kl": 0.05}
    rec = run(script, env_id=RAW, **one, **bonus)
    old = rec.trpo["policy_old"] if script == "trpo" else rec.policy_before
    (logged,) = [v for _, v in rec.scalars["losses/kl"]]
    forward, reverse = kl_brute_force(old, rec.final_policy), kl_brute_force(rec.final_policy, old)
    assert abs(forward - reverse) > 0.02 * forward, (forward, reverse)
    assert logged == pytest.approx(forward, rel=1e-3)


# ---------------------------------------------------------------- TRPO's natural step


@pytest.mark.parametrize("line_search", [False, True])
def test_trpo_step_is_plus_h_inverse_g_scaled_to_the_trust_region(line_search):
    # H from the script's own Fisher-vector product (column by column), g its policy gradient:
    # theta_new - theta_old = a sqrt(2 delta / g^T H^-1 g) H^-1 g with a = 1 without the line
    # search (the NPG step) and a = backtrack_coef^j with it. A step of the wrong sign, or along
    # g itself, fails.
    rec = run("trpo", env_id=RAW, line_search=line_search, cg_iters=200, hidden_size=4)
    g, H, theta_old = rec.trpo["g"].double(), rec.trpo["H"], rec.trpo["theta_old"].double()
    H = 0.5 * (H + H.T)
    x = torch.linalg.solve(H, g)
    expected = (2 * 0.01 / (g @ x)).sqrt() * x
    agent = rec.agents[-1]
    theta_new = torch.cat([p.detach().reshape(-1) for p in list(agent.actor.parameters()) + [agent.actor_logstd]]).double()
    step = theta_new - theta_old
    cosine = (step @ expected / (step.norm() * expected.norm())).item()
    assert cosine > 0.999, cosine
    scale = (step.norm() / expected.norm()).item()
    if line_search:
        j = round(np.log(scale) / np.log(0.8))
        assert scale == pytest.approx(0.8**j, rel=1e-2) and 0 <= j < 10
    else:
        assert scale == pytest.approx(1.0, rel=1e-2)
    # H^-1 g is not g: the check tells the natural step from the plain gradient's direction
    assert (g @ expected / (g.norm() * expected.norm())).item() < 0.99


# ---------------------------------------------------------------- PPO: target_kl, clip_coef, vf_clip


@pytest.mark.parametrize("script", PPO)
def test_target_kl_stops_after_the_first_epoch_that_exceeds_it(script):
    # The first epoch's mean approximate KL is above 1e-9 (its later minibatches moved), so the
    # epochs stop after it: num_minibatches updates per iteration instead of K of them.
    settings = {"update_epochs": 3, "num_minibatches": 2, "total_timesteps": 32}
    assert len(run(script, **settings).clips) == 6
    assert len(run(script, target_kl=1e-9, **settings).clips) == 2
    assert len(run(script, target_kl=1e9, **settings).clips) == 6


def test_ppo_clip_clip_coef_reaches_the_clipped_surrogate_and_the_ratio_starts_at_one():
    rec = run("ppo_clip", clip_coef=0.3)
    ratio, clip_coef = rec.clip_coefs[0]
    assert clip_coef == 0.3
    torch.testing.assert_close(ratio, torch.ones_like(ratio))


@pytest.mark.parametrize("script", PPO)
@pytest.mark.parametrize("vf_clip", [None, 0.01])
def test_vf_clip_is_measured_from_the_rollouts_values(script, vf_clip):
    # value_loss(V, R, V_old, vf_clip): V_old are V(s_t) of the rollout (the first update's V,
    # since theta = theta_old there), the same at every epoch; R = A + V_old; the loss is the
    # clipped one computed here.
    rec = run(script, vf_clip=vf_clip, learning_rate=0.05)
    (values0, returns0, old0, clip0), _ = rec.value_losses[0]
    assert clip0 == vf_clip
    torch.testing.assert_close(old0, values0)
    torch.testing.assert_close((returns0 - old0).double().sort().values, first_advantages(rec).sort().values,
                               rtol=1e-4, atol=1e-5)
    (values, returns, old, clip), loss = rec.value_losses[1]
    torch.testing.assert_close(old.sort().values, old0.sort().values)
    expected = (values - returns) ** 2
    if vf_clip is not None:
        expected = torch.max(expected, (old + torch.clamp(values - old, -vf_clip, vf_clip) - returns) ** 2)
    assert loss == pytest.approx(0.5 * expected.mean().item(), rel=1e-5)
