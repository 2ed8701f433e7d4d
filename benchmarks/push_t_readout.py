"""Diagnostic: how much of push-t's block pose a model's latent holds, read out three ways.

    python -m benchmarks.push_t_readout --checkpoint <run>/checkpoints/latest.pt [--obs proprio+pixels] [--n 1200] \
        [--untrained]

Places the block at random poses (origin in [-0.3, 0.3]^2, any angle) and the pusher at a random clear
spot, renders and encodes each scene, and fits a ridge regression from the latent to the block's x, y,
cos(angle) and sin(angle) on three quarters of them, and prints the R^2 of each on the rest, beside that
of a 5-nearest-neighbour readout (the latent's L2 neighbours, what a goal energy compares) and of a small
MLP trained on the same scenes, which finds what the latent holds nonlinearly at any scale. Read beside
`push_t_landscape`'s energies: an angle the readout recovers well while turning the block costs little
energy is held by the latent at a small scale (the energy misses it, not the encoder); a low R^2 means the
encoder drops it. With `state_latent` models only the pixels' part is read, since the block is there.
The nonlinear readouts need many scenes: a CNN trained on the pose itself reads the angle with R^2 0.94
from 38,000 frames and not at all from 2,000 (`push_t_supervised`), so at the default `--n 1200` a low
neighbour or MLP score for the angle does not show the latent lacks it; pass `--n 24000` for that.
`--untrained` re-initialises the checkpoint's networks (same architecture, seeded): the control for what
training kept or dropped.
"""

from __future__ import annotations

import argparse

from envs.rendering import configure_gl

configure_gl()  # before anything imports mujoco

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.push_t_landscape import TASKS, scene_encoder  # noqa: E402
from envs.tasks.push_t import CLEARANCE, GOAL_RANGE, PUSHER_RANGE  # noqa: E402


def random_scenes(n: int, rng: np.random.Generator) -> np.ndarray:
    """`(n, 5)` configurations: block x, y, angle, pusher x, y (the pusher clear of the block)."""
    out = np.zeros((n, 5))
    for i in range(n):
        block = np.array([*rng.uniform(-GOAL_RANGE, GOAL_RANGE, 2), rng.uniform(-np.pi, np.pi)])
        while True:
            pusher = rng.uniform(-PUSHER_RANGE, PUSHER_RANGE, 2)
            if np.linalg.norm(pusher - block[:2]) > CLEARANCE:
                break
        out[i] = [*block, *pusher]
    return out


def encode_scenes(
    checkpoint: str, obs: str, qpos: np.ndarray, untrained: bool = False, task: str = "goal/push-t"
) -> tuple[np.ndarray, int]:
    """Latents `(n, D)` of the scenes rendered in `task` and the size of the latent's state part (0: none);
    `untrained` re-initialises every layer first."""
    env, encode, agent = scene_encoder(checkpoint, obs, task)
    model = agent.model
    if untrained:
        torch.manual_seed(0)
        for module in model.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
    with torch.no_grad():
        zs = np.stack([encode(q)[0].numpy() for q in qpos])
    env.close()
    return zs, model.cfg.state_latent


def ridge(x: np.ndarray, y: np.ndarray, alpha: float = 1e-2) -> np.ndarray:
    """Weights `(D+1, K)` of a ridge regression with a bias column."""
    xb = np.concatenate([x, np.ones((len(x), 1))], 1)
    return np.linalg.solve(xb.T @ xb + alpha * np.eye(xb.shape[1]), xb.T @ y)


def r2_score(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """R^2 per target column of predictions `pred` of `y`, both `(n, K)`."""
    return 1 - ((pred - y) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)


def r2(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """R^2 per target column of the readout `w` on `(x, y)`."""
    return r2_score(np.concatenate([x, np.ones((len(x), 1))], 1) @ w, y)


def knn_r2(train_x: np.ndarray, train_y: np.ndarray, x: np.ndarray, y: np.ndarray, k: int = 5) -> np.ndarray:
    """R^2 per target column of predicting `y` as the mean target of each row's `k` L2-nearest training rows."""
    pred = np.empty((len(x), train_y.shape[1]))
    sq = (train_x**2).sum(1)  # (m,)
    chunk = 512  # rows at a time: a full (n, m) distance matrix outgrows memory at n = m = 20k
    for i in range(0, len(x), chunk):
        d = sq[None, :] - 2 * x[i : i + chunk] @ train_x.T  # (chunk, m), each row's distances less a constant
        pred[i : i + chunk] = train_y[np.argpartition(d, k, axis=1)[:, :k]].mean(1)
    return r2_score(pred, y)


def mlp_r2(train_x: np.ndarray, train_y: np.ndarray, x: np.ndarray, y: np.ndarray, seed: int = 0) -> np.ndarray:
    """R^2 per target column of a 2-hidden-layer MLP readout (full-batch Adam, 1,500 steps)."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(train_x.shape[1], 256),
        torch.nn.SiLU(),
        torch.nn.Linear(256, 256),
        torch.nn.SiLU(),
        torch.nn.Linear(256, train_y.shape[1]),
    )
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
    tx, ty = torch.as_tensor(train_x, dtype=torch.float32), torch.as_tensor(train_y, dtype=torch.float32)
    for _ in range(1500):
        opt.zero_grad()
        torch.nn.functional.mse_loss(net(tx), ty).backward()
        opt.step()
    with torch.no_grad():
        pred = net(torch.as_tensor(x, dtype=torch.float32)).numpy()
    return r2_score(pred, y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--obs", default="pixels")
    parser.add_argument("--n", type=int, default=1200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--untrained", action="store_true", help="re-initialise the networks (the control)")
    parser.add_argument("--task", default=TASKS[0], choices=TASKS, help="the task the model was trained on")
    args = parser.parse_args()
    qpos = random_scenes(args.n, np.random.default_rng(args.seed))
    z, k = encode_scenes(args.checkpoint, args.obs, qpos, args.untrained, args.task)
    z = z[:, k:]  # the block is in the pixels' part
    y = np.stack([qpos[:, 0], qpos[:, 1], np.cos(qpos[:, 2]), np.sin(qpos[:, 2])], 1)
    cut = 3 * len(z) // 4
    w = ridge(z[:cut], y[:cut])
    scores = r2(z[cut:], y[cut:], w)
    neighbours = knn_r2(z[:cut], y[:cut], z[cut:], y[cut:])
    nonlinear = mlp_r2(z[:cut], y[:cut], z[cut:], y[cut:], args.seed)
    what = " (re-initialised)" if args.untrained else ""
    print(
        f"checkpoint: {args.checkpoint}{what}; {args.task}, {args.n} random scenes, "
        f"readout fitted on {cut}, scored on {args.n - cut}"
    )
    print("| target | held-out R^2, linear | 5 nearest neighbours | MLP |")
    print("|---|---|---|---|")
    names = ("block x", "block y", "cos(angle)", "sin(angle)")
    for name, score, near, deep in zip(names, scores, neighbours, nonlinear, strict=True):
        print(f"| {name} | {score:.3f} | {near:.3f} | {deep:.3f} |")


if __name__ == "__main__":
    main()
