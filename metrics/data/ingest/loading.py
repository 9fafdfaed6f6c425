"""One file into its table: read, validated and written in one transaction that commits only if
the file may go in, with its rejects, its notes, its progress bar and (after the commit) its
warnings about the other tables."""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from metrics.data.ingest.crosscheck import _Touched, cross_check, watched
from metrics.data.ingest.duplicates import _SeenKeys
from metrics.data.ingest.lines import _LineAggregator, _PresetLines
from metrics.data.ingest.options import _match_headers, _Plan
from metrics.data.ingest.reading import _Batch, _NeedExactReader, _prefetched, _Source
from metrics.data.ingest.rejects import _rejects_path, _RejectsFile
from metrics.data.ingest.report import MAX_REJECTS_KEPT, FileError, FileReport, Reject, TableCounts
from metrics.data.ingest.tables import DATED, KEYS, NULLABLE_KEYS, SUMMED
from metrics.data.ingest.target import _Target
from metrics.data.ingest.validation import _parse
from metrics.data.ingest.writing import _Pipeline, _Writer
from metrics.data.schema import Mapping

# what a preset writes into the tables it also fills
_COMPANION_COLUMNS: dict[str, tuple[str, ...]] = {
    "products": ("sku", "name"),
    "order_lines": ("order_id", "sku", "quantity", "line_amount", "unit_price"),
}


def _ingest_file(engine: Engine, target: _Target, plan: _Plan, path: Path, progress: bool, now: datetime,
                 mapping: Mapping, companions: dict[str, _Target] | None = None) -> FileReport:
    companions = companions or {}
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
    if plan.table == "order_lines" and "unit_price" in provided:
        provided += ["line_amount"]  # unit_price x quantity where the file gives no line_amount
    provided += list(NULLABLE_KEYS.get(plan.table, ()))  # part of the key: NULL where the file has none
    provided = list(dict.fromkeys(provided))
    also = {name: [c for c in _COMPANION_COLUMNS[name] if c in t.existing or c in ("name", "unit_price")]
            for name, t in companions.items()}
    for t, wanted in [(target, provided)] + [(companions[n], also[n]) for n in companions]:
        missing = [c for c in wanted if c not in t.existing]
        if missing:
            report.error = (f"table {t.table.name!r} has no column for {', '.join(missing)}; "
                            f"add the column or leave it out of the import")
            report.seconds = time.perf_counter() - started
            return report
    touched: _Touched | None = None
    watch = watched(engine, mapping, plan.table, "order_lines" in companions)
    rejects = _RejectsFile(_rejects_path(path, plan.options), source.header)
    try:
        try:
            touched = _load(engine, target, plan, source, headers, provided, report, rejects, progress, False, now,
                            companions, also, watch)
        except _NeedExactReader:
            # malformed rows or line breaks inside values: the first pass was rolled back;
            # read again with the csv module, which numbers every line exactly
            rejects.discard()
            report = FileReport(path=path)
            touched = _load(engine, target, plan, source, headers, provided, report, rejects, progress, True, now,
                            companions, also, watch)
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
        report.also = []
    elif touched is not None:
        report.warnings += cross_check(engine, mapping, target, touched)
    report.rejects_file = rejects.path if rejects.written else None
    report.seconds = time.perf_counter() - started
    return report


def _load(
    engine: Engine, target: _Target, plan: _Plan, source: _Source, headers: dict[str, str],
    provided: list[str], report: FileReport, rejects: _RejectsFile, progress: bool, exact: bool, now: datetime,
    companions: dict[str, _Target], also: dict[str, list[str]], watch: tuple[bool, bool],
) -> _Touched | None:
    """Read, validate and write one file in one transaction; commit only if it may go in whole.

    Returns what the file wrote, for the checks against the other tables (None: nothing was).
    """
    seen = _SeenKeys()
    keys = list(KEYS[plan.table])
    aggregator = _LineAggregator(plan) if plan.lines else None
    preset_lines = _PresetLines(plan) if companions else None
    sums = plan.table == "order_lines"  # repeated keys are summed, not rejected
    touched = _Touched(plan.table, watch)
    tally = _Tally(plan.table)
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
                    again: pd.DataFrame | None = None
                    if aggregator is None and not frame.empty and sums:
                        earlier = seen.earlier_lines(frame[keys], frame["_line"].to_numpy())
                        frame, again, summed = _sum_repeats(frame, keys, earlier)
                        report.summed += summed
                    elif aggregator is None and not frame.empty:
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
                            if preset_lines is not None:
                                preset_lines.add(frame)
                    else:
                        tally.observe(frame, now)
                        if report.rejected == 0 or plan.options.partial:
                            pipeline.write(frame)  # a refused file is still read to the end, for the report
                            if again is not None:
                                pipeline.add(again)
                            touched.observe(frame)
                    if bar is not None:
                        bar.moveto(source.position())
                for line, reason, values in source.structural:  # after the last batch
                    _add_reject(report, rejects, line, reason, [values.get(h) for h in source.header])
                orders = None
                if aggregator is not None:
                    orders, order_rejects, report.skipped, notes = aggregator.orders()
                    report.notes += notes
                    for line, reason in order_rejects:
                        _add_reject(report, rejects, line, reason, [])
                    tally.observe(orders, now)
                    if report.rejected == 0 or plan.options.partial:
                        pipeline.write(orders)
                        touched.observe(orders)
                pipeline.close()
                if report.rejected and not plan.options.partial:
                    trans.rollback()
                    report.status = "refused"
                    return None
                changes_after = writer.changes()
                writer.end_bulk()
                after = writer.count()
                if preset_lines is not None and orders is not None:
                    lines, products, _summed, notes = preset_lines.result(orders)
                    report.notes += notes
                    for name, frame in (("products", products), ("order_lines", lines)):
                        if name in companions:
                            report.also.append(_write_whole(conn, companions[name], also[name], frame, plan))
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
        report.inserted, report.updated, report.unchanged = _split_counts(
            writer.rows, before, after, changes_before, changes_after)
        report.status = "partial" if report.rejected else "loaded"
        if report.summed:
            report.notes.append(
                f"{report.summed:,} line(s) repeated the order_id and sku of an earlier line of the file and were "
                f"summed into it (quantity, line_amount and cost added; unit_price = line_amount / quantity)")
        report.notes += tally.notes(plan) + ([f"{blank_lines:,} blank line(s) ignored"] if blank_lines else [])
        return touched
    finally:
        if bar is not None:
            bar.finish()
        if gc_was_enabled:
            gc.enable()


