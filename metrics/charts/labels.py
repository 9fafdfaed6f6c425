"""Numbers and label text: the value formats, CJK-aware label width with shortening and wrapping,
and axis tick labels with one number of decimals."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Sequence

from matplotlib.ticker import Formatter as TickFormatter

from metrics.charts.style import NOT_AVAILABLE, _Fonts

Formatter = Callable[[float], str]

MAX_LABEL_CHARS = 24


def _compact(value: float) -> str:
    """Short default number format for axes and labels: 950, 12.3K, 1.23M, 4.5B, 0.123."""
    if not math.isfinite(value):
        return NOT_AVAILABLE
    size = abs(value)
    # Thresholds at x99.5 so rounding never prints "1e+03K".
    for divisor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if size >= divisor * 0.9995:
            return f"{value / divisor:.3g}{suffix}"
    if size >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _percent(value: float) -> str:
    return f"{value:.0%}" if math.isfinite(value) else NOT_AVAILABLE


def _signed(fmt: Formatter, value: float) -> str:
    """A delta with an explicit sign: '+1.2K' / '-300' (formatters usually only sign negatives)."""
    if not math.isfinite(value):
        return NOT_AVAILABLE
    text = fmt(value)
    return "+" + text if value > 0 and not text.startswith("+") else text


def _width(text: str) -> int:
    """Display width in Latin-character units: CJK and fullwidth characters count twice."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _shorten(text: str, limit: int = MAX_LABEL_CHARS) -> str:
    """One line of at most ``limit`` width units, cut with an ellipsis (so 12 Chinese characters
    take the room of 24 Latin ones and a long label never pushes the plot off the image)."""
    text = " ".join(str(text).split())
    if _width(text) <= limit:
        return text
    out, used = [], 1
    for ch in text:
        used += _width(ch)
        if used > limit:
            break
        out.append(ch)
    return "".join(out).rstrip() + "…"


# A CJK character may break a line anywhere; other text only between words.
_WRAP_TOKEN = re.compile(r"\s+|[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]|[^\s\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]+")


def _wrap(text: str, width: int, max_lines: int = 3) -> str:
    """Wrap to lines of about ``width`` units (CJK-aware, unlike textwrap)."""
    lines: list[str] = []
    line = ""
    for token in _WRAP_TOKEN.findall(" ".join(str(text).split())):
        if token.isspace():
            line += " " if line else ""
        elif line and _width(line) + _width(token) > width:
            lines.append(line.rstrip())
            line = token
        else:
            line += token
    lines.append(line.rstrip())
    if len(lines) > max_lines:
        lines = lines[: max_lines - 1] + [_shorten(" ".join(lines[max_lines - 1 :]), width)]
    return "\n".join(lines)


_NUMBER = re.compile(r"(\d[\d,]*)(?:\.(\d+))?")


def _uniform_decimals(values: Sequence[float], labels: Sequence[str]) -> list[str]:
    """Tick labels with one number of decimals, the fewest that keeps every label's digits.

    Formatters built for single values switch precision by size (money shows cents below 1,000,
    so an axis read "CN¥0.00" under "CN¥30,000") or always print two decimals ("5.00%"). On an
    axis the ticks are one scale: all-zero decimals go, and a label gains zeros only when it
    shows the tick value itself (so "CN¥1,000" may become "CN¥1,000.5"-style peers' "1,000.0",
    but a scaled "2M" is never padded to a precision it does not have).
    """
    found = [list(_NUMBER.finditer(label)) for label in labels]
    if not labels or not all(found):
        return list(labels)
    last = [matches[-1] for matches in found]
    decimals = [m.group(2) or "" for m in last]
    needed = max(len(d.rstrip("0")) for d in decimals)
    out = []
    for value, label, m, digits in zip(values, labels, last, decimals, strict=True):
        if len(digits) < needed:
            shown = float(m.group(1).replace(",", "") + ("." + digits if digits else ""))
            if not math.isclose(abs(value), shown, rel_tol=1e-9, abs_tol=1e-12):
                return list(labels)  # cannot pad honestly: keep what the formatter said
            digits = digits + "0" * (needed - len(digits))
        digits = digits[:needed]  # only zeros are cut: ``needed`` keeps every significant digit
        number = m.group(1) + ("." + digits if digits else "")
        out.append(label[: m.start()] + number + label[m.end():])
    return out


class _TickFormat(TickFormatter):
    """An axis formatter from a value formatter, with consistent decimals across the ticks."""

    def __init__(self, fonts: _Fonts, fmt: Formatter) -> None:
        self.fonts, self.fmt = fonts, fmt

    def __call__(self, x: float, pos: int | None = None) -> str:
        return self.fonts.clean(self.fmt(x))

    def format_ticks(self, values: Sequence[float]) -> list[str]:
        return [self.fonts.clean(s) for s in _uniform_decimals(list(values), [self.fmt(v) for v in values])]
