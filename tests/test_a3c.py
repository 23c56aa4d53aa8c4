"""A3C's asynchrony: the gradient hand-off from a worker process to the shared parameters, the
shared step counter under a race, and shutdown (a crashing worker, Ctrl-C, a killed main
process) without orphan processes."""

import os
import signal
import subprocess
import sys
import time

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from benchmark.common import read_scalars
from tests.scripts import REPO, importable, load, run_cli

a3c = load("a3c")
OBS_DIM, K, LR, ALPHA, EPS, MAX_NORM = 4, 5, 0.05, 0.99, 1e-5, 0.5


def batch_loss(agent, i):
    """The A3C loss of agent on a fixed synthetic batch number i."""
    g = torch.Generator().manual_seed(i)
    obs, actions = torch.randn(16, OBS_DIM, generator=g), torch.randint(0, 2, (16,), generator=g)
    advantages, returns = torch.randn(16, generator=g), torch.randn(16, generator=g)
    log_prob, entropy, value, _ = agent.evaluate_actions(obs, actions)
    return a3c.policy_gradient_loss(log_prob, advantages) + 0.5 * a3c.value_loss(value, returns) - 0.01 * entropy.mean()


def pytorch_a3c_update(local_agent, global_agent, optimizer, loss, lr, max_grad_norm):
    """pytorch-a3c's hand-off (ikostrikov/pytorch-a3c, train.py), with the same RMSProp step:
    zero_grad() on the shared model's optimiser, backward through the local model, clip, then
    ensure_shared_grads points each shared .grad at the local one unless one is already set.
    On torch >= 2, zero_grad() sets the shared .grad to None instead of zeroing the tensor it
    shares with the local model, so the local gradients are never cleared and accumulate."""
    for shared in global_agent.parameters():
        shared.grad = None  # optimizer.zero_grad(), set_to_none=True by default since torch 2.0
    loss.backward()
    torch.nn.utils.clip_grad_norm_(local_agent.parameters(), max_grad_norm)
    for local, shared in zip(local_agent.parameters(), global_agent.parameters()):
        if shared.grad is not None:
            break
        shared._grad = local.grad
    optimizer.step([p.grad for p in global_agent.parameters()], lr)


def worker_updates(handoff, shared_params, square_avg, k):
    """In a worker process: k times, synchronise a local model from the shared parameters and
    hand the gradient of batch i to them."""
    module = load("a3c")
    torch.set_num_threads(1)
    space = gym.spaces.Discrete(2)
    global_agent, local_agent = module.Agent(OBS_DIM, space), module.Agent(OBS_DIM, space)
    for p, shared in zip(global_agent.parameters(), shared_params):
        p.data = shared  # the parameters live in the parent's shared memory
    optimizer = module.SharedRMSprop(global_agent.parameters(), ALPHA, EPS)
    optimizer.square_avg = square_avg
    for i in range(k):
        with torch.no_grad():
            for local, shared in zip(local_agent.parameters(), global_agent.parameters()):
                local.copy_(shared)
        loss = batch_loss(local_agent, i)
        if handoff == "a3c.py":
            module.update(local_agent, optimizer, loss, LR, MAX_NORM)
        else:
            pytorch_a3c_update(local_agent, global_agent, optimizer, loss, LR, MAX_NORM)


def reference_updates(agent, k):
    """One process, no sharing: the k gradients applied with the paper's RMSProp, written out."""
    params = list(agent.parameters())
    g = [torch.zeros_like(p) for p in params]
    for i in range(k):
        grads = torch.autograd.grad(batch_loss(agent, i), params)
        norm = torch.sqrt(sum((d**2).sum() for d in grads))
        scale = min(1.0, MAX_NORM / (norm.item() + 1e-6))
        with torch.no_grad():
            for p, gi, d in zip(params, g, grads):
                d = d * scale
                gi.copy_(ALPHA * gi + (1 - ALPHA) * d**2)  # g <- alpha g + (1 - alpha) dtheta^2
                p.sub_(LR * d / torch.sqrt(gi + EPS))  # theta <- theta - eta dtheta / sqrt(g + eps)
    return [p.detach() for p in params]


