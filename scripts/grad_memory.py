"""Peak memory per clip of one PGD step through a diffusion defense under each gradient mode (issue 15).

One step = forward through the defended model (the victim's frontend and classifier around the defense, as
``bench run`` builds it), cross-entropy, backward to the input, a signed step. Each (defense, mode) runs in a
fresh subprocess so process peaks never mix; it reports

- saved: bytes of the tensors autograd saves for backward during the forward (``saved_tensors_hooks``;
  deterministic, a tensor saved twice counts twice), per clip;
- RSS step: the rise of the process's peak resident set during the step over its peak before it, per clip
  (glibc's mmap threshold is fixed in the subprocess, so freed activations go back to the system and the
  peak follows live memory instead of the allocator's heap growth);
- RSS peak: the process's peak resident set (Python, torch, models and the step), whole process;
- CUDA: ``torch.cuda.max_memory_allocated`` during the step, per clip, when the device is a GPU.

``--config slim`` uses the shipped slim networks; ``--config paper`` random-weight paper-size ones (DiffWave
36×256, ResNeXt-29 8×64d: memory does not depend on the weights), so it needs no download.

    python scripts/grad_memory.py --config slim --batch 4
    python scripts/grad_memory.py --config paper --batch 1 --defenses ddpm --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's bench and defenses, not an installed copy
MIB = 2.0 ** 20


def _rss_peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def build(defense: str, grad: str, config: str, victim: str, device: torch.device) -> torch.nn.Module:
    """The defended model as ``bench run`` builds it; ``paper``: the same modules, paper-size, random weights."""
    from bench.model import DefendedModel
    from bench.registry import REGISTRY
    from bench.victim_loader import build_classifier, load_victim, victim_frontend

    purifier, _ = REGISTRY.create("defense", defense, {"grad": grad})
    if config == "slim":
        loaded = load_victim(victim, {}, device)
        classifier, frontend = loaded.classifier, loaded.frontend
    else:
        name = purifier.denoiser.name
        purifier.net = REGISTRY.get("denoiser", name).factory(config=config).eval().requires_grad_(False)
        classifier, _ = build_classifier(victim, {"config": config})
        frontend = victim_frontend(victim)
    return DefendedModel(classifier, purifier, frontend).to(device)


def measure_one(defense: str, grad: str, config: str, victim: str, batch: int, device: torch.device) -> dict:
    """One PGD step's memory (this process must be fresh for the RSS figures to mean anything)."""
    from bench.perf import SAMPLES
    from bench.registry import REGISTRY

    model = build(defense, grad, config, victim, device)
    pgd, _ = REGISTRY.create("attack", "pgd", {"steps": "1"})  # its default ε and step size
    generator = torch.Generator(device=device).manual_seed(0)
    wave = (0.1 * torch.randn(batch, 1, SAMPLES, generator=generator, device=device)).clamp(-1, 1)
    saved = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        saved += tensor.numel() * tensor.element_size()
        return tensor

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        cuda_before = torch.cuda.memory_allocated(device)
    rss_before = _rss_peak_bytes()
    x = wave.clone().requires_grad_(True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        logits = model(x, generator=generator)
    labels = torch.randint(0, logits.shape[1], (batch,), generator=generator, device=device)
    (grad_x,) = torch.autograd.grad(torch.nn.functional.cross_entropy(logits, labels), x)
    step = (wave + pgd.step_size * grad_x.sign()).clamp(-1, 1)  # an L∞ PGD step, inside ε after one step
    rss_step = _rss_peak_bytes() - rss_before
    out: dict[str, Any] = {"defense": defense, "grad": grad, "config": config, "batch": batch,
                           "saved_per_clip": saved / batch, "rss_step_per_clip": rss_step / batch,
                           "rss_peak": _rss_peak_bytes(), "finite": bool(torch.isfinite(step).all())}
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        out["cuda_per_clip"] = (torch.cuda.max_memory_allocated(device) - cuda_before) / batch
    return out


def table(rows: list[dict]) -> str:
    """A Markdown table of the measurements, MiB (per clip unless the column says process)."""
    cuda = any("cuda_per_clip" in r for r in rows)
    head = ["defense", "grad", "config", "batch", "saved MiB/clip", "RSS step MiB/clip", "RSS peak MiB (process)"]
    head += ["CUDA peak MiB/clip"] if cuda else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["defense"], r["grad"], r["config"], str(r["batch"]), f"{r['saved_per_clip'] / MIB:,.1f}",
                 f"{r['rss_step_per_clip'] / MIB:,.1f}", f"{r['rss_peak'] / MIB:,.0f}"]
        cells += [f"{r.get('cuda_per_clip', float('nan')) / MIB:,.1f}"] if cuda else []
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--defenses", default="audiopure,ddpm", help="comma-separated diffusion defenses")
    parser.add_argument("--modes", default="exact,checkpoint", help="comma-separated gradient modes")
    parser.add_argument("--config", choices=("slim", "paper"), default="slim")
    parser.add_argument("--victim", default="resnext29")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads in each measurement")
    parser.add_argument("--one", action="store_true", help="measure one defense and mode here (internal)")
    args = parser.parse_args(argv)
    if args.batch < 1:
        parser.error("--batch must be at least 1")
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    if args.one:
        torch.set_num_threads(args.threads)
        print(json.dumps(measure_one(args.defenses, args.modes, args.config, args.victim, args.batch, device)))
        return 0
    rows = []
    for defense in args.defenses.split(","):
        for mode in args.modes.split(","):
            command = [sys.executable, str(Path(__file__).resolve()), "--one", "--defenses", defense, "--modes", mode,
                       "--config", args.config, "--victim", args.victim, "--batch", str(args.batch),
                       "--device", str(device), "--threads", str(args.threads)]
            env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": os.environ.get("MALLOC_MMAP_THRESHOLD_", str(128 * 1024))}
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
            if done.returncode != 0:
                print(f"error: {defense} grad={mode} failed: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
                return 1
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"  {defense} grad={mode}: done", file=sys.stderr)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
