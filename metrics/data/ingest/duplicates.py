"""Duplicate keys within one file: the keys seen so far as sorted 64-bit codes, with their lines."""

from __future__ import annotations

import numpy as np
import pandas as pd

from metrics.data.ingest.validation import _is_text


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
    """A 64-bit code per key row: canonical integer ids as themselves, anything else hashed.

    A key of several columns (day and channel; order_id and sku) combines its columns' codes
    with a 64-bit mix: equal keys get equal codes, and different ones share a code with the
    odds of a 64-bit hash collision.
    """
    if keys.shape[1] == 1:
        return _column_codes(keys.iloc[:, 0])
    combined = _column_codes(keys.iloc[:, 0])
    for i in range(1, keys.shape[1]):
        combined = _mix(combined * np.uint64(0x9E3779B97F4A7C15) + _column_codes(keys.iloc[:, i]))
    return combined


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every input bit reaches every output bit (uint64 arithmetic wraps)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


_NULL_CODE = np.uint64(0x6E756C6C6B657921)  # one code for every missing value (a key part may be empty)


def _column_codes(col: pd.Series) -> np.ndarray:
    """A 64-bit code per value of one key column."""
    if pd.api.types.is_integer_dtype(col) and not col.isna().any():
        return col.to_numpy(dtype=np.int64).view(np.uint64)
    if not _is_text(col):
        return pd.util.hash_pandas_object(col, index=False, categorize=False).to_numpy(dtype=np.uint64)
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(col, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):  # a column concatenated from several batches
        arr = arr.combine_chunks()
    if not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
        arr = pc.cast(arr, pa.string())
    if not arr.null_count:
        whole = pc.match_substring_regex(arr, _CANONICAL_INT)
        if pc.all(whole).as_py():  # integer ids, the usual order_id: the integers themselves
            return pc.cast(arr, pa.int64()).to_numpy(zero_copy_only=False).view(np.uint64)
    # the distinct values are coded once each (a batch repeats its SKUs and order ids many times)
    encoded = arr.dictionary_encode()
    values = encoded.dictionary
    is_int = pc.fill_null(pc.match_substring_regex(values, _CANONICAL_INT), False).to_numpy(zero_copy_only=False)
    codes = pd.util.hash_array(np.asarray(values.to_numpy(zero_copy_only=False), dtype=object),
                               categorize=False).astype(np.uint64, copy=True)
    if is_int.any():
        ints = pc.cast(pc.filter(values, pa.array(is_int)), pa.int64()).to_numpy(zero_copy_only=False)
        codes[is_int] = ints.view(np.uint64)
    indices = encoded.indices
    out = codes[pc.fill_null(indices, 0).to_numpy(zero_copy_only=False)] if len(codes) else np.zeros(
        len(arr), dtype=np.uint64)
    if indices.null_count:
        out[indices.is_null().to_numpy(zero_copy_only=False)] = _NULL_CODE
    return out
