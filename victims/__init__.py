"""Victim plugins: SCR classifiers on 1×32×32 dB mel spectrograms, with shipped weights in ``weights/``."""
