"""``bench train``: train the models a run needs, writing weights and a JSON card."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import torch
import typer
from typer.core import TyperCommand, TyperGroup

from bench.cli._common import one_line_errors
from bench.data.base import scrbench_home
from bench.errors import BadParameter
from bench.params import parse_assignments

DOMAIN_WORDS = {"wave": "waveform", "mel": "mel-spectrogram"}
MAX_MINUTES_HELP = ("Stop once training has run this many minutes (checked at every {unit}); {keeps}, and the "
                    "card records stopped_early. Default: no limit.")


def denoiser_command(name: str) -> TyperCommand:
    """``bench train <name>`` for a registered denoiser: its flags default to its registered
    ``TrainingDefaults``, its help names its domain."""
    from defenses.diffusion.denoisers import denoiser_domain, training_defaults

    d, domain = training_defaults(name), denoiser_domain(name)
    one = typer.Typer(add_completion=False)

    @one.command(name, help=f"Train the {DOMAIN_WORDS[domain]} diffusion model ({name}): ε-prediction MSE, uniform "
                            "t; resumable; writes EMA weights and a card.")
    @one_line_errors
    def command(
        config: Annotated[str, typer.Option(help="slim or paper.")] = "slim",
        data: Annotated[str, typer.Option(help="Dataset plugin to train on (its train split).")] = "synth-digits",
        steps: Annotated[int, typer.Option(help="Optimiser steps in all (a resumed run continues to this).")] = d.steps,
        batch_size: Annotated[int, typer.Option()] = d.batch_size,
        lr: Annotated[float, typer.Option(help="Adam learning rate.")] = d.lr,
        ema: Annotated[float, typer.Option(help="EMA decay of the saved weights.")] = d.ema,
        crop: Annotated[int, typer.Option(help="Waveform samples per example (wave-domain denoisers).")] = d.crop,
        seed: Annotated[int, typer.Option()] = 0,
        noise_max: Annotated[float, typer.Option(min=0.0,
            help="If > 0, augment each batch as `bench train victim` does (gain, shift, Gaussian noise of std up "
                 "to this) before the mel transform: a noise floor like real recordings'.")] = d.noise_max,
        save_every: Annotated[int, typer.Option(help="Steps between resumable checkpoints.")] = 1000,
        resume: Annotated[bool, typer.Option(help="Continue from OUT/<name>-<config>.ckpt.pt if present.")] = True,
        out: Annotated[Path | None, typer.Option(help="Folder for weights, card and checkpoint "
                                                          "(default: $SCRBENCH_HOME/weights).")] = None,
        device: Annotated[str, typer.Option()] = "auto",
        threads: Annotated[int | None, typer.Option(help="CPU threads (default: torch's).")] = None,
        option: Annotated[list[str] | None, typer.Option("-o", "--option", help="data.key=value.")] = None,
        progress: Annotated[bool, typer.Option()] = True,
        max_minutes: Annotated[float | None, typer.Option(help=MAX_MINUTES_HELP.format(
            unit="step", keeps="saves the EMA weights and a resumable checkpoint at that step"))] = None,
    ) -> None:
        from bench.train.denoiser import DenoiserTraining, train_denoiser

        data_options = {}
        for key, value in parse_assignments(option or []):
            section, dot, rest = key.partition(".")
            if section != "data" or not dot:
                raise BadParameter(f"-o {key}: only data.key=value options apply here")
            data_options[rest] = value
        command_line = (f"bench train {name} --config {config} --data {data} --steps {steps} --batch-size {batch_size} "
                        f"--lr {lr} --ema {ema} --crop {crop} --seed {seed}"
                        + (f" --noise-max {noise_max}" if noise_max > 0 else "")
                        + (f" --threads {threads}" if threads else "")
                        + (f" --max-minutes {max_minutes:g}" if max_minutes is not None else "")
                        + "".join(f" -o {o}" for o in option or []))
        if threads:
            torch.set_num_threads(threads)
        path = train_denoiser(DenoiserTraining(
            name=name, config=config, data=data, data_options=data_options, steps=steps, batch_size=batch_size,
            lr=lr, ema=ema, crop=crop, seed=seed, noise_max=noise_max, save_every=save_every, resume=resume,
            out=out or scrbench_home() / "weights", device=device, progress=progress, command=command_line,
            max_minutes=max_minutes))
        typer.echo(f"wrote {path} and {path.with_suffix('.json')}")

    return typer.main.get_command(one)


class TrainCommands(TyperGroup):
    """``bench train``: ``victim`` plus one subcommand per registered denoiser that declares its domain,
    generated when asked for (so a denoiser registered by a plugin, or by a test, gets its command)."""

    def list_commands(self, ctx: Any) -> list[str]:
        from defenses.diffusion.denoisers import trainable_denoisers

        fixed = super().list_commands(ctx)
        return [*fixed, *(n for n in trainable_denoisers() if n not in fixed)]

    def get_command(self, ctx: Any, name: str) -> Any:
        from defenses.diffusion.denoisers import trainable_denoisers

        command = super().get_command(ctx, name)
        if command is None and name in trainable_denoisers():
            command = denoiser_command(name)
        return command


app = typer.Typer(help="Train models.", no_args_is_help=True, cls=TrainCommands)


@app.command("victim")
@one_line_errors
def victim_command(
    arch: Annotated[str, typer.Option(help="Victim plugin, e.g. resnext29.")] = "resnext29",
    config: Annotated[str, typer.Option(help="Architecture configuration (slim or paper).")] = "slim",
    data: Annotated[str, typer.Option(help="Dataset plugin to train on.")] = "synth-digits",
    epochs: Annotated[int, typer.Option()] = 30,
    batch_size: Annotated[int, typer.Option()] = 64,
    lr: Annotated[float, typer.Option(help="Peak learning rate of the one-cycle schedule.")] = 0.05,
    weight_decay: Annotated[float, typer.Option()] = 5e-4,
    seed: Annotated[int, typer.Option(help="Initialisation, data order and augmentation seed.")] = 0,
    noise_min: Annotated[float, typer.Option(help="Smallest std of the Gaussian noise augmentation.")] = 1e-3,
    noise_max: Annotated[float, typer.Option(help="Largest std of the Gaussian noise augmentation.")] = 0.25,
    noise_p: Annotated[float, typer.Option(help="Probability that an example gets noise.")] = 0.5,
    threads: Annotated[int | None, typer.Option(help="CPU threads (results are bit-reproducible for a fixed "
                                                       "thread count; default: torch's).")] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for <arch>-<config>.safetensors and its card "
                                                     "(default: $SCRBENCH_HOME/weights).")] = None,
    device: Annotated[str, typer.Option()] = "auto",
    option: Annotated[list[str] | None, typer.Option("-o", "--option", help=(
        "data.key=value for the dataset, key=value for the architecture."))] = None,
    progress: Annotated[bool, typer.Option()] = True,
    max_minutes: Annotated[float | None, typer.Option(help=MAX_MINUTES_HELP.format(
        unit="batch", keeps="validates the partial epoch and keeps the best epoch so far"))] = None,
) -> None:
    """Train a victim classifier on the evaluation features; report held-out-voice test accuracy."""
    from bench.train.victim import VictimTraining, train_victim

    arch_options: dict[str, str] = {"config": config}
    data_options: dict[str, str] = {}
    for key, value in parse_assignments(option or []):
        section, dot, name = key.partition(".")
        (data_options if dot and section == "data" else arch_options)[name if dot else key] = value
    out = out or scrbench_home() / "weights"
    command = (f"bench train victim --arch {arch} --config {config} --data {data} --epochs {epochs} "
               f"--batch-size {batch_size} --lr {lr} --weight-decay {weight_decay} --seed {seed} "
               f"--noise-min {noise_min} --noise-max {noise_max} --noise-p {noise_p}"
               + (f" --threads {threads}" if threads else "")
               + (f" --max-minutes {max_minutes:g}" if max_minutes is not None else "")
               + "".join(f" -o {o}" for o in option or []))
    if threads:
        torch.set_num_threads(threads)
    path = train_victim(VictimTraining(
        arch=arch, arch_options=arch_options, data=data, data_options=data_options, epochs=epochs,
        batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed, noise_min=noise_min, noise_max=noise_max,
        noise_p=noise_p, out=out,
        device=device, progress=progress, command=command, max_minutes=max_minutes))
    typer.echo(f"wrote {path} and {path.with_suffix('.json')}")
