"""``bench convert``: published checkpoints → safe state dicts our plugins load."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from bench.cli._common import one_line_errors
from bench.data.base import scrbench_home


class Kind(str, Enum):
    victim = "victim"
    denoiser = "denoiser"


@one_line_errors
def convert_command(
    kind: Annotated[Kind, typer.Argument(help="What the checkpoint holds.")],
    name: Annotated[str, typer.Argument(help="Plugin it belongs to: resnext29, vgg19, ..., diffwave, meldiff.")],
    source: Annotated[Path, typer.Argument(help="The published checkpoint (.pkl/.pt/.pth).")],
    config: Annotated[str, typer.Option(help="Configuration it was trained in.")] = "paper",
    out: Annotated[Path | None, typer.Option(help="Folder for <name>-<config>.safetensors and its card "
                                                    "(default: $SCRBENCH_HOME/weights).")] = None,
    trust_pickle: Annotated[bool, typer.Option(help="Allow unpickling a whole saved module (the released "
                                                    "classifiers); this runs code from the file.")] = False,
) -> None:
    """Convert a published checkpoint to a safe state dict: DiffWave's model_state_dict, the U-Net's state dict,
    or (with --trust-pickle) a classifier saved as a whole pickled module."""
    from bench.convert import convert_checkpoint

    if trust_pickle:
        typer.echo(f"warning: unpickling {source} runs code stored in it; continue only if you trust its source",
                   err=True)
    path = convert_checkpoint(kind.value, name, config, source, out or scrbench_home() / "weights", trust_pickle)
    typer.echo(f"wrote {path} and {path.with_suffix('.json')}; use it with -o weights={path}")
