"""Synthesise utterances in a fresh process: ``python -m bench.data._espeak_worker JOB.json``.

espeak-ng keeps internal state across utterances that neither a new voice nor re-initialisation resets,
so an utterance depends on everything synthesised before it in the process. Running each voice's fixed
list of utterances in its own process makes the audio depend only on that list. The job is a JSON list
of ``[text, voice, rate, pitch, range]``; the raw int16 audio goes to ``JOB.npz`` (``u0``, ``u1``, ...,
plus ``sample_rate``). Only numpy and ctypes are imported, so the process starts fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from bench.data.espeak import Espeak


def main(job_path: str) -> None:
    utterances = json.loads(Path(job_path).read_text())
    engine = Espeak()
    audio = {f"u{i}": engine.synth(*u) for i, u in enumerate(utterances)}
    np.savez(Path(job_path).with_suffix(".npz"), sample_rate=engine.sample_rate, **audio)


if __name__ == "__main__":
    main(sys.argv[1])
