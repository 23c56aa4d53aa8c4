"""The formulas of benchmark/pg_variance.py against closed forms: a two-step softmax MDP whose
five trajectories can be enumerated (exact expectations, exact variances, exact grad J), and two
Gaussians for the importance weights. Each test names the bug it catches."""

import numpy as np
import pytest
import torch

from benchmark import pg_variance as pv
from tests.scripts import load

reinforce = load("reinforce")

# ---------------------------------------------------------------- a two-step softmax MDP
# s0 has three actions: 0 ends the episode (reward 4), 1 leads to sA (reward 9), 2 to sB (4).
# sA and sB have two actions each (rewards 9 or 3, -1 or 3) and end the episode. Tabular softmax policy: theta holds the
# logits of s0 (3), sA (2), sB (2). gamma = 0.5, so that a dropped gamma^t shows.
GAMMA = 0.5
THETA = np.array([0.3, -0.2, 0.5, 0.4, -0.6, -0.1, 0.7])
BLOCKS = [slice(0, 3), slice(3, 5), slice(5, 7)]
REWARD = {(0, 0): 4.0, (0, 1): 9.0, (0, 2): 4.0, (1, 0): 9.0, (1, 1): 3.0, (2, 0): -1.0, (2, 1): 3.0}
TRAJECTORIES = [((0, 0),), ((0, 1), (1, 0)), ((0, 1), (1, 1)), ((0, 2), (2, 0)), ((0, 2), (2, 1))]
VALUE = np.array([1.3, -0.7, 2.1])  # an arbitrary V(s): any function of the state is a valid baseline
SHIFT = np.array([1.0, -0.8, 0.0, 0.5, -0.2, -0.4, 0.3])  # q's logits: theta + SHIFT


def softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def episode(traj, theta=THETA, behaviour=None):
    """rewards [T], states [T], p's scores psi_t [T, 7], log p and log q of the actions."""
    behaviour = theta if behaviour is None else behaviour
    scores = np.zeros((len(traj), len(theta)))
    logp, logq = [], []
    for t, (s, a) in enumerate(traj):
        pi = softmax(theta[BLOCKS[s]])
        scores[t, BLOCKS[s]] = np.eye(len(pi))[a] - pi  # grad of log softmax: onehot(a) - pi
        logp.append(np.log(pi[a]))
        logq.append(np.log(softmax(behaviour[BLOCKS[s]])[a]))
    return {"rewards": np.array([REWARD[sa] for sa in traj]), "states": np.array([s for s, _ in traj]),
            "scores": scores, "logp": np.array(logp), "logq": np.array(logq)}


def probabilities(theta):
    return np.array([np.prod([softmax(theta[BLOCKS[s]])[a] for s, a in traj]) for traj in TRAJECTORIES])


def exact_gradient():
    # grad J, J = sum_tau p(tau) sum_t gamma^t r_t, by autograd through the enumeration
    theta = torch.tensor(THETA, requires_grad=True)
    j = 0.0
    for traj in TRAJECTORIES:
        prob = torch.prod(torch.stack([torch.softmax(theta[BLOCKS[s]], 0)[a] for s, a in traj]))
        j = j + prob * sum(GAMMA**t * REWARD[sa] for t, sa in enumerate(traj))
    j.backward()
    return theta.grad.numpy()


EPISODES = [episode(traj) for traj in TRAJECTORIES]
P = probabilities(THETA)
GRAD = exact_gradient()
PSI = np.array([e["scores"].sum(0) for e in EPISODES])  # Psi = sum_t psi_t per trajectory
RETURNS = np.array([pv.trajectory_return(e["rewards"], GAMMA) for e in EPISODES])
B_STAR_K = pv.optimal_constant_baseline(PSI, RETURNS, weights=P)


def per_trajectory(weights_of):
    """[5, 7]: sum_t w_t psi_t of each trajectory, w = weights_of(episode)."""
    return np.array([pv.score_sum(e["scores"], weights_of(e)) for e in EPISODES])


