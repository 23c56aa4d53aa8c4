"""Every field of every script's Args has its range checked before anything is written: each
invalid value stops the script with one line, `error: ...`, that names the argument, and leaves
the working directory empty. The walk is over dataclasses.fields(Args), so a new field without
a case here fails test_every_field_has_a_case. Most cases run in this process (validate_args,
check_env and tyro's parsing are what stop them); a few go end to end through the command line."""

import dataclasses
import os

import pytest

from tests.scripts import importable, load, run_cli

SCRIPTS = ["reinforce", "a2c", "a3c", "trpo", "ppo_kl", "ppo_clip"]
NAN, INF = float("nan"), float("inf")
FLAG = "no invalid value: a flag, tyro accepts only --{0} and --no-{0}"

# field -> invalid values, or the reason why no value is invalid. SPECIFIC's entries come first.
COMMON = {
    "exp_name": ["", "a/b", "nul\0"],  # part of the run directory's name
    "seed": [-1, 2**32 - 100_000],  # numpy's seeds are below 2**32; evaluation adds 100000
    "torch_deterministic": FLAG,
    "torch_threads": [0, -1],
    "env_id": ["NoSuchEnv-v0", "cartpole-v1", "tests.fake_envs:MultiDiscreteAction-v0", "FrozenLake-v1"],
    "total_timesteps": [0, -1000],
    "num_envs": [0, -1],
    "capture_video": FLAG,
    "save_model": FLAG,
    "eval_episodes": [0, -1],
    "eval_checkpoint": ["missing/model.pt", ".", ""],  # missing, a directory, empty
    "normalize_obs": FLAG,
    "normalize_reward": FLAG,
    "clip_actions": FLAG,
    "learning_rate": [-1.0, 0.0, NAN, INF],
    "anneal_lr": FLAG,
    "num_steps": [0, -5],
    "gamma": [0.0, -0.5, 1.01, NAN],
    "gae_lambda": [-0.1, 1.01, NAN],
    "norm_adv": FLAG,
    "ent_coef": [-0.01, NAN, INF],
    "vf_coef": [-0.5, NAN, INF],
    "max_grad_norm": [0.0, -0.5, NAN, INF],
    "shared_trunk": FLAG,
    "hidden_size": [0, -64],
    "activation": ["sigmoid", ""],
    "log_std_init": [NAN, INF, -INF],
}
SPECIFIC = {
    "reinforce": {"batch_size": [0, -1000], "baseline": ["median"]},
    "a2c": {"rmsprop_alpha": [1.0, -0.1, NAN], "rmsprop_eps": [0.0, -1e-5, NAN, INF]},
    "a3c": {"num_workers": [0, -2], "rmsprop_alpha": [1.0, -0.1, NAN], "rmsprop_eps": [0.0, -1e-5, NAN, INF],
            "log_every": [0, -1]},
    "trpo": {"max_kl": [0.0, -0.01, NAN, INF], "damping": [-0.1, NAN, INF], "cg_iters": [0, -10],
             "line_search": FLAG, "backtrack_coef": [0.0, 1.0, 1.5, NAN], "backtrack_iters": [0, -1],
             "vf_epochs": [0, -5], "vf_minibatches": [0, -16]},
    "ppo_kl": {"num_minibatches": [0, -32], "update_epochs": [0, -10], "init_beta": [-1.0, NAN, INF, 0.0],
               "kl_target": [0.0, -0.01, NAN, INF], "adaptive": FLAG, "target_kl": [0.0, -0.01, NAN, INF],
               "vf_clip": [0.0, -0.2, NAN, INF]},
    "ppo_clip": {"num_minibatches": [0, -32], "update_epochs": [0, -10], "clip_coef": [-0.2, 0.0, NAN, INF],
                 "target_kl": [0.0, -0.01, NAN, INF], "vf_clip": [0.0, -0.2, NAN, INF]},
}


def case(script, field):
    return SPECIFIC[script].get(field, COMMON.get(field))


class Wrote(Exception):
    """Raised by the test's make_run_dir: an invalid value got as far as writing a run."""


def run_main(module, args):
    """What the script's __main__ does with parsed arguments."""
    return module.evaluate_checkpoint(args) if args.eval_checkpoint else module.train(args)


