"""Every argument that shapes training changes the run. For each script and each such field of its
Args, a tiny in-process run on InvertedPendulum-v5 with the field moved off its default must log
different numbers (every TensorBoard scalar but the clock's) than the same seed with the default:
an argument the script accepted and then ignored fails here. Plumbing arguments are tested
elsewhere (seed: test_cli's determinism test; capture_video, save_model, eval_*: test_cli).
Where "changed" is not enough, a check knows the right answer (the direction and size of every
loss term and switch: tests/test_loss_terms.py; PPO's target_kl rule: below)."""

import dataclasses
import functools
import tempfile

import pytest

from benchmark.common import read_scalars
from tests.scripts import importable, load, train_in_process

SCRIPTS = ["reinforce", "a2c", "a3c", "trpo", "ppo_kl", "ppo_clip"]
PLUMBING = {"exp_name", "seed", "torch_deterministic", "torch_threads", "env_id", "total_timesteps",
            "capture_video", "save_model", "eval_episodes", "eval_checkpoint", "log_every"}
# Two or three updates each; log_std_init 1 (std 2.7) so that actions leave the bounds of +-3
# and clip_actions has something to clip. A3C with one worker is deterministic.
BASE = {"env_id": "InvertedPendulum-v5", "log_std_init": 1.0}
TINY = {
    "reinforce": {"num_envs": 2, "batch_size": 200, "total_timesteps": 600},
    "a2c": {"num_envs": 2, "num_steps": 16, "total_timesteps": 96},
    "a3c": {"num_workers": 1, "num_steps": 16, "total_timesteps": 96, "log_every": 1},
    "trpo": {"num_envs": 2, "num_steps": 64, "vf_minibatches": 4, "vf_epochs": 2, "total_timesteps": 384},
    "ppo_kl": {"num_envs": 2, "num_steps": 64, "num_minibatches": 4, "update_epochs": 2, "total_timesteps": 384},
    "ppo_clip": {"num_envs": 2, "num_steps": 64, "num_minibatches": 4, "update_epochs": 2, "total_timesteps": 384},
}
# Values off the default chosen so that the field must matter in a tiny run; other fields: a
# bool flipped, a Literal's other choices, a number doubled.
VALUES = {
    "gamma": [0.5], "gae_lambda": [0.5], "ent_coef": [0.5], "anneal_lr": None,
    "max_kl": [0.1], "damping": [10.0], "cg_iters": [1], "backtrack_coef": [0.1], "backtrack_iters": [1],
    "target_kl": [1e-9], "vf_clip": [1e-3], "init_beta": [10.0], "kl_target": [1e-6], "clip_coef": [0.01],
    "max_grad_norm": [1e-3], "rmsprop_eps": [1.0], "rmsprop_alpha": [0.5], "log_std_init": [-1.0],
    "num_workers": [2],
    ("a3c", "num_steps"): [4],  # InvertedPendulum's first episodes end before 16 or 32 steps
}
# Where a field only matters in some situation, both runs of its check are made in it:
# MuJoCo clips actions itself, and TRPO backtracks only when its full step overshoots.
CONTEXT = {
    "clip_actions": {"env_id": "tests.fake_envs:RawActionReward-v0"},
    "backtrack_coef": {"max_kl": 5.0},
    "backtrack_iters": {"max_kl": 5.0},
}


def variants(script):
    module = load(script)
    tiny = TINY[script]
    for field in dataclasses.fields(module.Args):
        if field.name in PLUMBING:
            continue
        default = tiny.get(field.name, BASE.get(field.name, field.default))
        values = VALUES.get((script, field.name), VALUES.get(field.name))
        if values is None:
            if isinstance(default, bool):
                values = [not default]
            elif getattr(field.type, "__args__", None) and isinstance(default, str):
                values = [c for c in field.type.__args__ if c != default]
            else:
                values = [default * 2]
        for value in values:
            yield pytest.param(script, field.name, value, id=f"{script}-{field.name}={value}")


