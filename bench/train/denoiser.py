"""Training the diffusion defenses' ε-networks: any registered denoiser in its declared domain (DiffWave on
waveforms, the mel U-Net on standardised mels); its registered ``TrainingDefaults`` are the CLI's defaults.

The DDPM objective (Ho et al. 2020, Eq. 14): t uniform on 1..T, x_t = q_sample(x0, t, z), MSE between z
and ε_θ(x_t, t − 1), with the one shared schedule. Adam; an exponential moving average of the weights is
what gets saved (as improved-diffusion does). A resumable checkpoint (model, EMA, optimiser, step, RNG
state) is written every ``save_every`` steps; ``resume`` continues from it to the same final weights.

Time: a log line every ``LOG_EVERY`` steps (and at the last) with the mean loss, the elapsed time and an
overall ETA. ``max_minutes`` is checked at every step boundary (a clock reading); when it has passed, the
run writes its resumable checkpoint at that step, then the EMA weights and a card saying it stopped early
(``stopped_early``, ``steps`` completed of ``steps_requested``, ``stop_reason``): the same weights a run of
that many steps would save, and running the command again without the limit resumes to the full run's.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from bench.environment import code_version, resolve_device
from bench.frontend import DEFAULT_FRONTEND
from bench.io import atomic_write_bytes
from bench.registry import REGISTRY
from bench.seeding import derive_seed, make_generator
from bench.train.clock import RunClock, check_max_minutes
from bench.train.victim import AUGMENT, augment
from bench.weights import save_weights
from defenses.diffusion.denoisers import TrainingDefaults, denoiser_domain
from defenses.diffusion.mel import standardize
from defenses.diffusion.schedule import NoiseSchedule

LOG_EVERY = 100  # steps between log lines (and the bar's loss)


@dataclass
class DenoiserTraining:
    """One training run; the hyperparameters default to ``TrainingDefaults``' (the CLI fills in the
    denoiser's registered ones)."""

    name: str = "diffwave"  # denoiser plugin, e.g. diffwave (wave) or meldiff (mel)
    config: str = "slim"
    data: str = "synth-digits"
    data_options: dict[str, Any] = field(default_factory=dict)
    steps: int = TrainingDefaults.steps
    batch_size: int = TrainingDefaults.batch_size
    lr: float = TrainingDefaults.lr
    ema: float = TrainingDefaults.ema
    crop: int = TrainingDefaults.crop  # waveform samples per training example (DiffWave is fully convolutional)
    # > 0: the victim's waveform augmentation (gain, shift, Gaussian noise up to this std) before the domain
    # transform, so the mel model learns recordings with a noise floor (SC09 has one, synth-digits does not)
    noise_max: float = TrainingDefaults.noise_max
    seed: int = 0
    save_every: int = 1000
    resume: bool = True
    out: Path = Path("weights")
    device: str = "auto"
    progress: bool = True
    command: str = ""
    max_minutes: float | None = None  # stop (resumably) once this invocation has trained this long


def _to_mel(waves: Tensor, frontend: nn.Module) -> Tensor:
    device = next(frontend.buffers()).device
    with torch.no_grad():
        return torch.cat([standardize(frontend(waves[i : i + 256].to(device))).cpu()
                          for i in range(0, len(waves), 256)])


def _in_domain(cfg: DenoiserTraining, waves: Tensor, frontend: nn.Module) -> Tensor:
    """Waveforms (N, 1, T) as the network sees them: unchanged, or standardised mels (N, 1, 32, 32)."""
    return waves if denoiser_domain(cfg.name) == "wave" else _to_mel(waves, frontend)


def _examples(cfg: DenoiserTraining, waves: Tensor, frontend: nn.Module) -> Tensor:
    """The training set in the network's domain, or the waveforms when augmenting (each batch is augmented,
    then transformed)."""
    return waves if cfg.noise_max > 0 else _in_domain(cfg, waves, frontend)


def _batch(cfg: DenoiserTraining, examples: Tensor, generator: torch.Generator, frontend: nn.Module) -> Tensor:
    idx = torch.randint(len(examples), (cfg.batch_size,), generator=generator)
    x0 = examples[idx]
    if cfg.noise_max > 0:
        x0 = _in_domain(cfg, augment(x0, generator, noise_max=cfg.noise_max), frontend)
    if denoiser_domain(cfg.name) == "wave" and cfg.crop < x0.shape[-1]:
        start = torch.randint(x0.shape[-1] - cfg.crop + 1, (cfg.batch_size, 1, 1), generator=generator)
        x0 = torch.gather(x0, 2, start + torch.arange(cfg.crop).view(1, 1, -1))
    return x0


