"""Shared test set-up: headless rendering, one torch thread, small helpers."""

import os

# Before anything imports mujoco: MuJoCo reads the backend at import time.
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
