"""Victim plugins: SCR classifiers on 1×32×32 dB mel spectrograms (their frontend, Wave2Mel, named where each
registers), with shipped weights and their cards in ``weights/``."""
