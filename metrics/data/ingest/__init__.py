"""`opsbot ingest`: load CSV, compressed CSV and Parquet files into the warehouse.

The contract (docs/data.md is the user's version of it):

* **One transaction per file**: a file goes in whole or not at all. By default any
  rejected row refuses the whole file (nothing from it is written) and the report lists
  every rejected row with its line and reason, also written to a rejects CSV beside the
  input. `partial=True` (`--partial`) loads the valid rows and still reports the rest.
* **Upsert by key**: orders by `order_id`, traffic and marketing_spend by `(day, channel)`,
  order_lines by `(order_id, sku)`, products by `sku`, inventory by `(day, sku, warehouse)`,
  shipments by `order_id`, returns by `(order_id, sku, returned_at)`, through
  `INSERT ... ON CONFLICT DO UPDATE` on a unique index (DuckDB: MERGE). Re-importing the same
  or an overlapping file never duplicates a row; the later file's values win. Two rows with
  the same key inside one file are ambiguous, so the later one is rejected, except order lines:
  lines of one sku in one order are summed into one line.
* Only the columns a file provides are updated on conflict: a file without `status`
  does not reset the status of orders already loaded.
* Tables that do not exist are created, with the indexes metrics/data/load.py builds plus
  the unique index the upsert needs.
* Invoice-line exports (one row per product line, as most shops export them) are
  aggregated into one order per `order_id` with `lines=True` (`--lines`); the
  `uci-retail` preset does that for the UCI Online Retail data set, and fills order_lines
  and products from the same lines in the same transaction.
* After a file commits, its rows are checked against the other tables (`crosscheck`): lines,
  shipments and returns of orders that are not in orders, lines that do not sum to their
  order's amount, SKUs not in products. These are warnings: the rows stay in.

Speed: CSV is parsed by pyarrow's streaming reader into strings, validated with vectorised
pandas operations, and written with `executemany` of plain tuples. A file loaded into an
empty SQLite table is inserted without indexes and the indexes are built once at the end,
inside the same transaction (SQLite DDL is transactional), which is several times faster
than maintaining them row by row.

The modules: `tables` (what each logical table needs), `presets` (known export formats),
`options` (IngestOptions and the plan they resolve to), `report` (the report and the errors),
`reading` (sniffing, decompressing, the batch readers), `validation` (raw values into typed columns),
`duplicates` (keys repeated within a file), `lines` (invoice lines into orders), `target` (the
table written to), `writing` (the upserts), `rejects` (the rejects file), `loading` (one file in
one transaction) and `crosscheck` (the warnings about the other tables). This module holds the entry points, `ingest_files` and `parse_assignments`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from metrics.data.ingest.loading import _ingest_file
from metrics.data.ingest.options import IngestOptions, _plan
from metrics.data.ingest.presets import PRESETS, Preset
from metrics.data.ingest.report import FileError, FileReport, IngestReport, IngestSetupError, Reject
from metrics.data.ingest.target import _engine, _open_error, _prepare_target
from metrics.data.ingest.validation import _check_constants
from metrics.data.schema import Mapping

__all__ = [
    "PRESETS",
    "FileError",
    "FileReport",
    "IngestOptions",
    "IngestReport",
    "IngestSetupError",
    "Preset",
    "Reject",
    "ingest_files",
    "parse_assignments",
]


def ingest_files(
    settings: Any,
    table: str,
    files: Sequence[str | Path],
    *,
    progress: bool | None = None,
    options: IngestOptions | None = None,
    now: datetime | None = None,
) -> IngestReport:
    """Import files into the logical `table` of the configured warehouse, one transaction per file.

    `settings` is a bot.config.Settings. `progress` None draws a progress bar only when
    stderr is a terminal. Raises IngestSetupError when nothing can be imported at all;
    problems of single files are in the report.
    """
    options = options or IngestOptions()
    if settings.is_demo:
        raise IngestSetupError(
            "no [warehouse] url is configured: importing would write into the demo shop, which "
            "`opsbot demo` rebuilds. Put [warehouse] url = \"sqlite:///shop.db\" in a config file and pass --config."
        )
    mapping: Mapping = settings.mapping()
    plan = _plan(table, options, mapping)
    _check_constants(plan)
    if progress is None:
        progress = sys.stderr.isatty()
    now = now or datetime.now(plan.target_zone).replace(tzinfo=None)
    url = settings.warehouse_url()
    engine = _engine(url)
    try:
        target = _prepare_target(engine, mapping, table)
        companions = {name: _prepare_target(engine, mapping, name) for name in plan.companions}
        also = "".join(f", {t.table.name}" for t in companions.values())
        report = IngestReport(
            table=table, target=f"{make_url(url).render_as_string(hide_password=True)} table {target.table.name}"
                                f"{also}")
        for f in files:
            report.files.append(_ingest_file(engine, target, plan, Path(f), progress, now, mapping, companions))
        return report
    except SQLAlchemyError as exc:
        raise IngestSetupError(_open_error(engine, exc)) from exc
    finally:
        engine.dispose()


def parse_assignments(pairs: Sequence[str], option: str) -> dict[str, str]:
    """`["ordered_at=InvoiceDate", ...]` -> {"ordered_at": "InvoiceDate"}; for --map and --set."""
    out: dict[str, str] = {}
    what = "header" if option == "--map" else "value"
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise IngestSetupError(f"{option} {pair!r}: expected <logical column>=<{what}>")
        out[name.strip()] = value.strip()
    return out
