"""The one task registry: task ids, their tags and default action repeats, and `make_env`.

Task ids are `suite/name`: `dmc/walker-walk`, `gym/Pusher-v5`, `goal/reacher`. Any environment id
registered with Gymnasium is reachable as `gym/<id>` without registering it here.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym

OBS_MODES = ("state", "pixels", "state+pixels", "proprio", "proprio+pixels")
TAGS = ("dmc", "gym", "goal", "locomotion", "manipulation", "control")


@dataclass(frozen=True)
class TaskSpec:
    """How to build one task.

    Attributes:
        id: the task id, e.g. `dmc/walker-walk`.
        factory: builds the env; called as `factory(obs=..., size=..., action_repeat=..., **kwargs)`.
        tags: registry tags (a subset of `TAGS`).
        action_repeat: the default number of control steps per agent decision.
        description: one line for listings.
    """

    id: str
    factory: Callable[..., gym.Env]
    tags: frozenset[str]
    action_repeat: int = 1
    description: str = ""


class UnknownTaskError(KeyError):
    """Raised for a task id that is neither registered nor a Gymnasium id."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0])


_REGISTRY: dict[str, TaskSpec] = {}
_BUILTINS_LOADED = False


def register(spec: TaskSpec) -> None:
    """Add a task to the registry; re-registering an id replaces it."""
    unknown = set(spec.tags) - set(TAGS)
    if unknown:
        raise ValueError(f"task {spec.id!r}: unknown tags {sorted(unknown)}; known tags are {TAGS}")
    _REGISTRY[spec.id] = spec


def _ensure_builtins() -> None:
    # Imported lazily so that `import envs` stays cheap and registration has one home per suite.
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    from envs import dmc, gym_adapter
    from envs.tasks import register_goal_tasks

    dmc.register_suite()
    gym_adapter.register_mujoco_tasks()
    register_goal_tasks()


def list_tasks(tag: str | None = None) -> list[str]:
    """Sorted ids of the registered tasks, optionally only those carrying `tag`."""
    _ensure_builtins()
    if tag is not None and tag not in TAGS:
        raise ValueError(f"unknown tag {tag!r}; known tags are {', '.join(TAGS)}")
    return sorted(t for t, s in _REGISTRY.items() if tag is None or tag in s.tags)


def get_spec(task: str) -> TaskSpec:
    """The spec of `task`; `gym/<id>` resolves any Gymnasium-registered id."""
    _ensure_builtins()
    if task in _REGISTRY:
        return _REGISTRY[task]
    if task.startswith("gym/") and task[4:] in gym.registry:
        from envs.gym_adapter import make_gym_spec

        return make_gym_spec(task[4:])
    close = difflib.get_close_matches(task, list(_REGISTRY), n=5, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise UnknownTaskError(
        f"unknown task {task!r}.{hint} `envs.list_tasks()` lists all {len(_REGISTRY)} registered tasks; "
        "any Gymnasium id works as 'gym/<id>'."
    )


def make_env(
    task: str,
    *,
    obs: str = "state",
    size: int = 64,
    action_repeat: int | None = None,
    seed: int | None = None,
    **kwargs,
) -> gym.Env:
    """Build a task as a Gymnasium env with dict observations and actions in [-1, 1].

    Args:
        task: a task id (see `list_tasks`), or `gym/<any Gymnasium id>`.
        obs: `state`, `pixels` or `state+pixels`; `proprio` or `proprio+pixels` put only the agent's own
            body in `obs["state"]` (tasks that declare it: `goal/push-t`). Pixels are uint8 `(3, size, size)`.
        size: side of the pixel observation in pixels.
        action_repeat: control steps per `step` call; `None` takes the task's default (2 for dm_control).
        seed: when given, the env is reset once with it so that the first episode is reproducible.
        **kwargs: passed to the task's factory (e.g. `camera=`, `render_size=`).

    Returns:
        The env. `info["env_steps"]` after each step is the number of control steps it took.
    """
    if obs not in OBS_MODES:
        raise ValueError(f"unknown observation mode {obs!r}; choose one of {', '.join(OBS_MODES)}")
    if not isinstance(size, int) or size < 8:
        raise ValueError(f"pixel size must be an integer >= 8, got {size!r}")
    spec = get_spec(task)
    repeat = spec.action_repeat if action_repeat is None else action_repeat
    if not isinstance(repeat, int) or repeat < 1:
        raise ValueError(f"action_repeat must be a positive integer, got {repeat!r}")
    env = spec.factory(obs=obs, size=size, action_repeat=repeat, **kwargs)
    env.task_id = spec.id
    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
    return env
