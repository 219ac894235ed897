"""Training a victim classifier on its own frontend's features (the evaluation features: Wave2Mel for every
shipped victim), not the released code's librosa ones.

SGD with Nesterov momentum and a one-cycle schedule; waveform augmentation as the released training
recipe has it (``train_speech_commands.py`` of github.com/tugstugi/pytorch-speech-commands, vendored by
AudioPure: random gain, time shift, additive noise), drawn from a seeded
generator; the epoch with the best validation accuracy is kept. Test accuracy is on held-out voices.

Time: one progress bar over the whole run, and a log line per epoch with the elapsed time and an overall
ETA. ``max_minutes`` is checked after every batch (a clock reading: free); when it has passed, the partial
epoch is validated (one forward pass over the validation split, seconds) and competes for "best" like any
epoch, so a run stops at most one batch and one validation after its limit, with the best weights so far.
The one-cycle schedule is not shortened: a stopped run has not annealed its learning rate, and its card says
so (``stopped_early``, ``epochs_completed``, ``stop_reason``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from bench.environment import code_version, resolve_device
from bench.evaluate import correct
from bench.frontend import frontend_spec
from bench.registry import REGISTRY
from bench.seeding import derive_seed, make_generator
from bench.train.clock import RunClock, check_max_minutes
from bench.victim_loader import build_classifier, victim_frontend
from bench.weights import save_weights

AUGMENT = {"gain": (0.7, 1.1), "max_shift": 2000, "noise_p": 0.5, "noise_std": (1e-3, 0.25)}  # noise_std[1]: noise_max


@dataclass
class VictimTraining:
    """One victim training run (the CLI's flags)."""

    arch: str = "resnext29"
    arch_options: dict[str, Any] = field(default_factory=dict)
    data: str = "synth-digits"
    data_options: dict[str, Any] = field(default_factory=dict)
    epochs: int = 30
    batch_size: int = 64
    lr: float = 0.05
    weight_decay: float = 5e-4
    seed: int = 0
    noise_min: float = AUGMENT["noise_std"][0]
    noise_max: float = AUGMENT["noise_std"][1]
    noise_p: float = AUGMENT["noise_p"]
    out: Path = Path("weights")
    device: str = "auto"
    progress: bool = True
    command: str = ""
    max_minutes: float | None = None  # stop once training has run this long, keeping the best epoch so far


def augment(waves: Tensor, generator: torch.Generator, noise_min: float = AUGMENT["noise_std"][0],
            noise_max: float = AUGMENT["noise_std"][1], noise_p: float = AUGMENT["noise_p"]) -> Tensor:
    """Random gain, circular time shift and (with probability ``noise_p``) Gaussian noise of log-uniform std
    in [``noise_min``, ``noise_max``]: robustness to the noise levels that noising defenses add (DualPure's
    t_w = 2 adds std 0.017), as the released recipe's background-noise mixing gives (tugstugi's
    ``train_speech_commands.py``)."""
    b, _, t = waves.shape
    dev = waves.device
    lo, hi = AUGMENT["gain"]
    gain = lo + (hi - lo) * torch.rand(b, 1, 1, generator=generator, device=dev)
    shift = torch.randint(-AUGMENT["max_shift"], AUGMENT["max_shift"] + 1, (b, 1, 1), generator=generator, device=dev)
    index = (torch.arange(t, device=dev).view(1, 1, t) - shift) % t
    waves = torch.gather(waves, 2, index) * gain
    nlo, nhi = math.log(noise_min), math.log(noise_max)
    std = torch.exp(nlo + (nhi - nlo) * torch.rand(b, 1, 1, generator=generator, device=dev))
    on = torch.rand(b, 1, 1, generator=generator, device=dev) < noise_p
    noise = torch.randn(waves.shape, generator=generator, device=dev) * std * on
    return (waves + noise).clamp(-1.0, 1.0)


def train_victim(cfg: VictimTraining, log: Callable[[str], None] = print) -> Path:
    """Train ``cfg.arch`` on ``cfg.data``'s train split, keep the best validation epoch, score it on the test
    split, and write its weights and card to ``cfg.out``; returns the weights' path."""
    check_max_minutes(cfg.max_minutes)  # before any data is built or loaded
    device = resolve_device(cfg.device)
    dataset, data_params = REGISTRY.create("dataset", cfg.data, cfg.data_options)
    dataset.prepare(progress=cfg.progress)
    splits = {s: dataset.load(s) for s in ("train", "valid", "test")}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(cfg.seed, "victim-init"))
        classifier, params = build_classifier(cfg.arch, {**cfg.arch_options, "num_classes": len(dataset.classes)})
    frontend = victim_frontend(cfg.arch).to(device)  # the features the victim is evaluated on
    model = torch.nn.Sequential(frontend, classifier).to(device)
    optimizer = torch.optim.SGD(classifier.parameters(), lr=cfg.lr, momentum=0.9, nesterov=True,
                                weight_decay=cfg.weight_decay)
    train = splits["train"]
    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, epochs=cfg.epochs,
                                                   steps_per_epoch=steps_per_epoch, pct_start=0.15)
    generator = make_generator(cfg.seed, "victim-train")
    best = (-1.0, 0, {k: v.clone() for k, v in classifier.state_dict().items()})
    clock = RunClock(cfg.epochs, max_minutes=cfg.max_minutes)
    # one bar over the whole run (tqdm's own elapsed<remaining is then the overall ETA)
    bar = tqdm(total=cfg.epochs * steps_per_epoch, desc="train victim", disable=not cfg.progress)
    epochs_completed, stop_reason = 0, None

    def say(line: str) -> None:
        with tqdm.external_write_mode():  # the line above the bar, not through it
            log(line)

    for epoch in range(1, cfg.epochs + 1):
        model.train()
        bar.set_description(f"epoch {epoch}/{cfg.epochs}")
        order = torch.randperm(len(train), generator=generator)
        total_loss, seen, batches = 0.0, 0, 0
        for b in range(steps_per_epoch):
            idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            x = augment(train.waves[idx], generator, cfg.noise_min, cfg.noise_max, cfg.noise_p).to(device)
            loss = F.cross_entropy(model(x), train.labels[idx].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += loss.item() * len(idx)
            seen, batches = seen + len(idx), batches + 1
            bar.update()
            last = epoch == cfg.epochs and batches == steps_per_epoch  # nothing left to skip
            if not last and clock.out_of_time():
                stop_reason = clock.stop_reason(f"in epoch {epoch}/{cfg.epochs} after batch "
                                                f"{batches}/{steps_per_epoch}")
                break
        model.eval()
        valid = splits["valid"]
        valid_acc = 100.0 * correct(model, valid.waves, valid.labels, 256, device).float().mean().item()
        if valid_acc > best[0]:
            best = (valid_acc, epoch, {k: v.detach().clone() for k, v in classifier.state_dict().items()})
        partial = batches < steps_per_epoch
        epochs_completed += not partial
        say(f"epoch {epoch}/{cfg.epochs}" + (f" (partial: {batches}/{steps_per_epoch} batches)" if partial else "")
            + f": loss {total_loss / seen:.4f}  valid {valid_acc:.2f}%  "
            f"({clock.status(epoch - 1 + batches / steps_per_epoch)})")
        if stop_reason is not None:
            say(f"stopped early: {stop_reason}; keeping the best epoch so far ({best[1]}, valid {best[0]:.2f}%)")
            break
    bar.close()
    seconds = clock.elapsed()
    classifier.load_state_dict(best[2])
    model.eval()
    test_acc = 100.0 * correct(model, splits["test"].waves, splits["test"].labels, 256, device).float().mean().item()
    log(f"best epoch {best[1]}: valid {best[0]:.2f}%  test (held-out voices) {test_acc:.2f}%  ({seconds:.0f} s)")
    config = str(params.get("config", "default"))
    card = {
        "kind": "victim", "arch": cfg.arch, "config": config, "params": params, "frontend": frontend_spec(frontend),
        "n_params": sum(p.numel() for p in classifier.parameters()),
        "classes": list(dataset.classes),
        "dataset": {"name": cfg.data, "params": dataset.spec_params(data_params), "build": dataset.provenance(),
                    **{f"{s}_hash": c.content_hash() for s, c in splits.items()},
                    "sizes": {s: len(c) for s, c in splits.items()}},
        "training": {"epochs": cfg.epochs, "batch_size": cfg.batch_size, "lr": cfg.lr,
                     "weight_decay": cfg.weight_decay, "seed": cfg.seed, "optimizer": "SGD nesterov 0.9, one-cycle",
                     "augment": {**AUGMENT, "noise_std": (cfg.noise_min, cfg.noise_max), "noise_p": cfg.noise_p},
                     "best_epoch": best[1], "seconds": round(seconds, 1),
                     "epochs_completed": epochs_completed, "max_minutes": cfg.max_minutes,
                     "stopped_early": stop_reason is not None, "stop_reason": stop_reason,
                     "device": str(device), "threads": torch.get_num_threads()},
        "clean_valid_acc": round(best[0], 2), "clean_test_acc": round(test_acc, 2),
        "command": cfg.command, "code": code_version(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return save_weights(classifier, Path(cfg.out) / f"{cfg.arch}-{config}.safetensors", card)
