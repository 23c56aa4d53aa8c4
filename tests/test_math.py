"""Unit tests of the math each script writes out, against brute-force or closed-form
references. Scripts duplicate these functions on purpose, so every copy is tested: a test
runs for each script that defines the function."""

import numpy as np
import pytest
import torch

from tests.scripts import load

SCRIPTS = ["reinforce", "a2c", "a3c", "trpo", "ppo_kl", "ppo_clip"]
MODULES = {name: load(name) for name in SCRIPTS}


def having(function):
    return [pytest.param(MODULES[s], id=s) for s in SCRIPTS if hasattr(MODULES[s], function)]


# ---------------------------------------------------------------- GAE(gamma, lambda)

# One rollout of T=8 steps in N=2 environments. Environment 0: an episode truncated by the
# time limit at t=2, then one terminated at t=5, then one still running at t=7.
# Environment 1: one episode that runs through the whole rollout.
T, N = 8, 2
RNG = np.random.default_rng(0)
REWARDS = RNG.normal(size=(T, N))
VALUES = RNG.normal(size=(T, N))
LAST_VALUE = RNG.normal(size=N)  # V(s_T), the observation after the rollout
FINAL_VALUE = 7.0  # V(final obs) of the truncated episode of env 0
TERMINATED = np.zeros((T, N))
TRUNCATED = np.zeros((T, N))
TRUNCATED[2, 0] = 1.0
TERMINATED[5, 0] = 1.0
DONES = np.maximum(TERMINATED, TRUNCATED)
NEXT_VALUES = np.concatenate([VALUES[1:], LAST_VALUE[None]])
NEXT_VALUES[2, 0] = FINAL_VALUE


def brute_force_gae(gamma, lam):
    """A_t = sum_{l>=0} (gamma lambda)^l delta_{t+l}, summed explicitly up to the end of the
    episode or of the rollout, with delta_k = r_k + gamma V(s_{k+1}) - V(s_k); V(s_{k+1}) is
    V(final obs) at the truncation, 0 at the termination, V(s_T) after the last step."""
    adv = np.zeros((T, N))
    for n in range(N):
        for t in range(T):
            total, k = 0.0, t
            while k < T:
                if TERMINATED[k, n]:
                    v_next = 0.0
                elif TRUNCATED[k, n]:
                    v_next = FINAL_VALUE
                elif k == T - 1:
                    v_next = LAST_VALUE[n]
                else:
                    v_next = VALUES[k + 1, n]
                total += (gamma * lam) ** (k - t) * (REWARDS[k, n] + gamma * v_next - VALUES[k, n])
                if DONES[k, n]:
                    break
                k += 1
            adv[t, n] = total
    return adv


@pytest.mark.parametrize("module", having("compute_gae"))
@pytest.mark.parametrize("gamma,lam", [(0.99, 0.95), (0.9, 0.0), (0.5, 1.0)])
def test_gae_matches_brute_force_sum_over_episodes(module, gamma, lam):
    adv, ret = module.compute_gae(REWARDS, VALUES, NEXT_VALUES, TERMINATED, DONES, gamma, lam)
    np.testing.assert_allclose(adv, brute_force_gae(gamma, lam), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ret, adv + VALUES, rtol=1e-12)


@pytest.mark.parametrize("module", having("compute_gae"))
def test_gae_lambda_one_is_discounted_return_with_bootstrap(module):
    # Closed form for lambda = 1: R_t = sum_k gamma^k r_{t+k} + gamma^n V_boot, where V_boot is
    # V(final obs) after the truncation, 0 after the termination, V(s_T) at the rollout's end.
    gamma = 0.9
    _, ret = module.compute_gae(REWARDS, VALUES, NEXT_VALUES, TERMINATED, DONES, gamma, 1.0)
    r = REWARDS[:, 0]
    assert ret[0, 0] == pytest.approx(r[0] + gamma * r[1] + gamma**2 * r[2] + gamma**3 * FINAL_VALUE)
    assert ret[3, 0] == pytest.approx(r[3] + gamma * r[4] + gamma**2 * r[5])  # terminated: no bootstrap
    assert ret[6, 0] == pytest.approx(r[6] + gamma * r[7] + gamma**2 * LAST_VALUE[0])
    expected = sum(gamma**k * REWARDS[k, 1] for k in range(T)) + gamma**T * LAST_VALUE[1]
    assert ret[0, 1] == pytest.approx(expected)


