"""Wall-clock time of our ``pgd`` attack against ART's ``ProjectedGradientDescentPyTorch`` (issue: speed).

ART is the Adversarial Robustness Toolbox (Nicolae et al. 2018, arXiv:1807.01069;
github.com/Trusted-AI/adversarial-robustness-toolbox). Both attacks run on the same defended model and the
same evaluation clips, built once per defense exactly as ``bench run`` builds them (``bench.runner.Run``:
the default victim, data and subset), and are the same attack: L∞, the same ε, step size and steps, no
random start, cross-entropy. ART's runs through our ``art`` plugin (``attacks.art_evasion``): its update
loop, batching and numpy round trips are ART's, and its ``loss_gradient`` is our one-draw autograd
cross-entropy (as in ``tests/test_attacks_art.py``), so the timings compare the attack machinery on one gradient.

The runs alternate ours, ART, ours, ART ... ``--repeats`` times each, after one untimed warm-up of each on two
clips, so that machine noise falls on both alike; only the attack is timed. Each attack's final examples
are checked against the budget and classified once; on a randomized defense every clip gets one draw from
a generator with the same seed for both attacks. The exit status is 1 when the robust accuracies differ by
more than 2 points, 2 on bad input.

    python scripts/art_benchmark.py --defense none,dualpure --n 100 --steps 10 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's bench, attacks and defenses, not an installed copy

from attacks.art_evasion import ARTAttack  # noqa: E402
from attacks.base import Attack, check_budget, enforce_budget  # noqa: E402
from bench.errors import BenchError  # noqa: E402
from bench.evaluate import correct  # noqa: E402
from bench.runner import Run  # noqa: E402
from bench.seeding import make_generator  # noqa: E402
from bench.spec import RunConfig  # noqa: E402

AGREE_POINTS = 2.0
WARMUP_CLIPS = 2


@dataclass
class Row:
    defense: str
    clips: int
    steps: int
    ours: list[float]
    art: list[float]
    robust_ours: float
    robust_art: float
    randomized: bool

    @property
    def ratio(self) -> float:
        return statistics.median(self.art) / statistics.median(self.ours)

    @property
    def ratio_of_mins(self) -> float:
        # on a shared machine the least disturbed run of each is often the steadier comparison
        return min(self.art) / min(self.ours)

    @property
    def agree(self) -> bool:
        return abs(self.robust_ours - self.robust_art) <= AGREE_POINTS


def attack_all(attack: Attack, model: Callable[..., Tensor], x: Tensor, y: Tensor, seed: int, batch_size: int,
               device: torch.device) -> tuple[Tensor, float]:
    """The attack over every batch, each batch's generator derived from (seed, batch) as ``bench run`` does;
    the adversarial examples and the seconds the attack took."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda _=None: None)
    out = []
    sync(device)
    started = time.perf_counter()
    for b, i in enumerate(range(0, len(x), batch_size)):
        generator = make_generator(seed, "attack", b, device=device)
        out.append(attack.perturb(model, x[i : i + batch_size], y[i : i + batch_size], generator).detach())
    sync(device)
    return torch.cat(out), time.perf_counter() - started


def robust_accuracy(run: Run, attack: Attack, x_adv: Tensor, x: Tensor, y: Tensor, seed: int, batch_size: int) -> float:
    """Budget-checked (raises ``BudgetViolation``), then classified once: the same seeded draw stream for both
    attacks' examples, so on a randomized defense clip i sees the same purifier noise under both."""
    enforce_budget(check_budget(x_adv, x, attack.eps, attack.norm), attack.label())
    flags = correct(run.model, x_adv, y, batch_size, run.device, make_generator(seed, "eval-adv", device=run.device))
    return 100.0 * flags.float().mean().item()


