"""The canonical keys of state rows that exist once (subscriptions, campaigns, alert rules): a
command's add and an imported row agree on what is "the same" through these, whoever writes."""

from __future__ import annotations

import hashlib
import json

from bot.state.planning import Campaign
from bot.state.store import AlertRule, Subscription


def subscription_key(sub: Subscription) -> str:
    """What makes two subscriptions the same delivery: the chat, the schedule and the digest's
    content (metrics in any order)."""
    canonical = json.dumps([sub.chat, sub.kind or "digest", sub.cadence, sub.weekday, sub.at, sub.timezone,
                            sorted(sub.metrics or []), sub.by, sub.wait_until])
    return "subscription:" + hashlib.sha256(canonical.encode()).hexdigest()[:40]


def campaign_key(c: Campaign) -> str:
    """Campaigns belong to the shop, not to a chat: one name over the same days is one campaign."""
    canonical = f"{c.name.casefold()}|{c.start.isoformat()}|{c.end.isoformat()}"
    return "campaign:" + hashlib.sha256(canonical.encode()).hexdigest()[:40]


def rule_key(rule: AlertRule) -> str:
    # thresholds as parsed from the same text are the same float; 12 digits absorbs 5% vs 0.05
    canonical = f"{rule.chat}|{rule.kpi}|{rule.op}|{rule.threshold:.12g}|{rule.by or ''}"
    return "rule:" + hashlib.sha256(canonical.encode()).hexdigest()[:40]
