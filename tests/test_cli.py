"""End-to-end tests through each script's command line: tiny runs that write TensorBoard
events, save/evaluate round trips, video capture, determinism, truncation handling, and the
one-line errors on bad input. A new script adds itself to TINY."""

import hashlib
import os

import gymnasium
import numpy as np
import pytest
import torch
import tyro

from benchmark.common import read_scalars
from tests.scripts import importable, load, run_cli, run_subprocess, train_in_process

# Per script: arguments that make a run tiny (one small batch, few updates).
TINY = {
    "reinforce": ["--num-envs", "2", "--batch-size", "200", "--normalize-obs"],  # off by default
    "a2c": ["--num-envs", "2", "--num-steps", "16"],
    "a3c": ["--num-workers", "2", "--num-steps", "16", "--log-every", "4"],
    "trpo": ["--num-envs", "2", "--num-steps", "128", "--vf-minibatches", "4", "--vf-epochs", "2"],
    "ppo_clip": ["--num-envs", "2", "--num-steps", "128", "--num-minibatches", "4", "--update-epochs", "2"],
    "ppo_kl": ["--num-envs", "2", "--num-steps", "128", "--num-minibatches", "4", "--update-epochs", "2"],
}
SCRIPTS = list(TINY)
LOSS_TAGS = ["losses/policy_loss", "losses/value_loss", "losses/entropy", "losses/approx_kl", "losses/kl"]
EXTRA_TAGS = {"ppo_clip": ["losses/clipfrac"], "ppo_kl": ["losses/beta"], "reinforce": ["losses/advantage_std", "losses/return_std"],
              "a3c": ["charts/SPS_worker0", "charts/SPS_worker1", "losses/explained_variance"],
              "trpo": ["losses/surrogate_improvement", "losses/line_search_steps", "losses/line_search_accepted", "losses/cg_residual"]}
# REINFORCE finishes the episodes of its last batch, so a run may pass --total-timesteps by up
# to one episode per environment (TINY runs 2 environments; episodes here last at most 1000).
OVERRUN = {"reinforce": 2 * 1000}
# Budget and arguments (after TINY's) with which V(A) is where twice the budget puts it (measured
# with the test's arguments: 6.667 truncated, 2.5 terminated, 6.666 Box, for both; 2.5 is the
# terminated fixed point of returns to the episode's end, within the test's 0.8 of 2.86):
# REINFORCE steps once per batch, so it takes more, smaller batches (the same 164 updates).
TRUNCATION = {"reinforce": (16384, ["--batch-size", "100"]), "a3c": (4096, [])}
# Synchronous for the determinism test (later arguments override earlier ones).
ONE_WORKER = {"a3c": ["--num-workers", "1"]}
# Per script: hyper-parameters that contradict each other, and a word the error must name.
INCONSISTENT = {
    "reinforce": (["--batch-size", "5000", "--total-timesteps", "1000"], "--total-timesteps"),
    "a2c": (["--num-envs", "8", "--num-steps", "5", "--total-timesteps", "20"], "--total-timesteps"),
    "a3c": (["--num-workers", "8", "--num-steps", "5", "--total-timesteps", "20"], "--total-timesteps"),
    "trpo": (["--vf-minibatches", "30"], "--vf-minibatches"),
    "ppo_kl": (["--num-minibatches", "30"], "--num-minibatches"),
    "ppo_clip": (["--num-minibatches", "30"], "--num-minibatches"),
}


def the_run_dir(cwd):
    runs = sorted(os.listdir(cwd / "runs"))
    assert len(runs) == 1, runs
    return cwd / "runs" / runs[0]


