"""The state store: things that must exist once (a chat's digest, rule, campaign) stay single, also
when two instances add the same one at the same moment."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import false, func, select

from bot.state.keys import subscription_key
from bot.state.store import Store, Subscription, UniqueKey
from tests.conftest import PG_URL


def nine_oclock(chat: str = "slack:COPS") -> Subscription:
    return Subscription(chat=chat, cadence="daily", weekday=None, at="09:00", timezone="Asia/Shanghai", metrics=[],
                        by=None, wait_until=None, paused=False, source="chat")


def count(store: Store) -> int:
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(Subscription)) or 0


def test_two_instances_adding_the_same_subscription_at_once(store: Store, backend: str) -> None:
    """Both check, find nothing, and write: only the key's primary key can stop the second."""
    other = Store(PG_URL if backend == "postgresql" else str(store.engine.url))
    together = threading.Barrier(2)
    nobody = select(Subscription).where(false())  # as if each had looked before the other wrote

    def add(s: Store) -> bool:
        waited = False

        def make() -> Subscription:
            nonlocal waited
            if not waited:  # the first attempts start together; a retry goes on its own
                waited = True
                together.wait(timeout=10)
            return nine_oclock()

        return s.add_once(make, subscription_key, nobody)[1]

    try:
        with ThreadPoolExecutor(2) as pool:
            added = list(pool.map(add, [store, other]))
    finally:
        other.dispose()
    assert sorted(added) == [False, True]
    assert count(store) == 1


def test_a_twin_made_before_keys_existed_is_found(store: Store) -> None:
    with store.session() as s, s.begin():
        s.add(nine_oclock())  # no key row: an older opsbot, or a config subscription
    mine = select(Subscription).where(Subscription.chat == "slack:COPS")
    twin, added = store.add_once(nine_oclock, subscription_key, mine)
    assert not added and twin.id == 1 and count(store) == 1


def test_a_key_whose_row_was_removed_does_not_block_adding_it_again(store: Store) -> None:
    mine = select(Subscription).where(Subscription.chat == "slack:COPS")
    first, _ = store.add_once(nine_oclock, subscription_key, mine)
    with store.session() as s, s.begin():
        s.delete(s.get(Subscription, first.id))  # removed without its key (unsubscribe, config sync)
    again, added = store.add_once(nine_oclock, subscription_key, mine)
    assert added and count(store) == 1
    with store.session() as s:
        assert s.get(UniqueKey, subscription_key(again)).ref == again.id
    # another chat's identical schedule is another subscription
    assert store.add_once(lambda: nine_oclock("slack:CSALES"), subscription_key, mine)[1]
