"""``bench report``: records → the paper's artefacts, Table 4, sanity checks, findings, and generic tables.

- ``collect`` reads records (``bench.results.scan_records``) and ``scores`` scores any protocol from them;
- ``artefacts`` matches each grid cell to its records by configuration id, ``layout`` lays out the paper's tables,
  ``figures`` draws Figs. 2–3, ``timing`` lays out `bench perf` records (Table 4);
- ``tables`` writes the generic tables of every record, ``configs`` says which records may be averaged;
- ``checks`` holds the sanity checks, the papers (``bench.papers``) their findings;
- ``write`` puts it all in one folder with an ``index.md``.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:  # ``from bench.report import write_report`` without importing it eagerly
    if name == "write_report":
        from bench.report.write import write_report

        return write_report
    raise AttributeError(name)