def handoff_error(handoff):
    torch.manual_seed(0)
    agent = a3c.Agent(OBS_DIM, gym.spaces.Discrete(2))
    shared = [p.detach().clone().share_memory_() for p in agent.parameters()]
    square_avg = [torch.zeros_like(p).share_memory_() for p in shared]
    proc = mp.get_context("spawn").Process(target=worker_updates, args=(handoff, shared, square_avg, K))
    proc.start()
    proc.join(timeout=120)
    assert proc.exitcode == 0
    expected = reference_updates(agent, K)
    return max((a - b).abs().max().item() for a, b in zip(shared, expected))


def test_worker_updates_equal_the_single_process_reference():
    assert handoff_error("a3c.py") < 1e-6


def test_pytorch_a3c_handoff_is_rejected_by_the_same_check():
    # The check above has the power to catch the accumulating gradients: the same k updates
    # through pytorch-a3c's hand-off leave the shared parameters elsewhere.
    assert handoff_error("pytorch-a3c") > 1e-3


def step_in_worker(optimizer, grads):
    """In a worker process: one step of the optimizer the parent made and passed to it."""
    optimizer.step(grads, LR)


def test_rmsprop_state_is_shared_with_the_workers():
    # Algorithm S3's RMSProp keeps one g for all threads: a step taken in a worker process must
    # move the parent's g (and theta), as it does when a3c.py passes its optimizer to workers.
    module = importable("a3c")  # by its own name, so that the worker can unpickle the optimizer
    torch.manual_seed(0)
    agent = module.Agent(OBS_DIM, gym.spaces.Discrete(2))
    agent.share_memory()
    optimizer = module.SharedRMSprop(agent.parameters(), ALPHA, EPS)
    assert all(g.is_shared() for g in optimizer.square_avg)
    grads = [torch.ones_like(p) for p in agent.parameters()]
    before = [p.detach().clone() for p in agent.parameters()]
    proc = mp.get_context("spawn").Process(target=step_in_worker, args=(optimizer, grads))
    proc.start()
    proc.join(timeout=120)
    assert proc.exitcode == 0
    # g <- alpha * 0 + (1 - alpha) * 1^2 in the parent's memory; theta moved by eta / sqrt(g + eps)
    for g in optimizer.square_avg:
        assert torch.allclose(g, torch.full_like(g, 1 - ALPHA))
    for p, p0 in zip(agent.parameters(), before):
        assert torch.allclose(p0 - p.detach(), torch.full_like(p0, LR / np.sqrt(1 - ALPHA + EPS)), rtol=1e-4)


def test_theta_g_and_the_statistics_are_in_shared_memory_before_any_worker_starts(tmp_path, monkeypatch):
    # torch.multiprocessing's pickler would move a tensor into shared memory when a worker is
    # started with it (forkserver, spawn), so a3c.py would run the same without its own
    # share_memory calls; but a worker started otherwise (fork) would then train a private copy.
    # What is shared must not hang on that side effect: train() shares theta, RMSProp's g and the
    # observation statistics itself, before the workers are started.
    module = load("a3c")
    seen = {}

    def spy(args, writer, run_name, agent, optimizer, obs_stats, episodic_returns):
        seen["theta"] = all(p.is_shared() for p in agent.parameters())
        seen["g"] = all(g.is_shared() for g in optimizer.square_avg)
        seen["statistics"] = all(x.is_shared() for x in obs_stats)
        return 0, "stopped by the test", False

    monkeypatch.setattr(module, "run_workers", spy)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="stopped by the test"):
        module.train(module.Args(env_id="CartPole-v1", total_timesteps=64, num_workers=1))
    assert seen == {"theta": True, "g": True, "statistics": True}


# ---------------------------------------------------------------- shutdown and orphans


def processes_in(directory):
    """PIDs of live processes whose working directory is `directory` (the run and its workers)."""
    pids = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and os.readlink(f"/proc/{pid}/cwd") == str(directory):
                with open(f"/proc/{pid}/stat") as f:
                    if f.read().split(")")[-1].split()[0] != "Z":  # a zombie is dead, just not reaped
                        pids.append(int(pid))
        except OSError:
            pass
    return pids


def wait_until_no_processes_in(directory, timeout=20.0):
    deadline = time.time() + timeout
    while processes_in(directory) and time.time() < deadline:
        time.sleep(0.2)
    return processes_in(directory)