def ok(proc):
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_lists_documented_arguments(script, tmp_path):
    proc = ok(run_subprocess(script, "--help", cwd=tmp_path))  # a new interpreter, as typed
    for flag in ["--env-id", "--seed", "--total-timesteps", "--save-model", "--capture-video", "--eval-checkpoint"]:
        assert flag in proc.stdout
    assert not os.listdir(tmp_path), "--help must not write anything"


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("env_id", ["CartPole-v1", "InvertedPendulum-v5"])
def test_tiny_run_writes_tensorboard_and_progress(script, env_id, tmp_path):
    proc = ok(run_cli(script, "--env-id", env_id, "--total-timesteps", 1024, *TINY[script], cwd=tmp_path))
    run_dir = the_run_dir(tmp_path)
    assert run_dir.name.startswith(f"{env_id}__{script}__1__")
    returns = read_scalars(str(run_dir), "charts/episodic_return")
    assert len(returns) > 0 and all(0 < step <= 1024 + OVERRUN.get(script, 0) for step, _ in returns)
    for tag in ["charts/SPS", "charts/learning_rate", "charts/episodic_length", *LOSS_TAGS, *EXTRA_TAGS.get(script, [])]:
        assert read_scalars(str(run_dir), tag), f"{tag} not logged"
    assert "step" in proc.stdout and "SPS" in proc.stdout
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()


@pytest.mark.parametrize("script", SCRIPTS)
def test_save_then_evaluate_round_trip(script, tmp_path):
    args = ["--env-id", "InvertedPendulum-v5", "--total-timesteps", 1024, *TINY[script]]
    ok(run_cli(script, *args, "--save-model", "--eval-episodes", 3, cwd=tmp_path))
    run_dir = the_run_dir(tmp_path)
    model = run_dir / "model.pt"
    ckpt = torch.load(model, weights_only=True)
    assert ckpt["args"]["env_id"] == "InvertedPendulum-v5" and ckpt["obs_rms"] is not None
    in_training = [v for _, v in read_scalars(str(run_dir), "eval/episodic_return")]
    assert len(in_training) == 3
    # Standalone evaluation with the training run's --seed uses the environment seeds of the
    # evaluation after training (seed + 100000) and gives the same returns.
    alone = tmp_path / "alone"
    alone.mkdir()
    proc = ok(run_cli(script, "--env-id", "InvertedPendulum-v5", "--eval-checkpoint", model, "--eval-episodes", 3, "--seed", 1, cwd=alone))
    assert "eval: mean return" in proc.stdout
    standalone = [v for _, v in read_scalars(str(the_run_dir(alone)), "eval/episodic_return")]
    assert standalone == in_training
    # The statistics load as saved, evaluation leaves them as loaded, and the returns equal an
    # evaluation written out here: a plain environment, the saved statistics frozen, the mean
    # action clipped to the bounds.
    module = load(script)
    agent, obs_rms, _ = module.load_checkpoint(str(model), "InvertedPendulum-v5")
    saved = {k: ckpt["obs_rms"][k].numpy() for k in ("mean", "var")}
    assert np.array_equal(obs_rms.mean, saved["mean"]) and np.array_equal(obs_rms.var, saved["var"])
    loaded, real_load = [], module.load_checkpoint
    module.load_checkpoint = lambda *a: loaded.append(real_load(*a)) or loaded[-1]  # a spy
    module.evaluate(str(model), "InvertedPendulum-v5", 3, 100_001)
    assert np.array_equal(loaded[0][1].mean, saved["mean"]) and np.array_equal(loaded[0][1].var, saved["var"])
    env = gymnasium.make("InvertedPendulum-v5")
    returns, obs, total = [], env.reset(seed=100_001)[0], 0.0
    while len(returns) < 3:
        x = np.clip((obs - saved["mean"]) / np.sqrt(saved["var"] + 1e-8), -10, 10).astype(np.float32)
        with torch.no_grad():
            action = agent.get_deterministic_action(torch.from_numpy(x[None]))[0].numpy()
        obs, reward, terminated, truncated, _ = env.step(np.clip(action, env.action_space.low, env.action_space.high))
        total += reward
        if terminated or truncated:
            returns.append(total)
            obs, total = env.reset()[0], 0.0
    assert np.allclose(returns, in_training, rtol=0, atol=1e-3), (returns, in_training)


