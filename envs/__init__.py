"""Environments: one task registry, dm_control and Gymnasium adapters, our own goal tasks."""

from envs.registry import (
    OBS_MODES,
    TAGS,
    TaskSpec,
    UnknownTaskError,
    get_spec,
    list_tasks,
    make_env,
    register,
)

__all__ = [
    "OBS_MODES",
    "TAGS",
    "TaskSpec",
    "UnknownTaskError",
    "get_spec",
    "list_tasks",
    "make_env",
    "register",
]