UNBIASED = {
    "R(tau)": per_trajectory(lambda e: pv.whole_return_weights(e["rewards"], GAMMA)),
    "R(tau) - b": per_trajectory(lambda e: pv.whole_return_weights(e["rewards"], GAMMA, b=1.7)),
    "R(tau) - b*_k": pv.per_component_baseline_estimate(PSI * RETURNS[:, None], PSI, B_STAR_K),
    "reward-to-go": per_trajectory(lambda e: pv.reward_to_go_weights(e["rewards"], GAMMA)),
    "reward-to-go - b": per_trajectory(lambda e: pv.reward_to_go_weights(e["rewards"], GAMMA, 0.8)),
    "reward-to-go - V(s)": per_trajectory(lambda e: pv.reward_to_go_weights(e["rewards"], GAMMA, VALUE[e["states"]])),
}
BIASED = {  # the named bugs
    "gamma^t dropped (the scripts' form)": per_trajectory(lambda e: pv.script_weights(e["rewards"], GAMMA, VALUE[e["states"]])),
    "a baseline that depends on the action (b = r_t)": per_trajectory(
        lambda e: pv.reward_to_go_weights(e["rewards"], GAMMA, e["rewards"])),
}


# the true V(s) = E[G_t | s_t = s]: of s0, E[R(tau)]; of sA and sB, the mean reward of their action
V_TRUE = np.array([P @ RETURNS] + [softmax(THETA[BLOCKS[s]]) @ [REWARD[(s, a)] for a in (0, 1)] for s in (1, 2)])


def exact_mean(g, probs=P):
    return probs @ g


def exact_total_variance(g, probs=P):
    # tr Cov[g] = sum_k (E[g_k^2] - E[g_k]^2)
    return float((probs @ g**2 - (probs @ g) ** 2).sum())


# ---------------------------------------------------------------- (a), (b): unbiased or not


def test_estimators_have_the_exact_gradient_as_expectation():
    # bugs: a weight function that adds the baseline, drops gamma^t, or biases R(tau)/G_t: the
    # exact expectation over the five trajectories moves off grad J
    assert np.linalg.norm(GRAD) > 0.1
    for name, g in UNBIASED.items():
        np.testing.assert_allclose(exact_mean(g), GRAD, atol=1e-12, err_msg=name)
    for name, g in BIASED.items():
        assert np.linalg.norm(exact_mean(g) - GRAD) > 0.1 * np.linalg.norm(GRAD), name


def test_bias_statistic_is_about_one_for_unbiased_and_large_for_biased_estimators():
    # bug: a bias statistic with the wrong standard error (per episode instead of per mean, or
    # without the reference's term) would flag unbiased estimators or miss the biased ones.
    # Sampled episodes (trajectory types drawn from p), M = 10000 batches of N = 10. z^2 has mean 1
    # for an unbiased estimator (7 components: z < 3 is a generous bound); the biased ones' exact
    # biases give z of about 18 (gamma^t dropped) and 200 (b = r_t) at this M
    rng = np.random.default_rng(0)
    types = rng.choice(len(P), size=100_000, p=P)
    for name, g in {**UNBIASED, **BIASED}.items():
        batches = pv.batch_means(g[types], 10)
        z = pv.bias_statistic(batches.mean(0), pv.total_variance(batches), len(batches), GRAD, 0.0, 1)
        assert (z < 3) if name in UNBIASED else (z > 6), (name, z)
    # against a sampled reference (reward-to-go - V of an independent sample), the reference's
    # variance enters the denominator: z stays about 1
    ref = UNBIASED["reward-to-go - V(s)"][rng.choice(len(P), size=100_000, p=P)]
    batches = pv.batch_means(UNBIASED["R(tau)"][types], 10)
    z = pv.bias_statistic(batches.mean(0), pv.total_variance(batches), len(batches), ref.mean(0),
                          pv.total_variance(ref), len(ref))
    assert z < 3


def test_baselines_and_reward_to_go_lower_the_variance():
    # bug: a baseline added instead of subtracted, or a reward-to-go that keeps the past rewards:
    # the variances below would not fall (exact, and measured on 20000 sampled episodes)
    estimators = dict(UNBIASED, **{
        "R(tau) - mean R": per_trajectory(lambda e: pv.whole_return_weights(e["rewards"], GAMMA, b=P @ RETURNS)),
        "reward-to-go - true V(s)": per_trajectory(lambda e: pv.reward_to_go_weights(e["rewards"], GAMMA, V_TRUE[e["states"]])),
    })
    exact = {name: exact_total_variance(g) for name, g in estimators.items()}
    types = np.random.default_rng(1).choice(len(P), size=20000, p=P)
    measured = {name: pv.total_variance(g[types]) for name, g in estimators.items()}
    for name in exact:  # each within 5% of its exact value at this sample size
        assert abs(measured[name] / exact[name] - 1) < 0.05, name
    for var in (exact, measured):  # exact ratios 0.07, 0.20, 0.74, 0.20
        assert var["R(tau) - b*_k"] < 0.12 * var["R(tau)"]
        assert var["R(tau) - mean R"] < 0.3 * var["R(tau)"]
        assert var["reward-to-go"] < 0.82 * var["R(tau)"]
        assert var["reward-to-go - true V(s)"] < 0.3 * var["reward-to-go"]


