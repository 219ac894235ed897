"""Diffusion building blocks shared by every diffusion defense: one noise schedule, the recipe steps (add
noise, reverse steps, one-shot x0, reverse SDE) and the two ε-networks (DiffWave, mel U-Net)."""
