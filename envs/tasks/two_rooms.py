"""`goal/two-rooms`: a point mass moves between two rooms through a door (our own MuJoCo task).

The arena is 2 x 2 units, split at x = 0 by a wall with a 0.4-wide door at its middle. Each episode
starts the mass at rest in one room and puts the goal in the other, so every episode needs the door.
Success: the mass's centre within `TOLERANCE` (0.1 units, 5% of the arena's side) of the goal.
"""

from __future__ import annotations

import collections
import pathlib

import numpy as np
from dm_control import mujoco

from envs.tasks.goal import GoalTask, make_goal_env

XML = pathlib.Path(__file__).with_name("two_rooms.xml")
TOLERANCE = 0.1
ROOM_X = (0.14, 0.9)  # |x| range that keeps the mass (radius 0.07) clear of the walls
ROOM_Y = (-0.9, 0.9)
TIME_LIMIT = 4.0  # seconds: 200 control steps of 0.02 s
ACTION_REPEAT = 2


class TwoRooms(GoalTask):
    """Reach a goal position in the other room."""

    PROPRIO_KEYS = ("position", "velocity")  # every state entry is the agent's own body

    def _point_in_room(self, side: float) -> np.ndarray:
        return np.array([side * self.random.uniform(*ROOM_X), self.random.uniform(*ROOM_Y)])

    def sample_goal_qpos(self, physics) -> np.ndarray:
        self._side = self.random.choice([-1.0, 1.0])
        return self._point_in_room(self._side)

    def sample_start(self, physics) -> None:
        physics.data.qpos[:] = self._point_in_room(-self._side)
        physics.data.qvel[:] = 0.0

    def get_observation(self, physics) -> collections.OrderedDict:
        return collections.OrderedDict(position=physics.data.qpos.copy(), velocity=physics.data.qvel.copy())

    def goal_errors(self, physics) -> dict[str, float]:
        return {"position_error": float(np.linalg.norm(physics.data.qpos - self.goal_qpos))}

    def within_tolerance(self, errors: dict[str, float]) -> bool:
        return errors["position_error"] <= TOLERANCE


def make(*, obs: str, size: int, action_repeat: int, **kwargs):
    """Build `goal/two-rooms`."""
    physics = mujoco.Physics.from_xml_path(str(XML))
    return make_goal_env(
        physics,
        TwoRooms(),
        obs=obs,
        size=size,
        action_repeat=action_repeat,
        time_limit=TIME_LIMIT,
        control_timestep=0.02,
        camera=kwargs.pop("camera", "top"),
        **kwargs,
    )
