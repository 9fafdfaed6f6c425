"""Computation: the numbers opsbot answers with, from the warehouse. Metrics know no chat.

At the top, the analytics every command uses: `kpis` (the KPI catalogue and its SQL), `periods`
(the period grammar), `breakdown`, `trend`, `funnel`, `cohorts`, `segments`, `coverage`, `lagging`,
`errors` (the `InputError`/`SourceUnavailable` contract).

Sub-packages: `data/` (the warehouse, engines, the mapping, ingest, the demo shop), `anomaly/`
(detectors and scans), `planning/` (goals, budget, campaigns), `charts/` (PNG charts).

May import: pandas, numpy, SQLAlchemy, matplotlib, scipy. Never `bot` or `handlers`."""
