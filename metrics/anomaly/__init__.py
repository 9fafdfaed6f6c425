"""Anomaly detection: `detectors` (seasonal baselines and scores), `scan` (the daily scan over KPIs
and slices, with the slice that broke), `intraday` (hour-by-hour against the same hour), `series`
(any `timestamp,value` series on its grid, for `opsbot detect` and NAB) and `evaluation` / `nab`
(scoring against the demo shop's planted labels and the Numenta Anomaly Benchmark). No CLI here:
`opsbot detect`'s output lives in bot/cli/detect.py."""
