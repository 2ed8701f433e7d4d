"""Data-collection policies for reward-free datasets. None of them ever looks at the goal.

Each policy is `policy(rng, previous_action (A,), obs) -> action (A,)` in [-1, 1].
- `random`: uniform actions, independent across steps (DINO-WM's and PLDM's reacher/two-rooms data).
- `smooth`: temporally correlated noise (AR(1), coefficient 0.8), which travels further than `random`.
- `push` (goal/push-t and goal/push-t-block only): a scripted exploration policy that makes contact
  with the block: it heads for a random spot near the T with momentum and noise, so it pushes, turns
  and overshoots the block from ever-changing sides. It reads the simulator's configuration
  (`obs["qpos"]`: block x, y, angle, pusher x, y), never the goal. Smooth or random actions move the
  block in 33% / 17% of push-t episodes (30 episodes, median displacement 0); this one in all of them
  (median 0.48 units, turn 0.6 rad).
- `push-smooth` (push-t tasks): each episode is a `push` episode, or with probability `SMOOTH_SHARE` a
  `smooth` one. Why: `push` always heads for the block, so its data never show the pusher moving about
  without touching it; a push-t model trained on them imagines the block moving under plans that never
  reach it (`benchmarks/push_t_plan_check.py`, benchmarks/results/goal/README.md). Smooth episodes are
  those counter-examples.
- `push-mix` (push-t tasks): `push-smooth` with half of its `push` episodes aimed off the T's centre
  (`TurnPush`: at a spot drawn over the T's area, kept for about ten decisions). Why: pushes aimed at the
  origin mostly move the T, and a model trained on them predicts poorly how a push turns it, the failure
  the thirty-fourth and thirty-fifth sessions found (benchmarks/results/goal/README.md).
- `push-turn` (push-t tasks): `push-mix` with every push off-centre.
- `push-turn3` (push-t tasks): between the two, three of four pushes off-centre.
- `push-turn3-slow` (push-t tasks): `push-turn3` with half of its push episodes `Paced` at a top speed drawn
  from `SLOW_MIN` to 1 of the actuators' range. Why: the scripted push drives at full force, 0.04 units per
  decision, more than the goal's 0.03 tolerance, so a model trained on it has seen few of the slow, small
  pushes that the last approach to a goal is made of (a sixth of real moves were predicted at under half
  their size one decision ahead, `benchmarks.push_t_predicted_moves`).

A policy with `needs_sim = True` receives `{"qpos": ...}`; the others receive `{}`. A policy with a
`start(rng) -> policy` method draws the policy of each episode when it begins (from the episode's stream).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Policy = Callable[[np.random.Generator, np.ndarray, dict], np.ndarray]
SMOOTH_BETA = 0.8


def random_policy(rng: np.random.Generator, previous: np.ndarray, obs: dict) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, previous.shape).astype(np.float32)


def smooth_policy(rng: np.random.Generator, previous: np.ndarray, obs: dict) -> np.ndarray:
    noise = rng.uniform(-1.0, 1.0, previous.shape)
    action = SMOOTH_BETA * previous + np.sqrt(1 - SMOOTH_BETA**2) * noise * np.sqrt(3.0)
    return np.clip(action, -1.0, 1.0).astype(np.float32)


def push_policy(rng: np.random.Generator, previous: np.ndarray, obs: dict) -> np.ndarray:
    # Imported here: push_t imports MuJoCo, which must wait until the commands have chosen its GL backend.
    from envs.tasks.push_t import scripted_push

    return scripted_push(rng, previous, np.asarray(obs["qpos"]))


push_policy.needs_sim = True  # type: ignore[attr-defined]
push_policy.tasks = ("goal/push-t", "goal/push-t-block", "goal/push-t-block-aa")  # type: ignore[attr-defined]

SMOOTH_SHARE = 0.5


TURN_REAIM = 0.1  # chance per decision that an off-centre (`TurnPush`) episode aims at a new spot of the T


class TurnPush:
    """One episode's off-centre pushing: `scripted_push` aimed at a spot drawn over the T's area, drawn
    again with probability `TURN_REAIM` per decision, so that each push holds its spot for about ten."""

    needs_sim = True

    def __init__(self, rng: np.random.Generator):
        from envs.tasks.push_t import random_t_point  # MuJoCo waits for the GL backend (see push_policy)

        self.draw = random_t_point
        self.point = self.draw(rng)

    def __call__(self, rng: np.random.Generator, previous: np.ndarray, obs: dict) -> np.ndarray:
        from envs.tasks.push_t import scripted_push

        if rng.uniform() < TURN_REAIM:
            self.point = self.draw(rng)
        return scripted_push(rng, previous, np.asarray(obs["qpos"]), self.point)


SLOW_MIN = 0.2  # the slowest `Paced` push's top speed, as a share of the actuators' range


class Paced:
    """A policy slowed to top speed `speed` (in (0, 1]): `speed * policy(rng, previous / speed, obs)`.

    The inner policy keeps its own momentum in its own units, so a paced push is the same push, scaled."""

    def __init__(self, policy: Policy, speed: float):
        if not 0 < speed <= 1:
            raise ValueError(f"a paced policy's speed must be in (0, 1], got {speed}")
        self.policy, self.speed = policy, speed
        self.needs_sim = getattr(policy, "needs_sim", False)

    def __call__(self, rng: np.random.Generator, previous: np.ndarray, obs: dict) -> np.ndarray:
        return (self.speed * self.policy(rng, previous / self.speed, obs)).astype(np.float32)


class PushMix:
    """Per episode, `smooth_policy` with probability `SMOOTH_SHARE`, else an off-centre `TurnPush` with
    probability `turn_share` or a centred `push_policy` (`push-smooth`: none off-centre; `push-mix`: half;
    `push-turn3`: three quarters; `push-turn`: all). One uniform draw picks the kind, so they all draw the
    same smooth episodes, and `push-smooth`'s collections are those of its earlier class. With `slow_share`
    a push episode is `Paced` with that probability at a speed drawn from `SLOW_MIN` to 1 (two more draws
    from the stream, only then: mixes without slow pushes draw what they always drew)."""

    needs_sim = True
    tasks = push_policy.tasks  # type: ignore[attr-defined]

    def __init__(self, name: str, turn_share: float, slow_share: float = 0.0):
        self.name, self.turn_share, self.slow_share = name, turn_share, slow_share

    def start(self, rng: np.random.Generator) -> Policy:
        u = rng.uniform()
        if u < SMOOTH_SHARE:
            return smooth_policy
        push = TurnPush(rng) if u >= 1 - (1 - SMOOTH_SHARE) * self.turn_share else push_policy
        if self.slow_share and rng.uniform() < self.slow_share:
            return Paced(push, float(rng.uniform(SLOW_MIN, 1.0)))
        return push

    def __call__(self, rng: np.random.Generator, previous: np.ndarray, obs: dict) -> np.ndarray:
        raise TypeError(f"{self.name} picks a policy per episode: call start(rng) when an episode begins")


POLICIES: dict[str, Policy] = {
    "random": random_policy,
    "smooth": smooth_policy,
    "push": push_policy,
    "push-smooth": PushMix("push-smooth", turn_share=0.0),
    "push-mix": PushMix("push-mix", turn_share=0.5),
    "push-turn3": PushMix("push-turn3", turn_share=0.75),
    "push-turn3-slow": PushMix("push-turn3-slow", turn_share=0.75, slow_share=0.5),
    "push-turn": PushMix("push-turn", turn_share=1.0),
}


def get_policy(name: str, task: str | None = None) -> Policy:
    """The policy `name`; with `task`, checked to be one that policy is written for."""
    if name not in POLICIES:
        raise ValueError(f"unknown collection policy {name!r}; choose one of {', '.join(POLICIES)}")
    policy = POLICIES[name]
    tasks = getattr(policy, "tasks", None)
    if task is not None and tasks is not None and task not in tasks:
        raise ValueError(
            f"collection policy {name!r} is written for {', '.join(tasks)}, not {task}; use random or smooth"
        )
    return policy


def sim_state(env) -> dict:
    """What a `needs_sim` policy reads: the simulator's joint configuration."""
    return {"qpos": env.unwrapped.physics.data.qpos.copy()}