def measure(defense: str, n: int, steps: int, repeats: int, batch_size: int, device: str, seed: int,
            options: list[tuple[str, str]], log: Callable[[str], None]) -> Row:
    with tempfile.TemporaryDirectory() as results:  # Run probes a results folder; nothing is recorded
        config = RunConfig(defense=defense, attack="pgd", n=n, attack_options={"steps": steps}, options=options,
                           batch_size=batch_size, device=device, results=Path(results), progress=False, seeds=[seed])
        run = Run(config, log)
    ours = run.attack
    art = ARTAttack(name="ProjectedGradientDescentPyTorch", norm=ours.norm, eps=ours.eps, steps=ours.steps,
                    step_size=ours.step_size, random_start=False)
    x, y = run.clips.waves.to(run.device), run.clips.labels.to(run.device)
    log(f"{defense}: {len(x)} clips, {ours.label()} vs {art.label()}, step {ours.step_size:g}, device {run.device}")
    for attack in (ours, art):  # lazy imports, allocator growth and first-call costs stay out of the timings
        attack_all(attack, run.model, x[:WARMUP_CLIPS], y[:WARMUP_CLIPS], seed, batch_size, run.device)
    times: dict[str, list[float]] = {"ours": [], "art": []}
    final: dict[str, Tensor] = {}
    for r in range(repeats):
        for key, attack in (("ours", ours), ("art", art)):
            final[key], seconds = attack_all(attack, run.model, x, y, seed, batch_size, run.device)
            times[key].append(seconds)
            log(f"  repeat {r + 1}/{repeats} {key}: {seconds:.2f} s")
    return Row(defense, len(x), ours.steps, times["ours"], times["art"],
               robust_accuracy(run, ours, final["ours"], x, y, seed, batch_size),
               robust_accuracy(run, art, final["art"], x, y, seed, batch_size), bool(run.model.stochastic))


def table(rows: list[Row]) -> str:
    """A Markdown table: seconds as median (min) over the repeats, ratios of medians and of mins, robust
    accuracies (%)."""
    head = ["defense", "clips", "steps", "ours s", "ART s", "ART/ours", "ART/ours (min)", "robust ours %",
            "robust ART %",
            f"agree (±{AGREE_POINTS:g})"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r.defense, str(r.clips), str(r.steps),
                 f"{statistics.median(r.ours):.2f} (min {min(r.ours):.2f})",
                 f"{statistics.median(r.art):.2f} (min {min(r.art):.2f})", f"{r.ratio:.2f}", f"{r.ratio_of_mins:.2f}",
                 f"{r.robust_ours:.1f}", f"{r.robust_art:.1f}", "yes" if r.agree else "NO"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _option(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r} is not key=value")
    return key, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--defense", default="none,dualpure", help="comma-separated defenses")
    parser.add_argument("--n", type=int, default=100, help="evaluation clips (bench run's subset)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each attack, alternating")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0, help="attack and evaluation seed")
    parser.add_argument("-o", "--option", type=_option, action="append", default=[],
                        help="plugin parameter as bench run's -o, e.g. data.voices=2")
    args = parser.parse_args(argv)
    if args.repeats < 1 or (args.threads is not None and args.threads < 1):
        parser.error("--repeats and --threads must be at least 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    import art

    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731 - progress apart from the table
    try:
        rows = [measure(d.strip(), args.n, args.steps, args.repeats, args.batch_size, args.device, args.seed,
                        args.option, log) for d in args.defense.split(",") if d.strip()]
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"PGD (ours) vs ART {art.__version__} ProjectedGradientDescentPyTorch; torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU thread(s), seed {args.seed}; seconds: median (min) of {args.repeats}; "
          "ART/ours: ratio of medians, and of mins")
    print(table(rows))
    if any(r.randomized for r in rows):
        print("randomized defenses: each final example classified with one draw per clip, from a generator of "
              "the same seed for both attacks")
    bad = [r.defense for r in rows if not r.agree]
    if bad:
        print(f"robust accuracies differ by more than {AGREE_POINTS:g} points on: {', '.join(bad)}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