def test_batch_mean_baseline_is_biased_and_less_so_in_larger_batches():
    # reinforce.py's --baseline mean subtracts the mean G_t of the batch itself, which depends on
    # the episode's own actions: the exact expectation over every batch of N trajectories is off
    # grad J, by less as N grows (bug caught: a batch mean computed over another batch)
    import itertools

    bias = []
    for n in (1, 2, 3):
        mean = np.zeros_like(GRAD)
        for combo in itertools.product(range(len(P)), repeat=n):
            weights = pv.batch_mean_weights([EPISODES[i]["rewards"] for i in combo], GAMMA)
            g = np.mean([pv.score_sum(EPISODES[i]["scores"], w) for i, w in zip(combo, weights)], axis=0)
            mean += np.prod(P[list(combo)]) * g
        bias.append(np.linalg.norm(mean - GRAD))
    assert bias[0] > bias[1] > bias[2] > 0.01 * np.linalg.norm(GRAD)


# ---------------------------------------------------------------- (c): the optimal constant baseline


def test_optimal_constant_baseline_is_the_variance_minimiser_on_a_grid():
    # bug: b* written as E[Psi R] / E[Psi], as the mean return, or without the squares: it would
    # not sit at the brute-force minimiser of the exact variance
    grid = np.linspace(-5.0, 15.0, 20001)
    step = grid[1] - grid[0]
    # Var[Psi_k (R - b)] for every b of the grid and every component k: [grid, 7]
    g = PSI[None] * (RETURNS[None, :, None] - grid[:, None, None])  # [grid, 5, 7]
    var = np.einsum("j,bjk->bk", P, g**2) - np.einsum("j,bjk->bk", P, g) ** 2
    np.testing.assert_allclose(B_STAR_K, grid[var.argmin(0)], atol=step)
    b_scalar = pv.optimal_scalar_baseline(PSI, RETURNS, weights=P)
    assert abs(b_scalar - grid[var.sum(1).argmin()]) <= step
    mean_return = P @ RETURNS  # the usual baseline is not the optimum here: the test can tell them apart
    assert abs(b_scalar - mean_return) > 20 * step
    assert np.ptp(B_STAR_K) > 20 * step  # nor are the components' optima one number
    # the general form b* = E[u.v] / E[v.v] for reward-to-go: u = sum_t psi_t gamma^t G_t, v = sum_t psi_t gamma^t
    u, v = UNBIASED["reward-to-go"], per_trajectory(lambda e: pv.discounts(len(e["rewards"]), GAMMA))
    trace = [exact_total_variance(u - b * v) for b in grid]
    assert abs(pv.least_variance_coefficient(u, v, weights=P) - grid[np.argmin(trace)]) <= step
    assert pv.least_variance_coefficient(PSI * RETURNS[:, None], PSI, weights=P) == pytest.approx(b_scalar)


# ---------------------------------------------------------------- (d): importance sampling