def assert_one_line_error(message, flag):
    lines = str(message).splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and flag in lines[0], message


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_field_has_a_case(script):
    module = load(script)
    missing = [f.name for f in dataclasses.fields(module.Args) if case(script, f.name) is None]
    assert not missing, f"{script}.py: Args fields without an invalid value or a reason here: {missing}"
    for f in dataclasses.fields(module.Args):
        if isinstance(case(script, f.name), str):  # no invalid value: only booleans, say so
            assert f.type is bool, f"{script}.py --{f.name}: only a flag may have no invalid value"


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_invalid_value_is_a_one_line_error_before_anything_is_written(script, tmp_path, monkeypatch, capsys):
    module = load(script)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(module, "make_run_dir", lambda *a: (_ for _ in ()).throw(Wrote()))
    base = module.Args(env_id="CartPole-v1")
    for f in dataclasses.fields(module.Args):
        values = case(script, f.name)
        if isinstance(values, str):
            continue
        for value in values:
            with pytest.raises(SystemExit) as stop:
                run_main(module, dataclasses.replace(base, **{f.name: value}))
            assert_one_line_error(stop.value.code, "--" + f.name.replace("_", "-"))
            assert capsys.readouterr().err == "", f"--{f.name} {value!r}: more than the error on stderr"
            assert not os.listdir(tmp_path), f"--{f.name} {value!r} wrote {os.listdir(tmp_path)}"


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_defaults_pass(script, capsys):
    module = load(script)
    module.validate_args(module.Args())
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("argv,flag", [(["--activation", "sigmoid"], "--activation"), (["--hidden-size", "1.5"], "--hidden-size"),
                                       (["--learning-rate", "fast"], "--learning-rate"), (["--no-such-option"], "--no-such-option"),
                                       (["--seed"], "--seed")])
def test_what_tyro_rejects_is_one_line_too(script, argv, flag, tmp_path, monkeypatch, capsys):
    # tyro draws its parse errors in a box of several lines; parse_args condenses it to one
    module = importable(script)  # by its own name: tyro reads the source of Args for its message
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        module.parse_args(argv)
    assert_one_line_error(stop.value.code, flag)
    assert capsys.readouterr().err == "" and not os.listdir(tmp_path)


def test_a_bad_baseline_choice_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        importable("reinforce").parse_args(["--baseline", "median"])
    assert_one_line_error(stop.value.code, "--baseline")
    assert "value" in str(stop.value.code) and capsys.readouterr().err == ""


# Through the command line: the cases and the tyro box, each with its exit status, exactly
# one line on stderr and an empty working directory.
END_TO_END = [
    ("ppo_clip", ["--env-id", "CartPole-v1", "--learning-rate", "-1"], "--learning-rate"),
    ("reinforce", ["--env-id", "CartPole-v1", "--learning-rate", "nan"], "--learning-rate"),
    ("a2c", ["--env-id", "CartPole-v1", "--learning-rate", "-1"], "--learning-rate"),
    ("ppo_clip", ["--clip-coef", "-0.2"], "--clip-coef"),
    ("ppo_kl", ["--kl-target", "0"], "--kl-target"),
    ("trpo", ["--hidden-size", "0"], "--hidden-size"),
    ("a3c", ["--hidden-size", "0"], "--hidden-size"),
    ("ppo_kl", ["--activation", "sigmoid"], "--activation"),
]


@pytest.mark.parametrize("script,argv,flag", END_TO_END)
def test_command_line_error_is_one_line_and_writes_nothing(script, argv, flag, tmp_path):
    proc = run_cli(script, *argv, cwd=tmp_path)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and flag in lines[0], proc.stderr
    assert not os.listdir(tmp_path), "nothing may be written on bad input"


def test_a3c_warns_of_more_workers_than_cores_on_one_line_before_anything_else(tmp_path):
    # 500 workers on this machine's cores: the warning is the first thing said, and an error
    # found after it still stops the run before a worker starts or anything is written.
    proc = run_cli("a3c", "--num-workers", 500, "--env-id", "NoSuchEnv-v0", cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 2, proc.stderr
    assert lines[0].startswith("warning: --num-workers 500 ") and lines[1].startswith("error: "), proc.stderr
    assert "workers started" not in proc.stdout and not os.listdir(tmp_path)


class Started(Exception):
    pass


def test_a3c_warning_comes_before_the_workers_start(tmp_path, monkeypatch, capsys):
    module = load("a3c")
    monkeypatch.chdir(tmp_path)
    cores = os.cpu_count() or 1
    said = []

    def start_workers(*args):
        said.append(capsys.readouterr().err)
        raise Started

    monkeypatch.setattr(module, "start_workers", start_workers)
    with pytest.raises(Started):
        module.train(module.Args(env_id="CartPole-v1", num_workers=cores + 1, num_steps=5, total_timesteps=10_000))
    lines = said[0].splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"warning: --num-workers {cores + 1} "), said
    module.validate_args(module.Args(env_id="CartPole-v1", num_workers=cores))  # as many as cores: silent
    module.validate_args(module.Args(num_workers=cores + 1, eval_checkpoint=__file__))  # evaluation: no workers
    assert capsys.readouterr().err == ""
