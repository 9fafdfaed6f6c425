"""`opsbot detect`'s output."""

import json
from pathlib import Path

from bot.cli.detect import render_detect


def test_render_detect_text_and_json(tmp_path: Path) -> None:
    rows = [{"timestamp": "2026-03-14 12:30:00", "value": 20.5, "expected": 101.0, "change": -0.797,
             "score": -6.25, "direction": "down", "severity": "critical"}]
    text = render_detect(rows, as_json=False)
    assert "2026-03-14 12:30:00" in text and "-79.7%" in text and "critical" in text and "1 anomaly" in text
    assert json.loads(render_detect(rows, as_json=True)) == {"count": 1, "anomalies": rows}
    assert render_detect([], as_json=False) == "no anomalies found"
