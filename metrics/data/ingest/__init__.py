"""`opsbot ingest`: load CSV, compressed CSV and Parquet files into the warehouse.

The contract (docs/data.md is the user's version of it):

* **One transaction per file**: a file goes in whole or not at all. By default any
  rejected row refuses the whole file (nothing from it is written) and the report lists
  every rejected row with its line and reason, also written to a rejects CSV beside the
  input. `partial=True` (`--partial`) loads the valid rows and still reports the rest.
* **Upsert by key**: orders by `order_id`, traffic and marketing_spend by `(day, channel)`,
  through `INSERT ... ON CONFLICT DO UPDATE` on a unique index. Re-importing the same or
  an overlapping file never duplicates a row; the later file's values win. Two rows with
  the same key inside one file are ambiguous, so the later one is rejected.
* Only the columns a file provides are updated on conflict: a file without `status`
  does not reset the status of orders already loaded.
* Tables that do not exist are created, with the indexes metrics/data/load.py builds plus
  the unique index the upsert needs.
* Invoice-line exports (one row per product line, as most shops export them) are
  aggregated into one order per `order_id` with `lines=True` (`--lines`); the
  `uci-retail` preset does that for the UCI Online Retail data set.

Speed: CSV is parsed by pyarrow's streaming reader into strings, validated with vectorised
pandas operations, and written with `executemany` of plain tuples. A file loaded into an
empty SQLite table is inserted without indexes and the indexes are built once at the end,
inside the same transaction (SQLite DDL is transactional), which is several times faster
than maintaining them row by row.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gc
import io
import lzma
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import (
    Column,
    Date,
    Double,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    create_engine,
    event,
    func,
    insert,
    inspect,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy import types as sqltypes
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError

from metrics.data.dialects import Timestamp
from metrics.data.schema import LOGICAL_TABLES, READ_INDEXES, Mapping

# ---- what each logical table needs -------------------------------------------------------

KEYS: dict[str, tuple[str, ...]] = {
    "orders": ("order_id",),
    "traffic": ("day", "channel"),
    "marketing_spend": ("day", "channel"),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "orders": ("order_id", "ordered_at", "amount"),
    "traffic": ("day", "channel", "sessions"),
    "marketing_spend": ("day", "channel", "spend"),
}
# the unique index ON CONFLICT needs, and the read indexes metrics/data/load.py builds for the demo
UNIQUE_INDEX: dict[str, str] = {
    "orders": "ux_orders_order_id",
    "traffic": "ux_traffic_day_channel",
    "marketing_spend": "ux_spend_day_channel",
}
# columns of an invoice-line file that exist only before aggregation (lines mode)
LINE_COLUMNS: tuple[str, ...] = ("quantity", "unit_price")

Kind = Literal["id", "text", "timestamp", "date", "money", "count", "number"]
_KINDS: dict[str, Kind] = {
    "order_id": "id", "customer_id": "id", "ordered_at": "timestamp", "amount": "money",
    "status": "text", "refunded_amount": "money", "channel": "text", "category": "text",
    "region": "text", "day": "date", "sessions": "count", "product_views": "count",
    "add_to_cart": "count", "spend": "money", "quantity": "number", "unit_price": "number",
}
# types of tables ingest creates. Ids are text: real ids have prefixes and leading zeros
# ("SO-0012", "C536379") that an integer column would reject or silently change.
# Money is a double: SQLAlchemy's Float is DuckDB's 4-byte FLOAT, which turns 139.12 into 139.1199951.
_CREATE_TYPES: dict[Kind, Any] = {
    "id": String, "text": String, "timestamp": Timestamp, "date": Date, "money": Double,
    "count": Integer, "number": Double,
}

MAX_REJECTS_KEPT = 1000  # per file, in memory for the report; the rejects file has them all
_SNIFF_BYTES = 64 << 10


# ---- options and presets ----------------------------------------------------------------------


@dataclass(frozen=True)
class Preset:
    """A known export format: its column mapping and the rules that turn its lines into orders."""

    name: str
    description: str
    columns: dict[str, str]
    constants: dict[str, str] = field(default_factory=dict)
    lines: bool = False
    cancel_prefix: str | None = None  # order ids starting with it are cancellations (credit notes)
    skip_prefixes: tuple[str, ...] = ()  # order ids starting with these are not orders at all
    sales_lines_only: bool = False  # amount counts lines with quantity > 0 and unit price > 0 only


PRESETS: dict[str, Preset] = {
    "uci-retail": Preset(
        name="uci-retail",
        description=(
            "UCI Online Retail invoice lines: one order per InvoiceNo, amount = sum of Quantity x UnitPrice "
            "over its sales lines; 'C' invoices are cancellations, 'A' invoices (bad-debt adjustments) and "
            "invoices without a sales line are skipped; CustomerID -> customer_id (empty: guest, kept as null), "
            "Country -> region, channel 'online', category 'unknown'."
        ),
        columns={
            "order_id": "InvoiceNo", "ordered_at": "InvoiceDate", "customer_id": "CustomerID",
            "region": "Country", "quantity": "Quantity", "unit_price": "UnitPrice",
        },
        # the data has no channel or product categories: constants keep breakdowns honest
        constants={"channel": "online", "category": "unknown"},
        lines=True,
        cancel_prefix="C",
        skip_prefixes=("A",),
        sales_lines_only=True,
    ),
}


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


# ---- the report ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reject:
    file: str
    line: int  # CSV: the line in the file (header = 1); Parquet: the 1-based row number
    reason: str


FileStatus = Literal["loaded", "partial", "refused", "failed"]


@dataclass
class FileReport:
    path: Path
    status: FileStatus = "failed"
    rows_read: int = 0  # data rows read (order lines in lines mode), blank lines excluded
    loaded: int = 0  # rows written (orders in lines mode)
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0  # rows whose stored values already matched (re-imports); SQLite only
    rejected: int = 0
    skipped: int = 0  # rows that are not data by the preset's rules (e.g. bad-debt adjustments)
    rejects: list[Reject] = field(default_factory=list)  # the first MAX_REJECTS_KEPT
    rejects_file: Path | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": str(self.path), "status": self.status, "rows_read": self.rows_read,
            "loaded": self.loaded, "inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged,
            "rejected": self.rejected, "skipped": self.skipped,
            "rejects": [{"line": r.line, "reason": r.reason} for r in self.rejects],
            "rejects_file": str(self.rejects_file) if self.rejects_file else None,
            "error": self.error, "notes": list(self.notes), "seconds": round(self.seconds, 3),
        }


@dataclass
class IngestReport:
    table: str
    target: str  # the warehouse URL (password hidden) and physical table
    files: list[FileReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.status == "loaded" for f in self.files)

    @property
    def exit_code(self) -> int:
        """0 every file loaded whole; 1 a file was refused, failed or loaded only in part."""
        return 0 if self.ok else 1

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "target": self.target, "ok": self.ok, "files": [f.to_dict() for f in self.files]}

    def render(self, max_rejects: int = 20) -> str:
        unit = "orders" if self.table == "orders" else "rows"
        out = [f"opsbot ingest {self.table} -> {self.target}"]
        for f in self.files:
            name = f.path.name
            if f.status == "loaded":
                rate = f", {f.rows_per_second:,.0f} rows/s" if f.rows_read >= 10_000 else ""
                read = f" from {f.rows_read:,} lines" if f.rows_read != f.loaded + f.skipped else ""
                out.append(f"  {name}: loaded {f.loaded:,} {unit}{read} ({_split(f)}) in {f.seconds:.1f} s{rate}")
            elif f.status == "partial":
                out.append(f"  {name}: PARTIAL: loaded {f.loaded:,} {unit} ({_split(f)}); "
                           f"{f.rejected:,} of {f.rows_read:,} rows rejected")
            elif f.status == "refused":
                out.append(f"  {name}: REFUSED, nothing loaded: {f.rejected:,} of {f.rows_read:,} rows rejected")
            else:
                out.append(f"  {name}: FAILED, nothing loaded: {f.error}")
            for note in f.notes:
                out.append(f"    note: {note}")
            for r in f.rejects[:max_rejects]:
                where = "row" if f.path.suffix.lower() == ".parquet" else "line"
                out.append(f"    {where} {r.line}: {r.reason}")
            if f.rejected > min(len(f.rejects), max_rejects):
                out.append(f"    ... and {f.rejected - min(len(f.rejects), max_rejects):,} more")
            if f.rejects_file:
                out.append(f"    every rejected row: {f.rejects_file}")
            if f.status == "refused":
                out.append("    fix those rows (or the --map/--date-format options) and import the file again,"
                           " or pass --partial to load the valid rows")
        loaded = sum(f.loaded for f in self.files)
        whole = sum(f.status == "loaded" for f in self.files)
        out.append(f"{whole} of {len(self.files)} file(s) loaded whole; {loaded:,} {unit} written.")
        return "\n".join(out)


def _split(f: FileReport) -> str:
    parts = [f"{f.inserted:,} new", f"{f.updated:,} updated"] + ([f"{f.unchanged:,} unchanged"] if f.unchanged else [])
    return ", ".join(parts)


class IngestSetupError(Exception):
    """Ingest cannot start (unknown table or preset, bad --map, unreachable warehouse): exit 2."""


class FileError(Exception):
    """A file as a whole cannot be read (not CSV, bad encoding, missing columns): nothing from it is loaded."""


# ---- the plan: options resolved against the preset and the mapping --------------------------


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
            raise IngestSetupError(f"preset {preset.name!r} imports orders, not {table}")
    lines = options.lines or bool(preset and preset.lines)
    if lines and table != "orders":
        raise IngestSetupError("--lines aggregates order lines into orders: it applies to the orders table only")
    logical = LOGICAL_TABLES[table] + (tuple(d for d in mapping.extra_dimensions if d not in LOGICAL_TABLES[table])
                                       if table == "orders" else ())
    allowed = logical + (LINE_COLUMNS if lines else ())
    # the preset's choices first, the user's options over them
    columns = {**(preset.columns if preset else {}), **options.columns}
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
        if key in constants and table == "orders":
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
        logical=logical, options=options,
    )


def _match_headers(plan: _Plan, header: Sequence[str]) -> dict[str, str]:
    """logical column -> the file's header for it: --map first, else the same name (any case)."""
    by_lower: dict[str, list[str]] = {}
    for h in header:
        by_lower.setdefault(h.lower(), []).append(h)
    found: dict[str, str] = {}
    missing: list[str] = []
    wanted = plan.logical + (LINE_COLUMNS if plan.lines else ())
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
    missing += [c for c in required if c not in found and c not in plan.constants and not any(
        m.startswith(c + " ") for m in missing)]
    if missing:
        shown = ", ".join(repr(h) for h in header[:30]) + (" ..." if len(header) > 30 else "")
        raise FileError(
            f"missing column(s): {', '.join(missing)}; the file's columns are {shown}. "
            f"Map a column with --map <logical>=<header>"
        )
    return found


