"""TRPO's linear algebra against explicit references: the Fisher-vector product against the
Hessian of the mean KL, conjugate gradient against a direct solve, the step length against the
trust region, and the line search's two ways to reject a step."""

import gymnasium as gym
import pytest
import torch
from torch.func import functional_call

from tests.scripts import load

trpo = load("trpo")


def small_agent(space):
    torch.manual_seed(0)
    action_space = gym.spaces.Discrete(3) if space == "discrete" else gym.spaces.Box(-1, 1, (2,))
    agent = trpo.Agent(3, action_space, hidden_size=4).double()
    if space == "box":
        with torch.no_grad():
            agent.actor_logstd.copy_(torch.tensor([0.3, -0.2]))
    params = list(agent.actor.parameters()) + ([agent.actor_logstd] if space == "box" else [])
    obs = torch.randn(16, 3, dtype=torch.float64)
    return agent, params, obs


def mean_kl_closure(agent, obs, space):
    """The mean KL[pi_old, pi_theta] over obs at the agent's current parameters, as train() builds it."""
    old = agent.actor(obs).detach()
    old_log_std = agent.actor_logstd.detach().clone() if space == "box" else None

    def mean_kl():
        new = agent.actor(obs)
        return (trpo.gaussian_kl(old, old_log_std, new, agent.actor_logstd) if space == "box" else trpo.categorical_kl(old, new)).mean()

    return mean_kl


def mean_kl_of_flat(agent, params, obs, space, old):
    """Mean KL[pi_old, pi_theta] over obs as a function of the flat policy parameters."""
    names = [n for n, _ in agent.actor.named_parameters()]
    shapes = [p.shape for p in params]

    def f(flat):
        pieces, offset = [], 0
        for shape in shapes:
            pieces.append(flat[offset : offset + shape.numel()].view(shape))
            offset += shape.numel()
        out = functional_call(agent.actor, dict(zip(names, pieces[: len(names)])), (obs,))
        if space == "box":
            return trpo.gaussian_kl(old, agent.actor_logstd.detach(), out, pieces[-1]).mean()
        return trpo.categorical_kl(old, out).mean()

    return f