def diffusion_loss(net: nn.Module, schedule: NoiseSchedule, x0: Tensor, generator: torch.Generator) -> Tensor:
    """ε-prediction MSE at uniformly drawn steps, one step per example."""
    t = torch.randint(1, schedule.steps + 1, (x0.shape[0],), generator=generator)
    noise = torch.randn(x0.shape, generator=generator)
    ab = schedule.alphas_cumprod[t - 1].to(x0.dtype).view(-1, *([1] * (x0.ndim - 1)))
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
    device = next(net.parameters()).device
    return F.mse_loss(net(x_t.to(device), (t - 1).to(device)), noise.to(device))


@torch.no_grad()
def denoising_error(net: nn.Module, schedule: NoiseSchedule, x0: Tensor, steps: tuple[int, ...], seed: int,
                    device: torch.device) -> dict[str, float]:
    """RMS error of the one-shot x̂0 against x0 at small steps, relative to the added noise's RMS (< 1: the
    network removes noise). The figure the purifiers depend on, reported in the card."""
    out = {}
    for t in steps:
        g = make_generator(seed, "denoiser-eval", t)
        noise = torch.randn(x0.shape, generator=g)
        x_t = schedule.q_sample(x0, t, noise)
        chunks = [x_t[i : i + 64] for i in range(0, len(x_t), 64)]
        eps = torch.cat([net(c.to(device), torch.full((len(c),), t - 1, device=device)).cpu() for c in chunks])
        x0_hat = schedule.predict_x0(x_t, t, eps)
        out[str(t)] = round(float((x0_hat - x0).pow(2).mean().sqrt() / (x_t - x0).pow(2).mean().sqrt()), 4)
    return out


def _checkpoint_path(cfg: DenoiserTraining) -> Path:
    return Path(cfg.out) / f"{cfg.name}-{cfg.config}.ckpt.pt"