def start(tmp_path, *args):
    """`python algos/a3c.py ARGS` in its own session, with SIGINT's default disposition, as a
    terminal gives it: a job a shell started in the background inherits SIGINT ignored, and a
    Python started so never raises KeyboardInterrupt (the test would fail, and leave the run)."""
    env = dict(os.environ, PYTHONPATH=REPO, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, os.path.join(REPO, "algos", "a3c.py"), *map(str, args)]
    return subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for_training(proc):
    """Wait until every worker has started, then let them train a little."""
    for line in proc.stdout:
        if line.endswith("workers started\n"):
            time.sleep(3.0)
            return
    raise AssertionError(f"the workers never started: {proc.stderr.read()[-2000:]}")


def test_a_crashing_worker_stops_the_run_with_its_error_and_no_orphans(tmp_path):
    proc = run_cli("a3c", "--env-id", "tests.fake_envs:Failing-v0", "--num-workers", 2, "--total-timesteps", 10**7, cwd=tmp_path, timeout=120)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: worker") and "environment failure injected" in last, proc.stderr[-2000:]
    assert not wait_until_no_processes_in(tmp_path)


@pytest.mark.parametrize("how", ["SIGINT to the process group (Ctrl-C)", "SIGTERM to the main process"])
def test_interrupt_stops_every_process_flushes_and_saves(how, tmp_path):
    proc = start(tmp_path, "--env-id", "CartPole-v1", "--num-workers", 2, "--total-timesteps", 10**8, "--log-every", 10, "--save-model")
    wait_for_training(proc)
    if how.startswith("SIGINT"):
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGTERM)
    try:
        _, stderr = proc.communicate(timeout=30)
    finally:  # a run that did not stop must not outlive the test
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0 and "interrupted at step" in stderr, stderr[-2000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert (run_dir / "model.pt").exists()
    from benchmark.common import read_scalars

    assert read_scalars(str(run_dir), "charts/episodic_return")
    assert not wait_until_no_processes_in(tmp_path)


def test_workers_exit_when_the_main_process_is_killed(tmp_path):
    proc = start(tmp_path, "--env-id", "CartPole-v1", "--num-workers", 2, "--total-timesteps", 10**8)
    wait_for_training(proc)
    proc.kill()  # SIGKILL: no chance to clean up; the workers notice the main process is gone
    proc.wait()
    assert not wait_until_no_processes_in(tmp_path)


def test_budget_is_exact_and_shared_statistics_are_saved(tmp_path):
    proc = run_cli("a3c", "--env-id", "InvertedPendulum-v5", "--num-workers", 2, "--total-timesteps", 3000, "--log-every", 10, "--save-model", "--eval-episodes", 1, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "step      3000  SPS" in proc.stdout
    (run_dir,) = (tmp_path / "runs").iterdir()
    ckpt = torch.load(run_dir / "model.pt", weights_only=True)
    # Both workers updated the one shared set of statistics: its count is the number of
    # observations normalised in training (every step's, plus each worker's first reset).
    assert float(ckpt["obs_rms"]["count"]) == pytest.approx(3000 + 2, abs=1e-3)
    assert np.all(ckpt["obs_rms"]["var"].numpy() > 0)
    # The learning rate anneals on the shared T, the steps of both workers (each update logs the
    # rate it used at the T it reached): lr_0 * (1 - (T - 1) / T_max). A worker's own step count
    # would give it the rate of about T / 2, and the same numbers with one worker.
    lr0 = ckpt["args"]["learning_rate"]
    logged = read_scalars(str(run_dir), "charts/learning_rate")
    assert len(logged) > 10 and max(step for step, _ in logged) > 2500, logged
    for step, lr in logged:
        assert lr == pytest.approx(lr0 * (1 - (step - 1) / 3000), rel=1e-6), (step, lr)
    assert not wait_until_no_processes_in(tmp_path)


def take_steps(global_step, total, taken):
    """In a worker process: next_step until the budget is spent; taken[0] counts the steps."""
    module = load("a3c")
    while module.next_step(global_step, total) is not None:
        taken[0] += 1


def test_the_shared_step_counter_loses_no_increment():
    # Two processes race on T <- T + 1 with nothing else to do, so that an unlocked read-then-write
    # (two workers reading the same T, both writing T + 1) happens many times: together they must
    # take exactly T_max steps, and T must end at T_max.
    ctx = mp.get_context("spawn")
    total, global_step = 100_000, ctx.Value("q", 0)
    counts = [torch.zeros(1, dtype=torch.int64).share_memory_() for _ in range(2)]
    procs = [ctx.Process(target=take_steps, args=(global_step, total, c)) for c in counts]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    assert global_step.value == total and sum(int(c) for c in counts) == total, [int(c) for c in counts]
