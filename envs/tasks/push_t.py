"""`goal/push-t`: a planar pusher moves a T-shaped block to a goal position and orientation.

Our own MuJoCo counterpart of the Push-T benchmark, seen from above. The goal is the start pose of
the block moved by 0.05-0.2 units and turned by up to 60 degrees; the goal image also shows the pusher
next to the block. Success: the block's origin within `POSITION_TOLERANCE` (0.03 units; the T is 0.2
wide) and its angle within `ANGLE_TOLERANCE` (15 degrees) of the goal.
"""

from __future__ import annotations

import collections
import pathlib

import numpy as np
from dm_control import mujoco

from envs.tasks.goal import GoalTask, make_goal_env

XML = pathlib.Path(__file__).with_name("push_t.xml")
POSITION_TOLERANCE = 0.03
ANGLE_TOLERANCE = np.deg2rad(15.0)
BLOCK_RANGE = 0.25  # block origins start in [-0.25, 0.25]^2
GOAL_RANGE = 0.3
PUSHER_RANGE = 0.45
CLEARANCE = 0.17  # pusher-to-block-origin distance that keeps the disc clear of the T
CONTROL_TIMESTEP = 0.02  # seconds per control step
TIME_LIMIT = 8.0  # seconds: 400 control steps
ACTION_REPEAT = 4


def wrap_angle(angle):
    """`angle` (a float or an array) wrapped into [-pi, pi)."""
    return (angle + np.pi) % (2 * np.pi) - np.pi


class PushT(GoalTask):
    """Push the T block to a goal pose. qpos = (block x, y, angle, pusher x, y)."""

    def _pusher_near(self, block_xy: np.ndarray) -> np.ndarray:
        while True:  # rejection sampling; accepts within a few draws
            xy = self.random.uniform(-PUSHER_RANGE, PUSHER_RANGE, size=2)
            if CLEARANCE < np.linalg.norm(xy - block_xy) < 2.5 * CLEARANCE:
                return xy

    def sample_goal_qpos(self, physics) -> np.ndarray:
        self._start_block = np.array(
            [*self.random.uniform(-BLOCK_RANGE, BLOCK_RANGE, size=2), self.random.uniform(-np.pi, np.pi)]
        )
        heading = self.random.uniform(-np.pi, np.pi)
        shift = self.random.uniform(0.05, 0.2) * np.array([np.cos(heading), np.sin(heading)])
        goal_xy = np.clip(self._start_block[:2] + shift, -GOAL_RANGE, GOAL_RANGE)
        goal_angle = wrap_angle(self._start_block[2] + self.random.uniform(-np.pi / 3, np.pi / 3))
        return np.array([*goal_xy, goal_angle, *self._pusher_near(goal_xy)])

    def sample_start(self, physics) -> None:
        physics.data.qpos[:] = [*self._start_block, *self._pusher_near(self._start_block[:2])]
        physics.data.qvel[:] = 0.0

    def get_observation(self, physics) -> collections.OrderedDict:
        q, v = physics.data.qpos, physics.data.qvel
        return collections.OrderedDict(
            pusher=q[3:5].copy(),
            block=np.array([q[0], q[1], np.cos(q[2]), np.sin(q[2])]),
            velocity=v.copy(),
        )

    def goal_errors(self, physics) -> dict[str, float]:
        q = physics.data.qpos
        return {
            "position_error": float(np.linalg.norm(q[:2] - self.goal_qpos[:2])),
            "angle_error": float(abs(wrap_angle(q[2] - self.goal_qpos[2]))),
        }

    def within_tolerance(self, errors: dict[str, float]) -> bool:
        return errors["position_error"] <= POSITION_TOLERANCE and errors["angle_error"] <= ANGLE_TOLERANCE


def make(*, obs: str, size: int, action_repeat: int, **kwargs):
    """Build `goal/push-t`."""
    physics = mujoco.Physics.from_xml_path(str(XML))
    return make_goal_env(
        physics,
        PushT(),
        obs=obs,
        size=size,
        action_repeat=action_repeat,
        time_limit=TIME_LIMIT,
        control_timestep=CONTROL_TIMESTEP,
        camera=kwargs.pop("camera", "top"),
        **kwargs,
    )