@pytest.mark.parametrize("script", SCRIPTS)
def test_activation_and_log_std_init_build_the_network_they_name(script):
    agent = load(script).Agent(3, gymnasium.spaces.Box(-1.0, 1.0, (2,)), hidden_size=8, activation="relu", log_std_init=-2.0)
    layers = [type(m) for m in agent.modules()]
    assert torch.nn.ReLU in layers and torch.nn.Tanh not in layers
    assert torch.equal(agent.actor_logstd.detach(), torch.full((2,), -2.0))
    default = load(script).Agent(3, gymnasium.spaces.Box(-1.0, 1.0, (2,)), hidden_size=8)
    assert torch.nn.Tanh in [type(m) for m in default.modules()] and not default.actor_logstd.detach().any()


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_checkpoint_is_loaded_into_the_network_it_was_saved_from(script, tmp_path):
    module = load(script)
    args = module.Args(env_id="InvertedPendulum-v5", hidden_size=16, activation="relu", log_std_init=-1.0)
    torch.manual_seed(0)
    agent = module.Agent(4, gymnasium.spaces.Box(-3.0, 3.0, (1,)), hidden_size=16, activation="relu", log_std_init=-1.0)
    module.save_checkpoint(tmp_path / "model.pt", agent, None, args)
    loaded, _, _ = module.load_checkpoint(str(tmp_path / "model.pt"), "InvertedPendulum-v5")
    obs = torch.randn(64, 4)
    assert torch.equal(loaded.get_deterministic_action(obs), agent.get_deterministic_action(obs))
    assert torch.equal(loaded.get_value(obs), agent.get_value(obs))


@pytest.mark.parametrize("script", SCRIPTS)
def test_capture_video_writes_mp4_headless(script, tmp_path):
    ok(run_cli(script, "--env-id", "InvertedPendulum-v5", "--total-timesteps", 256, *TINY[script], "--capture-video", cwd=tmp_path))
    videos = list((tmp_path / "videos").rglob("*.mp4"))
    assert videos and all(v.stat().st_size > 0 for v in videos)


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("env_id", ["CartPole-v1", "HalfCheetah-v5"])
def test_same_seed_gives_bit_identical_curve(script, env_id, tmp_path):
    # A3C's workers race for the shared parameters; with one worker nothing races, and it too
    # must be deterministic.
    # The first run through the command line, the others in this test's process: the same seed
    # in another process, without paying for a second interpreter start (or, for A3C, for a
    # second forkserver: this process's is started once and kept).
    budget = 1024 if env_id == "CartPole-v1" else 2048  # HalfCheetah episodes last 1000 steps
    curves = []
    for name, seed in [("a", 1), ("b", 1), ("c", 2)]:
        (tmp_path / name).mkdir()
        argv = ["--env-id", env_id, "--seed", seed, "--total-timesteps", budget, *TINY[script], *ONE_WORKER.get(script, [])]
        if name == "a":
            ok(run_cli(script, *argv, cwd=tmp_path / name))
        else:
            module = importable("a3c") if script == "a3c" else load(script)
            train_in_process(script, tyro.cli(module.Args, args=[str(a) for a in argv]), tmp_path / name)
        run_dir = str(the_run_dir(tmp_path / name))
        curves.append([read_scalars(run_dir, tag) for tag in ["charts/episodic_return", "losses/value_loss", "losses/policy_loss"]])
    assert len(curves[0][0]) >= 2
    assert curves[0] == curves[1], "same seed, different curves"
    assert curves[0] != curves[2], "a different seed must give a different curve"


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("env,expected", [("AlternatingTruncated-v0", 6.67), ("AlternatingTerminated-v0", 2.86),
                                          ("AlternatingBothFlags-v0", 2.86), ("AlternatingTruncatedBox-v0", 6.67)])
