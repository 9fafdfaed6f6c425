"""`opsbot detect`: the command, and its output (flagged points as an aligned text table or as JSON)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

import click

from bot.cli.common import EXIT_BAD_INPUT, EXIT_OK, start_logging


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the flagged points as JSON.")
@click.option(
    "--sensitivity", type=click.Choice(["low", "medium", "high"]), default="medium", show_default=True,
    help="How big a deviation must be to be flagged (high flags more).",
)
def detect(file: str, as_json: bool, sensitivity: str) -> None:
    """Flag anomalies in a timestamp,value CSV of any regular grain (5-minute, hourly, daily)."""
    from metrics.anomaly.series import SeriesError, detect_csv

    start_logging(None, False)
    try:
        results = detect_csv(file, sensitivity)  # type: ignore[arg-type]
    except SeriesError as exc:
        click.echo(f"opsbot: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    click.echo(render_detect(results, as_json))
    sys.exit(EXIT_OK)


def render_detect(results: Sequence[dict[str, object]], as_json: bool = False) -> str:
    """Flagged points as an aligned text table, or as JSON ({"count": n, "anomalies": [...]})."""
    if as_json:
        return json.dumps({"count": len(results), "anomalies": list(results)}, ensure_ascii=False, indent=2)
    if not results:
        return "no anomalies found"
    header = ("timestamp", "value", "expected", "change", "score", "direction", "severity")
    rows = [header] + [
        (
            str(r["timestamp"]), _fmt(r["value"]), _fmt(r["expected"]),
            "" if r["change"] is None else f"{float(r['change']) * 100:+.1f}%",  # type: ignore[arg-type]
            f"{float(r['score']):+.1f}", str(r["direction"]), str(r["severity"]),  # type: ignore[arg-type]
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i in (0, 5, 6) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in rows]
    lines.append(f"{len(results)} anomal{'y' if len(results) == 1 else 'ies'}")
    return "\n".join(line.rstrip() for line in lines)


def _fmt(v: object) -> str:
    if v is None:
        return ""
    return f"{float(v):.6g}"  # type: ignore[arg-type]
