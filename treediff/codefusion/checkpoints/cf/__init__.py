"""Shipped CF-rules checkpoints: diffusion and the AR baseline."""