@pytest.mark.parametrize("module", having("compute_gae"))
def test_gae_lambda_zero_is_the_one_step_td_advantage(module):
    # A_t = r_t + gamma V(s_{t+1}) (1 - terminated_t) - V(s_t): the TD error of the slides
    adv, _ = module.compute_gae(REWARDS, VALUES, NEXT_VALUES, TERMINATED, DONES, 0.9, 0.0)
    np.testing.assert_allclose(adv, REWARDS + 0.9 * NEXT_VALUES * (1 - TERMINATED) - VALUES, rtol=1e-12)


@pytest.mark.parametrize("module", having("compute_gae"))
def test_gae_truncation_bootstraps_and_termination_does_not(module):
    adv, _ = module.compute_gae(REWARDS, VALUES, NEXT_VALUES, TERMINATED, DONES, 0.99, 0.95)
    assert adv[2, 0] == pytest.approx(REWARDS[2, 0] + 0.99 * FINAL_VALUE - VALUES[2, 0])
    assert adv[5, 0] == pytest.approx(REWARDS[5, 0] - VALUES[5, 0])


# ---------------------------------------------------------------- REINFORCE: reward-to-go and baselines


def brute_force_reward_to_go(gamma):
    """G_t = sum_{t'=t}^{end} gamma^(t'-t) r_t' + gamma^(end-t+1) * bootstrap, summed explicitly;
    bootstrap is V(final obs) after the truncation, 0 after the termination and at the
    rollout's end (steps there belong to no complete episode and are masked by the caller)."""
    G = np.zeros((T, N))
    for n in range(N):
        for t in range(T):
            total, k = 0.0, t
            while k < T:
                total += gamma ** (k - t) * REWARDS[k, n]
                if DONES[k, n]:
                    total += gamma ** (k - t + 1) * (FINAL_VALUE if TRUNCATED[k, n] else 0.0)
                    break
                k += 1
            G[t, n] = total
    return G


@pytest.mark.parametrize("module", having("discounted_reward_to_go"))
@pytest.mark.parametrize("gamma", [0.99, 0.5, 1.0])
def test_reward_to_go_matches_brute_force(module, gamma):
    bootstrap = np.where(TRUNCATED > 0, FINAL_VALUE, 0.0)
    G = module.discounted_reward_to_go(REWARDS, DONES > 0, bootstrap, gamma)
    np.testing.assert_allclose(G, brute_force_reward_to_go(gamma), rtol=1e-12)
    # causality: the reward at t=1 does not enter G_2 (same episode), but enters G_0 and G_1
    r = REWARDS.copy()
    r[1, 0] += 100.0
    G2 = module.discounted_reward_to_go(r, DONES > 0, bootstrap, gamma)
    assert G2[2, 0] == G[2, 0] and G2[1, 0] == pytest.approx(G[1, 0] + 100.0)


@pytest.mark.parametrize("module", having("baseline_advantages"))
def test_baseline_advantages(module):
    G, V = np.array([1.0, 2.0, 6.0]), np.array([0.5, 2.5, 5.0])
    np.testing.assert_allclose(module.baseline_advantages(G, V, "none"), G)
    np.testing.assert_allclose(module.baseline_advantages(G, V, "mean"), G - 3.0)
    np.testing.assert_allclose(module.baseline_advantages(G, V, "value"), G - V)


@pytest.mark.parametrize("module", having("policy_gradient_loss"))
def test_policy_gradient_loss_value_and_gradient(module):
    logp = torch.tensor([-1.0, -2.0, -0.5], dtype=torch.float64, requires_grad=True)
    adv = torch.tensor([2.0, -1.0, 3.0], dtype=torch.float64, requires_grad=True)
    loss = module.policy_gradient_loss(logp, adv)
    assert loss.item() == pytest.approx(-(-2.0 + 2.0 - 1.5) / 3)
    loss.backward()
    np.testing.assert_allclose(logp.grad.numpy(), -adv.detach().numpy() / 3)
    assert adv.grad is None or torch.all(adv.grad == 0), "no gradient may flow into the advantage"


