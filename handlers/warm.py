"""Keeps the slow answers ready: segments, retention and LTV read every customer's whole history
(seconds at millions of orders), so a scheduled job asks them ahead of the people who will, for
every row-level scope in use, exactly as the commands do. The answers then come from the cache
(metrics/data/cache.py) in milliseconds.
"""

from __future__ import annotations

from bot.context import Context
from handlers.cohorts import parse_ltv, parse_retention
from handlers.common import by_scope
from metrics import cohorts as co
from metrics import coverage
from metrics import segments as seg_mod


def warm(ctx: Context) -> int:
    """Compute (or keep) the default `segments`, `retention` and `ltv` answers of each scope whose
    kept answer is older than half the cache's lifetime, so the cache never runs dry between two
    runs. Blocking: call through ctx.run. Returns the number of scopes warmed."""
    cache = ctx.services.warehouse.cache
    if cache.ttl <= 0:
        return 0
    cache.drop_older_than(cache.ttl / 2)
    chats = {str(ctx.incoming.chat)} | set(ctx.settings.access.scopes)
    groups = by_scope(ctx, chats)
    for sctx, _ in groups:
        today = sctx.now().date()
        for table in coverage.TABLES:  # what every answer checks its period against
            sctx.warehouse.coverage(table, today)
        seg_mod.segment_report(sctx.warehouse, today)
        co.retention(sctx.warehouse, parse_retention(sctx, ""))
        co.ltv(sctx.warehouse, *parse_ltv(sctx, ""))
    return len(groups)
