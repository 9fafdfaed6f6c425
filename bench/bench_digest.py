"""Digest fan-out (issue 6 targets: 1,000 subscriptions' digests built and handed to a local fake
Slack in under 60 s; one digest on a 2,000,000-order shop under 1 s median).

    .venv/bin/python bench/bench_digest.py [--orders 2000000] [--days 730] [--subs 1000]

Everything runs as the scheduler runs it at 09:00: `run_subscription` for every subscription
(digests enqueued in the outbox), then the deliverer posts them through the real Slack adapter
(slack_sdk, Block Kit, files_upload_v2) to the fake Slack Web API on 127.0.0.1. The baseline in the
same run is the naive fan-out: one digest build per subscription (median build time × subscriptions).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OUT, ensure_shop, machine  # noqa: E402
from bot.adapters.slack.adapter import SlackAdapter  # noqa: E402
from bot.adapters.slack.config import SlackConfig  # noqa: E402
from bot.app import build_dispatcher  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.delivery.outbox import Deliverer, Outbox  # noqa: E402
from bot.delivery.scheduler import Runtime, install, run_subscription  # noqa: E402
from bot.state.store import Store, Subscription  # noqa: E402
from handlers.digest import DigestSpec, build_digest  # noqa: E402
from metrics.data.sample import ShopSpec  # noqa: E402
from metrics.data.warehouse import Warehouse  # noqa: E402

FAKE_MAIN = """
import asyncio, signal, sys
from tests.fakes.slack_api import FakeSlack
async def main():
    fake = FakeSlack()
    await fake.start()
    print(fake.api_url, flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    print(len(fake.calls_to("chat.postMessage")), len(fake.calls_to("files.completeUploadExternal")), flush=True)
    await fake.stop()
asyncio.run(main())
"""

SPECS = [
    dict(metrics=[], by=None),
    dict(metrics=["gmv", "orders", "aov", "conversion"], by="channel"),
    dict(metrics=["gmv", "new_customers", "cac", "roas"], by=None),
    dict(metrics=["gmv", "refund_rate"], by="region"),
]


async def run(args: argparse.Namespace) -> None:
    today = date.today()
    db = OUT / f"shop-{args.orders}-{args.days}.duckdb"
    OUT.mkdir(exist_ok=True)
    ensure_shop(f"duckdb:///{db}", db, ShopSpec(end=today, days=args.days, orders=args.orders))
    settings = Settings.model_validate({"warehouse": {"url": f"duckdb:///{db}"}})
    warehouse = Warehouse.from_url(settings.warehouse_url(), settings.mapping())
    zone = ZoneInfo(settings.bot.timezone)
    local_now = datetime.combine(today, datetime.min.time()) + timedelta(hours=9, seconds=5)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'state.db'}")
        dispatcher = build_dispatcher(settings, warehouse, clock=lambda: local_now, store=store)
        ctx = dispatcher.context_for(dispatcher_chat())
        builds = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            await build_digest(ctx, DigestSpec(), local_now)
            builds.append(time.perf_counter() - t0)
        one = statistics.median(builds)

        with store.session() as s, s.begin():
            for i in range(args.subs):
                spec = SPECS[i % len(SPECS)]
                s.add(Subscription(chat=f"slack:C{i:05d}", cadence="daily", at="09:00", timezone=settings.bot.timezone,
                                   metrics=spec["metrics"], by=spec["by"], paused=False))
        # the fake Slack in its own process, as the real one is elsewhere: it must not share our core
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", FAKE_MAIN, stdout=asyncio.subprocess.PIPE, cwd=str(Path(__file__).parents[1]))
        api_url = (await proc.stdout.readline()).decode().strip()  # type: ignore[union-attr]
        adapter = SlackAdapter(dispatcher, SlackConfig(bot_token="xoxb-bench", mode="socket", app_token="xapp-1-b",
                                                       api_url=api_url, retry_backoff=0.05))
        outbox = Outbox(store)
        deliverer = Deliverer(outbox, {"slack": adapter})
        install(Runtime(dispatcher, outbox, deliverer, clock=lambda: local_now.replace(tzinfo=zone)))
        t0 = time.perf_counter()
        results = [await run_subscription(i + 1) for i in range(args.subs)]
        built = time.perf_counter() - t0
        sent = 0
        while sent < args.subs:
            n = await deliverer.run_once(concurrency=16)
            if n == 0:
                break
            sent += n
        total = time.perf_counter() - t0
        await adapter.stop()
        proc.stdin = None
        proc.terminate()
        counts = (await proc.communicate())[0].decode().split()
        posts, uploads = (int(counts[0]), int(counts[1])) if len(counts) >= 2 else (-1, -1)
    print(f"\nmachine: {machine()}; {args.orders:,} orders over {args.days} days (DuckDB)\n")
    print("| measure | value |\n| --- | --- |")
    print(f"| one digest build (median of {args.runs}) | {one * 1000:,.0f} ms |")
    print(f"| {args.subs} subscriptions: digests built and enqueued | {built:,.1f} s ({results.count('enqueued')} enqueued) |")
    print(f"| {args.subs} subscriptions: built and delivered to the fake Slack | {total:,.1f} s "
          f"({sent} sent, {posts} messages, {uploads} charts) |")
    print(f"| baseline: one build per subscription, no sharing | {one * args.subs:,.0f} s (estimated: median × {args.subs}) |")


def dispatcher_chat():  # type: ignore[no-untyped-def]
    from bot.context import ChatRef

    return ChatRef("slack", "CBENCH")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=2_000_000)
    ap.add_argument("--days", type=int, default=730)
    ap.add_argument("--subs", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