# A toy problem with an exact answer: two equally likely states, three actions, softmax policy
# with logits theta[s], reward table R[s, a]. The exact gradient of J = E[R] is
# sum_s p(s) sum_a pi(a|s) grad log pi(a|s) R[s, a].
TOY_R = torch.tensor([[1.0, 3.0, -2.0], [0.5, -1.0, 4.0]], dtype=torch.float64)
TOY_THETA = torch.tensor([[0.2, -0.3, 0.1], [0.0, 0.4, -0.5]], dtype=torch.float64)


def toy_gradient_estimate(module, baseline, samples, seed=0):
    g = torch.Generator().manual_seed(seed)
    theta = TOY_THETA.clone().requires_grad_(True)
    s = torch.randint(0, 2, (samples,), generator=g)
    a = torch.multinomial(torch.softmax(TOY_THETA, -1)[s], 1, generator=g).squeeze(-1)
    logp = module.categorical_log_prob(theta[s], a)
    module.policy_gradient_loss(logp, TOY_R[s, a] - baseline(s, a)).backward()
    return -theta.grad  # the loss is -L^PG


def toy_exact_gradient():
    theta = TOY_THETA.clone().requires_grad_(True)
    (0.5 * (torch.softmax(theta, -1) * TOY_R).sum()).backward()
    return theta.grad


@pytest.mark.parametrize("module", having("policy_gradient_loss"))
def test_state_dependent_baseline_leaves_the_expected_gradient_unchanged(module):
    exact = toy_exact_gradient()
    n = 400_000
    tol = 0.03  # about 4 standard errors of each entry at this sample size
    for name, baseline in [("none", lambda s, a: 0.0), ("state", lambda s, a: 10.0 + 5.0 * s.double())]:
        est = toy_gradient_estimate(module, baseline, n)
        assert (est - exact).abs().max().item() < tol, name
    # a baseline that depends on the action biases the estimate: the same tolerance rejects it
    est = toy_gradient_estimate(module, lambda s, a: 3.0 * a.double(), n)
    assert (est - exact).abs().max().item() > 5 * tol


@pytest.mark.parametrize("module", having("surrogate"))
def test_surrogate_is_importance_sampled_and_its_gradient_at_theta_old_is_the_policy_gradient(module):
    """L(theta) = E_old[pi_theta / pi_old A]: on the toy problem with actions drawn from pi_old,
    its value estimates E_theta[A] (importance sampling), and at theta = theta_old its gradient
    is the policy gradient E[grad log pi A] (the same estimate policy_gradient_loss gives)."""
    g = torch.Generator().manual_seed(1)
    n = 400_000
    s = torch.randint(0, 2, (n,), generator=g)
    a = torch.multinomial(torch.softmax(TOY_THETA, -1)[s], 1, generator=g).squeeze(-1)
    old_logp = module.categorical_log_prob(TOY_THETA[s], a)
    theta_new = TOY_THETA + torch.tensor([[0.3, 0.0, -0.2], [-0.1, 0.2, 0.0]], dtype=torch.float64)
    new_logp = module.categorical_log_prob(theta_new[s], a)
    exact_new = 0.5 * (torch.softmax(theta_new, -1) * TOY_R).sum()
    assert module.surrogate(new_logp, old_logp, TOY_R[s, a]).item() == pytest.approx(exact_new.item(), abs=0.02)
    theta = TOY_THETA.clone().requires_grad_(True)
    module.surrogate(module.categorical_log_prob(theta[s], a), old_logp, TOY_R[s, a]).backward()
    assert (theta.grad - toy_exact_gradient()).abs().max().item() < 0.03  # ~4 standard errors
    # a sign error (a surrogate that is minimised) would give the negated gradient
    assert (theta.grad + toy_exact_gradient()).abs().max().item() > 0.5


# ---------------------------------------------------------------- PPO-Clip surrogate