@pytest.mark.parametrize("space", ["discrete", "box"])
def test_fisher_vector_product_is_hessian_of_mean_kl_times_v(space):
    agent, params, obs = small_agent(space)
    old = agent.actor(obs).detach()
    mean_kl = mean_kl_closure(agent, obs, space)

    theta = trpo.get_flat_params(params)
    H = torch.autograd.functional.hessian(mean_kl_of_flat(agent, params, obs, space, old), theta)
    v = torch.randn(theta.numel(), dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    fvp = trpo.fisher_vector_product(mean_kl, params, v, damping=0.1)
    torch.testing.assert_close(fvp, H @ v + 0.1 * v, rtol=1e-8, atol=1e-10)
    # the Fisher matrix is symmetric positive semi-definite
    torch.testing.assert_close(H, H.T)
    assert torch.linalg.eigvalsh(H).min().item() > -1e-10


def test_conjugate_gradient_solves_random_spd_system():
    g = torch.Generator().manual_seed(0)
    M = torch.randn(20, 20, dtype=torch.float64, generator=g)
    A = M @ M.T + 20 * torch.eye(20, dtype=torch.float64)
    b = torch.randn(20, dtype=torch.float64, generator=g)
    x, residual = trpo.conjugate_gradient(lambda v: A @ v, b, iters=20, tol=1e-28)
    torch.testing.assert_close(x, torch.linalg.solve(A, b), rtol=1e-8, atol=1e-10)
    assert residual < 1e-8
    _, residual_early = trpo.conjugate_gradient(lambda v: A @ v, b, iters=2)
    assert residual_early > residual  # the residual it reports is real


@pytest.mark.parametrize("space", ["discrete", "box"])
def test_conjugate_gradient_on_explicit_fisher_matches_direct_solve(space):
    agent, params, obs = small_agent(space)
    old = agent.actor(obs).detach()
    theta = trpo.get_flat_params(params)
    F = torch.autograd.functional.hessian(mean_kl_of_flat(agent, params, obs, space, old), theta) + 0.1 * torch.eye(theta.numel(), dtype=torch.float64)
    g = torch.randn(theta.numel(), dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    x, _ = trpo.conjugate_gradient(lambda v: F @ v, g, iters=200, tol=1e-28)
    torch.testing.assert_close(x, torch.linalg.solve(F, g), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("space", ["discrete", "box"])
def test_natural_step_fills_the_trust_region(space):
    agent, params, obs = small_agent(space)
    old = agent.actor(obs).detach()
    mean_kl = mean_kl_closure(agent, obs, space)

    Hv = lambda v: trpo.fisher_vector_product(mean_kl, params, v, damping=0.0)  # noqa: E731
    # a policy gradient E[grad log pi A] lies in the span of the score functions, the range of
    # the Fisher matrix: take g = H u (a random g would have near-null-space components whose
    # H^-1 g leaves the region where the quadratic model of the KL holds)
    g = Hv(torch.randn(trpo.get_flat_params(params).numel(), dtype=torch.float64, generator=torch.Generator().manual_seed(3)))
    x, _ = trpo.conjugate_gradient(lambda v: Hv(v) + 1e-3 * v, g, iters=50)
    delta = 1e-4
    s = trpo.natural_step(x, Hv(x), delta)
    assert (0.5 * s @ Hv(s)).item() == pytest.approx(delta, rel=1e-9)  # exactly, in the quadratic model
    trpo.set_flat_params(params, trpo.get_flat_params(params) + s)
    with torch.no_grad():
        assert mean_kl().item() == pytest.approx(delta, rel=0.1)  # and to first order in the true KL


class Quadratic:
    """theta in R^2; surrogate L = c . theta; 'KL' = |theta - theta_0|^2 / 2."""

    def __init__(self, c):
        self.param = torch.zeros(2, dtype=torch.float64)
        self.c = torch.tensor(c, dtype=torch.float64)

    def evaluate(self):
        return (self.c @ self.param).item(), (0.5 * self.param @ self.param).item()


def test_line_search_backtracks_until_the_kl_bound_holds():
    q = Quadratic([1.0, 0.0])
    full = torch.tensor([1.0, 0.0], dtype=torch.float64)  # KL 0.5 at j = 0: far over delta
    accepted, tries, improvement = trpo.line_search(q.evaluate, [q.param], full, max_kl=0.025, backtrack_coef=0.5, backtrack_iters=10)
    # 0.5 (0.5^j)^2 <= 0.025  <=>  0.5^j <= 0.2236  <=>  j >= 3. The try j = 2 has KL 0.031,
    # just over delta: a search that tolerated a KL up to 1.5 delta would stop there.
    assert accepted and tries == 4 and q.param[0].item() == pytest.approx(0.125)
    assert improvement == pytest.approx(0.125) and q.evaluate()[1] <= 0.025


def test_line_search_rejects_a_step_that_worsens_the_surrogate():
    q = Quadratic([-1.0, 0.0])  # the step goes downhill
    full = torch.tensor([0.01, 0.0], dtype=torch.float64)  # inside the trust region
    accepted, tries, improvement = trpo.line_search(q.evaluate, [q.param], full, max_kl=0.01)
    assert not accepted and tries == 10 and improvement == 0.0
    assert torch.equal(q.param, torch.zeros(2, dtype=torch.float64)), "the old policy must be kept"


def test_line_search_rejects_when_no_try_fits_the_trust_region():
    q = Quadratic([1.0, 0.0])
    full = torch.tensor([100.0, 0.0], dtype=torch.float64)  # 0.8^9 * 100 = 13.4: KL far over delta
    accepted, _, _ = trpo.line_search(q.evaluate, [q.param], full, max_kl=0.01)
    assert not accepted and torch.equal(q.param, torch.zeros(2, dtype=torch.float64))


def test_natural_step_is_plus_h_inverse_g_on_a_closed_form_case():
    # H = diag(4, 1), g = (2, 1): H^-1 g = (0.5, 1), g^T H^-1 g = 2, so with delta = 0.01 the step
    # is sqrt(2 * 0.01 / 2) (0.5, 1) = (0.05, 0.1): uphill on the surrogate (s . g > 0) and not
    # along g, whose direction (2, 1) differs. A step of the wrong sign, or along g, fails.
    H = torch.diag(torch.tensor([4.0, 1.0], dtype=torch.float64))
    g = torch.tensor([2.0, 1.0], dtype=torch.float64)
    x, _ = trpo.conjugate_gradient(lambda v: H @ v, g, iters=10)
    s = trpo.natural_step(x, H @ x, 0.01)
    torch.testing.assert_close(s, torch.tensor([0.05, 0.1], dtype=torch.float64), rtol=1e-10, atol=1e-12)
    assert (s @ g).item() > 0
