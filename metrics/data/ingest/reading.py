"""Reading one input file: its format sniffed from its first bytes, decompression, encoding errors
with their line, and the rows in batches (pyarrow's fast reader, the csv module's exact one)."""

from __future__ import annotations

import bz2
import codecs
import csv
import io
import lzma
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from metrics.data.ingest.options import IngestOptions
from metrics.data.ingest.report import FileError

_SNIFF_BYTES = 64 << 10


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
