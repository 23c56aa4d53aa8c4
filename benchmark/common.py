"""Helpers shared by the benchmark and test tools: run a script as a user would, read back its
TensorBoard curve, and describe the machine and package versions that produced a result."""

import glob
import os
import platform
import subprocess
import sys
from importlib.metadata import version

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("torch", "gymnasium", "mujoco", "numpy", "tyro", "tensorboard")


def script_path(script):
    """algos/<script>.py for a script name such as 'ppo_clip'."""
    return os.path.join(REPO, "algos", f"{script}.py")


def load_script(name):
    """Import algos/<name>.py as a module (importing a script neither trains nor writes files),
    for tools that call a script's functions instead of its CLI."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"algos_{name}", script_path(name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def script_command(script, env_id, seed, total_timesteps, extra=()):
    """The exact command line of one run, as a user would type it from the repository root."""
    return ["python", f"algos/{script}.py", "--env-id", env_id, "--seed", str(seed), "--total-timesteps", str(total_timesteps), *extra]


def run_script(command, workdir, timeout=None):
    """Run a script command (from script_command) with workdir as its working directory, so
    its runs/ and videos/ land there. Returns the single run directory it created."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, os.path.join(REPO, command[1]), *command[2:]]
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed with exit code {proc.returncode}:\n{proc.stderr[-3000:]}")
    run_dirs = sorted(glob.glob(os.path.join(workdir, "runs", "*")))
    if len(run_dirs) != 1:
        raise RuntimeError(f"expected one run directory in {workdir}/runs, found {len(run_dirs)}")
    return run_dirs[0]


def read_scalars(run_dir, tag="charts/episodic_return"):
    """[(global_step, value)] of one TensorBoard tag, in the order they were logged."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(run_dir, size_guidance={"scalars": 0})
    acc.Reload()
    if tag not in acc.Tags()["scalars"]:
        return []
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def machine_description():
    """CPU model (with its family and model numbers where /proc/cpuinfo has them), core count,
    Python and the pinned package versions, for result headers. The numbers matter: two CPUs
    sold under one name ("AMD EPYC") can round float arithmetic differently (different SIMD
    kernels), so a curve recorded on one is not bit-identical on the other; tests/regression.py
    expects bit-identity only where this whole string matches."""
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            info = dict(line.split(":", 1) for line in f.read().split("\n\n")[0].splitlines() if ":" in line)
        info = {k.strip(): v.strip() for k, v in info.items()}
        cpu = info["model name"]
        if "cpu family" in info and "model" in info:
            cpu += f" (family {info['cpu family']}, model {info['model']})"
    except (OSError, KeyError):
        pass
    packages = ", ".join(f"{p} {version(p)}" for p in PACKAGES)
    return f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}; {packages}"
