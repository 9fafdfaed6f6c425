"""Where the numbers come from: `warehouse` (the read-only warehouse, scopes, timeouts, the query
gate), `dialects` (everything that differs between engines), `schema` (the logical tables and a
shop's mapping), `check` (`opsbot check`), `ingest` (`opsbot ingest`), `load` and `sample` (the demo
shop), `cache` (answers kept between commands). May import only metrics' own modules and the
data libraries."""
