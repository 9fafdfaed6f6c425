"""The digest's numbers against pandas on the demo shop, and the subscription commands."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from handlers.digest import month_to_date
from metrics.data.sample import Shop
from tests.conftest import TODAY
from tests.fakes.chat import Chat
from tests.handlers.test_kpi import expected

YESTERDAY = TODAY - timedelta(days=1)


async def test_daily_digest_numbers(chat: Chat, demo_shop: Shop) -> None:
    reply = await chat.send("digest now")
    assert not reply.error, reply.plain_text()
    days = {k: expected(demo_shop, YESTERDAY - timedelta(days=k), TODAY - timedelta(days=k)).iloc[0]
            for k in (0, 1, 7)}
    for name in ("gmv", "orders", "aov", "conversion", "new_customers", "refund_rate"):
        m = reply.data["metrics"][name]
        assert m["value"] == pytest.approx(days[0][name])
        assert m["previous"] == pytest.approx(days[1][name])
        assert m["week_ago"]["previous"] == pytest.approx(days[7][name])
    assert reply.data["data_status"] == "complete"
    # month to date (through yesterday) against the same days of last month
    o = demo_shop.orders[demo_shop.orders.status != "cancelled"]
    day = o.ordered_at.dt.date
    mtd = o[(day >= TODAY.replace(day=1)) & (day < TODAY)].amount.sum()
    last = o[(day >= date(2026, 10, 1)) & (day < date(2026, 10, 25))].amount.sum()
    assert reply.data["mtd"]["gmv"]["value"] == pytest.approx(mtd)
    assert reply.data["mtd"]["gmv"]["previous"] == pytest.approx(last)
    # movers by channel: each value's GMV change, day over day
    by_channel = (o[day == YESTERDAY].groupby("channel").amount.sum()
                  .sub(o[day == YESTERDAY - timedelta(days=1)].groupby("channel").amount.sum(), fill_value=0))
    top = reply.data["movers"]["channel"]
    assert len(top) == 3
    for row in top:
        assert row["contribution"] == pytest.approx(by_channel[row["value"]])
    assert reply.charts and reply.charts[0].png.startswith(b"\x89PNG")


async def test_weekly_digest_is_last_week_vs_the_week_before(chat: Chat, demo_shop: Shop) -> None:
    reply = await chat.send("digest now weekly")
    assert not reply.error
    # 2026-11-25 is a Wednesday: last week is Nov 16-22, the week before Nov 9-15
    assert reply.data["period"] == {"start": "2026-11-16", "end": "2026-11-23"}
    assert reply.data["compare"]["start"] == "2026-11-09"
    exp = expected(demo_shop, date(2026, 11, 16), date(2026, 11, 23)).iloc[0]
    assert reply.data["metrics"]["gmv"]["value"] == pytest.approx(exp.gmv)


async def test_a_missing_day_is_reported_as_missing(chat: Chat, clock) -> None:
    clock.now = datetime(2026, 11, 26, 9, 0)  # the shop's data ends on the 24th: the 25th has no orders
    reply = await chat.send("digest now")
    assert reply.data["data_status"] == "missing"
    assert "probably late, not a collapse" in reply.plain_text()


def test_month_to_date_caps_at_the_shorter_month() -> None:
    mtd, last = month_to_date(date(2026, 3, 31))
    assert (mtd.start, mtd.end) == (date(2026, 3, 1), date(2026, 3, 31))
    assert (last.start, last.end) == (date(2026, 2, 1), date(2026, 3, 1))
    assert month_to_date(date(2026, 3, 1)) is None


async def test_subscribe_list_pause_resume_unsubscribe(chat: Chat) -> None:
    ops = chat  # the console is an admin
    reply = await ops.send("subscribe digest daily 09:00 gmv orders by channel wait-until 10:30")
    assert not reply.error, reply.plain_text()
    sub_id = reply.data["subscription"]
    assert reply.data["at"] == "09:00" and reply.data["timezone"] == "Asia/Shanghai"
    weekly = await ops.send("subscribe digest weekly mon 8:30")
    assert weekly.data["weekday"] == "mon" and weekly.data["at"] == "08:30"
    listing = await ops.send("subscriptions")
    assert [s["id"] for s in listing.data["subscriptions"]] == [sub_id, weekly.data["subscription"]]
    assert (await ops.send(f"pause {sub_id}")).data["paused"] is True
    assert (await ops.send(f"resume #{sub_id}")).data["paused"] is False
    assert not (await ops.send(f"unsubscribe {sub_id}")).error
    assert len((await ops.send("subscriptions")).data["subscriptions"]) == 1


async def test_subscriptions_belong_to_their_chat(dispatcher, demo_settings) -> None:
    settings = demo_settings.model_copy(update={"access": demo_settings.access.model_copy(update={
        "chats": ("slack:CA", "slack:CB"), "admins": ("slack:UADMIN",)})})
    dispatcher.services.settings = settings
    a = Chat(dispatcher).as_("slack:CA", "slack:UADMIN")
    b = Chat(dispatcher).as_("slack:CB", "slack:UADMIN")
    member = Chat(dispatcher).as_("slack:CA", "slack:UMEMBER")
    sub_id = (await a.send("subscribe digest daily 09:00")).data["subscription"]
    assert (await b.send("subscriptions")).data["subscriptions"] == []
    assert "no subscription" in (await b.say(f"unsubscribe {sub_id}"))
    assert "Only admins" in (await member.say("subscribe digest daily 10:00"))
    assert "Only admins" in (await member.say(f"pause {sub_id}"))


@pytest.mark.parametrize(
    ("command", "expect"),
    [
        ("subscribe", "Subscribe to what?"),
        ("subscribe digest daily", "is not a time"),
        ("subscribe digest daily 25:00", "'25:00' is not a time"),
        ("subscribe digest daily 01:30", "between midnight and 03:00"),
        ("subscribe digest weekly 09:00", "needs a weekday"),
        ("subscribe digest daily 09:00 gmvv", "Did you mean gmv?"),
        ("subscribe digest daily 09:00 wait-until 08:00", "must be after"),
        ("subscribe digest daily 09:00 by colour", "Unknown dimension"),
        ("unsubscribe", "subscription's number"),
        ("unsubscribe 999", "no subscription #999"),
        ("pause abc", "subscription's number"),
        ("digest later", "digest now"),
    ],
)
async def test_bad_subscription_input(chat: Chat, command: str, expect: str) -> None:
    reply = await chat.send(command)
    assert reply.error
    assert expect in reply.plain_text()


async def test_deliveries_lists_what_was_pushed(chat: Chat, dispatcher) -> None:
    from bot.context import ChatRef
    from bot.delivery.outbox import Outbox
    from bot.reply import Reply

    outbox = Outbox(dispatcher.services.store)
    outbox.enqueue("digest:1:2026-11-25", ChatRef("slack", "COPS"), Reply(title="x"))
    outbox.mark_failed(outbox.get("digest:1:2026-11-25").id, 6, "channel_not_found")
    reply = await chat.send("deliveries")
    assert reply.data["deliveries"][0] == {"key": "digest:1:2026-11-25", "chat": "slack:COPS", "status": "failed",
                                           "attempts": 6, "error": "channel_not_found", "message_id": None}
    assert "channel_not_found" in reply.plain_text()


async def test_the_digest_shows_the_pace_of_every_goal(chat: Chat) -> None:
    reply = await chat.send("goal set gmv 9000000 2026-12")
    assert not reply.error, reply.plain_text()
    digest = await chat.send("digest now")
    assert len(digest.data["pace"]) == 0  # December has not started on 2026-11-25
    current = await chat.send("goal set orders 9000 this month")
    assert not current.error, current.plain_text()
    digest = await chat.send("digest now")
    assert len(digest.data["pace"]) == 1 and digest.data["pace"][0]["goal"] == 9000
    pace = await chat.send("pace orders")
    assert pace.data and not pace.error
