"""The chat side of opsbot: everything between a person's message and a `Reply`.

At the top, the core every platform shares: `context` (the values that travel inward: `ChatRef`,
`Incoming`, `Args`, `Context`), `router` (commands registered per handler module), `dispatch` (the
dispatcher: access, rate limits, languages, the error contract), `reply` and `errors`, `tokens` and
`suggest` (the command grammar's words), and the wiring: `config`, `app` (builds the services and
includes every handler router), `run` (a long-running bot), `ops` and `logs` (health, metrics,
structured logs).

Sub-packages: `adapters/` (one per platform), `delivery/` (scheduled digests and alerts, the outbox),
`state/` (the state database), `text/` (message catalogues and the language rule), `cli/` (the
`opsbot` command).

May import: `metrics` (computation) and, in the wiring only (`app`, `run`, `cli`,
`delivery.scheduler`), `handlers`. The core and `state`/`text` never import a platform SDK."""
