"""What opsbot sends without being asked: `scheduler` (APScheduler jobs for digests, alert scans,
warm-ups, with one owner per job across instances), `outbox` (every push written first, then
delivered exactly once, retried and restated in place) and `source_watch` (tells the admins when
the warehouse is down and when it is back).

May import: the core, `bot.state`, `bot.text`, `metrics`; the scheduler also calls the handlers
that build digests and scans (it is wiring). Never a platform SDK: adapters deliver."""
