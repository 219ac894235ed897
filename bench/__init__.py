"""scrbench: a benchmark harness for adversarial defenses of speech command recognition."""

__version__ = "0.1.0"