# ---- reading files ------------------------------------------------------------------------------


@dataclass
class _Batch:
    frame: pd.DataFrame  # the file's columns, values as read (CSV: str with NaN for empty)
    lines: np.ndarray  # int64 line (CSV) or row (Parquet) number of each row


def _has_line_break(batch: Any) -> bool:
    """Whether any value of an Arrow batch of strings holds a line break (then line numbers need the exact reader).

    Scans each column's character buffer in place with numpy: a few ms per 100 MB,
    where pyarrow's substring kernels cost ~40 ms per column and batch.
    """
    for column in batch.columns:
        data = column.buffers()[2]  # validity, offsets, characters
        if data is None or data.size == 0:
            continue
        raw = np.frombuffer(data, dtype=np.uint8)
        if (raw == 10).any() or (raw == 13).any():
            return True
    return False


class _NeedExactReader(Exception):
    """The fast reader cannot number lines exactly (malformed rows, line breaks inside values)."""


_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PAR1", "parquet"), (b"\x1f\x8b", "gzip"), (b"\xfd7zXZ\x00", "xz"), (b"BZh", "bz2"),
    (b"\x28\xb5\x2f\xfd", "zstd"), (b"PK\x03\x04", "zip"), (b"\xd0\xcf\x11\xe0", "ole"),
)


def _sniff(path: Path) -> str:
    """The file's format from its first bytes (extensions lie; contents do not)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except FileNotFoundError as exc:
        raise FileError("file not found") from exc
    except IsADirectoryError as exc:
        raise FileError("is a directory, not a file") from exc
    except PermissionError as exc:
        raise FileError("permission denied") from exc
    if not head:
        raise FileError("the file is empty (not even a header row)")
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            if kind == "zip":
                raise FileError("a zip archive or an Excel .xlsx workbook: unzip it, or save the sheet as CSV")
            if kind == "ole":
                raise FileError("an Excel .xls workbook (or another binary document): save the sheet as CSV")
            return kind
    return "csv"


def _open_binary(path: Path, kind: str) -> tuple[IO[bytes], IO[bytes]]:
    """(raw file, decompressed stream): the raw one's position drives the progress bar."""
    raw = open(path, "rb")  # noqa: SIM115 - closed by the caller with the stream
    if kind == "gzip":
        import gzip

        return raw, gzip.GzipFile(fileobj=raw)
    if kind == "xz":
        return raw, lzma.LZMAFile(raw)
    if kind == "bz2":
        return raw, bz2.BZ2File(raw)
    if kind == "zstd":
        import pyarrow as pa

        return raw, pa.CompressedInputStream(pa.PythonFile(raw, mode="r"), "zstd")  # type: ignore[return-value]
    return raw, raw


def _first_bad_bytes(path: Path, kind: str, encoding: str) -> tuple[int, int, bytes] | None:
    """(line, byte offset in the decoded stream, the bytes) of the first text that does not decode."""
    raw, stream = _open_binary(path, kind)
    with raw:
        offset, line, carry = 0, 1, b""
        while True:
            block = stream.read(1 << 20)
            data = carry + block
            if not data:
                return None
            try:
                data.decode(encoding)
                carry = b""
                good = len(data)
            except UnicodeDecodeError as exc:
                if block and exc.start >= len(data) - 4 and exc.reason == "unexpected end of data":
                    good = exc.start  # a character cut by the block boundary: decode it with the next block
                    carry = data[good:]
                else:
                    return line + data[: exc.start].count(b"\n"), offset + exc.start, data[exc.start : exc.start + 8]
            line += data[:good].count(b"\n")
            offset += good
            if not block:
                return None


def _encoding_error(path: Path, kind: str, encoding: str) -> FileError:
    bad = _first_bad_bytes(path, kind, encoding)
    if bad is None:
        return FileError(f"cannot decode the file as {encoding}")
    line, offset, data = bad
    hint = ""
    if codecs.lookup(encoding).name == "utf-8":
        try:
            data.decode("cp1252")
            hint = " It looks like Latin-1/Windows-1252 text: import it with --encoding cp1252."
        except UnicodeDecodeError:
            hint = " Pass the file's real encoding with --encoding."
    return FileError(f"not valid {encoding} text: line {line}, byte {offset:,} ({data[:4]!r}).{hint} Nothing was loaded.")


