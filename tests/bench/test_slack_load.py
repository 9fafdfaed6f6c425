"""Smoke test of bench/bench_slack_load.py: a small burst is acknowledged and answered, no errors.

No timing assertions (speed is measured by the script itself, see bench/README.md): it only
checks that the benchmark still runs end to end, bot subprocess, fake Slack and all.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "bench_slack_load.py"


def test_a_small_burst_is_all_acknowledged_and_answered() -> None:
    # a small shop keeps this quick; the script builds it once under bench/out/ and reuses it
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--commands", "20", "--orders", "5000", "--days", "60", "--json"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert done.stdout, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["commands"] == 20
    assert result["acked"] == 20 and result["answered"] == 20, result
    assert result["request_errors"] == 0 and result["error_replies"] == 0, result
    assert result["bot_log_errors"] == 0, result["bot_log_error_samples"]
    assert result["bot_exit_code"] == 0
    assert result["ok"] and done.returncode == 0
