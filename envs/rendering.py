"""Off-screen rendering with MuJoCo on machines without a screen.

Entry points call `configure_gl()` before anything imports mujoco; library code never sets
`MUJOCO_GL` itself. `FrameRenderer` renders one camera of one model at one of four qualities:
`fast` for learning observations (no multisampling, shadows, reflections or skybox), `smooth` (`fast`
rendered at 4x the size and averaged over each 4x4 block: edges anti-aliased, so that a sub-pixel move
of an object shows in the pixels' intensities; about 1.8 times `fast`'s cost), `video` (the
skybox, no multisampling, shadows or reflections: ~150 frames/s at 256x256 in software here, against
~65 with 4x multisampling, which looks the same at this size, and ~20 at `full` quality) and `full`.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

GL_HELP = (
    "no OpenGL backend works for MuJoCo's off-screen rendering. Install EGL (Debian: "
    "`apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri libopengl0`) and set MUJOCO_GL=egl, or "
    "OSMesa (`apt-get install libosmesa6`) and set MUJOCO_GL=osmesa."
)

QUALITIES = ("fast", "smooth", "video", "full")
# Supersampling rather than MuJoCo's multisampling: 16 samples per pixel against its 4, on `fast`'s path.
SMOOTH_SCALE = 4
_PROBE = "import mujoco; c = mujoco.GLContext(16, 16); c.make_current(); c.free()"


def _backend_works(backend: str) -> bool:
    env = dict(os.environ, MUJOCO_GL=backend, PYOPENGL_PLATFORM=backend)
    result = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, timeout=60)
    return result.returncode == 0


def configure_gl() -> str:
    """Choose MuJoCo's GL backend: the user's `MUJOCO_GL`, else EGL, else OSMesa.

    Must run before mujoco is first imported (MuJoCo reads the variable at import). Each candidate is
    tried in a subprocess, so a broken backend cannot crash this process.

    Returns:
        The backend in use.

    Raises:
        RuntimeError: when no backend works, naming the packages to install.
    """
    chosen = os.environ.get("MUJOCO_GL")
    if chosen:
        return chosen
    if "mujoco" in sys.modules:
        raise RuntimeError("configure_gl() must run before mujoco is imported; set MUJOCO_GL=egl instead")
    for backend in ("egl", "osmesa"):
        if _backend_works(backend):
            os.environ["MUJOCO_GL"] = backend
            os.environ.setdefault("PYOPENGL_PLATFORM", backend)
            return backend
    raise RuntimeError(GL_HELP)


class FrameRenderer:
    """Renders `(H, W, 3)` uint8 frames of one MuJoCo model.

    Args:
        model: a `mujoco.MjModel`.
        height, width: frame size in pixels.
        quality: `fast`, `smooth`, `video` or `full` (see the module docstring).
        hidden_groups: geom groups left out of the frames (MuJoCo's `geomgroup` visibility), e.g. a
            body that the observation should not show.
    """

    def __init__(self, model, height: int, width: int, *, quality: str, hidden_groups: tuple[int, ...] = ()):
        if quality not in QUALITIES:
            raise ValueError(f"render quality {quality!r}; choose one of {QUALITIES}")
        import mujoco

        self._scale = SMOOTH_SCALE if quality == "smooth" else 1
        height, width = height * self._scale, width * self._scale
        vis = model.vis
        # The off-screen buffer must be at least the frame size; grow it for large requests.
        vis.global_.offwidth = max(vis.global_.offwidth, width)
        vis.global_.offheight = max(vis.global_.offheight, height)
        saved_samples = vis.quality.offsamples
        if quality in ("fast", "smooth", "video"):
            vis.quality.offsamples = 0  # read when the GL context is made, so set it just around that
        try:
            self._renderer = mujoco.Renderer(model, height, width)
        except Exception as err:  # mujoco raises plain Exceptions for GL failures
            raise RuntimeError(f"{GL_HELP} (MuJoCo said: {err})") from err
        finally:
            vis.quality.offsamples = saved_samples
        flags = self._renderer.scene.flags
        if quality in ("fast", "smooth", "video"):
            flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
            flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
        if quality in ("fast", "smooth"):
            flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = 0
        self._option = mujoco.MjvOption()
        for group in hidden_groups:
            if not 0 <= group < len(self._option.geomgroup):
                raise ValueError(f"hidden geom group {group}; MuJoCo's groups are 0-{len(self._option.geomgroup) - 1}")
            self._option.geomgroup[group] = 0

    def render(self, data, camera) -> np.ndarray:
        """One frame `(H, W, 3)` uint8 of `data` seen from `camera` (id, name or `MjvCamera`)."""
        self._renderer.update_scene(data, camera=camera, scene_option=self._option)
        frame = self._renderer.render()
        if self._scale == 1:
            return frame
        k = self._scale  # the mean of each k x k block of the large frame, rounded
        h, w = frame.shape[0] // k, frame.shape[1] // k
        pooled = frame.reshape(h, k, w, k, 3).mean((1, 3), dtype=np.float32)
        return np.rint(pooled).astype(np.uint8)

    def close(self) -> None:
        self._renderer.close()


class RendererCache:
    """One `FrameRenderer` per use: `obs` frames at `obs_quality` (`fast`, or `smooth` for anti-aliased
    observations), `render` frames at `render_quality`.

    `obs_hidden_groups` are geom groups left out of `obs` frames only: videos still show them.
    """

    def __init__(self, render_quality: str, obs_hidden_groups: tuple[int, ...] = (), obs_quality: str = "fast"):
        if obs_quality not in ("fast", "smooth"):
            raise ValueError(f"observation quality {obs_quality!r}; choose fast or smooth")
        self.render_quality, self.obs_quality = render_quality, obs_quality
        self.obs_hidden_groups = tuple(obs_hidden_groups)
        self._renderers: dict[str, FrameRenderer] = {}

    def frame(self, kind: str, model, data, size: int, camera) -> np.ndarray:
        if kind not in self._renderers:
            obs = kind == "obs"
            quality = self.obs_quality if obs else self.render_quality
            hidden = self.obs_hidden_groups if obs else ()
            self._renderers[kind] = FrameRenderer(model, size, size, quality=quality, hidden_groups=hidden)
        return self._renderers[kind].render(data, camera)

    def close(self) -> None:
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()


def resize_nearest(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of an `(H, W, C)` frame (for non-MuJoCo Gymnasium envs)."""
    rows = np.arange(height) * frame.shape[0] // height
    cols = np.arange(width) * frame.shape[1] // width
    return np.ascontiguousarray(frame[rows][:, cols])
