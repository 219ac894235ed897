"""``art``: any ART evasion attack by name, run on the defended model through a thin PyTorchClassifier."""

from __future__ import annotations

import ast
import contextlib
import inspect
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from attacks.base import CLIP, Attack, StepCallback
from attacks.estimators import choose_gradient
from attacks.gradients import GradientEstimator
from bench.errors import BadParameter
from bench.registry import register

RESTART_ARGS = ("num_random_init", "nb_random_init")  # ART keeps the restart one noisy predict() favours


def parse_args(text: str) -> dict[str, Any]:
    """``"decay=1.0, targeted=False"`` → {"decay": 1.0, "targeted": False}; values are Python literals
    (anything else stays a string), split only before ``key=`` so tuples keep their commas."""
    out: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in re.split(r",(?=\s*\w+\s*=)", text))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise BadParameter(f"art: args item {item!r} is not key=value; e.g. -o args='decay=1.0,targeted=False'")
        try:
            out[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            out[key.strip()] = value.strip()
    return out


class _Seeded(nn.Module):
    """The defended model as a one-argument module, every draw from the cell's generator."""

    def __init__(self, model: Callable[..., Tensor], generator: torch.Generator):
        super().__init__()
        self.model, self.generator = model, generator

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x, generator=self.generator)


@lru_cache(maxsize=1)
def eot_classifier_class() -> type:
    """``EOTClassifier``, built on first use so that listing plugins does not import ART."""
    from art.estimators.classification import PyTorchClassifier

    class EOTClassifier(PyTorchClassifier):
        """PyTorchClassifier with the purifier inside the module, ``loss_gradient`` from our estimator (EOT
        over seeded draws, chunked) and ``predict`` batched with one seeded draw per row (ART's own EoT
        wrapper makes ``predict`` return N·K rows, which its success check cannot take); ``on_gradient``
        sees every point ART asks a gradient for."""

        def __init__(self, model: Callable[..., Tensor], estimator: GradientEstimator, generator: torch.Generator,
                     nb_classes: int, input_shape: tuple[int, ...], device: torch.device,
                     on_gradient: Callable[[Tensor], None]):
            cuda = device.type == "cuda"
            with torch.cuda.device(device) if cuda else contextlib.nullcontext():
                super().__init__(model=_Seeded(model, generator), loss=nn.CrossEntropyLoss(),
                                 input_shape=input_shape, nb_classes=nb_classes, clip_values=CLIP,
                                 channels_first=True, device_type="gpu" if cuda else "cpu")
            self._device = device
            self._raw, self._estimator, self._generator, self._on_gradient = model, estimator, generator, on_gradient

        def loss_gradient(self, x: Any, y: Any, training_mode: bool = False, **kwargs: Any) -> Any:
            as_tensor = isinstance(x, Tensor)
            xt = (x if as_tensor else torch.from_numpy(np.asarray(x))).to(self._device, torch.float32).detach()
            yt = torch.as_tensor(np.asarray(y.cpu() if isinstance(y, Tensor) else y), device=self._device)
            yt = (yt.argmax(1) if yt.ndim == 2 else yt).long()
            grad, _ = self._estimator(self._raw, xt, yt, self._generator)
            self._on_gradient(xt)
            return grad if as_tensor else grad.cpu().numpy()

        def predict(self, x: np.ndarray, batch_size: int = 128, training_mode: bool = False,
                    **kwargs: Any) -> np.ndarray:
            outputs = []
            with torch.no_grad():
                for i in range(0, len(x), batch_size):
                    xb = torch.as_tensor(np.asarray(x[i : i + batch_size]), device=self._device, dtype=torch.float32)
                    outputs.append(self._raw(xb, generator=self._generator).float().cpu().numpy())
            return np.concatenate(outputs) if outputs else np.zeros((0, self.nb_classes), np.float32)

    return EOTClassifier


def art_attack_class(name: str) -> type:
    import art.attacks.evasion as evasion
    from art.attacks.attack import EvasionAttack

    valid = sorted(n for n, c in vars(evasion).items() if inspect.isclass(c) and issubclass(c, EvasionAttack))
    if name not in valid:
        raise BadParameter(f"art: unknown ART evasion attack {name!r}; valid: {', '.join(valid)}")
    return getattr(evasion, name)


def _uses_gradients(cls: type) -> bool:
    from art.estimators.classification.classifier import ClassGradientsMixin
    from art.estimators.estimator import LossGradientsMixin

    def flat(reqs: Any) -> list[Any]:
        return [r for item in reqs for r in (flat(item) if isinstance(item, tuple) else [item])]

    requirements = flat(getattr(cls, "_estimator_requirements", ()))
    return any(r in (LossGradientsMixin, ClassGradientsMixin) for r in requirements)


