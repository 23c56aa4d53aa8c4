"""Hyper-parameter search with Optuna, every trial a run of the script's own command line.

    python benchmark/tune.py --script a2c --envs HalfCheetah-v5 Hopper-v5 Walker2d-v5 \\
        --budget 300000 --trials 40 --workers 2
    python benchmark/tune.py --script a2c --envs HalfCheetah-v5 Hopper-v5 Walker2d-v5 \\
        --budget 300000 --report            # the trials so far and the best setting, no runs
    python benchmark/tune.py ... --executor slurm --slurm-partition cpu   # one job per worker

A trial samples a setting from the script's search space (SPACES below) and runs
`python algos/<script>.py --env-id ENV --seed S --total-timesteps BUDGET <fixed> <setting>` for each
environment and seed, one after another. Its score is the mean over those runs of
(mean return of the last --window training episodes) / (the environment's target in
benchmark/run.py's TARGETS, or 1 for an environment without one): one setting for every
environment, which is what a script's defaults or its line in configs.py must be. <fixed> are
the arguments after `--`, or without `--` those of configs.py for the first environment.

Pruning: each run prints about twenty progress lines (`step N  return(last 20) R`); their
normalised returns are the trial's intermediate curve (steps of later runs are offset by the
budget of the earlier ones) and Optuna's median pruner stops a trial below the median of the
earlier trials at the same point, killing its run.

The study lives in a journal file (--storage, by default
benchmark/results/tune/<script>__<study>.journal; an sqlite:/// URL works too). A killed study
resumes: the next call runs only the trials still missing from --trials (complete or pruned
ones count). Several processes share it: --workers local processes, or one submitit job per
worker (--executor slurm; --executor local runs the same jobs on this machine). At the end,
the best setting is printed as the arguments to put in benchmark/configs.py. With
--enqueue-fixed, a new study's first trial is the fixed arguments' own values of the searched
options (configs.py's current setting), so that its table shows where that setting stands.
"""

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmark.common import REPO, machine_description, read_scalars, script_command  # noqa: E402
from benchmark.configs import script_args  # noqa: E402

def _float(trial, name, low, high, log=False):
    return f"{trial.suggest_float(name, low, high, log=log):.3g}"


def _choice(trial, name, choices):
    return str(trial.suggest_categorical(name, choices))


def space_a2c(trial, lr_range=(1e-4, 3e-3)):
    """A2C and A3C: rollout length, learning rate, lambda, the loss weights, the clip."""
    return [
        "--learning-rate", _float(trial, "learning_rate", *lr_range, log=True),
        "--num-steps", _choice(trial, "num_steps", [5, 8, 16, 32]),
        "--gae-lambda", _choice(trial, "gae_lambda", [0.9, 0.95, 1.0]),
        "--ent-coef", _choice(trial, "ent_coef", [0.0, 0.001, 0.01]),
        "--vf-coef", _choice(trial, "vf_coef", [0.25, 0.5, 1.0]),
        "--max-grad-norm", _choice(trial, "max_grad_norm", [0.5, 1.0, 5.0]),
        "--log-std-init", _choice(trial, "log_std_init", [-1.0, -0.5, 0.0]),
    ]  # fmt: skip


def space_a2c_envs(trial):
    return ["--num-envs", _choice(trial, "num_envs", [1, 2, 4, 8]), *space_a2c(trial)]


def space_a3c(trial):
    """A3C steps once per worker segment, so its rates sit lower than A2C's (see a3c.py)."""
    return space_a2c(trial, lr_range=(2e-5, 1e-3))


def space_reinforce(trial):
    """REINFORCE: batch size, environments, learning rate, advantage normalisation."""
    norm_adv = trial.suggest_categorical("norm_adv", [False, True])
    return [
        "--learning-rate", _float(trial, "learning_rate", 3e-4, 3e-2, log=True),
        "--batch-size", _choice(trial, "batch_size", [1000, 2000, 4000]),
        "--num-envs", _choice(trial, "num_envs", [1, 2, 4]),
        "--max-grad-norm", _choice(trial, "max_grad_norm", [0.5, 1.0, 5.0]),
        "--log-std-init", _choice(trial, "log_std_init", [-1.0, -0.5, 0.0]),
        *(["--norm-adv"] if norm_adv else []),
    ]  # fmt: skip


def space_tiny(trial):
    """Two values of the learning rate: the search space of the tests' tiny study."""
    return ["--learning-rate", _choice(trial, "learning_rate", [1e-3, 1e-2])]


SPACES = {"a2c": space_a2c_envs, "a3c": space_a3c, "reinforce": space_reinforce, "tiny": space_tiny}