@pytest.mark.parametrize("module", having("clipped_surrogate_loss"))
def test_clipped_surrogate_values_and_gradients(module):
    # eps = 0.2. Per sample: r, A, min(r A, clip(r) A), d/dr of that min
    cases = [
        (1.0, 2.0, 2.0, 2.0),  # inside the range: the plain surrogate
        (1.5, 1.0, 1.2, 0.0),  # A > 0, r above 1 + eps: clipped, no gradient pushes r higher
        (0.5, -1.0, -0.8, 0.0),  # A < 0, r below 1 - eps: clipped, no gradient pushes r lower
        (0.5, 1.0, 0.5, 1.0),  # A > 0, r below the range: the unclipped term is smaller, gradient stays
        (1.5, -1.0, -1.5, -1.0),  # A < 0, r above the range: unclipped is smaller (pessimistic), gradient stays
        (1.1, -3.0, -3.3, -3.0),
    ]
    ratio = torch.tensor([c[0] for c in cases], dtype=torch.float64, requires_grad=True)
    adv = torch.tensor([c[1] for c in cases], dtype=torch.float64)
    loss = module.clipped_surrogate_loss(ratio, adv, 0.2)
    expected_objective = np.mean([c[2] for c in cases])
    assert loss.item() == pytest.approx(-expected_objective)
    loss.backward()
    np.testing.assert_allclose(ratio.grad.numpy(), [-c[3] / len(cases) for c in cases], atol=1e-12)


@pytest.mark.parametrize("module", having("value_loss"))
def test_value_loss_plain_and_clipped(module):
    import inspect

    v = torch.tensor([1.0, 3.0, -2.0], dtype=torch.float64)
    ret = torch.tensor([2.0, 1.0, -2.0], dtype=torch.float64)
    old = torch.tensor([1.5, 1.5, -1.0], dtype=torch.float64)
    clipping = "vf_clip" in inspect.signature(module.value_loss).parameters
    plain = module.value_loss(v, ret, old) if clipping else module.value_loss(v, ret)
    assert plain.item() == pytest.approx(0.5 * (1 + 4 + 0) / 3)
    if clipping:  # clipped V: old + clip(v - old, -0.2, 0.2) = [1.3, 1.7, -1.2]; losses max((v-R)^2, (Vc-R)^2)
        expected = 0.5 * (max(1.0, 0.49) + max(4.0, 0.49) + max(0.0, 0.64)) / 3
        assert module.value_loss(v, ret, old, 0.2).item() == pytest.approx(expected)


@pytest.mark.parametrize("module", having("normalize_advantages"))
def test_normalize_advantages(module):
    a = torch.tensor([1.0, 2.0, 3.0, 10.0], dtype=torch.float64)
    out = module.normalize_advantages(a)
    assert out.mean().item() == pytest.approx(0.0, abs=1e-12)
    assert out.std().item() == pytest.approx(1.0, rel=1e-6)
    np.testing.assert_allclose(out.numpy(), ((a - a.mean()) / a.std()).numpy(), rtol=1e-6)


@pytest.mark.parametrize("module", having("approx_kl"))
def test_approx_kl_is_exact_kl_in_expectation(module):
    # E_{a~p_old}[(r - 1) - log r] = sum_a p_new(a) - 1 + KL(p_old || p_new) = KL(p_old || p_new).
    # A sample list in exact proportion to p_old = (1/2, 1/4, 1/4) makes the mean the expectation.
    p_old = np.array([0.5, 0.25, 0.25])
    p_new = np.array([0.2, 0.5, 0.3])
    samples = [0, 0, 1, 2]
    logratio = torch.tensor([np.log(p_new[a] / p_old[a]) for a in samples], dtype=torch.float64)
    kl = float(np.sum(p_old * np.log(p_old / p_new)))
    assert module.approx_kl(logratio).item() == pytest.approx(kl, rel=1e-12)