def _split_counts(rows: int, before: int, after: int, changes_before: int | None,
                  changes_after: int | None) -> tuple[int, int, int]:
    """(inserted, updated, unchanged) of `rows` written, from the row counts and the changes the engine counted."""
    inserted = after - before
    if changes_before is not None and changes_after is not None:
        updated = changes_after - changes_before - inserted
        return inserted, updated, rows - inserted - updated
    return inserted, rows - inserted, 0


def _write_whole(conn: Any, target: _Target, provided: list[str], frame: pd.DataFrame, plan: _Plan) -> TableCounts:
    """A table the file also fills (a preset's order lines and products), inside the file's transaction."""
    writer = _Writer(conn, target, provided, plan)
    before = writer.count()
    changes_before = writer.changes()
    writer.begin_bulk(before)
    for lo in range(0, len(frame), 200_000):
        writer.write(frame.iloc[lo : lo + 200_000])
    changes_after = writer.changes()
    writer.end_bulk()
    after = writer.count()
    inserted, updated, unchanged = _split_counts(writer.rows, before, after, changes_before, changes_after)
    return TableCounts(target.logical, writer.rows, inserted, updated, unchanged)


def _sum_repeats(frame: pd.DataFrame, keys: list[str], earlier: np.ndarray) -> tuple[
        pd.DataFrame, pd.DataFrame | None, int]:
    """Order lines repeating an (order_id, sku) summed into one line: (lines to upsert, lines to add to a
    line an earlier batch of the file wrote, or None; how many lines were summed into another).

    `earlier` is each row's earlier line with the same key (0: the first), so a key's lines are
    grouped by the number of its first line, an integer, whatever the key's columns.
    """
    dup = earlier > 0
    if not dup.any():
        return frame, None, 0
    lines = frame["_line"].to_numpy()
    first = np.where(dup, earlier, lines)
    involved = np.isin(first, first[dup])
    part = frame.loc[involved]
    groups = part.groupby(first[involved], sort=False)
    agg: dict[str, Any] = {k: "first" for k in keys}
    agg.update({c: "sum" for c in SUMMED if c in part})
    agg["_line"] = "min"
    merged = groups.agg(agg)
    if "cost" in part:
        # a cost missing on one of the lines leaves the sum unknown, not understated
        merged.loc[(groups["cost"].count() < groups.size()).to_numpy(), "cost"] = np.nan
    for c in ("line_amount", "cost"):
        if c in merged:
            merged[c] = merged[c].round(6)
    if "unit_price" in part and "line_amount" in merged:
        merged["unit_price"] = (merged["line_amount"] / merged["quantity"]).round(6)
    older = ~np.isin(merged.index.to_numpy(), lines)  # the key's first line is in an earlier batch
    rest = pd.concat([frame.loc[~involved], merged.loc[~older]], ignore_index=True)
    again = merged.loc[older].reset_index(drop=True)
    return rest, (again if len(again) else None), int(dup.sum())


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

    def __init__(self, table: str) -> None:
        self.dated = DATED.get(table, ())
        self.statuses: dict[str, int] = {}
        self.future = 0

    def observe(self, frame: pd.DataFrame, now: datetime) -> None:
        if frame.empty:
            return
        if "status" in frame:
            for value, count in frame["status"].value_counts(dropna=True).items():
                self.statuses[str(value)] = self.statuses.get(str(value), 0) + int(count)
        after = np.zeros(len(frame), dtype=bool)
        for col in self.dated:
            if col in frame:
                after |= (frame[col] > pd.Timestamp(now)).to_numpy(dtype=bool)
        self.future += int(after.sum())

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
