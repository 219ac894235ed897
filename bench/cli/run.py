"""``bench run``: one defense × one attack × one victim × one dataset, over seeds."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from bench.cli._common import one_line_errors
from bench.params import parse_assignments
from bench.runner import RunConfig, run, summarize


class NormChoice(str, Enum):
    linf = "linf"
    l2 = "l2"


@one_line_errors
def run_command(
    defense: Annotated[str, typer.Option(help="Defense plugin (see `bench list defenses`).")] = "none",
    attack: Annotated[str, typer.Option(help="Attack plugin (see `bench list attacks`).")] = "pgd",
    victim: Annotated[str, typer.Option(help="Victim plugin (see `bench list victims`).")] = "resnext29",
    data: Annotated[str, typer.Option(help="Dataset plugin (see `bench list datasets`).")] = "synth-digits",
    norm: Annotated[NormChoice | None, typer.Option(help="Attack norm (default: the attack's, linf).")] = None,
    eps: Annotated[float | None, typer.Option(help="Budget (default: 0.002 L∞, 0.253 L2).")] = None,
    steps: Annotated[int | None, typer.Option(help="Attack iterations (default: the attack's).")] = None,
    eot: Annotated[int | None, typer.Option(help="Average each gradient over this many random draws.")] = None,
    n: Annotated[int, typer.Option(help="Clips in the evaluation subset (correct for the victim, balanced).")] = 100,
    seeds: Annotated[int, typer.Option(help="Number of seeds (cells): 0, 1, ..., SEEDS-1.")] = 5,
    subset_seed: Annotated[int, typer.Option(help="Seed that picks the evaluation subset.")] = 0,
    batch_size: Annotated[int, typer.Option(help="Clips per batch (part of the cell: it shapes the draws).")] = 100,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    results: Annotated[Path, typer.Option(help="Folder for the cell records.")] = Path("results/runs"),
    option: Annotated[list[str] | None, typer.Option("-o", "--option", help=(
        "Plugin parameter key=value, e.g. -o t_w=3 or -o defense.t_w=3 (sections: defense, attack, victim, "
        "data); repeatable."))] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Measure clean and robust accuracy of a defended victim; one result record per seed."""
    if seeds < 1:
        raise typer.BadParameter("--seeds must be at least 1")
    config = RunConfig(
        defense=defense, attack=attack, victim=victim, data=data,
        options=parse_assignments(option or []),
        attack_options={"norm": norm.value if norm else None, "eps": eps, "steps": steps, "eot": eot},
        n=n, seeds=list(range(seeds)), subset_seed=subset_seed, batch_size=batch_size, device=device,
        results=results, progress=progress,
    )
    cells = run(config, log=tqdm.write)
    stats = summarize(cells)
    spec = cells[0].record["spec"]
    typer.echo(f"{cells[0].record['labels']['defense']} × {cells[0].record['labels']['attack']}: "
               f"{len(cells)} seed(s), protocol {spec['protocol']}, gradient {spec['gradient_mode']}, "
               f"n={spec['data']['subset']['n']}  (mean ± std over seeds, %)")
    for key, name in (("clean_acc_victim", "clean (victim)"), ("clean_acc", "clean (defended)"),
                      ("robust_acc", "robust")):
        mean, std = stats[key]
        typer.echo(f"  {name:<17}{mean:7.2f} ± {std:.2f}")
    typer.echo(f"records: {config.results}/")