@pytest.mark.parametrize("module", having("annealed_learning_rate"))
def test_annealed_learning_rate(module):
    assert module.annealed_learning_rate(3e-4, 1, 10) == pytest.approx(3e-4)
    assert module.annealed_learning_rate(3e-4, 10, 10) == pytest.approx(3e-5)
    rates = [module.annealed_learning_rate(1.0, i, 4) for i in range(1, 5)]
    np.testing.assert_allclose(rates, [1.0, 0.75, 0.5, 0.25])


@pytest.mark.parametrize("module", having("explained_variance"))
def test_explained_variance(module):
    ret = np.array([1.0, 2.0, 3.0, 4.0])
    assert module.explained_variance(ret, ret) == pytest.approx(1.0)
    assert module.explained_variance(np.full(4, ret.mean()), ret) == pytest.approx(0.0)
    assert np.isnan(module.explained_variance(ret, np.ones(4)))


# ---------------------------------------------------------------- distributions


@pytest.mark.parametrize("module", having("gaussian_log_prob"))
def test_gaussian_log_prob_and_entropy_match_torch_distributions(module):
    g = torch.Generator().manual_seed(0)
    mean, log_std, a = torch.randn(5, 3, generator=g), torch.randn(3, generator=g), torch.randn(5, 3, generator=g)
    ref = torch.distributions.Normal(mean, log_std.exp())
    torch.testing.assert_close(module.gaussian_log_prob(mean, log_std.expand_as(mean), a), ref.log_prob(a).sum(-1))
    torch.testing.assert_close(module.gaussian_entropy(log_std.expand_as(mean)), ref.entropy().sum(-1))


@pytest.mark.parametrize("module", having("categorical_log_prob"))
def test_categorical_log_prob_and_entropy_match_torch_distributions(module):
    g = torch.Generator().manual_seed(0)
    logits, a = torch.randn(6, 4, generator=g), torch.randint(0, 4, (6,), generator=g)
    ref = torch.distributions.Categorical(logits=logits)
    torch.testing.assert_close(module.categorical_log_prob(logits, a), ref.log_prob(a))
    torch.testing.assert_close(module.categorical_entropy(logits), ref.entropy())


def sample_and_log_prob(agent, obs):
    """(a ~ pi(.|s), log pi(a|s), pi's mean or logits) as the script's loop gets them: PPO samples
    with get_action in the rollout and evaluates the batch afterwards with evaluate_actions."""
    if hasattr(agent, "actor_weights"):  # PPO: the rollout's actor runs in numpy
        action = torch.from_numpy(agent.get_action(obs.numpy(), agent.actor_weights()))
        logprob, _, _, dist = agent.evaluate_actions(obs, action)
        return action, logprob, dist
    if hasattr(agent, "get_action"):
        action = agent.get_action(obs)
        logprob, _, _, dist = agent.evaluate_actions(obs, action)
        return action, logprob, dist
    action, logprob, _, _, dist = agent.get_action_and_value(obs)
    _, again, _, _, _ = agent.get_action_and_value(obs, action)
    torch.testing.assert_close(logprob, again)  # the update's ratio starts at exactly 1
    return action, logprob, dist


@pytest.mark.parametrize("module", having("Agent"))
@pytest.mark.parametrize("space", ["discrete", "box"])
def test_agent_samples_the_policy_and_its_log_prob(module, space):
    # The rollout's actions must follow pi(.|s), and log pi(a|s) (stored for the update's ratio)
    # must be the policy's own: against torch.distributions on the same parameters.
    import gymnasium as gym

    torch.manual_seed(0)
    np.random.seed(0)  # PPO's rollout draws its Gaussian noise from numpy
    action_space = gym.spaces.Discrete(3) if space == "discrete" else gym.spaces.Box(-1, 1, (2,))
    agent = module.Agent(4, action_space)
    if space == "box":
        with torch.no_grad():
            agent.actor_logstd.copy_(torch.tensor([-0.5, 0.3]))  # two different stds
    obs = torch.randn(20000, 4)
    with torch.no_grad():
        action, logprob, dist = sample_and_log_prob(agent, obs)
        mean = agent.actor(obs)
    torch.testing.assert_close(dist, mean)  # the Gaussian's mean or the logits
    if space == "box":  # sample mean and std of a - mu match the policy's
        std = agent.actor_logstd.exp().detach()
        ref = torch.distributions.Normal(mean, std).log_prob(action).sum(-1)
        torch.testing.assert_close(logprob, ref)
        noise = action - mean
        assert noise.mean(0).abs().max().item() < 0.03
        torch.testing.assert_close(noise.std(0), std, atol=0.03, rtol=0)
    else:  # empirical action frequencies of one state match pi(.|s)
        torch.testing.assert_close(logprob, torch.distributions.Categorical(logits=mean).log_prob(action))
        one = obs[:1].expand(20000, 4)
        with torch.no_grad():
            a, _, _ = sample_and_log_prob(agent, one)
            probs = torch.softmax(agent.actor(obs[:1]), -1)[0]
        freq = torch.bincount(a, minlength=3).double() / len(a)
        torch.testing.assert_close(freq, probs.double(), atol=0.02, rtol=0)


