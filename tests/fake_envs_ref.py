"""A small deterministic environment that records everything it emits and receives, for the
reference-update tests (tests/test_reference_update.py); registered on import, so an id such as
'tests.fake_envs_ref:Recording-v0' makes gymnasium import this module (in a3c.py's worker
processes too).

Every instance that is reset writes one JSON line per call into refenv-<pid>-<n>.jsonl in the
working directory (a worker process of a3c.py starts in its parent's working directory): the
reset's seed and observation, then for each step the action received and the observation,
reward and flags returned. A test reads these files back (read_records) and knows, for each
environment of a run, the exact batch a script's update saw.

Episodes follow a fixed schedule of (length, end) pairs: "truncated" (time limit: the task goes
on), "terminated", or "both" (terminated on the time limit's last step, both flags set, as
gymnasium's TimeLimit reports it). A seeded reset starts the schedule at seed % len(schedule),
so parallel environments (seeds s, s + 1, ...) end their episodes at different steps.
Observations (3 numbers on different scales) depend on the step, the episode and the last
action; rewards on the action, so returns, normalisation statistics and advantages are all
non-trivial. The final observation of an episode differs from the next reset observation."""

import glob
import itertools
import json
import os

import gymnasium as gym
import numpy as np

SCHEDULE = ((3, "truncated"), (2, "terminated"), (4, "both"), (1, "truncated"), (5, "terminated"), (2, "truncated"))
_serial = itertools.count()


class RecordingEnv(gym.Env):
    def __init__(self, box=False, n_actions=3, schedule=SCHEDULE):
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
        if box:
            self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        else:
            self.action_space = gym.spaces.Discrete(n_actions)
        self.box, self.schedule = box, schedule
        self.episode, self.t, self.last_action, self.path = 0, 0, 0.0, None

    def _obs(self):
        k, t = self.episode, self.t
        return np.array([np.sin(0.9 * t + 0.7 * k) + 0.3 * k,
                         10.0 * np.cos(1.3 * t) + 4.0 * self.last_action - 2.0,
                         0.1 * t * t - 0.05 * k], np.float32)

    def _write(self, record):
        if self.path is None:
            self.path = os.path.join(os.getcwd(), f"refenv-{os.getpid()}-{next(_serial)}.jsonl")
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            self.episode = seed % len(self.schedule)
        else:
            self.episode += 1
        self.t, self.last_action = 0, 0.0
        obs = self._obs()
        self._write({"kind": "reset", "seed": seed, "obs": obs.tolist()})
        return obs, {}

    def step(self, action):
        action = np.asarray(action)
        if self.box:
            a = action.astype(np.float64).reshape(-1)
            reward = 1.0 - (a[0] - 0.3) ** 2 + 0.5 * a[1] + 0.2 * self.t
            self.last_action = float(a[0])
        else:
            a = int(action)
            reward = 1.0 + 0.7 * a - 0.4 * (self.t % 2)
            self.last_action = float(a)
        self.t += 1
        length, end = self.schedule[self.episode % len(self.schedule)]
        over = self.t >= length
        terminated = over and end in ("terminated", "both")
        truncated = over and end in ("truncated", "both")
        obs = self._obs()
        self._write({"kind": "step", "action": action.tolist(), "obs": obs.tolist(), "reward": reward,
                     "terminated": terminated, "truncated": truncated})
        return obs, float(reward), terminated, truncated, {}


def read_records(directory):
    """{first reset seed: [records]} of every environment that recorded into directory."""
    runs = {}
    for path in glob.glob(os.path.join(directory, "refenv-*.jsonl")):
        with open(path) as f:
            records = [json.loads(line) for line in f]
        runs[records[0]["seed"]] = records
    return runs


gym.register("Recording-v0", entry_point=RecordingEnv, kwargs={"box": False})
gym.register("RecordingBox-v0", entry_point=RecordingEnv, kwargs={"box": True})
