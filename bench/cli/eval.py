"""``bench eval``: clean accuracy of the victim (and of a defended model) on a whole split, per class, with the
confusion matrix, printed and written."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bench.cli._common import one_line_errors
from bench.eval import FILES, EvalConfig, evaluate_split, markdown
from bench.params import parse_assignments
from bench.spec import check_counts


@one_line_errors
def eval_command(
    victim: Annotated[str, typer.Option(help="Victim plugin (see `bench list victims`).")] = "resnext29",
    data: Annotated[str, typer.Option(help="Dataset plugin (see `bench list datasets`).")] = "synth-digits",
    split: Annotated[str, typer.Option(help="Split to evaluate, every clip of it.")] = "test",
    defense: Annotated[str | None, typer.Option(
        help="Also evaluate the victim behind this defense (fresh draws from --seed).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the defended model's draws.")] = 0,
    batch_size: Annotated[int, typer.Option(help="Clips per batch.")] = 100,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    out: Annotated[Path, typer.Option(help="Folder for summary.json and the confusion files.")] = Path("results/eval"),
    option: Annotated[list[str] | None, typer.Option("-o", "--option", help=(
        "Plugin parameter key=value as in `bench run`, e.g. -o t_w=3 or -o victim.weights=PATH; repeatable."))
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show the data build's progress.")] = True,
) -> None:
    """Clean accuracy on a whole split, overall and per class, the confusion matrix (table, CSV, PNG) and
    seconds per thousand clips; also the largest balanced `bench run --n` the victim allows."""
    check_counts({"--batch-size": batch_size})
    config = EvalConfig(victim=victim, data=data, split=split, defense=defense, seed=seed,
                        options=parse_assignments(option or []), batch_size=batch_size, device=device, out=out,
                        progress=progress)
    s = evaluate_split(config, log=typer.echo)
    typer.echo(f"{victim} on {data}/{split}: {len(s['classes'])} classes, {sum(s['class_clips'])} clips "
               f"(split {s['data']['split_hash'][:12]}), device {s['environment'].get('device', device)}")
    for model, r in s["results"].items():
        label = model if model == "victim" else f"{defense} (seed {seed})"
        typer.echo(f"  {label:<22}{r['accuracy']:7.2f} %  ({r['correct']}/{r['clips']})  "
                   f"{r['seconds_per_1000_clips']:.2f} s per 1000 clips ({r['dtype']})")
    typer.echo(f"  largest balanced `bench run --n`: {s['largest_balanced_n']} "
               f"({len(s['classes'])} × {min(s['victim_correct_per_class'])}, the fewest correct clips of a class)")
    typer.echo("")
    typer.echo(markdown(s), nl=False)
    typer.echo(f"\nfiles: {out}/{{{', '.join(FILES)}}}")
