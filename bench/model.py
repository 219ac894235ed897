"""The defended model: the one module attacks see, with its two stages exposed.

``purify`` (wave purifier → the victim's frontend → mel purifier) and ``classify`` (the classifier) are the
stages; ``forward`` is ``classify(purify(wave))``. Exposing them lets a gradient estimator reuse one
purification for several gradients (gradient grafting) without reaching into private attributes; the
query counter (``bench.queries``) forwards and counts both.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bench.frontend import classifier_frontend
from defenses.base import Defense


class DefendedModel(nn.Module):
    """wave → [defense.purify_wave] → frontend → [defense.purify_mel] → classifier → logits.

    ``frontend`` is the victim's (``Victim.frontend``); when it is not given, the one the classifier carries
    from its victim's registration (``bench.victim_loader.build_classifier``), else ``Wave2Mel``.
    Stateless: it holds no state that changes between calls; randomness comes from ``generator``
    (torch's default generator when none is given). Always in eval mode, parameters frozen.
    """

    def __init__(self, classifier: nn.Module, defense: Defense, frontend: nn.Module | None = None,
                 purifier_dtype: torch.dtype | None = None):
        super().__init__()
        self.defense = defense
        self.frontend = frontend if frontend is not None else classifier_frontend(classifier)
        self.classifier = classifier
        # mixed precision for the purifiers only (``--dtype bf16``): autocast around purify_wave and purify_mel;
        # the frontend and the classifier, the victim itself, stay in float32
        self.purifier_dtype = purifier_dtype
        self.eval().requires_grad_(False)

    @property
    def stochastic(self) -> bool:
        return self.defense.stochastic

    @property
    def per_clip_draws(self) -> bool:
        """Whether each row's draw can be replayed alone (``bench.row_draws``): a deterministic defense, or
        one whose noise goes through ``bench.row_draws.randn``."""
        return not self.defense.stochastic or self.defense.per_clip_draws

    def train(self, mode: bool = True) -> DefendedModel:
        return super().train(False)  # BN statistics and dropout never change under attack

    def purify(self, wave: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """(B, 1, T) waveform → the defended classifier input (B, 1, n_mels, frames); all the randomness."""
        if self.purifier_dtype is None:
            wave = self.defense.purify_wave(wave, generator)
            return self.defense.purify_mel(self.frontend(wave), generator)
        with torch.autocast(wave.device.type, dtype=self.purifier_dtype):
            wave = self.defense.purify_wave(wave, generator)
        mel = self.frontend(wave.float())
        with torch.autocast(mel.device.type, dtype=self.purifier_dtype):
            mel = self.defense.purify_mel(mel, generator)
        return mel.float()

    def classify(self, mel: Tensor) -> Tensor:
        """Classifier input → logits (B, classes); deterministic."""
        return self.classifier(mel)

    def forward(self, wave: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return self.classify(self.purify(wave, generator))
