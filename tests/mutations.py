"""Realistic bugs, one exact text replacement each, that the default tests must catch.

Every entry plants one small bug a reader could plausibly introduce when copying or editing a
script: `old` must occur exactly once in algos/<script>.py (test_mutations.py checks that it
still does, so the registry cannot rot as the scripts change), and `new` is what the bug makes
of it. `python -m tests.mutation_report` runs the default tests of that script on each mutant
and writes tests/baselines/MUTATIONS.md.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutation:
    id: str
    script: str
    kind: str  # the class of bug: returns, normalisation, loss, optimisation, sampling, trpo, ppo-kl, a3c, reinforce, checkpoint
    description: str  # one line: what the bug breaks
    old: str
    new: str


def apply(mutation, source):
    """The mutated source; fails if `old` does not occur exactly once."""
    count = source.count(mutation.old)
    if count != 1:
        raise ValueError(f"{mutation.id}: the replaced text occurs {count} times in algos/{mutation.script}.py, not once")
    return source.replace(mutation.old, mutation.new)


M = Mutation
MUTATIONS = [
    # ---------------------------------------------------------------- reinforce.py
    M("reinforce-rtg-not-causal", "reinforce", "returns",
      "the reward-to-go runs forward in time, so G_t sums the rewards before t",
      "    for t in reversed(range(len(rewards))):\n        running = rewards[t] + gamma * np.where(",
      "    for t in range(len(rewards)):\n        running = rewards[t] + gamma * np.where("),
    M("reinforce-baseline-depends-on-return", "reinforce", "reinforce",
      "the baseline is min(V(s_t), G_t): it depends on the sampled return, so on the action",
      "    return returns - values\n", "    return returns - np.minimum(values, returns)\n"),
    M("reinforce-truncation-as-termination", "reinforce", "returns",
      "a time-limit truncation is treated as a termination (no V(final obs) bootstrap)",
      'if truncations.any() and args.baseline == "value":', 'if truncations.any() and args.baseline == "never":'),
    M("reinforce-baseline-flag-ignored", "reinforce", "optimisation",
      "--baseline none|mean is accepted but the value baseline is used anyway",
      'advantages = baseline_advantages(returns[valid], b["values"][valid], args.baseline)',
      'advantages = baseline_advantages(returns[valid], b["values"][valid], "value")'),
    M("reinforce-no-grad-clip", "reinforce", "optimisation",
      "the gradient-norm clipping is skipped",
      "grad_norm = nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)",
      "grad_norm = nn.utils.clip_grad_norm_(agent.parameters(), float('inf'))"),
    M("reinforce-eval-updates-stats", "reinforce", "normalisation",
      "evaluation keeps updating the observation statistics it loaded",
      "        obs = normalize_obs(obs, obs_rms) if obs_rms is not None else obs.astype(np.float32)\n",
      "        if obs_rms is not None:\n            obs_rms.update(obs)\n"
      "        obs = normalize_obs(obs, obs_rms) if obs_rms is not None else obs.astype(np.float32)\n"),
    # ---------------------------------------------------------------- a2c.py
    M("a2c-rmsprop-eps-outside-root", "a2c", "optimisation",
      "RMSProp divides by sqrt(g) + eps (torch's) instead of the paper's sqrt(g + eps)",
      "theta.addcdiv_(dtheta, (g + self.eps).sqrt(), value=-lr)", "theta.addcdiv_(dtheta, g.sqrt() + self.eps, value=-lr)"),
    M("a2c-gae-no-gamma-in-recursion", "a2c", "returns",
      "GAE's recursion multiplies A_{t+1} by lambda alone, dropping gamma",
      "last_gae = delta + gamma * gae_lambda * (1.0 - dones[t]) * last_gae",
      "last_gae = delta + gae_lambda * (1.0 - dones[t]) * last_gae"),
    M("a2c-truncation-from-reset-obs", "a2c", "returns",
      "a truncated episode bootstraps from V(reset obs) instead of V(final obs)",
      "        next_values = np.where(truncated_buf, final_values_buf, next_values)\n", ""),
    M("a2c-horizon-off-by-one", "a2c", "returns",
      "the rollout stops one step short of t_max, leaving the last row of the buffers stale",
      "        for step in range(T):\n", "        for step in range(T - 1):\n"),
    M("a2c-no-grad-clip", "a2c", "optimisation",
      "the gradient-norm clipping is skipped",
      "    nn.utils.clip_grad_norm_(agent.parameters(), max_grad_norm)\n", ""),
    M("a2c-shared-trunk-ignored", "a2c", "optimisation",
      "--shared-trunk is accepted but actor and critic stay separate networks",
      "obs_space.shape[0], action_space, args.hidden_size, args.shared_trunk, args.activation,\n        args.log_std_init,\n    )\n    optimizer",
      "obs_space.shape[0], action_space, args.hidden_size, False, args.activation,\n        args.log_std_init,\n    )\n    optimizer"),
    M("a2c-eval-updates-stats", "a2c", "normalisation",
      "evaluation keeps updating the observation statistics it loaded",
      "        obs = normalize_obs(obs, obs_rms) if obs_rms is not None else obs.astype(np.float32)\n",
      "        if obs_rms is not None:\n            obs_rms.update(obs)\n"
      "        obs = normalize_obs(obs, obs_rms) if obs_rms is not None else obs.astype(np.float32)\n"),
    # ---------------------------------------------------------------- a3c.py
    M("a3c-local-grads-not-cleared", "a3c", "a3c",
      "a worker's local gradients accumulate over its segments instead of being cleared",
      "    agent.zero_grad(set_to_none=True)\n", ""),
    M("a3c-obs-stats-not-shared", "a3c", "a3c",
      "each worker keeps its own observation statistics; the saved model gets the untouched shared ones",
      "    obs_rms = shared_stats(obs_stats, obs_space.shape) if obs_stats is not None else None\n"
      "    return_rms = RunningMeanStd() if args.normalize_reward else None\n    discounted_return = np.zeros(1)",
      "    obs_rms = RunningMeanStd(obs_space.shape) if obs_stats is not None else None\n"
      "    return_rms = RunningMeanStd() if args.normalize_reward else None\n    discounted_return = np.zeros(1)"),
    M("a3c-step-counter-unlocked", "a3c", "a3c",
      "the global step counter T is incremented without its lock, so workers lose increments",
      "    with global_step.get_lock():\n", "    if True:\n"),
    M("a3c-no-sync", "a3c", "a3c",
      "a worker never copies theta into theta', so it acts and differentiates with stale parameters",
      "                local.copy_(shared)\n", "                pass\n"),
    M("a3c-truncation-from-reset-obs", "a3c", "returns",
      "a truncated episode bootstraps from V(reset obs) instead of V(final obs)",
      "        next_values = np.where(truncated_buf[:t], final_values_buf[:t], next_values)\n", ""),
    # ---------------------------------------------------------------- ppo_clip.py
    M("ppo_clip-truncation-from-reset-obs", "ppo_clip", "returns",
      "a truncated episode bootstraps from V(reset obs) instead of V(final obs)",
      "        next_values = np.where(truncated_buf, final_values_buf, next_values)\n", ""),
    M("ppo_clip-gae-lambda-in-delta", "ppo_clip", "returns",
      "GAE's TD error discounts V(s_{t+1}) by gamma * lambda instead of gamma",
      "delta = rewards[t] + gamma * next_values[t]", "delta = rewards[t] + gamma * gae_lambda * next_values[t]"),
    M("ppo_clip-clip-asymmetric", "ppo_clip", "loss",
      "the clip range is [1 - eps, 1 / (1 - eps)] instead of [1 - eps, 1 + eps]",
      "torch.clamp(ratio, 1.0 - clip_coef, 1.0 + clip_coef)", "torch.clamp(ratio, 1.0 - clip_coef, 1.0 / (1.0 - clip_coef))"),
    M("ppo_clip-max-not-min", "ppo_clip", "loss",
      "the surrogate takes the max of the clipped and unclipped terms, not the pessimistic min",
      "return -torch.min(unclipped, clipped).mean()", "return -torch.max(unclipped, clipped).mean()"),
    M("ppo_clip-vf-clip-around-returns", "ppo_clip", "loss",
      "the clipped value is centred on the return R_t instead of V_old",
      "clipped = old_values + torch.clamp(values - old_values, -vf_clip, vf_clip)",
      "clipped = returns + torch.clamp(values - returns, -vf_clip, vf_clip)"),
    M("ppo_clip-one-epoch-short", "ppo_clip", "optimisation",
      "K - 1 epochs over the batch instead of K",
      "for epoch in range(args.update_epochs):", "for epoch in range(args.update_epochs - 1):"),
    M("ppo_clip-no-grad-clip", "ppo_clip", "optimisation",
      "the gradient-norm clipping is skipped",
      "                clip_grad_norm(agent.parameters(), args.max_grad_norm)\n", ""),
    M("ppo_clip-grad-clip-scales-up", "ppo_clip", "optimisation",
      "the gradients are rescaled to max_norm when their norm is below it, and left alone above it",
      "    if scale < 1.0:\n", "    if scale > 1.0:\n"),
    M("ppo_clip-target-kl-ignored", "ppo_clip", "optimisation",
      "--target-kl is accepted but never stops the epochs",
      "if args.target_kl is not None and epoch_kl > args.target_kl:",
      "if args.target_kl is not None and epoch_kl > args.target_kl and False:"),
    M("ppo_clip-final-obs-updates-stats", "ppo_clip", "normalisation",
      "the final observation of a truncated episode updates the running statistics",
      'final_obs = prepare(np.stack(infos["final_obs"][truncations]), update=False)',
      'final_obs = prepare(np.stack(infos["final_obs"][truncations]), update=True)'),
    M("ppo_clip-eval-updates-stats", "ppo_clip", "normalisation",
      "evaluation keeps updating the observation statistics it loaded",
      "        obs = normalize_obs(obs, obs_rms) if obs_rms is not None else obs.astype(np.float32)\n",
      "        if obs_rms is not None:\n            obs_rms.update(obs)\n"
      "        obs = normalize_obs(obs, obs_rms) if obs_rms is not None else obs.astype(np.float32)\n"),
    M("ppo_clip-checkpoint-std-as-var", "ppo_clip", "checkpoint",
      "the checkpoint stores the observations' std where the loader expects their variance",
      'obs_stats = {k: torch.as_tensor(getattr(obs_rms, k)) for k in ("mean", "var", "count")}',
      'obs_stats = {k: torch.as_tensor(getattr(obs_rms, k)) for k in ("mean", "var", "count")}\n'
      '        obs_stats["var"] = obs_stats["var"].sqrt()'),
    M("ppo_clip-activation-ignored-on-load", "ppo_clip", "checkpoint",
      "a checkpoint is rebuilt with the default activation, not the one it was trained with",
      'obs_space.shape[0], action_space, saved_args["hidden_size"], saved_args["activation"]',
      'obs_space.shape[0], action_space, saved_args["hidden_size"]'),
    M("ppo_clip-rollout-noise-log-std", "ppo_clip", "sampling",
      "the rollout's numpy actor scales its Gaussian noise by log sigma instead of sigma",
      "return out + np.exp(log_std) * np.random.standard_normal(out.shape).astype(np.float32)",
      "return out + log_std * np.random.standard_normal(out.shape).astype(np.float32)"),
    M("ppo_clip-rollout-activation-fixed", "ppo_clip", "sampling",
      "the rollout's numpy actor uses tanh whatever --activation says (the update's torch actor follows it)",
      'out = np.tanh(out) if self.activation == "tanh" else np.maximum(out, 0.0)', "out = np.tanh(out)"),
    # ---------------------------------------------------------------- ppo_kl.py
    M("ppo_kl-kl-swapped", "ppo_kl", "ppo-kl",
      "the penalty uses KL[pi_theta, pi_old] instead of KL[pi_old, pi_theta]",
      "kl = agent.kl(b_dists[mb], old_log_std, newdist)",
      "kl = (gaussian_kl(newdist, agent.actor_logstd, b_dists[mb], old_log_std) if continuous\n"
      "                      else categorical_kl(newdist, b_dists[mb]))"),
    M("ppo_kl-beta-per-minibatch", "ppo_kl", "ppo-kl",
      "beta is adapted after every minibatch from its approximate KL, not once per batch from d",
      "                stats[\"approx_kl\"] += mb_approx_kl\n",
      "                stats[\"approx_kl\"] += mb_approx_kl\n"
      "                beta = adapt_beta(beta, mb_approx_kl, args.kl_target) if args.adaptive else beta\n"),
    M("ppo_kl-thresholds-swapped", "ppo_kl", "ppo-kl",
      "beta halves when the KL is too large and doubles when it is too small",
      "    if d >= 1.5 * d_targ:\n        return 2.0 * beta\n    if d <= d_targ / 1.5:\n        return beta / 2.0\n",
      "    if d >= 1.5 * d_targ:\n        return beta / 2.0\n    if d <= d_targ / 1.5:\n        return 2.0 * beta\n"),
    M("ppo_kl-no-adaptive-ignored", "ppo_kl", "optimisation",
      "--no-adaptive is accepted but beta adapts anyway",
      "beta = adapt_beta(beta, d, args.kl_target) if args.adaptive else beta",
      "beta = adapt_beta(beta, d, args.kl_target)"),
    M("ppo_kl-termination-bootstraps", "ppo_kl", "returns",
      "a terminated episode bootstraps from V(s_{t+1}) as if it had gone on",
      "delta = rewards[t] + gamma * next_values[t] * (1.0 - terminations[t]) - values[t]",
      "delta = rewards[t] + gamma * next_values[t] - values[t]"),
    M("ppo_kl-truncation-from-reset-obs", "ppo_kl", "returns",
      "a truncated episode bootstraps from V(reset obs) instead of V(final obs)",
      "        next_values = np.where(truncated_buf, final_values_buf, next_values)\n", ""),
    # ---------------------------------------------------------------- trpo.py
    M("trpo-cg-one-short", "trpo", "trpo",
      "conjugate gradient runs one iteration fewer than asked",
      "    for _ in range(iters):\n        if rr < tol:", "    for _ in range(iters - 1):\n        if rr < tol:"),
    M("trpo-fvp-no-damping", "trpo", "trpo",
      "the Fisher-vector product drops the damping term",
      "return flat_grad(grad_kl @ v, params) + damping * v", "return flat_grad(grad_kl @ v, params)"),
    M("trpo-step-not-scaled", "trpo", "trpo",
      "the natural step is H^-1 g itself, not scaled to the trust region's edge",
      "return (2.0 * max_kl / (x @ Hx)).sqrt() * x", "return x"),
    M("trpo-line-search-accepts-large-kl", "trpo", "trpo",
      "the line search accepts a step whose KL exceeds delta by half",
      "if kl <= max_kl and surrogate_new > surrogate_old:", "if kl <= 1.5 * max_kl and surrogate_new > surrogate_old:"),
    M("trpo-line-search-keeps-failed-step", "trpo", "trpo",
      "after a failed line search theta stays at the last try instead of theta_old",
      "    set_flat_params(params, theta_old)\n    return False, backtrack_iters, 0.0",
      "    return False, backtrack_iters, 0.0"),
    M("trpo-kl-swapped", "trpo", "trpo",
      "the trust region constrains KL[pi_theta, pi_old] instead of KL[pi_old, pi_theta]",
      "return agent.kl(b_dists, old_log_std, agent.actor(b_obs)).mean()",
      "return (gaussian_kl(agent.actor(b_obs), agent.actor_logstd, b_dists, old_log_std) if continuous\n"
      "                    else categorical_kl(agent.actor(b_obs), b_dists)).mean()"),
    M("trpo-no-line-search-ignored", "trpo", "optimisation",
      "--no-line-search is accepted but the line search runs anyway",
      "        if args.line_search:\n            accepted, tries", "        if True:\n            accepted, tries"),
    M("trpo-vf-epochs-short", "trpo", "optimisation",
      "the critic gets one epoch fewer than --vf-epochs",
      "for epoch in range(args.vf_epochs):", "for epoch in range(args.vf_epochs - 1):"),
]
