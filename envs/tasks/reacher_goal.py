"""`goal/reacher`: the dm_control two-link reacher must bring its arm to a goal pose.

The goal is a random arm pose; the goal image shows the arm there (the suite's target sphere is
removed). Success: the fingertip within `TOLERANCE` (0.03, about 14% of the arm's 0.22 reach) of the
goal pose's fingertip.
"""

from __future__ import annotations

import collections

import numpy as np
from dm_control.suite import reacher

from envs.tasks.goal import GoalTask, make_goal_env, with_configuration

TOLERANCE = 0.03
WRIST_LIMIT = np.deg2rad(150.0)  # inside the joint's +-160 degree range
TIME_LIMIT = 3.0  # seconds: 150 control steps of 0.02 s
ACTION_REPEAT = 2


def _physics() -> reacher.Physics:
    xml, assets = reacher.get_model_and_assets()
    xml = xml.decode()
    start = xml.index('<geom name="target"')
    xml = xml[:start] + xml[xml.index("/>", start) + 2 :]
    return reacher.Physics.from_xml_string(xml, assets)


def _fingertip(physics) -> np.ndarray:
    return physics.named.data.geom_xpos["finger", :2].copy()


class ReacherGoal(GoalTask):
    """Reach a goal arm pose from a random start pose."""

    PROPRIO_KEYS = ("angles", "fingertip", "velocity")  # every state entry is the agent's own body

    def _random_pose(self) -> np.ndarray:
        return np.array([self.random.uniform(-np.pi, np.pi), self.random.uniform(-WRIST_LIMIT, WRIST_LIMIT)])

    def sample_goal_qpos(self, physics) -> np.ndarray:
        qpos = self._random_pose()
        self._goal_tip = with_configuration(physics, qpos, _fingertip)
        return qpos

    def sample_start(self, physics) -> None:
        while True:  # a start already at the goal would be no task; rejection takes a few draws at most
            qpos = self._random_pose()
            if np.linalg.norm(with_configuration(physics, qpos, _fingertip) - self._goal_tip) > 2 * TOLERANCE:
                break
        physics.data.qpos[:] = qpos
        physics.data.qvel[:] = 0.0

    def get_observation(self, physics) -> collections.OrderedDict:
        qpos = physics.data.qpos
        return collections.OrderedDict(
            angles=np.concatenate([np.cos(qpos), np.sin(qpos)]),
            fingertip=_fingertip(physics),
            velocity=physics.data.qvel.copy(),
        )

    def goal_errors(self, physics) -> dict[str, float]:
        return {"fingertip_error": float(np.linalg.norm(_fingertip(physics) - self._goal_tip))}

    def within_tolerance(self, errors: dict[str, float]) -> bool:
        return errors["fingertip_error"] <= TOLERANCE


def make(*, obs: str, size: int, action_repeat: int, **kwargs):
    """Build `goal/reacher`."""
    return make_goal_env(
        _physics(),
        ReacherGoal(),
        obs=obs,
        size=size,
        action_repeat=action_repeat,
        time_limit=TIME_LIMIT,
        control_timestep=0.02,
        camera=kwargs.pop("camera", 0),
        **kwargs,
    )