@functools.lru_cache(maxsize=None)
def logged(script, context=(), field=None, value=None):
    """Every scalar of a tiny run but the clock's: {tag: [(step, value)]}."""
    module = importable("a3c") if script == "a3c" else load(script)
    settings = dict(BASE, **TINY[script], **dict(context))
    if field is not None:
        settings[field] = value
    with tempfile.TemporaryDirectory() as directory:
        run_dir = train_in_process(script, module.Args(**settings), directory)["run_dir"]
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        acc = EventAccumulator(run_dir, size_guidance={"scalars": 0})
        acc.Reload()
        tags = [t for t in acc.Tags()["scalars"] if "SPS" not in t]
        return {t: read_scalars(run_dir, t) for t in tags}


@pytest.mark.parametrize("script,field,value", [v for s in SCRIPTS for v in variants(s)])
def test_every_argument_changes_the_run(script, field, value):
    context = tuple(sorted(CONTEXT.get(field, {}).items()))
    reference = logged(script, context)
    assert reference.get("losses/policy_loss"), "the tiny run logged no update"
    changed = logged(script, context, field, value)
    assert changed != reference, f"--{field.replace('_', '-')} {value} changed nothing: is it ignored?"


@pytest.mark.parametrize("baseline", ["none", "mean"])
def test_reinforce_constant_baselines_keep_the_spread_of_the_returns(baseline):
    # A_t = G_t - b with b = 0 or the batch mean of G: the advantages have the returns' standard
    # deviation at every update; the value baseline (the default) changes it. Without this, a
    # script that ignored --baseline for the advantages would still pass the test above (the
    # critic is trained only with the value baseline, so the run changes anyway).
    run = logged("reinforce", (), "baseline", baseline)
    advantage_std = [v for _, v in run["losses/advantage_std"]]
    assert advantage_std == pytest.approx([v for _, v in run["losses/return_std"]], rel=1e-5)
    default = logged("reinforce")
    assert [v for _, v in default["losses/advantage_std"]] != pytest.approx([v for _, v in default["losses/return_std"]], rel=1e-5)


def epochs_and_kls(script, target_kl):
    """(updates made, approximate KL of each minibatch) of a one-iteration PPO run on
    tests/fake_envs.py's RawActionReward-v0 with 3 epochs of 2 minibatches (approx_kl recorded as the script calls it)."""
    import os
    from unittest import mock

    import torch

    module = load(script)
    kls, steps = [], []
    approx, clip = module.approx_kl, module.clip_grad_norm
    settings = dict(BASE, env_id="tests.fake_envs:RawActionReward-v0", num_envs=2, num_steps=64, num_minibatches=2,
                    update_epochs=3, total_timesteps=128,
                    learning_rate=3e-3, target_kl=target_kl)
    with tempfile.TemporaryDirectory() as directory, \
            mock.patch.object(module, "approx_kl", lambda logratio: kls.append(approx(logratio).item()) or torch.tensor(kls[-1])), \
            mock.patch.object(module, "clip_grad_norm", lambda params, c: steps.append(1) or clip(params, c)):
        previous = os.getcwd()
        os.chdir(directory)
        try:
            module.train(module.Args(**settings))
        finally:
            os.chdir(previous)
    return len(steps), kls


@pytest.mark.parametrize("script", ["ppo_clip", "ppo_kl"])
def test_target_kl_compares_each_epochs_mean_approximate_kl(script):
    # The epochs stop after the first epoch whose mean approximate KL over its minibatches
    # exceeds target_kl. Within an epoch the KL grows (the first minibatch's is 0: theta = theta_old),
    # so a target between the first epoch's mean and its last minibatch's KL tells the mean from
    # the last minibatch's: the right rule runs a second epoch, the other stops after one.
    updates, kls = epochs_and_kls(script, None)
    assert updates == 6 and kls[0] == 0.0
    mean, last = (kls[0] + kls[1]) / 2, kls[1]
    assert last > 1.2 * mean
    assert epochs_and_kls(script, (mean + last) / 2)[0] > 2  # did not stop after the first epoch
    assert epochs_and_kls(script, 0.9 * mean)[0] == 2  # stopped right after it