class _Source:
    """One input file: its header and its rows in batches, with exact line numbers."""

    def __init__(self, path: Path, options: IngestOptions) -> None:
        self.path = path
        self.options = options
        self.kind = _sniff(path)
        self.size = path.stat().st_size
        self.blank_lines = 0
        self.structural: list[tuple[int, str, dict[str, str]]] = []  # malformed rows: line, reason, values
        self._raw: IO[bytes] | None = None
        self._rows_done = 0
        if self.kind == "parquet":
            import pyarrow.parquet as pq

            try:
                self._parquet = pq.ParquetFile(path)
            except Exception as exc:  # pyarrow raises several types for a damaged footer
                raise FileError(f"not a readable Parquet file: {exc}") from exc
            self.header = list(self._parquet.schema_arrow.names)
            self.total = max(self._parquet.metadata.num_rows, 1)
        else:
            self.header = self._read_header()
            self.total = max(self.size, 1)
        dupes = sorted({h for h in self.header if self.header.count(h) > 1})
        if dupes:
            raise FileError(f"the header names a column more than once: {', '.join(map(repr, dupes))}")

    def close(self) -> None:
        if self.kind == "parquet":
            self._parquet.close()

    def position(self) -> int:
        """Progress so far, in the unit of `total` (bytes of the file, or Parquet rows)."""
        if self.kind == "parquet":
            return self._rows_done
        try:
            return self._raw.tell() if self._raw is not None and not self._raw.closed else 0
        except (OSError, ValueError):
            return 0

    def _read_header(self) -> list[str]:
        raw, stream = _open_binary(self.path, self.kind)
        with raw:
            try:
                head = stream.read(_SNIFF_BYTES)
            except (OSError, EOFError, lzma.LZMAError) as exc:
                raise FileError(f"cannot decompress the {self.kind} file: {exc}") from exc
        if not head.strip():
            raise FileError("the file is empty (not even a header row)")
        nul = head.find(b"\x00")
        if nul >= 0 and not codecs.lookup(self.options.encoding).name.startswith("utf-16"):
            raise FileError(f"not a CSV file: it holds binary data (a NUL byte at offset {nul:,})")
        first = head.split(b"\n", 1)[0]
        try:
            text_line = first.decode(self.options.encoding).lstrip("\ufeff").rstrip("\r")
        except UnicodeDecodeError as exc:
            raise _encoding_error(self.path, self.kind, self.options.encoding) from exc
        except LookupError as exc:
            raise FileError(f"unknown encoding {self.options.encoding!r}") from exc
        names = next(csv.reader([text_line], delimiter=self.options.delimiter), [])
        names = [n.strip() for n in names]
        if not any(names):
            raise FileError("the first line is empty: a CSV file must start with a header row")
        return names

    def batches(self) -> Iterator[_Batch]:
        if self.kind == "parquet":
            yield from self._parquet_batches()
            return
        try:
            yield from self._arrow_batches()
        except _NeedExactReader:
            raise
        except UnicodeDecodeError as exc:
            raise _encoding_error(self.path, self.kind, self.options.encoding) from exc

    def _parquet_batches(self) -> Iterator[_Batch]:
        row = 0
        for batch in self._parquet.iter_batches(batch_size=self.options.chunk_rows):
            frame = batch.to_pandas()
            yield _Batch(frame, np.arange(row + 1, row + len(frame) + 1, dtype=np.int64))
            row += len(frame)
            self._rows_done = row

    def _arrow_batches(self) -> Iterator[_Batch]:
        """The fast path: pyarrow's streaming CSV reader, every column as a string.

        pyarrow cannot say on which line a malformed row is, and a line break inside a
        quoted value shifts every later line number; both hand over to the exact reader.
        """
        import pyarrow as pa
        import pyarrow.csv as pcsv

        malformed: list[str] = []

        def on_invalid(row: Any) -> str:
            malformed.append(row.text)
            return "error"

        self._raw, stream = _open_binary(self.path, self.kind)
        try:
            # open_csv already parses the first block: it belongs inside the error handling
            reader = pcsv.open_csv(
                stream,
                read_options=pcsv.ReadOptions(
                    column_names=self.header, skip_rows=1, block_size=self.options.block_bytes,
                    encoding=self.options.encoding,
                ),
                # blank lines come through as all-null rows, which keeps the line count exact
                parse_options=pcsv.ParseOptions(
                    delimiter=self.options.delimiter, ignore_empty_lines=False, invalid_row_handler=on_invalid,
                ),
                convert_options=pcsv.ConvertOptions(
                    column_types={h: pa.string() for h in self.header},
                    strings_can_be_null=True, quoted_strings_can_be_null=True, null_values=[""],
                ),
            )
            line = 2  # the header is line 1
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                if _has_line_break(batch):
                    raise _NeedExactReader()
                frame = batch.to_pandas()
                yield _Batch(frame, np.arange(line, line + len(frame), dtype=np.int64))
                line += len(frame)
        except pa.ArrowInvalid as exc:
            if malformed:
                raise _NeedExactReader() from exc
            if "utf8" in str(exc).lower() or "utf-8" in str(exc).lower() or "decode" in str(exc).lower():
                raise _encoding_error(self.path, self.kind, self.options.encoding) from exc
            raise FileError(f"cannot parse the CSV: {exc}") from exc
        except (OSError, EOFError, lzma.LZMAError) as exc:
            raise FileError(f"cannot read the file: {exc}") from exc
        finally:
            self._raw.close()

    def exact_batches(self) -> Iterator[_Batch]:
        """The slow, exact path: the csv module, which knows where every record starts."""
        raw, stream = _open_binary(self.path, self.kind)
        self._raw = raw
        self.structural = []
        n = len(self.header)
        try:
            text_stream = io.TextIOWrapper(stream, encoding=self.options.encoding, newline="")
            reader = csv.reader(text_stream, delimiter=self.options.delimiter)
            next(reader, None)
            end = reader.line_num
            rows: list[list[str]] = []
            lines: list[int] = []
            for record in reader:
                start, end = end + 1, reader.line_num
                if len(record) != n and any(v.strip() for v in record):
                    values = dict(zip(self.header, record, strict=False))
                    self.structural.append((start, f"has {len(record)} fields, the header has {n}", values))
                    continue
                rows.append(record if len(record) == n else [""] * n)
                lines.append(start)
                if len(rows) >= self.options.chunk_rows:
                    yield self._frame(rows, lines)
                    rows, lines = [], []
            if rows:
                yield self._frame(rows, lines)
        except UnicodeDecodeError as exc:
            raise _encoding_error(self.path, self.kind, self.options.encoding) from exc
        except csv.Error as exc:
            raise FileError(f"cannot parse the CSV near line {reader.line_num}: {exc}") from exc
        except (OSError, EOFError, lzma.LZMAError) as exc:
            raise FileError(f"cannot read the file: {exc}") from exc
        finally:
            raw.close()

    def _frame(self, rows: list[list[str]], lines: list[int]) -> _Batch:
        frame = pd.DataFrame(rows, columns=self.header, dtype="str")
        frame = frame.where(frame != "")
        return _Batch(frame, np.asarray(lines, dtype=np.int64))


# ---- turning raw values into typed columns ------------------------------------------------------


class _Problems:
    """Reasons for rejecting rows of one batch, by position."""

    def __init__(self) -> None:
        self.reasons: dict[int, list[str]] = {}

    def add(self, mask: Any, template: str, *values: pd.Series) -> None:
        # Python work only for the flagged rows: a clean batch costs one vectorised test per rule
        for i in np.flatnonzero(np.asarray(mask, dtype=bool)):
            self.reasons.setdefault(int(i), []).append(template.format(*(_show(v.iloc[i]) for v in values)))

    def mask(self, n: int) -> np.ndarray:
        m = np.zeros(n, dtype=bool)
        if self.reasons:
            m[list(self.reasons)] = True
        return m


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if np.isfinite(value) else str(value)
    text_value = str(value)
    return repr(text_value if len(text_value) <= 40 else text_value[:37] + "...")


def _is_text(s: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(s) or s.dtype == object


def _text(s: pd.Series) -> pd.Series:
    """Trimmed text with empty as missing; numbers (from Parquet) become their text."""
    if not _is_text(s):
        if pd.api.types.is_float_dtype(s) and bool(((s % 1) == 0).where(s.notna(), True).all()):
            s = s.astype("Int64")  # 17850.0 -> "17850"
        s = s.astype("str")
    s = s.astype("str").str.strip()
    return s.where(s != "")


def _ids(s: pd.Series) -> pd.Series:
    # "17850.0": an integer id that went through a float column in a spreadsheet or pandas export
    t = _text(s)
    if not t.str.contains(".", regex=False).any():  # the plain test is 10x cheaper than the regex
        return t
    return t.str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True)


def _numbers(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(float values, mask of present values that are not numbers)."""
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        values = s.astype("float64")
        return values, pd.Series(~np.isfinite(values.fillna(0.0)), index=s.index)
    t = _text(s)
    values = _arrow_cast(t, "float64")
    if values is None:  # some value is not a plain number: let pandas find which
        values = pd.to_numeric(t, errors="coerce").astype("float64")
    bad = t.notna() & ~np.isfinite(values.fillna(np.nan))
    return values.where(~bad), bad


def _arrow_cast(t: pd.Series, to: str) -> pd.Series | None:
    """pyarrow's cast of a whole text column (20x pandas' to_numeric), or None if any value fails."""
    import pyarrow as pa

    try:
        return pd.Series(pa.array(t, from_pandas=True).cast(to).to_numpy(zero_copy_only=False), index=t.index)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError):
        return None


_OFFSET = r"(?:[zZ]|[+-]\d\d:?\d\d)$"


def _timestamps(s: pd.Series, plan: _Plan) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(naive datetimes in the warehouse's convention, unparseable mask, clock-change mask).

    Values with an offset (ISO 8601 `+08:00` or `Z`, or a --date-format with %z) are
    exact instants and are converted; naive values are in `plan.source_zone`
    (--timestamps) and shifted only when the warehouse stores another convention.
    """
    none = pd.Series(False, index=s.index)
    if pd.api.types.is_datetime64_any_dtype(s):  # Parquet: typed already
        if getattr(s.dt, "tz", None) is not None:
            return s.dt.tz_convert(plan.target_zone).dt.tz_localize(None).dt.as_unit("us"), none, none
        shifted = _shift(s.dt.as_unit("us"), plan)
        return shifted, none, s.notna() & shifted.isna()
    t = _text(s)
    if plan.date_format:
        has_offset = pd.Series("%z" in plan.date_format or "%Z" in plan.date_format, index=s.index)
        fmt = plan.date_format
    else:
        # "YYYY-MM-DD HH:MM:SS" is 19 characters: shorter values cannot carry an offset
        if (t.str.len() > 19).any():
            has_offset = t.str.contains(_OFFSET, regex=True).fillna(False).astype(bool)
        else:
            has_offset = pd.Series(False, index=t.index)
        fmt = "ISO8601"
    naive = _parse_naive(t.where(~has_offset), fmt)
    shifted = _shift(naive, plan)
    result, failed = shifted, naive.isna()
    if has_offset.any():
        exact = pd.to_datetime(t.where(has_offset), format=fmt, errors="coerce", utc=True)
        exact = exact.dt.tz_convert(plan.target_zone).dt.tz_localize(None).dt.as_unit("us")
        result = shifted.where(~has_offset, exact)
        failed = failed.where(~has_offset, exact.isna())
    return result, t.notna() & failed, naive.notna() & shifted.isna()


