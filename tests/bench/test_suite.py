"""Smoke test of the benchmark suite (bench/suite.py) on a tiny shop: it runs end to end and its table
has a row per measured item with numbers in it. No timing assertions: speed is measured, not tested."""

from __future__ import annotations

from pathlib import Path

from bench.suite import COMMANDS, ITEMS, KEPT, iter_numbers, parse_args, run_suite


def test_suite_runs_on_a_tiny_shop(tmp_path: Path) -> None:
    args = parse_args(["--orders", "20000", "--days", "120", "--engines", "duckdb,rollup", "--runs", "1",
                       "--warmup", "0", "--ingest-runs", "1", "--out", str(tmp_path)])
    result = run_suite(args, log=lambda _msg: None)

    (size,) = result["sizes"]
    assert size["size"] == 20000 and size["meta"]["orders"] > 15_000
    rows = size["rows"]
    labels = [r["label"] for r in rows]
    # every command: its numbers, its chart, for segments and retention the kept answer, and the baseline;
    # the digest and the scan: the opsbot row and the baseline
    commands = dict(COMMANDS)
    expected = sum(3 + (item in KEPT) if item in commands else 2 for item, _ in ITEMS)
    assert len(rows) == expected + 5
    i = 0
    for item, what in ITEMS:
        kinds = ["chart", "kept"][: 1 + (item in KEPT)] if item in commands else []
        opsbot, extra, baseline = rows[i], rows[i + 1:i + 1 + len(kinds)], rows[i + 1 + len(kinds)]
        i += 2 + len(kinds)
        assert opsbot["label"].startswith(f"`{what}`" if item in commands else what)
        assert opsbot["unit"] == f"{item}:opsbot" and baseline["label"].startswith("↳ baseline")
        assert opsbot["values"]["duckdb"] > 0, opsbot
        assert opsbot["cells"]["rollup"] == "—" and opsbot["cells"]["pandas"] == "—"
        assert [r["unit"] for r in extra] == [f"{item}:{k}" for k in kinds]
        assert all(r["values"]["duckdb"] > 0 for r in extra), extra
        assert baseline["values"]["duckdb"] > 0 and baseline["values"]["pandas"] > 0, baseline
        if item in ("retention", "segments"):  # distinct customers: rollups cannot answer
            assert baseline["cells"]["rollup"] == "n/a"
        else:
            assert baseline["values"]["rollup"] > 0, baseline
        for row in (opsbot, baseline):
            assert list(iter_numbers({c: row["cells"][c] for c in ("duckdb",)})), row
    rest = {r["label"].split(",")[0]: r for r in rows[i:]}
    assert any("rollup" in label for label in rest)
    ingest = [r for r in rows if r["label"].startswith("`opsbot ingest`")]
    assert len(ingest) == 2 and all(r["values"]["duckdb"] > 1000 and r["values"]["rollup"] > 1000 for r in ingest)
    memory = rows[-1]
    assert memory["label"].startswith("peak memory") and 50 < memory["values"]["duckdb"] < 5000

    md = result["markdown"]
    assert "### 20,000 orders" in md and "Load average" in md and "| measured | DuckDB | rollup | pandas |" in md
    assert len([line for line in md.splitlines() if line.startswith("| ")]) == 2 + len(rows)
    assert all(label in md for label in labels)