@pytest.mark.parametrize("module", [p for p in having("Agent") if hasattr(p.values[0].Agent, "actor_weights")])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("space", ["box", "discrete"])
def test_rollout_actor_in_numpy_is_the_torch_actor(module, activation, space):
    # PPO's rollout samples with a numpy copy of the actor's forward pass (get_action on
    # actor_weights()); it must compute the torch actor's output, and follow the optimiser's
    # in-place updates without being rebuilt. Box: the Gaussian's std is made negligible, so the
    # action is the mean. Discrete: the logits are made large, so the sample is their argmax.
    import gymnasium as gym

    torch.manual_seed(0)
    np.random.seed(0)
    action_space = gym.spaces.Box(-1, 1, (2,)) if space == "box" else gym.spaces.Discrete(3)
    agent = module.Agent(4, action_space, hidden_size=8, activation=activation)
    optimizer = torch.optim.Adam(agent.parameters(), lr=0.5)
    weights, obs = agent.actor_weights(), torch.randn(200, 4)
    with torch.no_grad():
        for p in agent.actor.parameters():  # weights of order 1, so that every layer shows
            p.add_(torch.randn_like(p))
        if space == "box":
            agent.actor_logstd.fill_(-30.0)
        else:
            agent.actor[-1].weight.mul_(30.0)
            agent.actor[-1].bias.mul_(30.0)
    for _ in range(2):  # as built, then after an optimiser step (large, so that it shows)
        with torch.no_grad():
            out = agent.actor(obs)
        assert out.std() > 0.3
        action = agent.get_action(obs.numpy(), weights)
        if space == "box":  # float32 rounding apart, the torch actor's mean
            np.testing.assert_allclose(action, out.numpy(), atol=1e-5, rtol=1e-5)
        else:  # the most likely action, but for the few states where two logits are close
            assert (action == out.argmax(-1).numpy()).mean() > 0.97
        optimizer.zero_grad()
        agent.actor(obs).pow(2).sum().neg().backward()
        optimizer.step()


@pytest.mark.parametrize("module", having("clip_grad_norm"))
def test_clip_grad_norm_is_torchs_arithmetic(module):
    # g <- g * min(1, c / (||g|| + 1e-6)) over all gradients together, bit for bit torch's
    # clip_grad_norm_ (so the baselines recorded with it still hold), below and above c.
    import copy

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3))
    for max_norm in (1e-3, 0.5, 1e6):
        a, b, x = copy.deepcopy(net), copy.deepcopy(net), torch.randn(9, 5)
        for m in (a, b):
            m(x).pow(2).sum().backward()
        expected = torch.nn.utils.clip_grad_norm_(a.parameters(), max_norm)
        got = module.clip_grad_norm(b.parameters(), max_norm)
        assert torch.equal(got, expected)
        for p, q in zip(a.parameters(), b.parameters()):
            assert torch.equal(p.grad, q.grad)
        total = torch.linalg.vector_norm(torch.cat([q.grad.reshape(-1) for q in b.parameters()]))
        assert total.item() == pytest.approx(min(max_norm, expected.item()), rel=1e-5)


