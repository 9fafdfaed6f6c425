"""The rejects file: every rejected row of a file, with its line, reason and original values."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import pandas as pd

from metrics.data.ingest.options import IngestOptions


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