def train_denoiser(cfg: DenoiserTraining, log: Callable[[str], None] = print) -> Path:
    """Train (or resume) ``cfg.name``'s ε-network, then write its EMA weights and card to ``cfg.out``; returns
    the weights' path."""
    domain = denoiser_domain(cfg.name)  # before any data: an unknown or domain-less denoiser is one line
    check_max_minutes(cfg.max_minutes)
    device = resolve_device(cfg.device)
    dataset, data_params = REGISTRY.create("dataset", cfg.data, cfg.data_options)
    dataset.prepare(progress=cfg.progress)
    train, valid = dataset.load("train"), dataset.load("valid")
    # the mel domain is the default frontend's features (every shipped victim's); built once: the augmented
    # mel path uses it every step
    frontend = DEFAULT_FRONTEND().to(device)
    examples = _examples(cfg, train.waves, frontend)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(cfg.seed, "denoiser-init", cfg.name))
        net = REGISTRY.get("denoiser", cfg.name).factory(config=cfg.config).to(device)
    ema = copy.deepcopy(net).requires_grad_(False)
    schedule = NoiseSchedule.linear()
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    generator = make_generator(cfg.seed, "denoiser-train", cfg.name)
    step, seconds, losses = 0, 0.0, []
    ckpt = _checkpoint_path(cfg)
    if cfg.resume and ckpt.is_file():
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        net.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        step, seconds, losses = int(state["step"]), float(state["seconds"]), state["losses"].tolist()
        log(f"resumed from {ckpt} at step {step}")
    net.train()
    bar = tqdm(total=cfg.steps, initial=step, desc=f"train {cfg.name}", disable=not cfg.progress)
    clock = RunClock(cfg.steps, done=step, seconds_before=seconds, max_minutes=cfg.max_minutes)
    first, stop_reason = step, None

    def say(line: str) -> None:
        with tqdm.external_write_mode():  # the line above the bar, not through it
            log(line)

    def progress_line() -> str:
        recent = losses[-LOG_EVERY:]
        return f"step {step}/{cfg.steps}: loss {sum(recent) / len(recent):.4f}  ({clock.status(step)})"

    while step < cfg.steps:
        loss = diffusion_loss(net, schedule, _batch(cfg, examples, generator, frontend), generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            for e, p in zip(ema.parameters(), net.parameters(), strict=True):
                e.lerp_(p, 1.0 - cfg.ema)
        losses.append(loss.item())
        step += 1
        bar.update()
        if step % LOG_EVERY == 0:
            bar.set_postfix(loss=f"{sum(losses[-LOG_EVERY:]) / LOG_EVERY:.4f}")
            say(progress_line())
        if step < cfg.steps and clock.out_of_time():
            stop_reason = clock.stop_reason(f"at step {step}/{cfg.steps}")
        if step % cfg.save_every == 0 or step == cfg.steps or stop_reason is not None:
            # a stopped run's checkpoint too, so running again resumes from exactly here
            _save_checkpoint(ckpt, net, ema, optimizer, generator, step, clock.elapsed(), losses)
        if stop_reason is not None:
            break
    if step > first and step % LOG_EVERY != 0:
        say(progress_line())
    if stop_reason is not None:
        say(f"stopped early: {stop_reason}; saving the EMA weights at step {step} (the checkpoint resumes from it)")
    bar.close()
    seconds = clock.elapsed()
    ema.eval()
    held_out = _in_domain(cfg, valid.waves, frontend)
    if domain == "wave" and cfg.crop < held_out.shape[-1]:  # the middle, at the training length
        start = (held_out.shape[-1] - cfg.crop) // 2
        held_out = held_out[..., start : start + cfg.crop]
    error = denoising_error(ema, schedule, held_out, (1, 2, 3, 10), cfg.seed, device)
    log(f"{cfg.name} {cfg.config}: {step} steps, final loss {sum(losses[-500:]) / max(1, len(losses[-500:])):.4f}, "
        f"one-shot x0 error / noise (valid, t=1,2,3,10): {error}  ({seconds:.0f} s)")
    card = {
        "kind": "denoiser", "name": cfg.name, "config": cfg.config, "domain": domain,
        "n_params": sum(p.numel() for p in net.parameters()),
        "schedule": {"steps": schedule.steps, "beta_start": float(schedule.betas[0]),
                     "beta_end": float(schedule.betas[-1])},
        "dataset": {"name": cfg.data, "params": dataset.spec_params(data_params), "build": dataset.provenance(),
                    "train_hash": train.content_hash(),
                    "valid_hash": valid.content_hash(), "sizes": {"train": len(train), "valid": len(valid)}},
        "training": {"steps": step, "steps_requested": cfg.steps, "max_minutes": cfg.max_minutes,
                     "stopped_early": stop_reason is not None, "stop_reason": stop_reason,
                     "batch_size": cfg.batch_size, "lr": cfg.lr, "ema": cfg.ema, "crop": cfg.crop,
                     **({"augment": {**AUGMENT, "noise_std": (AUGMENT["noise_std"][0], cfg.noise_max)}}
                        if cfg.noise_max > 0 else {}),
                     "seed": cfg.seed, "optimizer": "Adam", "loss_last_500": round(
                         sum(losses[-500:]) / max(1, len(losses[-500:])), 5),
                     "loss_curve": [round(sum(losses[i : i + 500]) / len(losses[i : i + 500]), 5)
                                    for i in range(0, len(losses), 500)],
                     "seconds": round(seconds, 1), "device": str(device), "threads": torch.get_num_threads()},
        "valid_x0_error_over_noise": error,
        "command": cfg.command, "code": code_version(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return save_weights(ema, Path(cfg.out) / f"{cfg.name}-{cfg.config}.safetensors", card)


def _save_checkpoint(path: Path, net: nn.Module, ema: nn.Module, optimizer: torch.optim.Optimizer,
                     generator: torch.Generator, step: int, seconds: float, losses: list[float]) -> None:
    buffer = io.BytesIO()
    torch.save({"model": net.state_dict(), "ema": ema.state_dict(), "optimizer": optimizer.state_dict(),
                "generator": generator.get_state(), "step": step, "seconds": seconds,
                "losses": torch.tensor(losses, dtype=torch.float32)}, buffer)
    atomic_write_bytes(path, buffer.getvalue())

