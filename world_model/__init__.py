"""The perception encoder and the JEPA latent world model (pure torch)."""
