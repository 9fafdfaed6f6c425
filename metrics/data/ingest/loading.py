"""One file into its table: read, validated and written in one transaction that commits only if
the file may go in, with its rejects, its notes and its progress bar."""

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

from metrics.data.ingest.duplicates import _SeenKeys
from metrics.data.ingest.lines import _LineAggregator
from metrics.data.ingest.options import _match_headers, _Plan
from metrics.data.ingest.reading import _Batch, _NeedExactReader, _prefetched, _Source
from metrics.data.ingest.rejects import _rejects_path, _RejectsFile
from metrics.data.ingest.report import MAX_REJECTS_KEPT, FileError, FileReport, Reject
from metrics.data.ingest.tables import KEYS
from metrics.data.ingest.target import _Target
from metrics.data.ingest.validation import _parse
from metrics.data.ingest.writing import _Pipeline, _Writer


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
