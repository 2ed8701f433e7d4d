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


def deflections(episodes: int, decisions: int, seed: int) -> dict[str, np.ndarray]:
    """Per sampled window: the pusher's displacement without the block, the block's deflection of its
    end position, and the block's own displacement (all in arena units)."""
    env, rng = make_env("goal/push-t", obs="proprio"), np.random.default_rng(seed)
    physics = env.unwrapped.physics
    rows = []
    for episode in range(episodes):
        env.reset(seed=seed * 100_003 + episode)
        action = np.zeros(2, np.float32)
        for t in range(100):
            action = push_policy(rng, action, sim_state(env))
            if t % 5 == 0:
                ahead, planned = action.copy(), []
                for _ in range(decisions):
                    ahead = push_policy(rng, ahead, sim_state(env))
                    planned.append(ahead)
                qpos, qvel = physics.data.qpos.copy(), physics.data.qvel.copy()
                with_block = play(physics, qpos, qvel, planned, block=True)
                without = play(physics, qpos, qvel, planned, block=False)
                physics.data.qpos[:], physics.data.qvel[:] = qpos, qvel
                rows.append(
                    (
                        np.linalg.norm(without[3:5] - qpos[3:5]),
                        np.linalg.norm(with_block[3:5] - without[3:5]),
                        np.linalg.norm(with_block[:2] - qpos[:2]),
                    )
                )
            env.step(action)
    env.close()
    moved, deflected, block = np.array(rows).T
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