@register("attack", "art")
class ARTAttack(Attack):
    """Any ART evasion attack by name (Nicolae et al. 2018, Adversarial Robustness Toolbox) on the defended model.

    The defended model (purifier inside the module, not an ART ``preprocessing_defence``, whose ``predict``
    would purify the whole array at once: github.com/Trusted-AI/adversarial-robustness-toolbox) is wrapped in a thin
    ``PyTorchClassifier`` subclass whose ``loss_gradient`` is our estimator (``eot`` fresh draws, ``eot_batch``
    at a time) and whose ``predict`` is batched, one seeded draw per row; ART's own numpy/torch global randomness
    is seeded from the cell's generator. ``norm``, ``eps``, ``steps``, ``step_size`` and ``random_start`` map to
    ART's ``norm``, ``eps``, ``max_iter``, ``eps_step`` and ``num_random_init``/``nb_random_init`` where the
    attack has them; any other ART argument goes in ``args`` ("key=value,key=value", Python literals).
    ART never picks restarts on a stochastic model (it would keep the one a single noisy ``predict`` favours):
    more than one random init is refused there, use our ``pgd``/``apgd`` restarts. ART's APGD gets
    ``loss_type=None`` so that its gradients stay ours (it still attacks only the clips one ``predict`` calls
    correct: prefer our ``apgd`` on randomized defenses). The result is projected onto the ε-ball (a no-op for
    ART's bounded attacks). For ``any_iter``, the iterates are the points ART asks full-batch gradients for.
    """

    def __init__(self, name: str = "ProjectedGradientDescentPyTorch", norm: str = "linf", eps: float | None = None,
                 steps: int = 10, step_size: float | None = None, random_start: bool = False, eot: int = 1,
                 eot_batch: int | None = None, args: str = ""):
        self.set_budget("art", norm, eps)
        if steps < 1 or eot < 1 or (eot_batch is not None and eot_batch < 1):
            raise BadParameter("art: needs steps >= 1, eot >= 1 and eot_batch >= 1")
        self.name, self.steps, self.random_start, self.eot, self.eot_batch = name, steps, random_start, eot, eot_batch
        self.step_size = float(step_size if step_size is not None else self.geometry.default_step_size(self.eps))
        self.args_text, self.extra = args, parse_args(args)
        self.cls = art_attack_class(name)
        accepted = set(inspect.signature(self.cls.__init__).parameters) - {"self", "estimator", "classifier"}
        unknown = sorted(set(self.extra) - accepted)
        if unknown:
            raise BadParameter(f"art: {name} has no argument {unknown[0]!r}; valid: {', '.join(sorted(accepted))}")
        self.accepted = accepted
        self.estimator: GradientEstimator = choose_gradient("art", None, eot, eot_batch).estimator
        self._gradient_based = _uses_gradients(self.cls)

    def params(self) -> dict[str, Any]:
        return {"name": self.name, "norm": self.norm, "eps": self.eps, "steps": self.steps,
                "step_size": self.step_size, "random_start": self.random_start, "eot": self.eot,
                "eot_batch": self.eot_batch, "args": self.args_text}

    @property
    def gradient_mode(self) -> str:
        return self.estimator.mode if self._gradient_based else "query"

    @property
    def draws_per_gradient(self) -> int:
        # a decision-based ART attack never asks for a gradient: each of its queries is one predict, one draw
        return super().draws_per_gradient if self._gradient_based else 1

    @property
    def passes_per_gradient(self) -> int:
        return super().passes_per_gradient if self._gradient_based else 1

    def label(self) -> str:
        eot = f" EOT-{self.eot}" if self.eot > 1 else ""
        return f"ART {self.name}-{self.steps} {self.geometry.label} ε={self.eps:g}{eot}"

    def art_kwargs(self, batch: int, stochastic: bool) -> dict[str, Any]:
        ours = {"norm": self.geometry.art_norm, "eps": self.eps, "eps_step": self.step_size,
                "max_iter": self.steps, "batch_size": batch, "verbose": False,
                "num_random_init": int(self.random_start), "nb_random_init": 1, "loss_type": None}
        kwargs = {k: v for k, v in ours.items() if k in self.accepted}
        kwargs.update(self.extra)
        restarts = [k for k in RESTART_ARGS if int(kwargs.get(k, 0) or 0) > 1]
        if restarts and stochastic:
            raise BadParameter(f"art: {restarts[0]}={kwargs[restarts[0]]} lets ART keep the restart one noisy "
                               "prediction favours on this randomized defense; use --attack pgd or apgd -o restarts=N")
        if kwargs.get("loss_type") is not None and self.eot > 1:
            raise BadParameter("art: ART's loss_type rebuilds its own classifier and drops EOT; use --attack apgd")
        return kwargs

    def perturb(self, model: Callable[..., Tensor], x: Tensor, y: Tensor, generator: torch.Generator,
                on_step: StepCallback | None = None) -> Tensor:
        x = x.detach()
        calls = [0]

        def on_gradient(point: Tensor) -> None:
            # The first gradient is taken at the start point, which is not an iterate of the attack.
            calls[0] += 1
            if on_step is not None and calls[0] > 1 and point.shape[0] == x.shape[0]:
                on_step(calls[0] - 1, point)

        kwargs = self.art_kwargs(x.shape[0], bool(getattr(model, "stochastic", True)))
        with torch.no_grad():
            nb_classes = model(x[:1], generator=generator).shape[1]
        classifier = eot_classifier_class()(model, self.estimator, generator, nb_classes, tuple(x.shape[1:]),
                                            x.device, on_gradient)
        try:
            attack = self.cls(classifier, **kwargs)
        except (TypeError, ValueError) as exc:
            raise BadParameter(f"art: {self.name} cannot be built here: {' '.join(str(exc).split())[:200]}") from None
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator, device=generator.device))
        state = np.random.get_state()
        devices = [x.device.index or 0] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            np.random.seed(seed)
            try:
                adv = attack.generate(x=x.cpu().numpy(), y=y.cpu().numpy())
            except (TypeError, ValueError, NotImplementedError) as exc:  # ART's own "cannot run on this input"
                raise BadParameter(f"art: {self.name} failed on this model and input: "
                                   f"{' '.join(str(exc).split())[:200]}") from exc
            finally:
                np.random.set_state(state)
        x_adv = self.geometry.project(torch.as_tensor(adv, device=x.device, dtype=x.dtype), x, self.eps)
        if on_step is not None:
            on_step(max(calls[0], 1), x_adv)
        return x_adv