@pytest.mark.parametrize("module", having("gaussian_kl"))
def test_gaussian_kl_matches_monte_carlo_and_closed_form(module):
    g = torch.Generator().manual_seed(0)
    mean_old, mean = torch.randn(4, 3, generator=g, dtype=torch.float64), torch.randn(4, 3, generator=g, dtype=torch.float64)
    log_std_old, log_std = 0.3 * torch.randn(3, generator=g, dtype=torch.float64), 0.3 * torch.randn(3, generator=g, dtype=torch.float64)
    kl = module.gaussian_kl(mean_old, log_std_old, mean, log_std)
    assert kl.shape == (4,)
    # Monte Carlo: E_{a ~ pi_old}[log pi_old(a) - log pi(a)] with 400k samples per state
    a = mean_old + log_std_old.exp() * torch.randn(400_000, 4, 3, generator=g, dtype=torch.float64)
    old, new = torch.distributions.Normal(mean_old, log_std_old.exp()), torch.distributions.Normal(mean, log_std.exp())
    mc = (old.log_prob(a) - new.log_prob(a)).sum(-1).mean(0)
    torch.testing.assert_close(kl, mc, atol=0.02, rtol=0.01)
    torch.testing.assert_close(kl, torch.distributions.kl_divergence(old, new).sum(-1))
    assert module.gaussian_kl(mean, log_std, mean, log_std).abs().max().item() < 1e-12


@pytest.mark.parametrize("module", having("categorical_kl"))
def test_categorical_kl_matches_monte_carlo_and_closed_form(module):
    g = torch.Generator().manual_seed(0)
    logits_old, logits = torch.randn(4, 5, generator=g, dtype=torch.float64), torch.randn(4, 5, generator=g, dtype=torch.float64)
    kl = module.categorical_kl(logits_old, logits)
    old, new = torch.distributions.Categorical(logits=logits_old), torch.distributions.Categorical(logits=logits)
    a = old.sample((400_000,))
    mc = (old.log_prob(a) - new.log_prob(a)).mean(0)
    torch.testing.assert_close(kl, mc, atol=0.01, rtol=0.01)
    torch.testing.assert_close(kl, torch.distributions.kl_divergence(old, new))


@pytest.mark.parametrize("module", having("adapt_beta"))
def test_adapt_beta_three_regions_and_boundaries(module):
    d_targ = 0.01
    assert module.adapt_beta(1.0, 0.05, d_targ) == 2.0  # far above: double
    assert module.adapt_beta(1.0, 1.5 * d_targ, d_targ) == 2.0  # boundary d = 1.5 d_targ doubles
    assert module.adapt_beta(1.0, 1.49 * d_targ, d_targ) == 1.0  # just inside: unchanged
    assert module.adapt_beta(1.0, d_targ, d_targ) == 1.0  # on target: unchanged
    assert module.adapt_beta(1.0, d_targ / 1.49, d_targ) == 1.0  # just inside: unchanged
    assert module.adapt_beta(1.0, d_targ / 1.5, d_targ) == 0.5  # boundary d = d_targ / 1.5 halves
    assert module.adapt_beta(1.0, 0.0, d_targ) == 0.5  # far below: halve
    assert module.adapt_beta(3.0, 0.05, d_targ) == 6.0


@pytest.mark.parametrize("module", having("kl_penalized_surrogate_loss"))
def test_kl_penalized_surrogate_values_and_gradients(module):
    # -L^KLPEN = -mean(r A - beta KL); d/dr = -A / n, d/dKL = beta / n
    ratio = torch.tensor([1.0, 1.5, 0.5], dtype=torch.float64, requires_grad=True)
    adv = torch.tensor([2.0, -1.0, 1.0], dtype=torch.float64)
    kl = torch.tensor([0.0, 0.2, 0.1], dtype=torch.float64, requires_grad=True)
    loss = module.kl_penalized_surrogate_loss(ratio, adv, kl, 0.5)
    assert loss.item() == pytest.approx(-((2.0 - 0.0) + (-1.5 - 0.1) + (0.5 - 0.05)) / 3)
    loss.backward()
    np.testing.assert_allclose(ratio.grad.numpy(), [-2.0 / 3, 1.0 / 3, -1.0 / 3])
    np.testing.assert_allclose(kl.grad.numpy(), [0.5 / 3] * 3)
    # unlike L^CLIP, the gradient never vanishes far from r = 1: the penalty does the restraining
    far = torch.tensor([3.0], dtype=torch.float64, requires_grad=True)
    module.kl_penalized_surrogate_loss(far, torch.tensor([1.0], dtype=torch.float64), torch.zeros(1, dtype=torch.float64), 1.0).backward()
    assert far.grad.item() == -1.0


