"""Turning a batch's raw values into typed columns (ids, text, timestamps, numbers), with a reason
for every rejected row; the `--set` constants checked before any file is read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from metrics.data.ingest.options import _Plan
from metrics.data.ingest.reading import _Batch
from metrics.data.ingest.report import IngestSetupError
from metrics.data.ingest.tables import KEYS, LINE_COLUMNS, NULLABLE_KEYS, POSITIVE, REQUIRED, kind_of


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
    present_of: dict[str, pd.Series] = {}
    needed = _needed(plan)
    for logical, header in headers.items():
        kind = kind_of(plan.table, logical)
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
            if (plan.table, logical) in POSITIVE:
                problems.add(values <= 0, logical + ": {} is not positive" + _POSITIVE_WHY[plan.table], col)
            elif kind in ("money", "count") and not (plan.lines and logical == "amount"):
                problems.add(values < 0, logical + ": negative ({})", values)
            if kind == "count":
                problems.add(values.notna() & (values % 1 != 0), logical + ": {} is not a whole number", values)
        if logical in needed:
            # present: a value after trimming, parseable or not (from the values above: no second pass)
            problems.add(~present, logical + ": missing")
        out[logical] = values
        present_of[logical] = present
    for logical, value in plan.constants.items():
        if logical in plan.logical or logical in LINE_COLUMNS:
            out[logical] = _constant(logical, value, n, plan)
    for logical in NULLABLE_KEYS.get(plan.table, ()):
        if logical not in out:  # a file without the column: every row has none (one unnamed warehouse)
            out[logical] = pd.Series(np.nan, index=raw.index, dtype="str")
    frame = pd.DataFrame(out, index=raw.index)
    frame["_line"] = lines
    if plan.table == "orders" and not plan.lines and "refunded_amount" in frame and "amount" in frame:
        over = frame["refunded_amount"] > frame["amount"] + 1e-9
        problems.add(over, "refunded_amount {} is more than amount {}", frame["refunded_amount"], frame["amount"])
    if plan.table == "order_lines":
        _line_amounts(frame, present_of, problems)
    if plan.table == "shipments" and "delivered_at" in frame and "shipped_at" in frame:
        early = frame["delivered_at"] < frame["shipped_at"]
        problems.add(early, "delivered_at {} is before shipped_at {}", frame["delivered_at"].astype("str"),
                     frame["shipped_at"].astype("str"))
    bad_mask = problems.mask(n)
    rejects = [(int(lines[i]), "; ".join(problems.reasons[i])) for i in sorted(problems.reasons)]
    rejected_keys: set[str] = set()
    if plan.lines and bad_mask.any() and "order_id" in frame:
        rejected_keys = {str(k) for k in frame.loc[bad_mask, "order_id"].dropna().unique()}
    return _Parsed(frame.loc[~bad_mask].reset_index(drop=True), rejects, rejected_keys), int(blank.sum())


_POSITIVE_WHY = {
    "order_lines": " (a line sells at least one unit; returns and cancellations are not order lines)",
    "returns": " (a return takes back at least one unit)",
}


def _needed(plan: _Plan) -> set[str]:
    """Columns every row must have a value in: the required ones and the key (but for its nullable parts)."""
    needed = set(REQUIRED[plan.table]) | (set(KEYS[plan.table]) - set(NULLABLE_KEYS.get(plan.table, ())))
    if plan.lines:
        needed |= set(LINE_COLUMNS) | ({"sku"} & set(plan.line_extras))
    return needed


def _line_amounts(frame: pd.DataFrame, present: dict[str, pd.Series], problems: _Problems) -> None:
    """An order line's amount: line_amount as given, else unit_price x quantity (float noise rounded off)."""
    given = frame["line_amount"] if "line_amount" in frame else None
    if "unit_price" in frame and "quantity" in frame:
        computed = (frame["unit_price"] * frame["quantity"]).round(6)
        frame["line_amount"] = computed if given is None else given.where(given.notna(), computed)
    if "line_amount" not in frame:
        return
    # rows with neither, where the missing value is not already a reason (a value that is not a number)
    bad = pd.Series(False, index=frame.index)
    for c in ("line_amount", "unit_price"):
        if c in present:
            bad |= present[c] & frame[c].isna()
    unknown = frame["line_amount"].isna() & ~bad & frame["quantity"].notna()
    if given is None:
        problems.add(unknown, "unit_price: missing (the line's amount is unit_price x quantity)")
    elif "unit_price" in frame:
        problems.add(unknown, "line_amount: missing, and no unit_price to compute it from")
    else:
        problems.add(unknown, "line_amount: missing")


def _constant(logical: str, value: str, n: int, plan: _Plan) -> pd.Series:
    kind = kind_of(plan.table, logical)
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
        kind = kind_of(plan.table, logical)
        if kind in ("money", "count") and float(value) < 0:
            raise IngestSetupError(f"--set {logical}={value!r}: negative")
