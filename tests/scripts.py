"""Shared test helpers: import a script of algos/ as a module, run one through its CLI."""

import importlib.util
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(name):
    """Import algos/<name>.py (importing a script must not train or touch the file system)."""
    spec = importlib.util.spec_from_file_location(f"algos_{name}", os.path.join(REPO, "algos", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_cli(script, *args, cwd, timeout=600):
    """python algos/<script>.py ARGS in cwd; tests/ is importable so fake envs can be named
    as 'tests.fake_envs:Name-v0'."""
    env = dict(os.environ, PYTHONPATH=REPO, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, os.path.join(REPO, "algos", f"{script}.py"), *map(str, args)]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