def merged(fixed, setting):
    """fixed + setting, without the options of fixed that setting sets again (with their values)."""
    names = {a for a in setting if a.startswith("--")}
    out, skipping = [], False
    for a in fixed:
        if a.startswith("--"):
            skipping = a in names
        if not skipping:
            out.append(a)
    return [*out, *setting]


def fixed_params(fixed, space):
    """The values the fixed arguments give the search space's parameters, as Optuna params (an
    option --num-steps is the parameter num_steps; a flag --x / --no-x is True / False). A study
    started with --enqueue-fixed runs them as its first trial: configs.py's current setting then
    stands in the trial table beside the settings the search finds."""
    import optuna
    from optuna.distributions import CategoricalDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    probe = optuna.create_study().ask()  # in memory: only to read the space's parameters
    space(probe)
    params = {}
    for name, dist in probe.distributions.items():
        flag = "--" + name.replace("_", "-")
        if flag in fixed or "--no-" + flag[2:] in fixed:
            if isinstance(dist, CategoricalDistribution) and all(isinstance(c, bool) for c in dist.choices):
                params[name] = flag in fixed
                continue
            value = fixed[fixed.index(flag) + 1] if flag in fixed else None
            if isinstance(dist, CategoricalDistribution):
                match = [c for c in dist.choices if value is not None and float(c) == float(value)]
                if not match:
                    raise SystemExit(f"error: --enqueue-fixed: {flag} {value} is not one of the search space's "
                                     f"{list(dist.choices)}; drop --enqueue-fixed or change {flag}")  # fmt: skip
                params[name] = match[0]
            elif dist.low <= float(value) <= dist.high:
                params[name] = float(value)
            else:
                raise SystemExit(f"error: --enqueue-fixed: {flag} {value} is outside the search space's "
                                 f"[{dist.low}, {dist.high}]; drop --enqueue-fixed or change {flag}")  # fmt: skip
    return params


def normaliser(script, env_id):
    """The score's unit: the suite's target of (script, env_id), or 1 where it has none."""
    from benchmark.run import TARGETS

    return TARGETS.get(script, {}).get(env_id, 1.0)


def capped(score, cap=None):
    """return / target capped at --cap, in a trial's value and in the curve its pruning reads:
    uncapped, one task far above its target can outweigh another below it; with cap 1 a task adds
    nothing past its target, so the search ranks settings by the tasks still below theirs."""
    return score if cap is None else min(score, cap)


def study_score(scores, cap=None):
    """A trial's value: the mean over its runs of return / target, each capped at --cap."""
    return float(np.mean([capped(s, cap) for s in scores]))


def run_with_progress(command, workdir, report):
    """Run one script command in workdir; report(step, trailing mean) for each progress line.
    report returns True to stop the run (pruned): then None is returned, else the run dir."""
    cmd = [sys.executable, os.path.join(REPO, command[1]), *command[2:]]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:
        words = line.split()
        if len(words) >= 4 and words[0] == "step" and words[2] == "return(last" and words[4] != "n/a":
            if report(int(words[1]), float(words[4])):
                proc.kill()
                proc.wait()
                return None
    stderr = proc.stderr.read()
    if proc.wait() != 0:
        raise RuntimeError(f"{shlex.join(command)} failed with exit code {proc.returncode}:\n{stderr[-2000:]}")
    return os.path.join(workdir, "runs", sorted(os.listdir(os.path.join(workdir, "runs")))[-1])


def objective(trial, args):
    import optuna

    setting = SPACES[args.space or args.script](trial)
    trial.set_user_attr("args", setting)
    scores = []
    for i, (env_id, seed) in enumerate((e, s) for e in args.envs for s in args.seeds):
        scale = normaliser(args.script, env_id)
        command = script_command(args.script, env_id, seed, args.budget, merged(args.fixed, setting))

        def report(step, mean_return, offset=i * args.budget, scale=scale):
            trial.report(capped(mean_return / scale, args.cap), offset + step)
            return trial.should_prune()

        with tempfile.TemporaryDirectory() as workdir:
            run_dir = run_with_progress(command, workdir, report)
            if run_dir is None:
                raise optuna.TrialPruned()
            returns = [r for _, r in read_scalars(run_dir)]
        score = float(np.mean(returns[-args.window :])) / scale if returns else float("nan")
        trial.set_user_attr(f"score {env_id} seed {seed}", score)
        scores.append(score)
    return study_score(scores, args.cap)


