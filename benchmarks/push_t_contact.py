"""Diagnostic: how much push-t's block deflects the pusher, i.e. what predicting the pusher asks of the block.

    python -m benchmarks.push_t_contact [--episodes 20] [--decisions 4]

Drives the `push` collection policy (`train.policies`) and, every 5th decision, plays the next
`--decisions` decisions of the same policy twice from the same state: as is, and with the block moved out
of the arena. The pusher's end positions differ by what the block did to it. Prints the pusher's median
displacement without the block, the distribution of that difference, and how often the block moved.
A world model whose state part is the pusher (`obs=proprio+pixels`, `state_latent`) must predict this
deflection, which depends on the block's shape where the pusher meets it, so its size says how much the
pusher's prediction loss asks of the block's pose (`WorldModelConfig.state_prediction_weight`).
"""

from __future__ import annotations

import argparse

from envs.rendering import configure_gl

configure_gl()  # before anything imports mujoco

import numpy as np  # noqa: E402

from envs import make_env  # noqa: E402
from envs.tasks.push_t import ACTION_REPEAT, CONTROL_TIMESTEP  # noqa: E402
from eval.episode import run_episode  # noqa: E402
from train.collect import PolicyActor  # noqa: E402
from train.policies import push_policy, sim_state  # noqa: E402

AWAY = (5.0, 5.0)  # a block origin outside the arena's walls: nothing there to touch


def play(physics, qpos, qvel, actions, *, block: bool) -> np.ndarray:
    """The configuration `(5,)` after playing `actions` `(n, 2)` from `(qpos, qvel)`, the block away unless `block`."""
    physics.data.qpos[:], physics.data.qvel[:] = qpos, qvel
    if not block:
        physics.data.qpos[:2] = AWAY
    substeps = round(CONTROL_TIMESTEP / physics.model.opt.timestep)
    for action in actions:
        physics.set_control(action)
        physics.step(substeps * ACTION_REPEAT)
    return physics.data.qpos.copy()


class WindowProbe(PolicyActor):
    """The `push` policy for `run_episode`; before every 5th decision is played, the policy's next
    `decisions` decisions from that state are played with and without the block, and the outcome kept."""

    def __init__(self, env, rng: np.random.Generator, decisions: int):
        super().__init__(push_policy, rng, 2, sim=lambda: sim_state(env))
        self.physics, self.decisions, self.rows, self.t = env.unwrapped.physics, decisions, [], 0

    def reset(self) -> None:
        super().reset()
        self.t = 0

    def act(self, obs, *, goal=None, explore: bool = False) -> np.ndarray:
        action = super().act(obs)
        if self.t % 5 == 0:
            self.rows.append(self._window(action))
        self.t += 1
        return action

    def _window(self, action: np.ndarray) -> tuple[float, float, float]:
        ahead, planned = action.copy(), []
        for _ in range(self.decisions):
            ahead = push_policy(self.rng, ahead, self.sim())
            planned.append(ahead)
        physics = self.physics
        qpos, qvel = physics.data.qpos.copy(), physics.data.qvel.copy()
        with_block = play(physics, qpos, qvel, planned, block=True)
        without = play(physics, qpos, qvel, planned, block=False)
        physics.data.qpos[:], physics.data.qvel[:] = qpos, qvel
        return (
            np.linalg.norm(without[3:5] - qpos[3:5]),
            np.linalg.norm(with_block[3:5] - without[3:5]),
            np.linalg.norm(with_block[:2] - qpos[:2]),
        )


def deflections(episodes: int, decisions: int, seed: int) -> dict[str, np.ndarray]:
    """Per sampled window: the pusher's displacement without the block, the block's deflection of its
    end position, and the block's own displacement (all in arena units)."""
    env = make_env("goal/push-t", obs="proprio")
    probe = WindowProbe(env, np.random.default_rng(seed), decisions)
    for episode in range(episodes):
        run_episode(env, probe, seed=seed * 100_003 + episode)
    env.close()
    moved, deflected, block = np.array(probe.rows).T
    return {"pusher_moved": moved, "deflection": deflected, "block_moved": block}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--decisions", type=int, default=4, help="decisions ahead (a training sequence's 4)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    d = deflections(args.episodes, args.decisions, args.seed)
    n = len(d["deflection"])
    print(f"push policy, {args.episodes} episodes, {n} windows of {args.decisions} decisions")
    print(f"- pusher displacement without the block: median {np.median(d['pusher_moved']):.3f}")
    q = np.quantile(d["deflection"], [0.1, 0.5, 0.9])
    print(
        f"- the block's deflection of the pusher's end: mean {d['deflection'].mean():.3f}, "
        f"10/50/90% {q[0]:.3f} / {q[1]:.3f} / {q[2]:.3f}; over 0.01 in {(d['deflection'] > 0.01).mean():.0%}"
    )
    print(f"- the block moved over 0.01 in {(d['block_moved'] > 0.01).mean():.0%} of the windows")


if __name__ == "__main__":
    main()