def test_truncation_bootstraps_from_final_obs_and_termination_does_not(script, env, expected, tmp_path):
    # tests/fake_envs.py AlternatingEnv: states A, B, A, then the end in B; gamma 0.5. V(A) is
    # 6.67 when the truncation is bootstrapped from V(final obs) = V(B), 4.0 from V(reset obs)
    # or V(s_t) (both A), 2.86 when it is treated as a termination (the CleanRL bug), which is
    # also the right answer when the episode really terminates, even on the time limit's last
    # step (AlternatingBothFlags: both flags set; bootstrapping it gives 6.67). Observations are normalised
    # (where the script does it for this action space), so the final observation must go
    # through the same statistics; rewards are not, so V is in the reward's units.
    env_id = f"tests.fake_envs:{env}"
    budget, extra = TRUNCATION.get(script, (8192, []))
    args = ["--env-id", env_id, "--total-timesteps", budget, "--gamma", 0.5, "--learning-rate", 3e-3, "--save-model", "--eval-episodes", 1]
    args = [str(a) for a in [*args, "--no-normalize-reward", *TINY[script], *extra]]
    module = importable("a3c") if script == "a3c" else load(script)
    if script == "a3c":  # in this process: its workers come from this process's forkserver, started once
        run_dir = train_in_process(script, tyro.cli(module.Args, args=args), tmp_path)["run_dir"]
    else:
        ok(run_cli(script, *args, cwd=tmp_path))
        run_dir = the_run_dir(tmp_path)
    agent, obs_rms, _ = module.load_checkpoint(os.path.join(run_dir, "model.pt"), env_id)
    obs_a = np.full((1, 1), -1.0, np.float32)
    obs_a = module.normalize_obs(obs_a, obs_rms) if obs_rms is not None else obs_a
    with torch.no_grad():
        value = agent.get_value(torch.from_numpy(obs_a)).item()
    assert abs(value - expected) < 0.8, value
    # The saved statistics are those of the observations seen: about 2/3 of them A (-1), 1/3 B
    # (+1), so mean -1/3 and variance 8/9 (a standard deviation saved as the variance is 0.94).
    assert obs_rms is not None or (script in ("trpo", "ppo_kl", "ppo_clip") and "Box" not in env)
    if obs_rms is not None:
        assert abs(obs_rms.mean[0] + 1 / 3) < 0.02 and abs(obs_rms.var[0] - 8 / 9) < 0.02, (obs_rms.mean, obs_rms.var)


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


BAD_INPUTS = {
    "unknown_env": (["--env-id", "NoSuchEnv-v0"], "--env-id"),
    "unsupported_action_space": (["--env-id", "tests.fake_envs:MultiDiscreteAction-v0"], "action space"),
    "inconsistent_hyperparameters": None,
    "missing_checkpoint": (["--eval-checkpoint", "missing/model.pt"], "not found"),
}


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_a_one_line_error_before_anything_is_written(script, case, tmp_path):
    args, hint = BAD_INPUTS[case] or INCONSISTENT[script]
    proc = run_cli(script, *args, cwd=tmp_path)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and hint in lines[0], proc.stderr
    assert not os.listdir(tmp_path), "nothing may be written on bad input"


@pytest.mark.parametrize("script", SCRIPTS)
def test_mismatched_or_corrupt_checkpoint_is_a_one_line_error_and_left_intact(script, tmp_path):
    ok(run_cli(script, "--env-id", "CartPole-v1", "--total-timesteps", 256, *TINY[script], "--save-model", "--eval-episodes", 1, cwd=tmp_path))
    model = the_run_dir(tmp_path) / "model.pt"
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    # Another script's checkpoint (its "script" entry names it), and one from before checkpoints
    # named their script: each names what to do instead, never a KeyError.
    ckpt = torch.load(model, weights_only=True)
    other = "a2c.py" if script == "ppo_clip" else "ppo_clip.py"
    torch.save(dict(ckpt, script=other), tmp_path / "other.pt")
    torch.save({k: v for k, v in ckpt.items() if k != "script"}, tmp_path / "old.pt")
    cases = [(model, "InvertedPendulum-v5", "--env-id CartPole-v1"), (corrupt, "InvertedPendulum-v5", "not a"),
             (tmp_path / "other.pt", "CartPole-v1", f"algos/{other}"), (tmp_path / "old.pt", "CartPole-v1", "retrain")]
    before = {p: sha(p) for p, _, _ in cases}
    listing = sorted(str(p) for p in tmp_path.rglob("*"))
    for path, env_id, hint in cases:
        proc = run_cli(script, "--env-id", env_id, "--eval-checkpoint", path, cwd=tmp_path)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode != 0 and len(lines) == 1 and lines[0].startswith("error: ") and hint in lines[0], proc.stderr
    assert {p: sha(p) for p, _, _ in cases} == before
    assert sorted(str(p) for p in tmp_path.rglob("*")) == listing, "a failed evaluation must write nothing"
