"""What an ingest reports: each file's outcome and rejected rows (FileReport, Reject), the whole
import's report (IngestReport), and the two errors (IngestSetupError, FileError)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

MAX_REJECTS_KEPT = 1000  # per file, in memory for the report; the rejects file has them all


@dataclass(frozen=True)
class Reject:
    file: str
    line: int  # CSV: the line in the file (header = 1); Parquet: the 1-based row number
    reason: str


FileStatus = Literal["loaded", "partial", "refused", "failed"]


@dataclass
class TableCounts:
    """What one file wrote into one more table (the order lines and products a preset also fills)."""

    table: str
    loaded: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "loaded": self.loaded, "inserted": self.inserted, "updated": self.updated,
                "unchanged": self.unchanged}


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
    summed: int = 0  # order lines that repeated the (order_id, sku) of an earlier line and were added to it
    also: list[TableCounts] = field(default_factory=list)  # the other tables the file filled
    # loaded, but worth fixing: rows whose order or sku is unknown, lines that disagree with their order
    warnings: list[str] = field(default_factory=list)
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
            "rejected": self.rejected, "skipped": self.skipped, "summed": self.summed,
            "also": [t.to_dict() for t in self.also],
            "rejects": [{"line": r.line, "reason": r.reason} for r in self.rejects],
            "rejects_file": str(self.rejects_file) if self.rejects_file else None,
            "error": self.error, "notes": list(self.notes), "warnings": list(self.warnings),
            "seconds": round(self.seconds, 3),
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
        unit = {"orders": "orders", "order_lines": "order lines"}.get(self.table, "rows")
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
            if f.status in ("loaded", "partial"):
                for t in f.also:
                    out.append(f"    and {t.loaded:,} {t.table} rows ({_split(t)})")
            for note in f.notes:
                out.append(f"    note: {note}")
            for warning in f.warnings:
                out.append(f"    warning: {warning}")
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


def _split(f: FileReport | TableCounts) -> str:
    parts = [f"{f.inserted:,} new", f"{f.updated:,} updated"] + ([f"{f.unchanged:,} unchanged"] if f.unchanged else [])
    return ", ".join(parts)


class IngestSetupError(Exception):
    """Ingest cannot start (unknown table or preset, bad --map, unreachable warehouse): exit 2."""


class FileError(Exception):
    """A file as a whole cannot be read (not CSV, bad encoding, missing columns): nothing from it is loaded."""
