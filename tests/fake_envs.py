"""Tiny environments with known answers, registered on import (use ids such as
'tests.fake_envs:ConstantRewardTruncated-v0' so gymnasium imports this module)."""

import gymnasium as gym
import numpy as np


class ConstantRewardEnv(gym.Env):
    """Reward 1 at every step, a constant observation, two actions that do nothing. After
    `horizon` steps the episode ends: by truncation (time limit, the task goes on) or by
    termination. The true value of the observation is 1 / (1 - gamma) when the end is a
    truncation, and a horizon-averaged (1 - gamma^k) / (1 - gamma) when it is a termination."""

    def __init__(self, horizon=10, terminate=False):
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.horizon, self.terminate, self.t = horizon, terminate, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        end = self.t >= self.horizon
        return np.zeros(1, np.float32), 1.0, end and self.terminate, end and not self.terminate, {}


class AlternatingEnv(gym.Env):
    """Two states that alternate whatever the action: A (observation -1, where every episode
    starts), then B (observation +1), then A, ... Leaving A pays 0, leaving B pays `reward`.
    After `horizon` = 3 steps (A, B, A) the episode ends in B: by truncation (the task goes on)
    or by termination. So the final observation (B) differs from the reset one (A) and from
    the last state (A), and each bootstrap a script could mistake for V(final obs) gives a
    different fixed point; with gamma 0.5 and reward 10:
        truncation bootstrapped from V(final obs) = V(B):   V(A) = 6.67 (true infinite-horizon value)
        ... from V(reset obs) or V(s_t), both V(A):         V(A) = 4.0
        ... not at all (truncation treated as termination): V(A) = 2.86, the terminated value.
    `box` gives a Box action space (actions still do nothing). `terminate="both"` ends by
    termination with the truncation flag set too, as gymnasium's TimeLimit does when a task
    fails on its last allowed step: the right answer is the terminated one (2.86)."""

    def __init__(self, terminate=False, box=False, horizon=3, reward=10.0):
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32) if box else gym.spaces.Discrete(2)
        self.terminate, self.horizon, self.reward, self.t = terminate, horizon, reward, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.full(1, -1.0, np.float32), {}

    def step(self, action):
        reward = self.reward if self.t % 2 == 1 else 0.0  # leaving B
        self.t += 1
        end = self.t >= self.horizon
        obs = np.full(1, 1.0 if self.t % 2 == 1 else -1.0, np.float32)
        truncated = end and (self.terminate == "both" or not self.terminate)
        return obs, reward, end and bool(self.terminate), truncated, {}


class RawActionRewardEnv(gym.Env):
    """Box actions in [-1, 1] that the environment does not clip itself (MuJoCo's do): the reward
    is the action as given, so a script's --clip-actions shows in the rewards. Constant
    observation, truncated after 10 steps."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.zeros(1, np.float32), float(np.asarray(action).reshape(-1)[0]), False, self.t >= 10, {}


class MultiDiscreteActionEnv(gym.Env):
    """An action space none of the scripts supports."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.MultiDiscrete([2, 3])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        return np.zeros(1, np.float32), 0.0, True, False, {}


class FailingEnv(ConstantRewardEnv):
    """Raises after `fail_after` steps: a worker's crash, for the shutdown tests."""

    def __init__(self, fail_after=300):
        super().__init__(horizon=10**9)
        self.fail_after, self.steps = fail_after, 0

    def step(self, action):
        self.steps += 1
        if self.steps > self.fail_after:
            raise RuntimeError("environment failure injected by tests.fake_envs")
        return super().step(action)


gym.register("ConstantRewardTruncated-v0", entry_point=ConstantRewardEnv, kwargs={"terminate": False})
gym.register("ConstantRewardTerminated-v0", entry_point=ConstantRewardEnv, kwargs={"terminate": True})
gym.register("AlternatingTruncated-v0", entry_point=AlternatingEnv, kwargs={"terminate": False})
gym.register("AlternatingTerminated-v0", entry_point=AlternatingEnv, kwargs={"terminate": True})
gym.register("AlternatingBothFlags-v0", entry_point=AlternatingEnv, kwargs={"terminate": "both"})
gym.register("AlternatingTruncatedBox-v0", entry_point=AlternatingEnv, kwargs={"terminate": False, "box": True})
gym.register("RawActionReward-v0", entry_point=RawActionRewardEnv)
gym.register("MultiDiscreteAction-v0", entry_point=MultiDiscreteActionEnv)
gym.register("Failing-v0", entry_point=FailingEnv)
