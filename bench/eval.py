"""``bench eval`` without the CLI: clean accuracy of the victim (and of a defended model) on a whole split.

Per model: overall and per-class accuracy, the confusion matrix (rows: true class, columns: predicted) and
the wall seconds per thousand clips, written as ``summary.json``, ``confusion.md``, ``confusion.csv`` and
``confusion.png``. The bare victim runs in float64, as the subset selection of ``bench run`` does, so the
largest balanced ``--n`` reported here is exactly the one ``bench run`` accepts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from bench.data.subset import correct_per_class, largest_balanced_n
from bench.environment import environment, resolve_device
from bench.errors import BadParameter
from bench.io import atomic_write_bytes, atomic_write_json, atomic_write_text, check_writable_folder
from bench.model import DefendedModel
from bench.params import jsonable
from bench.registry import REGISTRY
from bench.seeding import make_generator
from bench.spec import RunConfig, plan
from bench.victim_loader import load_victim

FILES = ("summary.json", "confusion.md", "confusion.csv", "confusion.png")


@dataclass
class EvalConfig:
    """One ``bench eval``; ``defense`` None: the bare victim only."""

    victim: str = "resnext29"
    data: str = "synth-digits"
    split: str = "test"
    defense: str | None = None
    seed: int = 0  # the defended model's fresh draws come from a generator derived from it
    options: list[tuple[str, str]] = field(default_factory=list)
    batch_size: int = 100
    device: str = "auto"
    out: Path = Path("results/eval")
    progress: bool = True


def predict(model: Callable[..., Tensor], waves: Tensor, batch_size: int, device: torch.device,
            generator: torch.Generator | None = None) -> tuple[Tensor, float]:
    """Arg-max predictions (CPU, int64) of ``model`` on ``waves`` in batches, and the wall seconds they took."""
    started, preds = time.perf_counter(), []
    with torch.no_grad():
        for i in range(0, len(waves), batch_size):
            x = waves[i : i + batch_size].to(device)
            preds.append((model(x, generator=generator) if generator is not None else model(x)).argmax(1).cpu())
    if device.type == "cuda":  # kernels run asynchronously: the clock must wait for them
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - started
    return (torch.cat(preds) if preds else torch.zeros(0, dtype=torch.long)), seconds


def confusion_matrix(labels: Tensor, preds: Tensor, num_classes: int) -> Tensor:
    """(C, C) counts: row = true class, column = predicted class."""
    return torch.bincount(labels * num_classes + preds, minlength=num_classes**2).view(num_classes, num_classes)


def scores(labels: Tensor, preds: Tensor, classes: tuple[str, ...], seconds: float, dtype: str) -> dict[str, Any]:
    """Accuracy overall and per class, the confusion matrix and the time (at ``dtype``), as a JSON-ready dict."""
    matrix = confusion_matrix(labels, preds, len(classes))
    per_class = matrix.diag().double() / matrix.sum(1).clamp(min=1).double()
    right = int(matrix.diag().sum())
    return {"accuracy": round(100.0 * right / max(len(labels), 1), 4), "correct": right, "clips": len(labels),
            "per_class": {c: round(100.0 * float(a), 4) for c, a in zip(classes, per_class, strict=True)},
            "confusion": matrix.tolist(), "seconds": round(seconds, 4), "dtype": dtype,
            "seconds_per_1000_clips": round(1000.0 * seconds / max(len(labels), 1), 4)}


def evaluate_split(config: EvalConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Evaluate, write the files of ``FILES`` into ``config.out`` and return the summary."""
    planned = plan(RunConfig(defense=config.defense or "none", victim=config.victim, data=config.data,
                             split=config.split, options=config.options, n=None, seeds=[config.seed],
                             batch_size=config.batch_size, device=config.device, progress=config.progress))
    if planned.routed["attack"]:  # plan routes every -o; an attack's parameter has no meaning here
        raise BadParameter(f"-o {next(iter(planned.routed['attack']))}: bench eval runs no attack; drop it")
    planned.dataset.check_split(config.split)  # before any data is built or loaded
    device = resolve_device(config.device)
    check_writable_folder(config.out, "--out")
    dataset = planned.dataset
    dataset.prepare(progress=config.progress)
    if (reason := dataset.not_reference()) is not None:
        log(f"warning: {reason}")
    victim = load_victim(config.victim, planned.routed["victim"], device)
    classes = tuple(dataset.classes)
    victim.check_classes(classes, config.data)
    clips = dataset.load(config.split)
    # float64, as bench run's subset selection: the same flags, so the same largest balanced --n
    preds, seconds = predict(victim.float64(device), clips.waves, config.batch_size, device)
    results = {"victim": scores(clips.labels, preds, classes, seconds, "float64")}
    counts = correct_per_class(clips.labels, preds == clips.labels, len(classes))
    defense_info: dict[str, Any] | None = None
    if config.defense is not None:
        defense, params = REGISTRY.create("defense", config.defense, planned.routed["defense"])
        model = DefendedModel(victim.classifier, defense, victim.frontend).to(device)
        generator = make_generator(config.seed, "eval-split", device=device)  # fresh draws, seeded
        preds, seconds = predict(model, clips.waves, config.batch_size, device, generator)
        results["defended"] = scores(clips.labels, preds, classes, seconds, "float32")
        defense_info = {"name": config.defense, "params": jsonable(params), "seed": config.seed,
                        "stochastic": bool(getattr(model, "stochastic", True))}
    summary = {
        "victim": {"name": config.victim, "params": planned.spec["victim"]["params"],
                   "weights_sha256": victim.weights_sha256},
        "defense": defense_info,
        "data": {"name": config.data, "params": planned.spec["data"]["params"], "split": config.split,
                 "split_hash": clips.content_hash(), "provenance": dataset.provenance(),
                 "not_reference": dataset.not_reference()},
        "classes": list(classes), "class_clips": torch.bincount(clips.labels, minlength=len(classes)).tolist(),
        "victim_correct_per_class": counts, "largest_balanced_n": largest_balanced_n(counts),
        "batch_size": config.batch_size, "results": results, "environment": environment(device),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_outputs(summary, config.out)
    return summary


def markdown(summary: dict[str, Any]) -> str:
    """Per-class accuracy and each model's confusion matrix as markdown tables."""
    classes, results = summary["classes"], summary["results"]
    lines = ["| class | clips | " + " | ".join(f"{m} %" for m in results) + " |",
             "|---|---:|" + "---:|" * len(results)]
    for c, name in enumerate(classes):
        cells = " | ".join(f"{r['per_class'][name]:.2f}" for r in results.values())
        lines.append(f"| {name} | {summary['class_clips'][c]} | {cells} |")
    cells = " | ".join(f"**{r['accuracy']:.2f}**" for r in results.values())
    lines.append(f"| **all** | {sum(summary['class_clips'])} | {cells} |")
    for model, r in results.items():
        lines += ["", f"Confusion ({model}; rows: true class, columns: predicted)", "",
                  "| true \\ predicted | " + " | ".join(classes) + " |", "|---|" + "---:|" * len(classes)]
        lines += [f"| {name} | " + " | ".join(map(str, row)) + " |"
                  for name, row in zip(classes, r["confusion"], strict=True)]
    return "\n".join(lines) + "\n"


def csv_text(summary: dict[str, Any]) -> str:
    """One row per model and true class: the predicted counts, one column per class."""
    rows = ["model,true," + ",".join(summary["classes"])]
    for model, r in summary["results"].items():
        rows += [f"{model},{name}," + ",".join(map(str, row))
                 for name, row in zip(summary["classes"], r["confusion"], strict=True)]
    return "\n".join(rows) + "\n"


def png_bytes(summary: dict[str, Any]) -> bytes:
    """The confusion matrices side by side, counts written in the cells (Agg canvas, no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from bench.report.format import figure_bytes

    classes, results = summary["classes"], summary["results"]
    fig = Figure(figsize=(5.5 * len(results), 5))
    FigureCanvasAgg(fig)
    for k, (model, r) in enumerate(results.items()):
        ax = fig.add_subplot(1, len(results), k + 1)
        matrix = torch.tensor(r["confusion"], dtype=torch.float64)
        ax.imshow(matrix.numpy(), cmap="Blues")
        for (i, j), v in zip(torch.cartesian_prod(torch.arange(len(classes)), torch.arange(len(classes))).tolist(),
                             matrix.flatten().tolist(), strict=True):
            ax.text(j, i, f"{int(v)}", ha="center", va="center", fontsize=7,
                    color="white" if v > matrix.max().item() / 2 else "black")
        ax.set_xticks(range(len(classes)), classes, rotation=45, fontsize=8)
        ax.set_yticks(range(len(classes)), classes, fontsize=8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{model}: {r['accuracy']:.2f} %")
    fig.tight_layout()
    return figure_bytes(fig)


def write_outputs(summary: dict[str, Any], out: Path) -> None:
    """Write ``FILES`` atomically (the summary last: its presence means the others are complete)."""
    atomic_write_text(out / "confusion.md", markdown(summary))
    atomic_write_text(out / "confusion.csv", csv_text(summary))
    atomic_write_bytes(out / "confusion.png", png_bytes(summary))
    atomic_write_json(out / "summary.json", summary)
