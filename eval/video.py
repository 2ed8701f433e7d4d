"""Rollout videos: overlays, the goal beside the live frame, the imagined plan, tiling, mp4 and GIF."""

from __future__ import annotations

import math
import os
import pathlib
import tempfile

import imageio.v2 as imageio
import numpy as np

from envs.rendering import resize_nearest
from eval.font import draw_text


class VideoRecorder:
    """Collects composed frames of one episode through `run_episode`'s recorder hooks.

    Each frame is `env.render()` with an overlay (step, reward, return; goal distance for goal tasks),
    the goal image beside it for goal tasks, and, when the agent can show it (`imagined_frames()`),
    the world model's imagined rollout of the current plan decoded by its probe decoder.

    Args:
        path: where `finish` writes the video (`.mp4` or `.gif`); None keeps frames in memory only.
        fps: frames per second.
        overlay, show_goal, show_imagined: which panels and text to draw.
    """

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        *,
        fps: int = 30,
        overlay: bool = True,
        show_goal: bool = True,
        show_imagined: bool = True,
    ):
        self.path = None if path is None else pathlib.Path(path)
        self.fps, self.overlay, self.show_goal, self.show_imagined = fps, overlay, show_goal, show_imagined
        self.frames: list[np.ndarray] = []

    def start(self, env, obs, info) -> None:
        self.frames, self._t, self._return = [], 0, 0.0
        goal_frame = getattr(env.unwrapped, "goal_frame", None)
        self._goal = goal_frame() if (self.show_goal and goal_frame is not None) else None
        self._add(env, 0.0, info, None)

    def step(self, env, obs, reward: float, info: dict, agent) -> None:
        self._t += 1
        self._return += reward
        self._add(env, reward, info, agent)

    def finish(self, episode) -> None:
        # Panels can appear mid-episode (the imagined plan exists only after the first plan): pad every
        # frame to the widest so that the video has one size.
        width = max(f.shape[1] for f in self.frames)
        self.frames = [np.pad(f, ((0, 0), (0, width - f.shape[1]), (0, 0))) for f in self.frames]
        if self.path is not None:
            write_video(self.path, self.frames, fps=self.fps)

    def _add(self, env, reward: float, info: dict, agent) -> None:
        frame = np.array(env.render())
        if self.overlay:
            draw_text(frame, f"STEP {self._t}", y=2)
            if "goal_distance" in info:
                ok = "YES" if info.get("success") else "NO"
                draw_text(frame, f"DIST {info['goal_distance']:.3f} OK {ok}", y=18)
            else:
                draw_text(frame, f"R {reward:.2f} RET {self._return:.1f}", y=18)
        panels = [frame]
        if self._goal is not None:
            goal = resize_nearest(self._goal, *frame.shape[:2])
            panels.append(draw_text(goal.copy(), "GOAL") if self.overlay else goal)
        imagined = agent.imagined_frames() if (self.show_imagined and hasattr(agent, "imagined_frames")) else None
        if imagined is not None:
            panels.append(_imagined_panel(imagined, frame.shape[0], self.overlay))
        self.frames.append(np.concatenate(panels, axis=1))


def _imagined_panel(imagined: np.ndarray, size: int, overlay: bool) -> np.ndarray:
    """Up to 4 imagined frames `(K, S, S, 3)` in a 2x2 grid of a `(size, size, 3)` panel."""
    half = size // 2
    panel = np.zeros((size, size, 3), np.uint8)
    for i, img in enumerate(imagined[:4]):
        r, c = divmod(i, 2)
        panel[r * half : (r + 1) * half, c * half : (c + 1) * half] = resize_nearest(img, half, half)
    return draw_text(panel, "IMAGINED") if overlay else panel


def tile(videos: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Tile several episodes' frames in a grid; shorter episodes hold their last frame."""
    n = len(videos)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    length = max(len(v) for v in videos)
    h, w, _ = videos[0][0].shape
    out = []
    for t in range(length):
        grid = np.zeros((rows * h, cols * w, 3), np.uint8)
        for i, video in enumerate(videos):
            r, c = divmod(i, cols)
            grid[r * h : (r + 1) * h, c * w : (c + 1) * w] = video[min(t, len(video) - 1)]
        out.append(grid)
    return out


def write_video(path: str | os.PathLike, frames: list[np.ndarray], *, fps: int = 30) -> pathlib.Path:
    """Write frames `(H, W, 3)` uint8 as H.264 mp4 or GIF (by the suffix), atomically."""
    path = pathlib.Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".mp4", ".gif"):
        raise ValueError(f"video path must end in .mp4 or .gif, got {path.name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=suffix)
    os.close(fd)
    try:
        if suffix == ".mp4":
            # macro_block_size=1: keep the frame size (imageio-ffmpeg would otherwise pad 84 -> 96).
            # The veryfast preset encodes ~4x faster than the default at a slightly larger file.
            with imageio.get_writer(
                tmp, fps=fps, codec="libx264", macro_block_size=1, quality=7, ffmpeg_params=["-preset", "veryfast"]
            ) as writer:
                for frame in frames:
                    writer.append_data(frame)
        else:
            imageio.mimsave(tmp, frames, format="GIF", duration=1000 / fps, loop=0)
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
    return path