_COMMON_LAYOUT = "%Y-%m-%d %H:%M:%S"


def _parse_naive(t: pd.Series, fmt: str) -> pd.Series:
    """Naive datetimes (us); pyarrow's strptime for the common layout first (4x pandas' ISO parser)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if fmt in ("ISO8601", _COMMON_LAYOUT) and t.notna().any():
        fast = pc.strptime(pa.array(t, from_pandas=True), format=_COMMON_LAYOUT, unit="us", error_is_null=True)
        parsed = pd.Series(fast.to_numpy(zero_copy_only=False), index=t.index).astype("datetime64[us]")
        rest = parsed.isna() & t.notna()
        if fmt == "ISO8601" and rest.any():  # dates alone, a "T", fractions: the general parser
            parsed[rest] = pd.to_datetime(t[rest], format="ISO8601", errors="coerce").dt.as_unit("us")
        return parsed
    return pd.to_datetime(t, format=fmt, errors="coerce").dt.as_unit("us")


def _shift(naive: pd.Series, plan: _Plan) -> pd.Series:
    """Naive source-zone times as naive target-zone times (NaT where the clock skipped or repeated)."""
    if plan.source_zone == plan.target_zone or naive.isna().all():
        return naive
    local = naive.dt.tz_localize(plan.source_zone, ambiguous="NaT", nonexistent="NaT")
    return local.dt.tz_convert(plan.target_zone).dt.tz_localize(None)


@dataclass
class _Parsed:
    frame: pd.DataFrame  # logical columns (typed) + "_line"; valid rows only
    rejects: list[tuple[int, str]]  # (line, reason)
    rejected_keys: set[str] = field(default_factory=set)  # lines mode: orders with a rejected line


def _parse(batch: _Batch, plan: _Plan, headers: dict[str, str], int_ids: set[str]) -> tuple[_Parsed, int]:
    """Typed, validated rows of one batch. Returns (parsed, number of blank rows dropped)."""
    raw = batch.frame
    used = list(headers.values())
    blank = raw[used].isna().all(axis=1).to_numpy() if used else np.zeros(len(raw), dtype=bool)
    lines = batch.lines
    if blank.any():
        raw, lines = raw.loc[~blank], lines[~blank]
    raw = raw.reset_index(drop=True)
    n = len(raw)
    problems = _Problems()
    out: dict[str, Any] = {}
    for logical, header in headers.items():
        kind = _KINDS.get(logical, "text")
        col = raw[header]
        if kind in ("id", "text"):
            values = _ids(col) if kind == "id" else _text(col)
            present = values.notna()
            if kind == "id" and logical in int_ids:
                # the existing column is an integer: an id like "C536379" cannot go in
                not_int = values.notna() & ~values.str.fullmatch(r"-?\d{1,18}").fillna(False).astype(bool)
                problems.add(not_int, logical + ": {} is not an integer (the table's column is)", col)
                values = pd.to_numeric(values.where(~not_int), errors="coerce").astype("Int64")
        elif kind in ("timestamp", "date"):
            values, bad, gap = _timestamps(col, plan)
            if plan.date_format:
                expected = f" in the format {plan.date_format!r}"
            else:
                example = "2026-11-25" if kind == "date" else "2026-11-25 14:30:00"
                expected = f" (expected ISO 8601 such as {example}; pass --date-format for other layouts)"
            problems.add(bad, logical + ": {} is not a " + ("date" if kind == "date" else "date/time") + expected, col)
            problems.add(gap, logical + ": {} does not exist or is ambiguous in " + str(plan.source_zone)
                         + " (a daylight-saving change)", col)
            present = values.notna() | bad | gap
            if kind == "date":
                has_time = values.notna() & (values != values.dt.normalize())
                problems.add(has_time, logical + ": {} has a time of day; a day column holds dates", col)
                values = values.dt.normalize()
        else:
            values, bad = _numbers(col)
            present = values.notna() | bad
            problems.add(bad, logical + ": {} is not a number", col)
            if kind in ("money", "count") and not (plan.lines and logical == "amount"):
                problems.add(values < 0, logical + ": negative ({})", values)
            if kind == "count":
                problems.add(values.notna() & (values % 1 != 0), logical + ": {} is not a whole number", values)
        if logical in REQUIRED[plan.table] or logical in KEYS[plan.table] or (plan.lines and logical in LINE_COLUMNS):
            # present: a value after trimming, parseable or not (from the values above: no second pass)
            problems.add(~present, logical + ": missing")
        out[logical] = values
    for logical, value in plan.constants.items():
        if logical in plan.logical or logical in LINE_COLUMNS:
            out[logical] = _constant(logical, value, n, plan)
    frame = pd.DataFrame(out, index=raw.index)
    frame["_line"] = lines
    if plan.table == "orders" and not plan.lines and "refunded_amount" in frame and "amount" in frame:
        over = frame["refunded_amount"] > frame["amount"] + 1e-9
        problems.add(over, "refunded_amount {} is more than amount {}", frame["refunded_amount"], frame["amount"])
    bad_mask = problems.mask(n)
    rejects = [(int(lines[i]), "; ".join(problems.reasons[i])) for i in sorted(problems.reasons)]
    rejected_keys: set[str] = set()
    if plan.lines and bad_mask.any() and "order_id" in frame:
        rejected_keys = {str(k) for k in frame.loc[bad_mask, "order_id"].dropna().unique()}
    return _Parsed(frame.loc[~bad_mask].reset_index(drop=True), rejects, rejected_keys), int(blank.sum())


def _constant(logical: str, value: str, n: int, plan: _Plan) -> pd.Series:
    kind = _KINDS.get(logical, "text")
    s = pd.Series([value] * n, dtype="str")
    if kind in ("id", "text"):
        return s
    if kind in ("timestamp", "date"):
        values, bad, _gap = _timestamps(s, plan)
        if n and bool(bad.iloc[0]):
            raise IngestSetupError(f"--set {logical}={value!r}: not a date")
        return values
    values, bad = _numbers(s)
    if n and bool(bad.iloc[0]):
        raise IngestSetupError(f"--set {logical}={value!r}: not a number")
    return values


def _check_constants(plan: _Plan) -> None:
    """Fail before reading any file when a --set value cannot be used."""
    for logical, value in plan.constants.items():
        _constant(logical, value, 1, plan)
        kind = _KINDS.get(logical, "text")
        if kind in ("money", "count") and float(value) < 0:
            raise IngestSetupError(f"--set {logical}={value!r}: negative")


# ---- duplicate keys within a file -----------------------------------------------------------------


class _SeenKeys:
    """Keys already seen in the current file, as sorted 64-bit codes with their line numbers.

    A code per key instead of the keys themselves keeps a 10-million-row file's
    bookkeeping at 160 MB instead of gigabytes of Python strings. The code of a
    canonical integer id ("1042") is the integer itself, exact; any other key is
    hashed, and two different keys sharing a 64-bit hash (odds about n^2/2^65) would
    be reported as a duplicate.
    """

    def __init__(self) -> None:
        self.codes = np.empty(0, dtype=np.uint64)
        self.lines = np.empty(0, dtype=np.int64)

    def earlier_lines(self, keys: pd.DataFrame, lines: np.ndarray) -> np.ndarray:
        """For each row, the line of an earlier row with the same key, or 0; then remember the new keys."""
        if not len(keys):
            return np.zeros(0, dtype=np.int64)
        codes = _key_codes(keys)
        # one sort of the batch serves the probes (in order: few cache misses) and the merge below
        order = np.argsort(codes, kind="stable")
        sorted_codes, sorted_lines = codes[order], lines[order]
        earlier_sorted = np.zeros(len(codes), dtype=np.int64)
        if len(self.codes):
            pos = np.minimum(np.searchsorted(self.codes, sorted_codes), len(self.codes) - 1)
            hit = self.codes[pos] == sorted_codes
            earlier_sorted[hit] = self.lines[pos[hit]]
        # within the batch: equal codes are adjacent, the first of a run has the lowest line (stable sort)
        repeat = np.zeros(len(codes), dtype=bool)
        repeat[1:] = sorted_codes[1:] == sorted_codes[:-1]
        if repeat.any():
            run_start = np.maximum.accumulate(np.where(repeat, 0, np.arange(len(codes))))
            inside = repeat & (earlier_sorted == 0)
            earlier_sorted[inside] = sorted_lines[run_start[inside]]
        new = earlier_sorted == 0
        new_codes, new_lines = sorted_codes[new], sorted_lines[new]
        if not len(self.codes) or (len(new_codes) and new_codes[0] > self.codes[-1]):
            # keys ascending through the file (the usual export): the new run goes after the old one
            self.codes = np.concatenate([self.codes, new_codes])
            self.lines = np.concatenate([self.lines, new_lines])
        else:
            # new codes are distinct and absent from the old run: insert each at its sorted place
            at = np.searchsorted(self.codes, new_codes)
            self.codes, self.lines = np.insert(self.codes, at, new_codes), np.insert(self.lines, at, new_lines)
        earlier = np.empty(len(codes), dtype=np.int64)
        earlier[order] = earlier_sorted
        return earlier


_CANONICAL_INT = r"^(0|-?[1-9][0-9]{0,17})$"  # no leading zeros: "0012" and "12" are different ids


def _key_codes(keys: pd.DataFrame) -> np.ndarray:
    """A 64-bit code per key row: canonical integer ids as themselves, anything else hashed."""
    codes = pd.util.hash_pandas_object(keys, index=False, categorize=False).to_numpy(dtype=np.uint64) \
        if keys.shape[1] > 1 else None
    if codes is not None:
        return codes
    col = keys.iloc[:, 0]
    if pd.api.types.is_integer_dtype(col) and not col.isna().any():
        return col.to_numpy(dtype=np.int64).view(np.uint64)
    if not _is_text(col):
        return pd.util.hash_pandas_object(keys, index=False, categorize=False).to_numpy(dtype=np.uint64)
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(col, from_pandas=True)
    is_int = pc.fill_null(pc.match_substring_regex(arr, _CANONICAL_INT), False).to_numpy(zero_copy_only=False)
    if is_int.all():
        return pc.cast(arr, pa.int64()).to_numpy(zero_copy_only=False).view(np.uint64)
    codes = pd.util.hash_pandas_object(keys, index=False, categorize=False).to_numpy(dtype=np.uint64, copy=True)
    if is_int.any():
        ints = pc.cast(pc.filter(arr, pa.array(is_int)), pa.int64()).to_numpy(zero_copy_only=False)
        codes[is_int] = ints.view(np.uint64)
    return codes


# ---- invoice lines -> orders --------------------------------------------------------------------------


class _LineAggregator:
    """Sums order lines into orders across batches (an order's lines may straddle batches)."""

    def __init__(self, plan: _Plan) -> None:
        self.plan = plan
        self.parts: list[pd.DataFrame] = []
        self.rejected_keys: set[str] = set()

    def add(self, lines: pd.DataFrame) -> None:
        preset = self.plan.preset
        if "amount" in lines:
            value = lines["amount"]
            counted = pd.Series(True, index=lines.index)
        else:
            value = lines["quantity"] * lines["unit_price"]
            counted = pd.Series(True, index=lines.index)
        if preset and preset.sales_lines_only:
            # a sale line sells something at a price; credit notes are counted whole below
            cancel = (lines["order_id"].str.startswith(preset.cancel_prefix) if preset.cancel_prefix
                      else pd.Series(False, index=lines.index))
            counted = cancel | ((lines["quantity"] > 0) & (lines["unit_price"] > 0))
        work = lines.drop(columns=[c for c in ("amount", "quantity", "unit_price") if c in lines])
        work["amount"] = value.where(counted, 0.0)
        work["_counted"] = counted.astype("int64")
        self.parts.append(self._group(work))

    @staticmethod
    def _group(work: pd.DataFrame) -> pd.DataFrame:
        agg: dict[str, Any] = {"amount": "sum", "_counted": "sum", "_line": "min"}
        if "ordered_at" in work:
            agg["ordered_at"] = "min"  # an invoice's lines can be stamped a minute apart
        for col in work.columns:
            agg.setdefault(col, "first")  # first non-null value: customer, region, status ...
        agg.pop("order_id")
        return work.groupby("order_id", sort=False).agg(agg)

    def orders(self) -> tuple[pd.DataFrame, list[tuple[int, str]], int, list[str]]:
        """(orders, order-level rejects as (line, reason), skipped count, notes)."""
        plan, preset = self.plan, self.plan.preset
        notes: list[str] = []
        if not self.parts:
            return pd.DataFrame(columns=["order_id", "_line"]), [], 0, notes
        parts = pd.concat(self.parts)
        orders = self._group(parts.reset_index()).reset_index() if len(self.parts) > 1 else parts.reset_index()
        if self.rejected_keys:
            drop = orders["order_id"].isin(self.rejected_keys)
            notes.append(f"{int(drop.sum()):,} order(s) left out because one of their lines was rejected")
            orders = orders.loc[~drop]
        skipped = 0
        if preset is not None:
            ids = orders["order_id"].astype("str")
            skip = pd.Series(False, index=orders.index)
            for prefix in preset.skip_prefixes:
                hit = ids.str.startswith(prefix)
                if hit.any():
                    notes.append(f"{int(hit.sum()):,} invoice(s) starting with {prefix!r} skipped "
                                 "(adjustments, not orders)")
                skip |= hit
            cancel = ids.str.startswith(preset.cancel_prefix) if preset.cancel_prefix else skip & False
            if preset.sales_lines_only:
                empty = ~skip & ~cancel & (orders["_counted"] == 0)
                if empty.any():
                    notes.append(f"{int(empty.sum()):,} invoice(s) without a sales line skipped "
                                 "(zero prices, stock adjustments)")
                skip |= empty
            skipped = int(skip.sum())
            orders = orders.loc[~skip].copy()
            cancel = cancel.loc[orders.index]
            # a credit note's lines are negative; its amount is the value it cancels
            orders.loc[cancel, "amount"] = -orders.loc[cancel, "amount"]
            if preset.cancel_prefix:
                status = orders["status"] if "status" in orders else pd.Series(np.nan, index=orders.index, dtype="str")
                orders["status"] = status.where(~cancel, plan.cancelled).fillna(plan.placed)
        # sums of quantity x price carry float noise (22.200000000000003); no currency has 6 decimals
        orders["amount"] = orders["amount"].round(6)
        rejects: list[tuple[int, str]] = []
        negative = orders["amount"] < 0
        if negative.any():
            for _, row in orders.loc[negative].iterrows():
                rejects.append((int(row["_line"]), f"order {row['order_id']}: its lines sum to a negative amount "
                                                   f"({row['amount']:,.2f})"))
            orders = orders.loc[~negative]
        return orders.drop(columns=["_counted"]).reset_index(drop=True), rejects, skipped, notes


# ---- the target table ------------------------------------------------------------------------------


@dataclass
class _Target:
    logical: str
    table: Table  # columns keyed by logical name
    existing: set[str]  # logical columns the physical table has
    int_ids: set[str]  # id columns that are integers in the existing table
    aware: bool  # the timestamp column stores time zones (PostgreSQL timestamptz)
    created: bool


def _engine(url: str) -> Engine:
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            # We issue BEGIN ourselves: pysqlite would otherwise commit DDL (the index
            # rebuild) on its own and a failed file could not be rolled back whole.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout=30000")  # a running bot may be reading
            cur.execute("PRAGMA journal_mode=WAL")  # readers keep reading while a file loads
            cur.execute("PRAGMA cache_size=-262144")  # 256 MB: index pages stay in memory
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock now, not halfway through a file

    return engine


def _columns_for(mapping: Mapping, logical: str) -> dict[str, str]:
    """logical -> physical for the table, extra dimensions of orders included."""
    tmap = mapping.tables[logical]
    cols = dict(tmap.columns)
    if logical == "orders":
        for dim, physical in mapping.extra_dimensions.items():
            cols.setdefault(dim, physical)
    return cols


def _prepare_target(engine: Engine, mapping: Mapping, logical: str) -> _Target:
    tmap = mapping.tables[logical]
    if tmap.query is not None:
        raise IngestSetupError(
            f"{logical} is mapped to a SQL query in the config; ingest writes tables. "
            f"Map it to a table ([warehouse.tables.{logical}] table = ...) to import files."
        )
    physical = _columns_for(mapping, logical)
    duck = engine.dialect.name == "duckdb"
    try:
        insp = inspect(engine)
        exists = insp.has_table(tmap.table)
    except SQLAlchemyError as exc:
        raise IngestSetupError(_open_error(engine, exc)) from exc
    metadata = MetaData()
    if not exists:
        table = Table(tmap.table, metadata, *[
            Column(phys, _CREATE_TYPES[_KINDS.get(c, "text")], key=c) for c, phys in physical.items()
        ])
        with engine.begin() as conn:
            table.create(conn)
            # DuckDB upserts with MERGE (a hash join) and prunes scans with zone maps: no indexes
            if not duck:
                _unique_index(table, logical).create(conn)
                for name, cols in READ_INDEXES[logical]:
                    Index(name, *[table.c[c] for c in cols]).create(conn)
        return _Target(logical, table, set(physical), set(), False, True)
    found = _existing_columns(engine, insp, tmap.table)
    found_lower = {k.lower(): k for k in found}
    cols: list[Column[Any]] = []
    existing: set[str] = set()
    int_ids: set[str] = set()
    aware = False
    for c, phys in physical.items():
        name = phys if phys in found else found_lower.get(phys.lower())
        if name is None:
            continue
        existing.add(c)
        db_type = found[name]
        kind = _KINDS.get(c, "text")
        if kind == "id" and isinstance(db_type, sqltypes.Integer):
            int_ids.add(c)
        if kind == "timestamp" and isinstance(db_type, sqltypes.DateTime) and db_type.timezone:
            aware = True
        cols.append(Column(name, _CREATE_TYPES[kind], key=c))
    table = Table(tmap.table, metadata, *cols)
    missing_keys = [k for k in KEYS[logical] if k not in existing]
    if missing_keys:
        raise IngestSetupError(
            f"table {tmap.table!r} has no column for {', '.join(missing_keys)} "
            f"(mapped to {', '.join(physical[k] for k in missing_keys)}); check [warehouse.tables.{logical}]"
        )
    if not duck:
        _ensure_unique(engine, insp, table, logical)
    return _Target(logical, table, existing, int_ids, aware, False)


def _existing_columns(engine: Engine, insp: Any, name: str) -> dict[str, Any]:
    """column name -> SQLAlchemy type of an existing table (DuckDB cannot reflect: its catalogue instead)."""
    if engine.dialect.name != "duckdb":
        return {c["name"]: c["type"] for c in insp.get_columns(name)}
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = :t "
            "ORDER BY ordinal_position"), {"t": name}).all()
    out: dict[str, Any] = {}
    for column, data_type in rows:
        kind = str(data_type).upper()
        if kind in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                    "UBIGINT"):
            out[column] = Integer()
        elif kind.startswith("TIMESTAMP"):
            out[column] = sqltypes.DateTime(timezone="TIME ZONE" in kind or kind == "TIMESTAMPTZ")
        else:
            out[column] = sqltypes.NullType()
    return out