def storage_of(args):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    if args.storage.startswith(("sqlite:", "postgresql:", "mysql:")):
        return args.storage
    os.makedirs(os.path.dirname(os.path.abspath(args.storage)), exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return JournalStorage(JournalFileBackend(args.storage))


def load_study(args, worker=0, start=0):
    """The study, its sampler seeded by (--sampler-seed, worker, trials in the study at the start):
    workers sharing a study, or a resumed one, draw their random trials from streams of their own
    (with one seed for all, every worker drew the same settings)."""
    import optuna

    seed = int(np.random.SeedSequence([args.sampler_seed, worker, start]).generate_state(1)[0])
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=args.startup_trials)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=args.startup_trials, n_warmup_steps=args.budget // 4)
    return optuna.create_study(
        study_name=f"{args.script}__{args.study}",
        storage=storage_of(args),
        direction="maximize",
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )


def counted(study):
    from optuna.trial import TrialState

    return [t for t in study.get_trials(deepcopy=False) if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]


def work(args, worker=0, start=0):
    """One worker: run trials until the study holds --trials complete or pruned ones."""
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    study = load_study(args, worker, start)
    done = MaxTrialsCallback(args.trials, states=(TrialState.COMPLETE, TrialState.PRUNED))
    if len(counted(study)) < args.trials:
        study.optimize(lambda t: objective(t, args), callbacks=[done], catch=(RuntimeError,))
    return len(counted(study))


def report(args):
    import optuna
    from optuna.trial import TrialState

    missing = f"error: no study {args.script}__{args.study} in {args.storage}: run it first (without --report)"
    if "://" not in args.storage and not os.path.exists(args.storage):
        raise SystemExit(missing)
    try:  # read only: create_study(load_if_exists=True) would append to the journal
        study = optuna.load_study(study_name=f"{args.script}__{args.study}", storage=storage_of(args))
    except KeyError:
        raise SystemExit(missing) from None
    args.fixed = study.user_attrs.get("fixed", args.fixed)
    args.cap = study.user_attrs.get("cap", args.cap)
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    pruned = sum(t.state == TrialState.PRUNED for t in trials)
    print(f"study {study.study_name}: {len(complete)} complete, {pruned} pruned, {len(trials)} in all")
    for t in sorted(complete, key=lambda t: -t.value)[: args.top]:
        print(f"  trial {t.number:3d}  score {t.value:.3f}  {shlex.join(t.user_attrs['args'])}")
    if not complete:
        return None
    best = max(complete, key=lambda t: t.value)
    print(f"best: trial {best.number}, score {best.value:.3f} (mean over {args.envs} x seeds {args.seeds} of the")
    cap_note = f", each capped at {args.cap}" if args.cap is not None else ""
    print(f"last-{args.window} mean return / target at {args.budget} steps{cap_note}). For benchmark/configs.py:")
    print("    " + repr(merged(args.fixed, best.user_attrs["args"])))
    if args.storage.endswith(".journal"):
        write_table(args, trials, args.storage[: -len(".journal")] + ".md")
    return best


