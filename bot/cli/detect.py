"""`opsbot detect`'s output: flagged points as an aligned text table or as JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence


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
