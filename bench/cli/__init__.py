"""The ``bench`` command: one Typer sub-module per verb, composed here."""

from __future__ import annotations

import typer

from bench.cli import convert, data, eval, listing, migrate, perf, report, run, train
from bench.cli._common import OneLineErrors

app = typer.Typer(
    name="bench",
    help="scrbench: robustness benchmarks for speech command recognition defenses.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=OneLineErrors,  # every bad input, Typer's or ours, is one `error: ...` line
)
app.command("run")(run.run_command)
app.command("eval")(eval.eval_command)
app.command("list")(listing.list_command)
app.command("report")(report.report_command)
app.command("convert")(convert.convert_command)
app.command("perf")(perf.perf_command)
app.command("migrate")(migrate.migrate_command)
app.add_typer(data.app, name="data")
app.add_typer(train.app, name="train")


def main() -> None:
    app()
