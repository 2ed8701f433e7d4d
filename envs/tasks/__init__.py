"""Our own goal-conditioned MuJoCo tasks, each with its MJCF file beside it."""

from __future__ import annotations

import functools

from envs.registry import TaskSpec, register
from envs.tasks import push_t, reacher_goal, two_rooms


def register_goal_tasks() -> None:
    """Register `goal/reacher`, `goal/two-rooms`, `goal/push-t`, `goal/push-t-block` and `goal/push-t-block-aa`."""
    register(
        TaskSpec(
            "goal/reacher",
            reacher_goal.make,
            frozenset({"goal", "manipulation"}),
            reacher_goal.ACTION_REPEAT,
            "reach a goal arm pose shown as an image",
        )
    )
    register(
        TaskSpec(
            "goal/two-rooms",
            two_rooms.make,
            frozenset({"goal", "locomotion"}),
            two_rooms.ACTION_REPEAT,
            "point mass to a goal in the other room, through a door",
        )
    )
    register(
        TaskSpec(
            "goal/push-t",
            push_t.make,
            frozenset({"goal", "manipulation"}),
            push_t.ACTION_REPEAT,
            "push a T block to a goal pose",
        )
    )
    register(
        TaskSpec(
            "goal/push-t-block",
            functools.partial(push_t.make, pusher_in_pixels=False),
            frozenset({"goal", "manipulation"}),
            push_t.ACTION_REPEAT,
            "push-t whose pixels and goal images show the block alone (the pusher through proprio)",
        )
    )
    register(
        TaskSpec(
            "goal/push-t-block-aa",
            functools.partial(push_t.make, pusher_in_pixels=False, obs_quality="smooth"),
            frozenset({"goal", "manipulation"}),
            push_t.ACTION_REPEAT,
            "goal/push-t-block with anti-aliased pixels and goal images (sub-pixel moves show)",
        )
    )
