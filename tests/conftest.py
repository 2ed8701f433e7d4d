"""Shared test set-up: headless rendering, one torch thread, small helpers."""

import os

import pytest

# Before anything imports mujoco: MuJoCo reads the backend at import time.
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])


@pytest.fixture(scope="session")
def dataset(tmp_path_factory):
    """A tiny reward-free two-rooms dataset (6 smooth-policy episodes, state and 32x32 pixels)."""
    from train.collect import CollectConfig, collect

    out = tmp_path_factory.mktemp("data") / "two-rooms"
    collect(
        CollectConfig(
            task="goal/two-rooms",
            episodes=6,
            out=str(out),
            obs="state+pixels",
            size=32,
            policy="smooth",
            progress=False,
        )
    )
    return out
