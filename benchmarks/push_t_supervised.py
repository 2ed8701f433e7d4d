"""Diagnostic: can our pixel encoder read push-t's block pose at all, when trained *supervised* on it?

    python -m benchmarks.push_t_supervised [--n 40000] [--steps 8000] [--channels 16] [--depth 2] [--episodes E]

The control for `push_t_readout`: that script asks what a trained world model's latent holds; this one
asks what the same CNN (`world_model.encoders.PixelTrunk`, the model's stem and depth) can learn to hold
when the target is the block's pose itself: x, y, cos(angle), sin(angle) from one 64x64 frame of a random
scene (the block anywhere in [-0.3, 0.3]^2 at any angle, the pusher clear of it). Trains the CNN and a
256-unit head with Adam on `n - 2000` renders and prints the R^2 on the 2,000 held out every 1,000 steps.
A high angle R^2 here beside a low one from `push_t_readout` means the frames and the architecture carry
the angle and the world model's objective leaves it out. The simulator's pose is used only here, as the
probe's label; no world model ever trains on it.

`--episodes E` trains on what a world model sees instead: every frame of E episodes of the `push`
collection policy (`train.collect ... policy=push`), still scored on 2,000 random scenes. The gap to the
random-scene figure is what the data's variety, not the objective, costs.
"""

from __future__ import annotations

import argparse
import time

from envs.rendering import configure_gl

configure_gl()  # before anything imports mujoco

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.push_t_readout import r2_score, random_scenes  # noqa: E402
from envs import make_env  # noqa: E402
from envs.tasks.goal import observe_at  # noqa: E402
from world_model.encoders import PixelTrunk  # noqa: E402

HELD_OUT = 2000


def render_scenes(qpos: np.ndarray) -> np.ndarray:
    """Frames `(n, 3, 64, 64)` uint8 of push-t at each configuration of `qpos` `(n, 5)`."""
    env = make_env("goal/push-t", obs="pixels")
    env.reset(seed=0)
    inner = env.unwrapped
    frames = [observe_at(inner, q)["pixels"] for q in qpos]
    env.close()
    return np.stack(frames)[:, -3:]  # the newest frame when frames are stacked


def push_episode_frames(episodes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Every frame `(E * 101, 3, 64, 64)` of `episodes` push-policy episodes and its configuration `(E * 101, 5)`,
    played through `run_episode`, the project's one episode loop."""
    from eval.episode import Transition, run_episode
    from train.collect import PolicyActor
    from train.policies import push_policy, sim_state

    env = make_env("goal/push-t", obs="pixels")
    frames, qpos = [], []

    def seen() -> dict:  # what the policy reads before each decision: the configuration of that frame
        state = sim_state(env)
        qpos.append(state["qpos"])
        return state

    last: list[Transition] = []

    def on_step(tr: Transition) -> None:
        frames.append(tr.obs["pixels"][-3:])
        last[:] = [tr]

    actor = PolicyActor(push_policy, np.random.default_rng(seed), 2, sim=seen)
    for episode in range(episodes):
        run_episode(env, actor, seed=seed * 100_003 + episode, on_step=on_step)
        frames.append(last[0].next_obs["pixels"][-3:])  # the frame after the last decision, and its configuration
        qpos.append(env.unwrapped.physics.data.qpos.copy())
    env.close()
    return np.stack(frames), np.stack(qpos)


def pose_targets(qpos: np.ndarray) -> np.ndarray:
    """`(n, 4)` float32: block x, y, cos(angle), sin(angle)."""
    return np.stack([qpos[:, 0], qpos[:, 1], np.cos(qpos[:, 2]), np.sin(qpos[:, 2])], 1).astype(np.float32)


def train_probe(frames: np.ndarray, targets: np.ndarray, *, channels: int, depth: int, steps: int, seed: int):
    """Trains the CNN and head on all but the last `HELD_OUT` rows; yields `(step, seconds, R^2 (4,))`."""
    x, y = torch.as_tensor(frames), torch.as_tensor(targets)
    cut = len(x) - HELD_OUT
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    trunk = PixelTrunk(3, frames.shape[-1], channels, depth)
    net = torch.nn.Sequential(trunk, torch.nn.Linear(trunk.out_dim, 256), torch.nn.SiLU(), torch.nn.Linear(256, 4))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    start = time.perf_counter()
    for step in range(1, steps + 1):
        idx = torch.randint(0, cut, (128,), generator=generator)
        loss = torch.nn.functional.mse_loss(net(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 1000 == 0 or step == steps:
            with torch.no_grad():
                pred = net(x[cut:]).numpy()
            yield step, time.perf_counter() - start, r2_score(pred, targets[cut:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=40000, help="renders, of which 2,000 are held out")
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--episodes", type=int, default=0, help="train on push-policy episodes (0: random scenes)")
    args = parser.parse_args()
    if args.n <= HELD_OUT:
        raise SystemExit(f"--n {args.n} leaves nothing to train on: pass more than {HELD_OUT}")
    qpos = random_scenes(args.n, np.random.default_rng(args.seed))
    source = f"{args.n} random scenes ({args.n - HELD_OUT} to train on, {HELD_OUT} held out)"
    if args.episodes:  # the held-out rows stay random scenes; the training rows become episode frames
        train_frames, train_qpos = push_episode_frames(args.episodes, args.seed + 1)
        qpos = np.concatenate([train_qpos, qpos[-HELD_OUT:]])
        frames = np.concatenate([train_frames, render_scenes(qpos[-HELD_OUT:])])  # only the scenes used
        source = (
            f"{len(train_frames)} frames of {args.episodes} push-policy episodes, {HELD_OUT} random scenes held out"
        )
    else:
        frames = render_scenes(qpos)
    print(f"{source}; PixelTrunk(channels={args.channels}, depth={args.depth}) + 256-unit head, batch 128, Adam 1e-3")
    print("| step | seconds | block x | block y | cos(angle) | sin(angle) |")
    print("|---|---|---|---|---|---|")
    probe = train_probe(
        frames, pose_targets(qpos), channels=args.channels, depth=args.depth, steps=args.steps, seed=args.seed
    )
    for step, seconds, scores in probe:
        print(f"| {step} | {seconds:.0f} | " + " | ".join(f"{s:.3f}" for s in scores) + " |", flush=True)


if __name__ == "__main__":
    main()