# ---------------------------------------------------------------- normalisation


@pytest.mark.parametrize("module", having("RunningMeanStd"))
def test_running_mean_std_matches_batch_statistics(module):
    x = np.random.default_rng(1).normal(3.0, 2.0, size=(1000, 3))
    rms = module.RunningMeanStd((3,))
    for chunk in np.array_split(x, 37):
        rms.update(chunk)
    np.testing.assert_allclose(rms.mean, x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(rms.var, x.var(0), rtol=1e-4)


@pytest.mark.parametrize("module", having("normalize_obs"))
def test_normalize_obs_and_scale_reward(module):
    rms = module.RunningMeanStd((2,))
    rms.mean, rms.var = np.array([1.0, -1.0]), np.array([4.0, 0.25])
    out = module.normalize_obs(np.array([[3.0, 100.0]]), rms)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[1.0, 10.0]], rtol=1e-6)  # second entry clipped at 10
    ret_rms = module.RunningMeanStd()
    ret_rms.var = np.array(16.0)
    np.testing.assert_allclose(module.scale_reward(np.array([2.0, -100.0]), ret_rms), [0.5, -10.0], rtol=1e-6)


# ---------------------------------------------------------------- RMSProp (A2C and A3C)


def rmsprop_reference(theta, grads, lrs, alpha, eps):
    """The A3C paper's RMSProp, element by element in float64:
    g <- alpha g + (1 - alpha) dtheta^2;  theta <- theta - lr dtheta / sqrt(g + eps)."""
    theta, g = theta.astype(np.float64).copy(), np.zeros_like(theta, np.float64)
    for dtheta, lr in zip(grads, lrs):
        g = alpha * g + (1 - alpha) * dtheta.astype(np.float64) ** 2
        theta = theta - lr * dtheta / np.sqrt(g + eps)
    return theta


@pytest.mark.parametrize("script, name", [("a2c", "RMSprop"), ("a3c", "SharedRMSprop")])
def test_rmsprop_is_the_papers_formula(script, name):
    """A2C and A3C take the same step: eps inside the square root, never torch's sqrt(g) + eps.
    Gradients of 1e-4 to 1 make the two placements of eps differ by up to 30x."""
    rng = np.random.default_rng(0)
    theta0 = rng.normal(size=(3, 4)).astype(np.float32)
    grads = [(rng.normal(size=(3, 4)) * 10.0 ** rng.integers(-4, 1, size=(3, 4))).astype(np.float32) for _ in range(5)]
    lrs = [7e-4, 6e-4, 5e-4, 4e-4, 3e-4]
    param = torch.nn.Parameter(torch.from_numpy(theta0.copy()))
    optimizer = getattr(MODULES[script], name)([param], alpha=0.99, eps=1e-5)
    for dtheta, lr in zip(grads, lrs):
        optimizer.step([torch.from_numpy(dtheta)], lr)
    expected = rmsprop_reference(theta0, grads, lrs, alpha=0.99, eps=1e-5)
    np.testing.assert_allclose(param.detach().numpy(), expected, rtol=1e-5, atol=1e-7)
    torch_param = torch.nn.Parameter(torch.from_numpy(theta0.copy()))
    torch_opt = torch.optim.RMSprop([torch_param], lr=lrs[0], alpha=0.99, eps=1e-5)
    for dtheta, lr in zip(grads, lrs):
        torch_opt.param_groups[0]["lr"] = lr
        torch_param.grad = torch.from_numpy(dtheta)
        torch_opt.step()
    assert np.abs(torch_param.detach().numpy() - expected).max() > 1e-3  # the fixture tells them apart