def _open_error(engine: Engine, exc: BaseException) -> str:
    text_ = str(getattr(exc, "orig", exc) or exc)
    if engine.dialect.name == "duckdb" and "lock" in text_.lower():
        # DuckDB: one read-write process, or many readers, never both
        return ("the warehouse file is open in another process (a running `opsbot run`?): DuckDB lets one "
                "process write a file only while no other process has it open. Stop it, import, and start it again.")
    return f"cannot open the warehouse: {exc.__class__.__name__}: {text_.splitlines()[0] if text_ else ''}"


def _unique_index(table: Table, logical: str) -> Index:
    return Index(UNIQUE_INDEX[logical], *[table.c[k] for k in KEYS[logical]], unique=True)


def _ensure_unique(engine: Engine, insp: Any, table: Table, logical: str) -> None:
    """ON CONFLICT needs a unique index on exactly the key columns; add one if the table has none."""
    want = {table.c[k].name for k in KEYS[logical]}
    candidates = [set(insp.get_pk_constraint(table.name).get("constrained_columns") or [])]
    candidates += [set(u["column_names"]) for u in insp.get_unique_constraints(table.name)]
    candidates += [set(i["column_names"]) for i in insp.get_indexes(table.name) if i.get("unique")]
    if want in candidates:
        return
    try:
        with engine.begin() as conn:
            _unique_index(table, logical).create(conn)
    except SQLAlchemyError as exc:
        raise IngestSetupError(
            f"cannot add the unique index {UNIQUE_INDEX[logical]} on {table.name}({', '.join(sorted(want))}) "
            f"that upserts need: the table already has duplicate keys ({exc.__class__.__name__}). "
            f"Run `opsbot check` to see them."
        ) from exc


