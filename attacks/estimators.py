"""Gradient estimators by name: the ``estimator`` plugins and the one factory that parses ``-o gradient=...``.

Grammar of an estimator text (``pgd``/``apgd``/``mifgsm``/``tsmifgsm`` take it as ``-o attack.gradient=``)::

    name[:value][:key=value]...      e.g.  autograd   eot:20   eot:20:batch=5   nes:100:sigma=0.002

``name`` is a registered estimator (``bench list estimators``); the bare ``value`` sets the plugin's first
option, ``key=value`` any option by name; values are parsed by the option's type annotation. An estimator
plugin is a factory (class or function) whose typed keyword parameters are its options; a parameter named
``loss`` is not an option but receives the attack's loss (cross-entropy, or APGD's ``loss``). A new
estimator is therefore one decorated class, usable at once by every attack with a ``gradient`` option.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from attacks.gradients import EOT, NES, Autograd, GradientEstimator, TimeShift
from attacks.losses import Loss, cross_entropy
from bench.errors import BadParameter, BenchError, UnknownPlugin
from bench.params import resolve, signature_params
from bench.registry import REGISTRY, register

CONTEXT = ("loss",)  # parameters the attack supplies, never written in the text


@register("estimator", "autograd")
def autograd(loss: Loss = cross_entropy) -> GradientEstimator:
    """Backpropagation through the whole defended model, one draw of its randomness (gradient mode exact)."""
    return Autograd(loss)


@register("estimator", "eot")
def eot(samples: int = 20, batch: int | None = None, loss: Loss = cross_entropy) -> GradientEstimator:
    """EOT (Athalye et al., ICML 2018): the mean gradient over `samples` fresh draws, `batch` copies at a time.

    20 draws by default, as AutoAttack's ``rand`` version (github.com/fra31/auto-attack) and DualPure's
    "PGD10 + EOT20" (Tan et al., Interspeech 2024). One draw is plain backpropagation (mode ``exact``).
    """
    return Autograd(loss) if samples == 1 else EOT(Autograd(loss), samples, batch)


@register("estimator", "nes")
def nes(samples: int = 200, sigma: float = 0.001, batch: int | None = None,
        loss: Loss = cross_entropy) -> GradientEstimator:
    """NES from queries only (Ilyas et al., ICML 2018, Eq. 2, antithetic); defaults as AudioPure ran FakeBob.

    ``samples`` queries of Gaussian-perturbed copies (σ = ``sigma``), ``batch`` per model call; AudioPure's
    settings (Wu et al., ICLR 2023; github.com/cychomatica/AudioPure, robustness_eval/black_box_attack.py).
    """
    return NES(sigma, samples, batch, loss)


@register("estimator", "timeshift")
def timeshift(copies: int = 10, max_shift: int = 1000, batch: int | None = None,
              loss: Loss = cross_entropy) -> GradientEstimator:
    """The mean gradient over `copies` randomly time-shifted copies (TSMI-FGSM, Tan et al. 2022: n and m).

    "Improving adversarial transferability by temporal and spatial momentum in urban speaker recognition
    systems", Computers and Electrical Engineering 104, 108446; shifts uniform in [−max_shift, max_shift].
    """
    return TimeShift(Autograd(loss), copies, max_shift, batch)


@dataclass(frozen=True)
class EstimatorSpec:
    """A parsed estimator text: the plugin, its resolved options, and which of them the text gave."""

    name: str
    options: dict[str, Any]  # every option, defaults resolved, in signature order
    given: frozenset[str]  # the options the text set explicitly

    def text(self, full: bool = True) -> str:
        """Canonical text: the first option always, the others all (``full``) or where not at their default."""
        factory = REGISTRY.get("estimator", self.name).factory
        defaults = {k: p.default for k, p in signature_params(factory).items()}
        parts = [self.name]
        for i, (key, value) in enumerate(self.options.items()):
            if i == 0:
                parts.append(str(value))
            elif full or value != defaults.get(key):
                parts.append(f"{key}={value}")
        return ":".join(parts)


def _options(factory: Any) -> list[str]:
    return [k for k in signature_params(factory) if k not in CONTEXT]


def parse_estimator(text: str, owner: str = "gradient") -> EstimatorSpec:
    """Parse ``name[:value][:key=value]...`` against the registered plugin; one line when it does not fit."""
    name, *items = [part.strip() for part in text.strip().split(":")]
    try:
        factory = REGISTRY.get("estimator", name).factory
    except UnknownPlugin:
        valid = ", ".join(REGISTRY.names("estimator"))
        raise BadParameter(f"{owner}={text!r}: unknown estimator {name!r}; valid: {valid}") from None
    options = _options(factory)
    given: dict[str, str] = {}
    for i, item in enumerate(items):
        key, sep, value = item.partition("=")
        if not sep:
            if not options:
                raise BadParameter(f"{owner}={text!r}: estimator {name!r} takes no options")
            if i > 0:
                raise BadParameter(f"{owner}={text!r}: only the first item may be a bare value (the "
                                   f"{options[0]}); write the others key=value, e.g. eot:20:batch=5")
            key, value = options[0], item
        key = key.strip()
        if key not in options:
            raise BadParameter(f"{owner}={text!r}: estimator {name!r} has no option {key!r}; "
                               f"valid: {', '.join(options) or 'none'}")
        if key in given:
            raise BadParameter(f"{owner}={text!r}: option {key!r} given twice")
        given[key] = value.strip()
    resolved = resolve(f"{owner}={text!r}: estimator {name!r}", factory, given)
    return EstimatorSpec(name, {k: resolved[k] for k in options}, frozenset(given))


def build_estimator(spec: EstimatorSpec, loss: Loss = cross_entropy, owner: str = "gradient") -> GradientEstimator:
    """The estimator ``spec`` names, given the attack's ``loss`` where the plugin takes one."""
    factory = REGISTRY.get("estimator", spec.name).factory
    context = {"loss": loss} if "loss" in inspect.signature(factory).parameters else {}
    try:
        estimator = factory(**spec.options, **context)
    except BenchError as exc:
        raise BadParameter(f"{owner}={spec.text(full=False)!r}: {exc}") from None
    if not isinstance(estimator, GradientEstimator):
        raise BadParameter(f"{owner}: estimator {spec.name!r} built a {type(estimator).__name__}, "
                           "not a GradientEstimator")
    return estimator