def test_importance_weight_variance_is_exp_of_twice_the_kl_minus_one():
    # p = N(0, 1), q = N(mu, 1): E_q[p/q] = 1 and Var_q[p/q] = exp(mu^2) - 1 = exp(2 KL[p||q]) - 1.
    # bug caught: the ratio inverted (q/p has E_q = exp(mu^2) and Var_q = exp(3 mu^2) - exp(2 mu^2))
    rng = np.random.default_rng(0)
    n = 200_000
    for mu in (0.3, 0.6):
        kl = pv.gaussian_shift_kl(mu)
        exact_kl = reinforce.gaussian_kl(torch.zeros(1), torch.zeros(1), torch.full((1,), mu), torch.zeros(1)).item()
        assert kl == pytest.approx(exact_kl)
        var = pv.gaussian_weight_variance(kl)
        assert var == pytest.approx(np.expm1(mu**2))
        x = rng.normal(mu, 1.0, n)
        logp, logq = -0.5 * x**2, -0.5 * (x - mu) ** 2  # the normalisers cancel
        # the standard error of a sample variance: sqrt((E[(w-1)^4] - Var^2) / n), with the exact
        # moments E_q[w^k] = exp(k (k - 1) mu^2 / 2)
        m = [np.exp(k * (k - 1) * mu**2 / 2) for k in range(5)]
        central4 = m[4] - 4 * m[3] + 6 * m[2] - 4 * m[1] + 1
        se = np.sqrt((central4 - var**2) / n)
        w = pv.importance_weight(logp, logq)
        assert abs(w.var(ddof=1) - var) < 4 * se
        assert abs(w.mean() - 1) < 4 * np.sqrt(var / n)
        inverted = pv.importance_weight(logq, logp)
        assert abs(inverted.var(ddof=1) - var) > 20 * se
        # E_p[f] = E_q[f p/q] for f(x) = x^2 (E_p = 1)
        assert abs(np.mean(x**2 * w) - 1) < 4 * np.sqrt(np.var(x**2 * w) / n)
    # a trajectory of T independent steps: w(tau) = prod_t p/q, Var = exp(2 T KL) - 1
    mu, steps = 0.2, 5
    x = rng.normal(mu, 1.0, (n, steps))
    w = pv.trajectory_importance_weight(-0.5 * x**2, -0.5 * (x - mu) ** 2)
    var = pv.gaussian_weight_variance(steps * pv.gaussian_shift_kl(mu))
    m = [np.exp(k * (k - 1) * steps * mu**2 / 2) for k in range(5)]
    se = np.sqrt((m[4] - 4 * m[3] + 6 * m[2] - 4 * m[1] + 1 - var**2) / n)
    assert abs(w.var(ddof=1) - var) < 4 * se
    assert pv.effective_sample_size(np.ones(10)) == 10 and pv.effective_sample_size([1, 0, 0]) == 1


def test_importance_sampled_gradients_exact_expectation_under_a_behaviour_policy():
    # episodes from q = softmax(theta + SHIFT); the gradient at p. Trajectory and per-decision
    # weights: exactly grad J(p). PPO's per-step ratio and no correction: biased (they keep q's
    # states and q's G_t). Bug caught: a per-decision weight that uses w_{0:t} for the rewards
    # after t, or a trajectory weight q/p
    q = probabilities(THETA + SHIFT)
    episodes = [episode(traj, behaviour=THETA + SHIFT) for traj in TRAJECTORIES]

    def expectation(weights_fn):
        g = np.array([pv.score_sum(e["scores"], weights_fn(e["rewards"], GAMMA, VALUE[e["states"]], e["logp"], e["logq"]))
                      for e in episodes])
        return q @ g

    np.testing.assert_allclose(expectation(pv.trajectory_is_weights), GRAD, atol=1e-12)
    np.testing.assert_allclose(expectation(pv.per_decision_is_weights), GRAD, atol=1e-12)
    assert np.linalg.norm(expectation(pv.ppo_ratio_weights) - GRAD) > 0.02 * np.linalg.norm(GRAD)
    inverted = lambda r, g, v, lp, lq: pv.trajectory_is_weights(r, g, v, lq, lp)  # noqa: E731
    assert np.linalg.norm(expectation(inverted) - GRAD) > 0.02 * np.linalg.norm(GRAD)

    def per_decision_whole_prefix(r, g, v, lp, lq):  # reward r_t' weighted by w_{0:t} (wrong)
        w = np.exp(np.cumsum(lp - lq))
        return w * pv.reward_to_go_weights(r, g, v)

    assert np.linalg.norm(expectation(per_decision_whole_prefix) - GRAD) > 0.02 * np.linalg.norm(GRAD)
    # on-policy (q = p) all four coincide with reward-to-go - V
    same = [pv.score_sum(e["scores"], pv.ppo_ratio_weights(e["rewards"], GAMMA, VALUE[e["states"]], e["logp"], e["logp"]))
            for e in EPISODES]
    np.testing.assert_allclose(same, UNBIASED["reward-to-go - V(s)"], atol=1e-12)


# ---------------------------------------------------------------- the pieces the benchmark runs on


