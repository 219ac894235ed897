"""``bench run``: one defense × one attack × one victim × one dataset over seeds, or a whole grid (``--grid``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from bench.cli._common import int_list, one_line_errors
from bench.errors import BadParameter
from bench.params import parse_assignments
from bench.protocols import ANY_ITER, ANY_ITER_NOTE, protocol_order
from bench.queries import cost_text
from bench.runner import run, summarize
from bench.spec import RunConfig, check_counts


@one_line_errors
def run_command(
    defense: Annotated[str | None, typer.Option(help="Defense plugin (see `bench list defenses`). [default: none]")] = None,
    attack: Annotated[str | None, typer.Option(help="Attack plugin (see `bench list attacks`). [default: pgd]")] = None,
    victim: Annotated[str | None, typer.Option(help="Victim plugin (see `bench list victims`). [default: resnext29]")] = None,
    data: Annotated[str | None, typer.Option(help="Dataset plugin (see `bench list datasets`). [default: synth-digits]")] = None,
    norm: Annotated[str | None, typer.Option(
        help="Attack norm: linf, l2 or any registered norm (`bench list norms`). [default: the attack's, linf]")] = None,
    eps: Annotated[float | None, typer.Option(help="Budget (default: 0.002 L∞, 0.253 L2).")] = None,
    eps_db: Annotated[float | None, typer.Option(
        help="Budget relative to each clip's peak, in dB (pgd, L∞): max|δ| ≤ max|x|·10^(D/20), e.g. -40.")] = None,
    steps: Annotated[int | None, typer.Option(help="Attack iterations (default: the attack's).")] = None,
    eot: Annotated[int | None, typer.Option(help="Average each gradient over this many random draws.")] = None,
    surrogate: Annotated[str | None, typer.Option(
        help="Victim the transfer attacks craft on (mifgsm, tsmifgsm).")] = None,
    score_at: Annotated[str | None, typer.Option(
        help="Also score the iterate at these steps, e.g. 10,30,50,70 with --steps 100: PGD-k from one "
             "trajectory (attacks whose step size does not depend on the step count).")] = None,
    n: Annotated[int | None, typer.Option(
        help="Clips in the evaluation subset (correct for the victim, balanced). [default: 100; grid: its profile]")] = None,
    seeds: Annotated[int | None, typer.Option(
        help="Number of seeds (cells): 0, 1, ..., SEEDS-1. [default: 5; grid: its profile]")] = None,
    subset_seed: Annotated[int | None, typer.Option(help="Seed that picks the evaluation subset. [default: 0]")] = None,
    batch_size: Annotated[int | None, typer.Option(
        help="Clips per batch (part of the cell: it shapes the draws). [default: 100]")] = None,
    draws: Annotated[int | None, typer.Option(
        help="Fresh-randomness predictions stored per final example (any protocol is scored from them; a "
             "deterministic defense is drawn once). [default: 10]")] = None,
    vote: Annotated[int | None, typer.Option(
        help="Draws in the summary's majority vote (vote@M; default: --draws; not part of the cell).")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda or cuda:N. [default: auto]")] = None,
    results: Annotated[Path, typer.Option(help="Folder for the cell records.")] = Path("results/runs"),
    option: Annotated[list[str] | None, typer.Option("-o", "--option", help=(
        "Plugin parameter key=value, e.g. -o t_w=3 or -o defense.t_w=3 (sections: defense, attack, victim, "
        "data); repeatable. With --grid: applied to every cell whose plugins have the parameter."))] = None,
    grid: Annotated[str | None, typer.Option(
        help="Run a whole experiment grid: a name (table1, table2, table3, fig2a, fig2b, fig3a, fig3b) or a "
             ".toml path.")] = None,
    profile: Annotated[str, typer.Option(
        help="Grid profile: quick (slim models), headline (the reference's headline cells, 100 clips × 3 seeds; "
             "table1, table3, fig2a, fig2b, adaptive) or paper.")] = "quick",
    executor: Annotated[str, typer.Option(help="Grid executor: local (processes) or ray.")] = "local",
    workers: Annotated[int, typer.Option(help="Grid cells run at once (local processes, or Ray CPUs).")] = 1,
    threads: Annotated[int | None, typer.Option(
        help="Torch threads per grid cell (default: local cores / workers; ray: 1).")] = None,
    address: Annotated[str | None, typer.Option(help="Ray cluster to join (default: start a local one).")] = None,
    gpus_per_cell: Annotated[float | None, typer.Option(
        help="Ray GPUs per cell (fractions pack cells; default: 1 where the cluster has GPUs).")] = None,
    dry_run: Annotated[bool, typer.Option(help="With --grid: list the cells, run nothing.")] = False,
    check: Annotated[bool, typer.Option(
        "--check", help="With --grid: say which cells' records --results already holds and the ids of the others "
                        "(sets each configuration up, as a run would, to compute its cell ids); run nothing; exit "
                        "status 1 if any is missing.")] = False,
    compile: Annotated[bool, typer.Option(
        "--compile", help="Run the defended model's networks under torch.compile (same numbers within float "
                          "tolerance; recorded in the environment, not in the cell id; grids: -o compile=true)."
    )] = False,
    dtype: Annotated[str, typer.Option(
        help="Purifiers' precision: float32 or bf16 (autocast; changes the numbers, so the cell id). "
             "Grids: -o dtype=bf16.")] = "float32",
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Measure clean and robust accuracy of a defended victim; one result record per seed (cell)."""
    options = parse_assignments(option or [])
    options += [("compile", "true")] if compile else []
    options += [("dtype", dtype)] if dtype != "float32" else []
    check_counts({"--n": n, "--seeds": seeds})
    if grid is not None:
        single = {"--defense": defense, "--attack": attack, "--victim": victim, "--data": data, "--norm": norm,
                  "--eps": eps, "--eps-db": eps_db, "--steps": steps, "--eot": eot, "--surrogate": surrogate,
                  "--score-at": score_at,
                  "--subset-seed": subset_seed, "--batch-size": batch_size, "--draws": draws, "--vote": vote}
        given = [flag for flag, value in single.items() if value is not None]
        if given:
            raise BadParameter(f"{given[0]} does not apply with --grid: each run of the grid sets it (edit the grid "
                               "file, or pass -o key=value for every cell)")
        from bench.cli.grid import run_grid

        run_grid(grid, profile, results, options, n, seeds, device, executor, workers, threads, address,
                 gpus_per_cell, dry_run, progress, check)
        return
    if executor != "local" or workers != 1 or dry_run or check or address or gpus_per_cell is not None:
        raise BadParameter("--executor, --workers, --address, --gpus-per-cell, --dry-run and --check apply to "
                           "--grid runs")
    given = {"defense": defense, "attack": attack, "victim": victim, "data": data, "n": n, "subset_seed": subset_seed,
             "batch_size": batch_size, "draws": draws, "vote": vote, "device": device,
             "seeds": None if seeds is None else list(range(seeds))}
    config = RunConfig(  # what is not given keeps RunConfig's default, the one place defaults live
        **{k: v for k, v in given.items() if v is not None}, options=options,
        attack_options={"norm": norm, "eps": eps, "steps": steps, "eot": eot,
                        "surrogate": surrogate, "eps_db": eps_db},
        results=results, progress=progress, score_at=int_list(score_at, "--score-at", "step counts", "10,30,50,70"),
    )
    if threads:
        import torch

        torch.set_num_threads(threads)
    cells = run(config, log=tqdm.write)
    stats = summarize(cells)
    spec = cells[0].record["spec"]
    record = cells[0].record
    typer.echo(f"{record['labels']['defense']} × {record['labels']['attack']}: {len(cells)} seed(s), "
               f"gradient {spec['gradient_mode']}, n={spec['data']['subset']['n']}, {cost_text(record)}  "
               "(mean ± std over seeds, %)")
    levels, snr = record["checks"].get("levels", {}), record["checks"]["snr_db"]
    eps_db = spec["attack"]["params"].get("eps_db")
    budget = (f"{eps_db:g} dB_x (relative to each clip's peak)" if eps_db is not None
              else f"{spec['norm']} ε={spec['eps']:g}")
    if levels.get("peak_median") is not None and snr.get("median") is not None:
        typer.echo(f"  clips: median peak {levels['peak_median']:.3g}, RMS {levels['rms_median']:.3g}; perturbation "
                   f"SNR median {snr['median']:.1f} dB at {budget}")
    rows = [("clean_acc_victim", "clean (victim)"), ("clean_acc", "clean (defended)")]
    rows += [(name, f"robust {name}") for name in sorted(record["protocols"], key=protocol_order)]
    rows += [(f"@{c['step']}", f"robust {c['label']}") for c in record.get("scored_steps", [])]
    width = max(22, *(len(name) + 2 for _, name in rows))
    for key, name in rows:
        mean, std = stats[key]
        note = f"   ({ANY_ITER_NOTE})" if key == ANY_ITER else ""
        typer.echo(f"  {name:<{width}}{mean:7.2f} ± {std:.2f}{note}")
    typer.echo(f"records: {config.results}/")
