"""The perception encoder and the JEPA latent world model (pure torch; imports no env or agent code)."""

from world_model.batch import Batch
from world_model.config import PRESETS, WorldModelConfig, preset
from world_model.model import WorldModel

__all__ = ["PRESETS", "Batch", "WorldModel", "WorldModelConfig", "preset"]
