"""How to read the files: IngestOptions (one field per CLI option), the plan they resolve to
against the preset and the mapping, and the matching of a file's headers to logical columns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from metrics.data.ingest.presets import PRESETS, Preset
from metrics.data.ingest.report import FileError, IngestSetupError
from metrics.data.ingest.tables import KEYS, LINE_COLUMNS, NULLABLE_KEYS, REQUIRED
from metrics.data.schema import LOGICAL_TABLES, Mapping


@dataclass(frozen=True)
class IngestOptions:
    """How to read the files. Every field has a CLI option of the same meaning."""

    columns: dict[str, str] = field(default_factory=dict)  # logical column -> header in the file (--map)
    constants: dict[str, str] = field(default_factory=dict)  # logical column -> value for every row (--set)
    preset: str | None = None
    lines: bool = False  # rows are order lines: aggregate into one order per order_id
    date_format: str | None = None  # strptime format; default ISO 8601
    # how naive timestamps in the file are meant: business-local or UTC; None: as [warehouse] timestamps
    timestamps: Literal["local", "utc"] | None = None
    encoding: str = "utf-8"
    delimiter: str = ","
    partial: bool = False  # load the valid rows of a file that has rejects
    rejects_dir: Path | None = None  # where rejects files go; default beside each input
    chunk_rows: int = 200_000  # rows per batch for Parquet and the exact CSV reader
    block_bytes: int = 16 << 20  # bytes per batch for the fast CSV reader (about 200,000 rows)


@dataclass(frozen=True)
class _Plan:
    table: str
    columns: dict[str, str]  # logical -> header, as given (headers matched per file)
    constants: dict[str, str]
    lines: bool
    preset: Preset | None
    date_format: str | None
    source_zone: ZoneInfo  # zone of naive timestamps in the files
    target_zone: ZoneInfo  # zone of the naive timestamps stored in the warehouse
    statuses: dict[str, tuple[str, ...]]
    logical: tuple[str, ...]  # logical columns of the table, extra dimensions included
    options: IngestOptions
    # lines mode with a preset that also fills order_lines and products: the line-level columns it reads
    line_extras: tuple[str, ...] = ()

    @property
    def companions(self) -> tuple[str, ...]:
        """The other tables this import fills from the same file (the preset's order lines and products)."""
        return self.preset.companions if self.preset is not None and self.lines else ()

    @property
    def placed(self) -> str:
        return self.statuses["placed"][0] if self.statuses["placed"] else "placed"

    @property
    def cancelled(self) -> str:
        return self.statuses["cancelled"][0] if self.statuses["cancelled"] else "cancelled"


def _plan(table: str, options: IngestOptions, mapping: Mapping) -> _Plan:
    if table not in LOGICAL_TABLES:
        raise IngestSetupError(f"unknown table {table!r} (expected one of {', '.join(LOGICAL_TABLES)})")
    preset = None
    if options.preset is not None:
        preset = PRESETS.get(options.preset)
        if preset is None:
            raise IngestSetupError(f"unknown preset {options.preset!r} (known: {', '.join(PRESETS)})")
        if table != "orders":
            also = f" (with their {' and '.join(preset.companions)})" if preset.companions else ""
            raise IngestSetupError(f"preset {preset.name!r} imports orders{also}, not {table}: "
                                   f"run opsbot ingest orders --preset {preset.name} FILE")
    lines = options.lines or bool(preset and preset.lines)
    if lines and table != "orders":
        raise IngestSetupError("--lines aggregates order lines into orders: it applies to the orders table only")
    logical = LOGICAL_TABLES[table] + (tuple(d for d in mapping.extra_dimensions if d not in LOGICAL_TABLES[table])
                                       if table == "orders" else ())
    line_extras = tuple(preset.line_columns) if preset and lines and preset.companions else ()
    allowed = logical + (LINE_COLUMNS if lines else ()) + line_extras
    # the preset's choices first, the user's options over them
    columns = {**(preset.columns if preset else {}), **(preset.line_columns if line_extras else {}),
               **options.columns}
    constants = {**(preset.constants if preset else {}), **options.constants}
    for given in (options.columns, options.constants):
        for name in given:
            if name not in allowed:
                hint = " (quantity and unit_price need --lines)" if name in LINE_COLUMNS else ""
                raise IngestSetupError(f"unknown column {name!r} for {table}{hint}; expected one of {', '.join(allowed)}")
    for name in set(options.columns) & set(options.constants):
        raise IngestSetupError(f"column {name!r} is given both by --map and by --set")
    for name in set(constants) & set(options.columns):
        constants.pop(name)  # the user's --map wins over the preset's constant
    for name in set(columns) & set(options.constants):
        columns.pop(name)
    for key in KEYS[table]:
        # ids identify a row: one value for every row would make them all one row
        if key in constants and key in ("order_id", "sku") and key not in NULLABLE_KEYS.get(table, ()):
            raise IngestSetupError(f"{key} is the key of {table}: it must come from the file, not --set")
    if lines and "amount" in constants:
        raise IngestSetupError("in --lines mode the amount is computed from the lines: do not --set it")
    zone = ZoneInfo(mapping.timezone)
    utc = ZoneInfo("UTC")
    file_ts = options.timestamps or mapping.timestamps
    return _Plan(
        table=table, columns=columns, constants=constants, lines=lines, preset=preset,
        date_format=options.date_format,
        source_zone=utc if file_ts == "utc" else zone,
        target_zone=utc if mapping.timestamps == "utc" else zone,
        statuses={k: tuple(v) for k, v in mapping.statuses.items()},
        logical=logical, options=options, line_extras=line_extras,
    )


def _match_headers(plan: _Plan, header: Sequence[str]) -> dict[str, str]:
    """logical column -> the file's header for it: --map first, else the same name (any case)."""
    by_lower: dict[str, list[str]] = {}
    for h in header:
        by_lower.setdefault(h.lower(), []).append(h)
    found: dict[str, str] = {}
    missing: list[str] = []
    wanted = plan.logical + (LINE_COLUMNS if plan.lines else ()) + plan.line_extras
    for logical in wanted:
        if logical in plan.constants:
            continue
        if logical in plan.columns:
            name = plan.columns[logical]
            if name in header:
                found[logical] = name
            elif len(by_lower.get(name.lower(), [])) == 1:
                found[logical] = by_lower[name.lower()][0]
            else:
                missing.append(f"{logical} (mapped to {name!r})")
            continue
        if logical in header:
            found[logical] = logical
        elif len(by_lower.get(logical, [])) == 1:
            found[logical] = by_lower[logical][0]
    required = list(REQUIRED[plan.table])
    if plan.lines:
        # the amount of an order comes from its lines: quantity x unit price, or a line amount
        required = [c for c in required if c != "amount"]
        if "amount" not in found:
            required += [c for c in LINE_COLUMNS if c not in plan.constants]
        required += [c for c in plan.line_extras if c == "sku"]  # the preset's lines are by sku
    if plan.table == "order_lines" and not {"line_amount", "unit_price"} & (set(found) | set(plan.constants)):
        # a line's amount: as given, or its unit price x quantity
        missing.append("line_amount or unit_price")
    missing += [c for c in required if c not in found and c not in plan.constants and not any(
        m.startswith(c + " ") for m in missing)]
    if missing:
        shown = ", ".join(repr(h) for h in header[:30]) + (" ..." if len(header) > 30 else "")
        raise FileError(
            f"missing column(s): {', '.join(missing)}; the file's columns are {shown}. "
            f"Map a column with --map <logical>=<header>"
        )
    return found
