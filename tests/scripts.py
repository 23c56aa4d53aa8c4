"""Shared test helpers: import a script of algos/ as a module, run one through its CLI."""

import atexit
import importlib.util
import multiprocessing
import os
import runpy
import signal
import subprocess
import sys
import tempfile

from benchmark.common import load_script

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(name):
    """Import algos/<name>.py (importing a script must not train or touch the file system)."""
    return load_script(name)


def importable(script):
    """algos/<script>.py imported by its own name, so that the worker processes a3c.py starts
    can import it too (they get this process's sys.path)."""
    algos = os.path.join(REPO, "algos")
    if algos not in sys.path:
        sys.path.insert(0, algos)
    return importlib.import_module(script)


def train_in_process(script, args, cwd):
    """module.train(args) in this process with cwd as the working directory (its run_dir made
    absolute); a3c.py imported by its own name (importable) and the SIGTERM handler its train
    installs undone."""
    module = importable("a3c") if script == "a3c" else load(script)
    previous, sigterm = os.getcwd(), signal.getsignal(signal.SIGTERM)
    os.chdir(cwd)
    try:
        result = module.train(args)
        return dict(result, run_dir=os.path.abspath(result["run_dir"]))
    finally:
        os.chdir(previous)
        signal.signal(signal.SIGTERM, sigterm)


def script_path(script):
    """algos/<script>.py, or script itself when it is a path to a .py file."""
    return script if script.endswith(".py") else os.path.join(REPO, "algos", f"{script}.py")


def run_cli(script, *args, cwd, timeout=600):
    """`python algos/<script>.py ARGS` (or `python <script> ARGS` for a path) in cwd, with tests/ importable so that fake environments
    can be named as 'tests.fake_envs:Name-v0'; returns a CompletedProcess (returncode, stdout,
    stderr as text).

    The command runs in a fresh process forked from a server that has imported torch, numpy,
    gymnasium, tyro and TensorBoard once (multiprocessing's forkserver): a new interpreter spends
    about 2.5 s of CPU importing them, and the tests start over a hundred such commands. The
    child does what the interpreter does with a script: runs the file as __main__ with sys.argv
    set, turns SystemExit into the exit code (a message to stderr and code 1), prints an
    uncaught exception's traceback, and runs the atexit handlers. Nothing the script imports,
    configures or computes is shared with the server, which never runs torch (so a fork is safe)
    and never imports MuJoCo (which reads MUJOCO_GL when imported). run_subprocess is the same
    command in a new interpreter, for the tests that send signals or check interpreter start."""
    path = script_path(script)
    env = dict(os.environ, PYTHONPATH=REPO, PYTHONUNBUFFERED="1")
    with tempfile.TemporaryDirectory() as capture:
        out, err = os.path.join(capture, "stdout"), os.path.join(capture, "stderr")
        child = forkserver().Process(target=_run_as_main, args=(path, [str(a) for a in args], str(cwd), env, out, err))
        child.start()
        child.join(timeout)
        if child.exitcode is None:
            child.kill()
            child.join()
            raise subprocess.TimeoutExpired([path, *map(str, args)], timeout)
        with open(out) as f_out, open(err) as f_err:
            return subprocess.CompletedProcess([path, *map(str, args)], child.exitcode, f_out.read(), f_err.read())


def run_subprocess(script, *args, cwd, timeout=600):
    """python algos/<script>.py ARGS in cwd, in a new interpreter (see run_cli)."""
    env = dict(os.environ, PYTHONPATH=REPO, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, script_path(script), *map(str, args)]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


# torch._inductor.config: torch.use_deterministic_algorithms, which every script calls, imports it
# (and torch._dynamo with it): 1.5 to 1.7 s per run when it is not already loaded (tests/README.md).
PRELOAD = ["numpy", "torch", "torch.nn", "torch.multiprocessing", "gymnasium", "tyro", "torch.utils.tensorboard",
           "torch._inductor.config"]
_CONTEXT = None


def forkserver():
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(PRELOAD)
    return _CONTEXT


def _run_as_main(path, argv, cwd, env, out, err):
    """In the forked child: `python path argv` from here on, its output into the files out, err."""
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    for fd, name in ((1, out), (2, err)):
        target = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(target, fd)
        os.close(target)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    sys.argv = [path, *argv]
    sys.path[:0] = [os.path.dirname(path), REPO]
    code = 0
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as e:
        if e.code is None:
            code = 0
        elif isinstance(e.code, int):
            code = e.code
        else:
            print(e.code, file=sys.stderr)
            code = 1
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