def make_estimator(text: str, loss: Loss = cross_entropy, owner: str = "gradient") -> GradientEstimator:
    """One factory for every estimator text: ``make_estimator("eot:20:batch=5", loss=dlr)``."""
    return build_estimator(parse_estimator(text, owner), loss, owner)


@dataclass(frozen=True)
class GradientChoice:
    """An attack's estimator from its ``gradient`` text and its older ``eot``/``eot_batch`` shorthand.

    ``eot``/``eot_batch`` are what the attack records under those names; ``text`` is the canonical text
    it records as ``gradient``, None when ``eot``/``eot_batch`` already say everything (autograd and EOT:
    their records, and so their cell ids, stay what they were before ``gradient`` existed).
    """

    estimator: GradientEstimator
    eot: int
    eot_batch: int | None
    text: str | None
    label: str  # appended to the attack's label: "", " EOT-20" or " nes:100"


def choose_gradient(owner: str, gradient: str | None, eot: int = 1, eot_batch: int | None = None,
                    loss: Loss = cross_entropy, has_eot: bool = True) -> GradientChoice:
    """Resolve an attack's ``gradient`` option (``eot=K`` is shorthand for ``gradient=eot:K``).

    ``has_eot`` False: the attack has no ``eot`` parameters, so only autograd goes unrecorded.
    """
    if gradient is None:
        spec = EstimatorSpec("eot", {"samples": eot, "batch": eot_batch}, frozenset())
    else:
        if eot > 1:
            raise BadParameter(f"{owner}: give eot={eot} or gradient={gradient!r}, not both "
                               f"(eot={eot} is gradient=eot:{eot})")
        spec = parse_estimator(gradient, f"{owner}: gradient")
        if spec.name == "eot" and eot_batch is not None:
            if "batch" in spec.given and spec.options["batch"] != eot_batch:
                raise BadParameter(f"{owner}: eot_batch={eot_batch} and gradient={gradient!r} disagree; keep one")
            spec = EstimatorSpec("eot", {**spec.options, "batch": eot_batch}, spec.given | {"batch"})
    estimator = build_estimator(spec, loss, f"{owner}: gradient")
    if spec.name == "autograd" or (spec.name == "eot" and (has_eot or spec.options["samples"] == 1)):
        samples = spec.options.get("samples", 1)
        batch = spec.options.get("batch") if spec.name == "eot" else eot_batch
        return GradientChoice(estimator, samples, batch, None, f" EOT-{samples}" if samples > 1 else "")
    if eot_batch is not None:
        raise BadParameter(f"{owner}: eot_batch applies to EOT only; set the estimator's own options in gradient=")
    return GradientChoice(estimator, 1, None, spec.text(), f" {spec.text(full=False)}")