# ---- writing --------------------------------------------------------------------------------------------


class _Writer:
    """Writes validated rows of one file inside its transaction."""

    def __init__(self, conn: Connection, target: _Target, provided: Sequence[str], plan: _Plan) -> None:
        self.conn = conn
        self.target = target
        self.plan = plan
        self.dialect = conn.dialect.name
        keys = KEYS[target.logical]
        defaults = self._defaults(provided)
        self.defaults = {c: v for c, v in defaults.items() if c in target.existing}
        # columns a file does not provide keep their stored values on conflict
        self.columns = [c for c in target.table.c.keys() if c in provided or c in self.defaults]
        self.update = [c for c in self.columns if c in provided and c not in keys]
        self.keys = list(keys)
        self.fast_empty = False
        self.rows = 0
        self.merged = 0  # DuckDB: rows MERGE inserted or changed

    def _defaults(self, provided: Sequence[str]) -> dict[str, Any]:
        if self.target.logical != "orders":
            return {}
        out: dict[str, Any] = {}
        if "status" not in provided:
            out["status"] = self.plan.placed
        if "refunded_amount" not in provided:
            out["refunded_amount"] = 0.0
        return out

    def count(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(self.target.table)).scalar_one())

    def changes(self) -> int | None:
        """Rows inserted or changed so far (SQLite, DuckDB), to tell updates from no-ops; None elsewhere."""
        if self.dialect in ("duckdb", "postgresql"):
            return self.merged if self.merged >= 0 else None
        if self.dialect != "sqlite":
            return None
        return int(self.conn.connection.driver_connection.total_changes)  # type: ignore[union-attr]

    def begin_bulk(self, existing_rows: int) -> None:
        """An empty table: nothing to conflict with (keys within the file are deduplicated before).

        DuckDB then INSERTs instead of MERGEing; SQLite inserts without indexes and
        builds them once at the end, in the same transaction.
        """
        if existing_rows:
            return
        if self.dialect == "duckdb":
            self.fast_empty = True
            return
        if self.dialect != "sqlite":
            return
        indexes = {i["name"] for i in inspect(self.conn).get_indexes(self.target.table.name)}
        wanted = [UNIQUE_INDEX[self.target.logical]] + [n for n, _ in READ_INDEXES[self.target.logical]]
        if not set(wanted) <= indexes:
            return  # someone else's index layout: keep it and upsert row by row
        for name in wanted:
            self.conn.exec_driver_sql(f"DROP INDEX {self._q(name)}")
        self.fast_empty = True

    def end_bulk(self) -> None:
        if not self.fast_empty or self.dialect == "duckdb":
            return
        t = self.target.table
        _unique_index(t, self.target.logical).create(self.conn)
        for name, cols in READ_INDEXES[self.target.logical]:
            Index(name, *[t.c[c] for c in cols]).create(self.conn)
        self.fast_empty = False

    def _q(self, name: str) -> str:
        return self.conn.dialect.identifier_preparer.quote(name)

    def write(self, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        if self.dialect == "duckdb":
            self._write_duckdb(frame)
            self.rows += len(frame)
            return
        data = self._python_columns(frame)
        if self.dialect == "sqlite":
            self._write_sqlite(data)
        else:
            self._write_generic(data)
        self.rows += len(frame)

    def _python_columns(self, frame: pd.DataFrame) -> dict[str, list[Any]]:
        """Each column as a Python list of driver-ready values (None for missing)."""
        out: dict[str, list[Any]] = {}
        sqlite = self.dialect == "sqlite"
        for c in self.columns:
            if c not in frame:
                out[c] = [self.defaults[c]] * len(frame)
                continue
            s = frame[c]
            if c in self.defaults:
                s = s.where(s.notna(), self.defaults[c])
            kind = _KINDS.get(c, "text")
            if kind == "timestamp":
                out[c] = self._timestamps(s, sqlite)
            elif kind == "date":
                out[c] = _nulls(s.dt.strftime("%Y-%m-%d")) if sqlite else _with_nulls(
                    [v.date() if v is not pd.NaT else None for v in s], s)
            elif kind == "count" or (kind == "id" and c in self.target.int_ids):
                out[c] = _with_nulls(s.fillna(0).astype("int64").tolist(), s)
            elif kind in ("money", "number"):
                out[c] = _with_nulls(s.astype("float64").tolist(), s)
            else:
                out[c] = _nulls(s)
        return out

    def _timestamps(self, s: pd.Series, sqlite: bool) -> list[Any]:
        if sqlite:
            # the text layout metrics.data.dialects.Timestamp compares against; microseconds only when present
            values = s.to_numpy(dtype="datetime64[us]")
            ticks = values.astype("int64")
            fractional = bool(((ticks % 1_000_000) != 0)[~np.isnat(values)].any())
            text_values = np.datetime_as_string(values, unit="us" if fractional else "s")
            # ISO "2026-11-25T14:30:00" -> "2026-11-25 14:30:00": overwrite the "T" in the UCS-4 buffer
            width = text_values.dtype.itemsize // 4
            if width >= 19 and len(text_values):
                text_values.view(np.uint32).reshape(-1, width)[:, 10] = ord(" ")
            return _with_nulls(text_values.tolist(), s)
        values = _with_nulls([v.to_pydatetime() if v is not pd.NaT else None for v in s], s)
        if self.target.aware:
            return [None if v is None else v.replace(tzinfo=self.plan.target_zone) for v in values]
        return values

    def _write_sqlite(self, data: dict[str, list[Any]]) -> None:
        q = self._q
        names = [q(self.target.table.c[c].name) for c in self.columns]
        sql = f"INSERT INTO {q(self.target.table.name)} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        if not self.fast_empty:
            keys = ", ".join(q(self.target.table.c[k].name) for k in self.keys)
            if self.update:
                t = self.target.table
                sets = ", ".join(f"{q(t.c[c].name)}=excluded.{q(t.c[c].name)}" for c in self.update)
                # re-importing an unchanged row writes nothing: no row or index pages touched
                changed = " OR ".join(f"{q(t.name)}.{q(t.c[c].name)} IS NOT excluded.{q(t.c[c].name)}"
                                      for c in self.update)
                sql += f" ON CONFLICT ({keys}) DO UPDATE SET {sets} WHERE {changed}"
            else:
                sql += f" ON CONFLICT ({keys}) DO NOTHING"
        rows = list(zip(*(data[c] for c in self.columns), strict=True))
        cursor = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(sql, rows)
        finally:
            cursor.close()

    def _write_duckdb(self, frame: pd.DataFrame) -> None:
        """DuckDB reads the batch as a registered DataFrame (Arrow, no per-row Python) and MERGEs it by key."""
        t, q = self.target.table, self._q
        source = pd.DataFrame(index=frame.index)
        for i, c in enumerate(self.columns):
            s = frame[c] if c in frame else pd.Series(self.defaults[c], index=frame.index)
            if c in self.defaults:
                s = s.where(s.notna(), self.defaults[c])
            kind = _KINDS.get(c, "text")
            if kind == "timestamp":
                s = s.astype("datetime64[us]")
                if self.target.aware:
                    s = s.dt.tz_localize(self.plan.target_zone)
            elif kind == "count" or (kind == "id" and c in self.target.int_ids):
                s = s.astype("Int64")
            elif kind in ("money", "number"):
                s = s.astype("float64")
            elif kind != "date":
                s = s.astype("str")
            source[f"c{i}"] = s  # positional names: no quoting of the user's column names needed
        value = {c: (f"CAST(s.c{i} AS DATE)" if _KINDS.get(c) == "date" else f"s.c{i}")
                 for i, c in enumerate(self.columns)}
        name = {c: q(t.c[c].name) for c in self.columns}
        on = " AND ".join(f"t.{name[k]} = {value[k]}" for k in self.keys)
        sql = f"MERGE INTO {q(t.name)} AS t USING opsbot_ingest AS s ON {on}"
        if self.fast_empty:
            sql = (f"INSERT INTO {q(t.name)} ({', '.join(name[c] for c in self.columns)}) "
                   f"SELECT {', '.join(value[c] for c in self.columns)} FROM opsbot_ingest AS s")
        if self.update and not self.fast_empty:
            changed = " OR ".join(f"t.{name[c]} IS DISTINCT FROM {value[c]}" for c in self.update)
            sets = ", ".join(f"{name[c]} = {value[c]}" for c in self.update)
            sql += f" WHEN MATCHED AND ({changed}) THEN UPDATE SET {sets}"
        if not self.fast_empty:
            sql += (f" WHEN NOT MATCHED THEN INSERT ({', '.join(name[c] for c in self.columns)})"
                    f" VALUES ({', '.join(value[c] for c in self.columns)})")
        duck = self.conn.connection.driver_connection  # the same connection, so the same transaction
        duck.register("opsbot_ingest", source.reset_index(drop=True))  # type: ignore[union-attr]
        try:
            result = duck.execute(sql).fetchall()  # type: ignore[union-attr]
            self.merged += int(result[0][0]) if result else 0
        finally:
            duck.unregister("opsbot_ingest")  # type: ignore[union-attr]

    def _write_generic(self, data: dict[str, list[Any]]) -> None:
        table = self.target.table
        records = [dict(zip(self.columns, values, strict=True)) for values in zip(*(data[c] for c in self.columns),
                                                                                strict=True)]
        if self.dialect in ("postgresql", "duckdb"):
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt = pg_insert(table)
            index = [table.c[k] for k in self.keys]
            if self.update:
                changed = or_(*[table.c[c].is_distinct_from(stmt.excluded[c]) for c in self.update])
                stmt = stmt.on_conflict_do_update(index_elements=index, where=changed,
                                                  set_={c: stmt.excluded[c] for c in self.update})
            else:
                stmt = stmt.on_conflict_do_nothing(index_elements=index)
            # a row comes back for each insert or real change, none for a no-op conflict
            # (executemany's rowcount is -1 with psycopg's batched inserts)
            stmt = stmt.returning(literal_column("1"))
            for lo in range(0, len(records), 10_000):
                self.merged += len(self.conn.execute(stmt, records[lo : lo + 10_000]).all())
            return
        # any other dialect: delete the keys, then insert (same transaction, same effect)

        for lo in range(0, len(records), 500):
            chunk = records[lo : lo + 500]
            self.conn.execute(table.delete().where(or_(*[
                and_(*[table.c[k] == r[k] for k in self.keys]) for r in chunk])))
            self.conn.execute(insert(table), chunk)


def _prefetched(batches: Iterator[_Batch]) -> Iterator[_Batch]:
    """The fast reader's batches, read one ahead in a thread while the caller parses the current one.

    pyarrow parses CSV and Parquet without the GIL, so on two cores reading overlaps parsing
    (and _Pipeline overlaps writing). One batch ahead at most; batches and errors come out in
    file order; when the caller stops early the reader stops at its next batch. Only for
    sources whose batches carry everything (the exact reader reports malformed rows beside
    its batches, so it is not prefetched).
    """
    import queue
    import threading

    slots: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not put(("batch", batch)):
                    return
            put(("end", None))
        except BaseException as exc:  # handed to the caller, raised there
            put(("error", exc))
        finally:
            if stop.is_set():
                batches.close()  # type: ignore[attr-defined]  # runs the reader's cleanup in its own thread

    thread = threading.Thread(target=produce, name="opsbot-ingest-read", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = slots.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        while thread.is_alive():
            try:
                slots.get(timeout=0.1)  # unblock a reader waiting to hand over a batch
            except queue.Empty:
                pass
        thread.join()


class _Pipeline:
    """Writes batch k in a worker thread while the caller parses batch k+1.

    The drivers release the GIL while the engine works (DuckDB's MERGE, SQLite's steps),
    so on two cores parsing and writing overlap. One batch in flight at most: memory stays
    bounded, batches are written in file order, and the connection is never used by two
    threads at once (the caller waits before touching it).
    """

    def __init__(self, writer: _Writer) -> None:
        from concurrent.futures import Future, ThreadPoolExecutor

        self.writer = writer
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="opsbot-ingest")
        self._pending: Future[None] | None = None

    def write(self, frame: pd.DataFrame) -> None:
        self.wait()
        self._pending = self._pool.submit(self.writer.write, frame)

    def wait(self) -> None:
        """Until the batch in flight is written; its error is raised here."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)


def _nulls(s: pd.Series) -> list[Any]:
    """A text column as a list with None for missing (pandas 3 strings hold NaN)."""
    return _with_nulls(s.tolist(), s)


def _with_nulls(values: list[Any], s: pd.Series) -> list[Any]:
    """`values` with None where `s` is missing; a list of the positions, not a pass over every value."""
    missing = np.flatnonzero(s.isna().to_numpy())
    for i in missing:
        values[i] = None
    return values


# ---- rejects file ----------------------------------------------------------------------------------


class _RejectsFile:
    """Every rejected row with its line, reason and original values; created on the first reject."""

    def __init__(self, path: Path, header: Sequence[str]) -> None:
        self.path = path
        self.header = list(header)
        self._file: IO[str] | None = None
        self._writer: Any = None

    @property
    def written(self) -> bool:
        return self._writer is not None

    def write(self, line: int, reason: str, values: Sequence[Any]) -> None:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "w", encoding="utf-8", newline="")  # noqa: SIM115
            self._writer = csv.writer(self._file)
            # the original columns come after line and reason: a fixed rejects file imports as is
            self._writer.writerow(["line", "reason", *self.header])
        cells = [_cell(v) for v in values] + [""] * (len(self.header) - len(values))
        self._writer.writerow([line, reason, *cells])

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def discard(self) -> None:
        """Forget a first pass's rejects (the exact reader starts over)."""
        self.close()
        if self._writer is not None:
            self.path.unlink(missing_ok=True)
        self._file = self._writer = None


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA or value is pd.NaT:
        return ""
    return str(value)


def _rejects_path(path: Path, options: IngestOptions) -> Path:
    name = path.name + ".rejects.csv"
    return (options.rejects_dir / name) if options.rejects_dir else path.with_name(name)


# ---- one file ------------------------------------------------------------------------------------------


def _ingest_file(engine: Engine, target: _Target, plan: _Plan, path: Path, progress: bool, now: datetime) -> FileReport:
    report = FileReport(path=path)
    started = time.perf_counter()
    try:
        source = _Source(path, plan.options)
        headers = _match_headers(plan, source.header)
    except FileError as exc:
        report.error = str(exc)
        report.seconds = time.perf_counter() - started
        return report
    provided = [c for c in (*headers, *plan.constants) if c in plan.logical]
    if plan.lines:
        # computed per order from its lines
        provided += ["amount"] + (["status"] if plan.preset and plan.preset.cancel_prefix else [])
    provided = list(dict.fromkeys(provided))
    missing = [c for c in provided if c not in target.existing]
    if missing:
        report.error = (f"table {target.table.name!r} has no column for {', '.join(missing)}; "
                        f"add the column or leave it out of the import")
        report.seconds = time.perf_counter() - started
        return report
    rejects = _RejectsFile(_rejects_path(path, plan.options), source.header)
    try:
        try:
            _load(engine, target, plan, source, headers, provided, report, rejects, progress, False, now)
        except _NeedExactReader:
            # malformed rows or line breaks inside values: the first pass was rolled back;
            # read again with the csv module, which numbers every line exactly
            rejects.discard()
            report = FileReport(path=path)
            _load(engine, target, plan, source, headers, provided, report, rejects, progress, True, now)
    except FileError as exc:
        report.status, report.error = "failed", str(exc)
    except SQLAlchemyError as exc:
        report.status = "failed"
        report.error = f"the warehouse refused the rows: {exc.__class__.__name__}: {str(exc).splitlines()[0]}"
    finally:
        rejects.close()
        source.close()
    if report.status == "failed":
        report.loaded = report.inserted = report.updated = 0
    report.rejects_file = rejects.path if rejects.written else None
    report.seconds = time.perf_counter() - started
    return report


def _load(
    engine: Engine, target: _Target, plan: _Plan, source: _Source, headers: dict[str, str],
    provided: list[str], report: FileReport, rejects: _RejectsFile, progress: bool, exact: bool, now: datetime,
) -> None:
    """Read, validate and write one file in one transaction; commit only if it may go in whole."""
    seen = _SeenKeys()
    keys = list(KEYS[plan.table])
    aggregator = _LineAggregator(plan) if plan.lines else None
    tally = _Tally()
    blank_lines = 0
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of short-lived tuples: the cyclic collector only slows their creation down
    bar = _Bar(source) if progress else None
    try:
        with engine.connect() as conn:
            trans = conn.begin()
            pipeline: _Pipeline | None = None
            try:
                writer = _Writer(conn, target, provided, plan)
                before = writer.count()
                changes_before = writer.changes()
                writer.begin_bulk(before)
                pipeline = _Pipeline(writer)
                for batch in source.exact_batches() if exact else _prefetched(source.batches()):
                    parsed, blank = _parse(batch, plan, headers, target.int_ids)
                    blank_lines += blank
                    report.rows_read += len(batch.frame) - blank
                    frame, found = parsed.frame, list(parsed.rejects)
                    if aggregator is None and not frame.empty:
                        earlier = seen.earlier_lines(frame[keys], frame["_line"].to_numpy())
                        dup = earlier > 0
                        for i in np.flatnonzero(dup):
                            key = ", ".join(str(frame[k].iat[i]) for k in keys)
                            found.append((int(frame["_line"].iat[i]),
                                          f"duplicate {'/'.join(keys)} {key} (first on line {earlier[i]})"))
                        if dup.any():
                            frame = frame.loc[~dup].reset_index(drop=True)
                    # malformed rows the exact reader met before or within this batch, in line order
                    structural = [(line, reason, [values.get(h) for h in source.header])
                                  for line, reason, values in source.structural]
                    source.structural.clear()
                    _record_rejects(report, rejects, batch, found, structural)
                    if aggregator is not None:
                        aggregator.rejected_keys |= parsed.rejected_keys
                        if not frame.empty:
                            aggregator.add(frame)
                    else:
                        tally.observe(frame, now)
                        if report.rejected == 0 or plan.options.partial:
                            pipeline.write(frame)  # a refused file is still read to the end, for the report
                    if bar is not None:
                        bar.moveto(source.position())
                for line, reason, values in source.structural:  # after the last batch
                    _add_reject(report, rejects, line, reason, [values.get(h) for h in source.header])
                if aggregator is not None:
                    orders, order_rejects, report.skipped, notes = aggregator.orders()
                    report.notes += notes
                    for line, reason in order_rejects:
                        _add_reject(report, rejects, line, reason, [])
                    tally.observe(orders, now)
                    if report.rejected == 0 or plan.options.partial:
                        pipeline.write(orders)
                pipeline.close()
                if report.rejected and not plan.options.partial:
                    trans.rollback()
                    report.status = "refused"
                    return
                changes_after = writer.changes()
                writer.end_bulk()
                after = writer.count()
                trans.commit()
            except BaseException:
                # the batch in flight must finish before the rollback uses the connection
                if pipeline is not None:
                    try:
                        pipeline.close()
                    except Exception:  # noqa: S110 - the first error is the one to report
                        pass
                if trans.is_active:
                    trans.rollback()
                raise
        report.loaded = writer.rows
        report.inserted = after - before
        if changes_before is not None and changes_after is not None:
            report.updated = changes_after - changes_before - report.inserted
            report.unchanged = writer.rows - report.inserted - report.updated
        else:
            report.updated = writer.rows - report.inserted
        report.status = "partial" if report.rejected else "loaded"
        report.notes += tally.notes(plan) + ([f"{blank_lines:,} blank line(s) ignored"] if blank_lines else [])
    finally:
        if bar is not None:
            bar.finish()
        if gc_was_enabled:
            gc.enable()


def _record_rejects(report: FileReport, rejects: _RejectsFile, batch: _Batch, found: list[tuple[int, str]],
                    structural: list[tuple[int, str, list[Any]]]) -> None:
    if not found and not structural:
        return
    position = {int(line): i for i, line in enumerate(batch.lines)}
    rows = batch.frame.iloc[[position[line] for line, _ in found]]
    entries = [(line, reason, list(values)) for (line, reason), values in
               zip(found, rows.itertuples(index=False, name=None), strict=True)]
    for line, reason, values in sorted(entries + structural, key=lambda e: e[0]):
        _add_reject(report, rejects, line, reason, values)


def _add_reject(report: FileReport, rejects: _RejectsFile, line: int, reason: str, values: Sequence[Any]) -> None:
    report.rejected += 1
    if len(report.rejects) < MAX_REJECTS_KEPT:
        report.rejects.append(Reject(str(report.path), line, reason))
    rejects.write(line, reason, values)


class _Tally:
    """What is loadable but worth a note: statuses outside the mapping, rows dated after now."""

    def __init__(self) -> None:
        self.statuses: dict[str, int] = {}
        self.future = 0

    def observe(self, frame: pd.DataFrame, now: datetime) -> None:
        if frame.empty:
            return
        if "status" in frame:
            for value, count in frame["status"].value_counts(dropna=True).items():
                self.statuses[str(value)] = self.statuses.get(str(value), 0) + int(count)
        col = "ordered_at" if "ordered_at" in frame else "day" if "day" in frame else None
        if col is not None:
            self.future += int((frame[col] > pd.Timestamp(now)).sum())

    def notes(self, plan: _Plan) -> list[str]:
        notes: list[str] = []
        known = {s for values in plan.statuses.values() for s in values}
        unknown = {s: n for s, n in self.statuses.items() if s not in known}
        if unknown:
            shown = ", ".join(f"{s!r} ({n:,})" for s, n in sorted(unknown.items(), key=lambda kv: -kv[1])[:8])
            notes.append(f"statuses not in [warehouse.status], counted as placed: {shown}")
        if self.future:
            notes.append(f"{self.future:,} row(s) dated after now")
        return notes


class _Bar:
    """click's progress bar on stderr, fed with absolute positions (bytes of the file, or Parquet rows)."""

    def __init__(self, source: _Source) -> None:
        import click

        self.pos = 0
        self._bar = click.progressbar(length=source.total, label=source.path.name, file=sys.stderr)
        self._bar.__enter__()

    def moveto(self, position: int) -> None:
        if position > self.pos:
            self._bar.update(position - self.pos)
            self.pos = position

    def finish(self) -> None:
        self._bar.__exit__(None, None, None)


# ---- the entry point ---------------------------------------------------------------------------------


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
        report = IngestReport(
            table=table, target=f"{make_url(url).render_as_string(hide_password=True)} table {target.table.name}")
        for f in files:
            report.files.append(_ingest_file(engine, target, plan, Path(f), progress, now))
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