def write_table(args, trials, path):
    """Every trial of the study, best first, as a markdown table beside its journal (README copies it)."""
    from optuna.trial import TrialState

    runs = [(e, s) for e in args.envs for s in args.seeds]
    done = sorted((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: -t.value)
    rest = [t for t in trials if t.state != TrialState.COMPLETE]
    lines = [f"# Optuna study {args.script}__{args.study}", "",
             f"Rebuilt by `python benchmark/tune.py --script {args.script} --envs {' '.join(args.envs)} --seeds "
             f"{' '.join(map(str, args.seeds))} --budget {args.budget} --study {args.study}"
             f"{f' --window {args.window}' if args.window != 100 else ''} --report` from the journal.",
             f"Fixed arguments: `{shlex.join(args.fixed)}`. Score: the mean over the runs of the last-{args.window} "
             "mean return divided by the task's target (benchmark/run.py)"
             + (f", each capped at {args.cap} (the runs' own columns are not)." if args.cap is not None else "."), "",
             "| trial | state | score | lowest | " + " | ".join(f"{e} seed {s}" for e, s in runs) + " | arguments |",
             "|---|---|---|---|" + "---|" * len(runs) + "---|"]  # fmt: skip
    for t in done + rest:
        value = f"{t.value:.3f}" if t.state == TrialState.COMPLETE else "–"
        state = "unfinished" if t.state == TrialState.RUNNING else t.state.name.lower()  # or stopped by a kill
        cells = [t.user_attrs.get(f"score {e} seed {s}") for e, s in runs]
        # the lowest run's score: above 1, every task meets its target (the mean can hide a miss)
        lowest = f"{min(cells):.3f}" if t.state == TrialState.COMPLETE else "–"
        cells = [f"{c:.3f}" if c is not None else "–" for c in cells]
        lines.append(f"| {t.number} | {state} | {value} | {lowest} | " + " | ".join(cells) + f" | `{shlex.join(t.user_attrs.get('args', []))}` |")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    fixed = argv[argv.index("--") + 1 :] if "--" in argv else None
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--script", required=True, choices=sorted(set(SPACES) - {"tiny"}) + ["ppo_clip", "ppo_kl", "trpo"])
    parser.add_argument("--space", choices=sorted(SPACES), help="search space (default: the script's)")
    parser.add_argument("--envs", nargs="+", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--budget", type=int, required=True, help="total timesteps of each run")
    parser.add_argument("--trials", type=int, default=40, help="complete or pruned trials the study should hold")
    parser.add_argument("--window", type=int, default=100, help="episodes in the final mean")
    parser.add_argument("--study", default="default", help="the study's name (with the script's)")
    parser.add_argument("--storage", help="journal file or sqlite:/// URL")
    parser.add_argument("--workers", type=int, default=1, help="processes (or jobs) sharing the study")
    parser.add_argument("--executor", choices=["processes", "local", "slurm"], default="processes")
    parser.add_argument("--slurm-partition", default=None)
    parser.add_argument("--startup-trials", type=int, default=8, help="random trials before TPE and pruning")
    parser.add_argument("--sampler-seed", type=int, default=0)
    parser.add_argument("--top", type=int, default=10, help="trials listed by --report")
    parser.add_argument("--report", action="store_true", help="print the study and its best setting only")
    parser.add_argument("--cap", type=float, default=None,
                        help="cap each run's return / target at this before the mean (1: past the target adds nothing)")
    parser.add_argument("--enqueue-fixed", action="store_true",
                        help="a new study's first trial: the fixed arguments' own values of the searched options")
    args = parser.parse_args(argv)
    args.fixed = fixed if fixed is not None else script_args(args.script, args.envs[0])
    args.storage = args.storage or os.path.join(REPO, "benchmark", "results", "tune", f"{args.script}__{args.study}.journal")
    if args.space is None and args.script not in SPACES:
        raise SystemExit(f"error: no search space for {args.script}; pass --space one of {sorted(SPACES)}")

    if not args.report:
        print(f"tuning {args.script} on {args.envs} x seeds {args.seeds} at {args.budget} steps: {args.trials} trials, "
              f"{args.workers} worker(s); study {args.storage}; {machine_description()}", flush=True)  # fmt: skip
        first = fixed_params(args.fixed, SPACES[args.space or args.script]) if args.enqueue_fixed else None
        study = load_study(args)  # create it once, before the workers race to
        stored = study.user_attrs.get("fixed")  # the fixed arguments, for a report after configs.py changes
        if stored is None:
            study.set_user_attr("fixed", args.fixed)
            study.set_user_attr("cap", args.cap)
            if first is not None:
                study.enqueue_trial(first)
        elif stored != args.fixed:  # trials of one study must differ only in the sampled setting
            raise SystemExit(f"error: study {study.study_name} ran its trials with the fixed arguments "
                             f"'{shlex.join(stored)}', not '{shlex.join(args.fixed)}': pass those after --, or "
                             "name another --study")  # fmt: skip
        if study.user_attrs.get("cap") != args.cap:  # one score for all the trials of a study

            def said(cap):
                return "no --cap" if cap is None else f"--cap {cap}"

            raise SystemExit(f"error: study {study.study_name} scores its trials with {said(study.user_attrs.get('cap'))}, "
                             f"this call with {said(args.cap)}: pass the study's, or name another --study")
        existing = len(study.get_trials(deepcopy=False))  # with the worker's index, seeds its sampler
        start = time.time()
        if args.executor == "processes":
            with ProcessPoolExecutor(args.workers) as pool:
                list(pool.map(work, [args] * args.workers, range(args.workers), [existing] * args.workers))
        else:
            import submitit

            folder = os.path.join(tempfile.gettempdir(), "tune_submitit")
            executor = submitit.AutoExecutor(folder=folder, cluster=args.executor)
            executor.update_parameters(timeout_min=24 * 60, cpus_per_task=1)
            if args.executor == "slurm" and args.slurm_partition:
                executor.update_parameters(slurm_partition=args.slurm_partition)
            jobs = [executor.submit(work, args, i, existing) for i in range(args.workers)]
            [job.result() for job in jobs]
        print(f"{time.time() - start:.0f} s", flush=True)
    report(args)


if __name__ == "__main__":
    main()