def test_reward_to_go_return_and_batch_mean_weights():
    # bug: a reward-to-go off by one step, or a batch mean over one episode instead of the batch
    r = np.array([1.0, -2.0, 0.5, 3.0])
    g = pv.reward_to_go(r, 0.9)
    brute = [sum(0.9 ** (k - t) * r[k] for k in range(t, 4)) for t in range(4)]
    np.testing.assert_allclose(g, brute)
    assert pv.trajectory_return(r, 0.9) == pytest.approx(brute[0])
    np.testing.assert_allclose(pv.whole_return_weights(r, 0.9, 1.0), np.full(4, brute[0] - 1.0))
    np.testing.assert_allclose(pv.reward_to_go_weights(r, 0.9, 1.0), 0.9 ** np.arange(4) * (np.array(brute) - 1.0))
    np.testing.assert_allclose(pv.script_weights(r, 0.9, 1.0), np.array(brute) - 1.0)
    r2 = np.array([2.0])
    w1, w2 = pv.batch_mean_weights([r, r2], 0.9)
    mean = (sum(brute) + 2.0) / 5
    np.testing.assert_allclose(w1, 0.9 ** np.arange(4) * (np.array(brute) - mean))
    np.testing.assert_allclose(w2, [2.0 - mean])
    x = np.arange(12.0).reshape(6, 2)
    np.testing.assert_allclose(pv.batch_means(x, 3), [[2.0, 3.0], [8.0, 9.0]])
    assert pv.total_variance(x) == pytest.approx(2 * np.var(x[:, 0], ddof=1))


@pytest.mark.parametrize("space", ["discrete", "box"])
def test_score_sums_match_autograd_through_reinforce_policy_gradient_loss(space):
    # bug: scores over the wrong parameters (the critic's, or without the log-std), with the wrong
    # sign, or episodes split at the wrong steps: sum_t w_t psi_t must equal -T times the gradient of
    # reinforce.py's policy_gradient_loss (a mean over the T steps) for each episode of a group
    import gymnasium as gym

    torch.manual_seed(0)
    action_space = gym.spaces.Discrete(3) if space == "discrete" else gym.spaces.Box(-1, 1, (2,))
    agent = reinforce.Agent(4, action_space)
    policy = pv.Policy(agent)
    rng = np.random.default_rng(0)
    episodes, weights = [], []
    for length in (5, 3, 7):
        obs = rng.normal(size=(length, 4)).astype(np.float32)
        with torch.no_grad():
            actions, logp, _, _, _ = agent.get_action_and_value(torch.from_numpy(obs))
        episodes.append(pv.Episode(obs, actions.numpy(), np.zeros(length), logp.numpy(), logp.numpy(),
                                   np.zeros(length), False, len(episodes)))
        weights.append(rng.normal(size=(length, 2)))
    sums = list(pv.episode_score_sums(policy, episodes, weights, group_steps=100))  # one group
    params = list(agent.actor.parameters()) + ([agent.actor_logstd] if space == "box" else [])
    for e, w, got in zip(episodes, weights, sums):
        for j in range(2):
            _, log_probs, _, _, _ = agent.get_action_and_value(torch.from_numpy(e.obs), torch.from_numpy(e.actions))
            loss = reinforce.policy_gradient_loss(log_probs, torch.from_numpy(w[:, j]).float())
            grads = torch.autograd.grad(loss, params)
            expected = -len(e.obs) * torch.cat([g.reshape(-1) for g in grads]).numpy()
            np.testing.assert_allclose(got[:, j], expected, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_quick_run_writes_its_tables_csv_and_plots(tmp_path):
    # opt-in (pytest -m slow, about a minute): the benchmark end to end on one environment
    import subprocess
    import sys

    from tests.scripts import REPO

    proc = subprocess.run([sys.executable, "benchmark/pg_variance.py", "--quick", "--envs", "CartPole-v1", "--out", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = {p.name for p in tmp_path.iterdir()}
    assert {"CartPole-v1.md", "CartPole-v1.csv", "CartPole-v1_variance.png", "CartPole-v1_baseline.png",
            "CartPole-v1_is.png", "CartPole-v1_learning_curves.png"} <= names
    text = (tmp_path / "CartPole-v1.md").read_text()
    assert f"python benchmark/pg_variance.py --quick --envs CartPole-v1 --out {tmp_path}" in text
