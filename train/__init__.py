"""Training: hydra entry points, data collection, datasets and replay, the training loops."""
