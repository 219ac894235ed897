"""Datasets (registry kind ``dataset``): clips of 1 s at 16 kHz in [-1, 1], digit classes zero..nine."""
