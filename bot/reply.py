"""The platform-neutral reply every handler returns and every adapter renders.

Handlers format numbers for the chat's locale before they put them here, so an
adapter only lays out what it is given; `data` carries the raw numbers for
`--json` and for tests.
"""

from __future__ import annotations

import base64
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

Trend = Literal["up", "down", "flat"]


@dataclass
class Field:
    """One KPI-like value: `value` and `delta` are already formatted for the locale."""

    label: str
    value: str
    delta: str | None = None
    trend: Trend | None = None
    good: bool | None = None  # is the move good for this KPI? colours ▲/▼ where a platform can

    @property
    def arrow(self) -> str:
        return {"up": "▲", "down": "▼", "flat": "■"}.get(self.trend or "", "")


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    title: str | None = None
    # "l" or "r" per column; numbers read best right-aligned
    align: list[str] | None = None


class Chart:
    """A chart image, or how to draw it.

    Drawing a chart costs 150-250 ms of matplotlib, more than the query behind most answers. A
    handler therefore hands over the drawing (`Chart.later`) rather than the picture: the
    dispatcher returns the numbers at once, and the adapter draws the chart off the event loop
    when it needs it (`Dispatcher.draw`): Slack after posting the numbers, Telegram before the
    photo its answer is captioned on. Reading `png` draws a pending chart on the spot
    (once, whichever thread asks first), so code that just wants the bytes needs to know
    nothing of this.
    """

    def __init__(self, png: bytes | None, title: str, filename: str = "chart.png",
                 draw: Callable[[], bytes] | None = None) -> None:
        if png is None and draw is None:
            raise ValueError("a chart needs its PNG or a way to draw it")
        self._png = png
        self._draw = draw
        self._lock = threading.Lock()
        self.title = title
        self.filename = filename

    @classmethod
    def later(cls, draw: Callable[[], bytes], title: str, filename: str = "chart.png") -> Chart:
        return cls(None, title, filename, draw)

    @property
    def pending(self) -> bool:
        return self._png is None

    @property
    def png(self) -> bytes:
        if self._png is None:
            with self._lock:
                if self._png is None:
                    assert self._draw is not None
                    self._png = self._draw()
                    self._draw = None  # lets go of the data it was drawn from
        return self._png

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Chart):
            return NotImplemented
        return (self.png, self.title, self.filename) == (other.png, other.title, other.filename)

    __hash__ = None  # type: ignore[assignment]

    def __deepcopy__(self, memo: dict[int, object]) -> Chart:
        return self  # an image never changes once drawn: copies share it (and its drawing)

    def __repr__(self) -> str:
        state = "pending" if self.pending else f"{len(self.png):,} bytes"
        return f"Chart({self.title!r}, {self.filename!r}, {state})"


@dataclass
class Attachment:
    """A file that goes with the reply (a segment export as CSV)."""

    filename: str
    content: bytes
    mime: str = "application/octet-stream"
    title: str = ""


@dataclass
class Action:
    """A button: clicking it runs `command` as if the clicker had typed it."""

    label: str
    command: str
    style: Literal["primary", "danger"] | None = None


@dataclass
class Reply:
    title: str = ""
    text: list[str] = field(default_factory=list)
    fields: list[Field] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    files: list[Attachment] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    footer: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    error: bool = False

    def to_json(self) -> dict[str, Any]:
        out = asdict(replace(self, charts=[], files=[]))  # charts hold how to draw them: not data
        out["charts"] = [
            {"title": c.title, "filename": c.filename, "png_base64": base64.b64encode(c.png).decode()}
            for c in self.charts
        ]
        out["files"] = [
            {"filename": f.filename, "mime": f.mime, "title": f.title,
             "content_base64": base64.b64encode(f.content).decode()}
            for f in self.files
        ]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reply:
        """The inverse of to_json: how a reply waits in the outbox."""
        return cls(
            title=data.get("title", ""),
            text=list(data.get("text", [])),
            fields=[Field(**f) for f in data.get("fields", [])],
            tables=[Table(**t) for t in data.get("tables", [])],
            charts=[Chart(base64.b64decode(c["png_base64"]), c["title"], c.get("filename", "chart.png"))
                    for c in data.get("charts", [])],
            files=[Attachment(f["filename"], base64.b64decode(f["content_base64"]), f.get("mime", ""),
                              f.get("title", "")) for f in data.get("files", [])],
            actions=[Action(**a) for a in data.get("actions", [])],
            footer=data.get("footer"),
            data=dict(data.get("data", {})),
            error=bool(data.get("error", False)),
        )

    def plain_text(self) -> str:
        """The whole reply as plain text: the console's output and every platform's fallback."""
        parts: list[str] = []
        if self.title:
            parts.append(self.title)
        parts.extend(self.text)
        if self.fields:
            parts.append("\n".join(field_line(f) for f in self.fields))
        for table in self.tables:
            parts.append(render_table_text(table))
        for chart in self.charts:
            parts.append(f"[chart: {chart.title}]")
        for f in self.files:
            parts.append(f"[file: {f.filename}, {len(f.content):,} bytes]")
        if self.actions:
            parts.append("  ".join(f"[{a.label}: {a.command}]" for a in self.actions))
        if self.footer:
            parts.append(self.footer)
        return "\n\n".join(p for p in parts if p)


def field_line(f: Field) -> str:
    line = f"{f.label}: {f.value}"
    if f.delta:
        line += f"  {f.arrow} {f.delta}".rstrip() if f.arrow else f"  {f.delta}"
    return line


def display_width(text: str) -> int:
    """Monospace width: CJK characters take two columns, so Chinese tables stay aligned."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _pad(text: str, width: int, align: str) -> str:
    gap = " " * max(0, width - display_width(text))
    return gap + text if align == "r" else text + gap


def render_table_text(table: Table) -> str:
    """A table as aligned monospace lines (title first when there is one)."""
    ncols = len(table.columns)
    align = table.align or ["l"] + ["r"] * (ncols - 1)
    widths = [display_width(c) for c in table.columns]
    for row in table.rows:
        for i, cell in enumerate(row[:ncols]):
            widths[i] = max(widths[i], display_width(cell))
    lines = []
    if table.title:
        lines.append(table.title)
    if any(c.strip() for c in table.columns):  # a list without column names (help) has no header
        lines.append("  ".join(_pad(c, widths[i], align[i]) for i, c in enumerate(table.columns)).rstrip())
        lines.append("  ".join("-" * w for w in widths))
    for row in table.rows:
        lines.append("  ".join(_pad(c, widths[i], align[i]) for i, c in enumerate(row[:ncols])).rstrip())
    return "\n".join(lines)
