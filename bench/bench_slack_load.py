"""Slack load: signed slash commands against the HTTP-mode adapter, in a process of its own (issue 10).

    .venv/bin/python bench/bench_slack_load.py                     # a burst of 1,000 concurrent commands
    .venv/bin/python bench/bench_slack_load.py --commands 20       # the smoke test's size
    .venv/bin/python bench/bench_slack_load.py --soak 600 --rate 20  # 10 minutes at 20 commands/s, RSS sampled

The bot runs as a subprocess (this script with --serve): opsbot's SlackAdapter in HTTP mode on
127.0.0.1, over a DuckDB demo shop, talking to the fake Slack of tests/fakes/slack_api.py, which
this process runs. Every command carries its own response_url, so the fake tells which command an
answer belongs to. Measured per command: the ack (HTTP 200 of the slash command, Slack's 3-second
limit) and the answer (the first post to its response_url), both from just before the request was
sent. The per-user and per-chat rate limits are raised out of the way: this measures the pipeline,
not the limiter. One command of each kind is sent first as a warm-up (a running bot is warm).

Baseline, measured in the same run after the bot (burst mode): the same client and burst against
a trivial aiohttp server in its own process that answers every POST at once with a fixed ack,
i.e. the floor this machine and this client set, whatever the bot does.

Prints a Markdown report, or JSON with --json (what tests/bench/test_slack_load.py reads).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `tests.fakes` is not an installed package

import aiohttp  # noqa: E402

from tests.fakes.slack_api import Call, FakeSlack, sign, slash_command  # noqa: E402

OUT = Path(__file__).parent / "out"
SECRET = "bench-signing-secret-0123456789abcdef"
BOT_TOKEN = "xoxb-bench-token"
ACK_LIMIT = 3.0  # seconds: Slack shows the user an error when a slash command is not acked by then
CHANNELS = [f"CLOAD{i:02d}" for i in range(10)]
USERS = [f"ULOAD{i:03d}" for i in range(50)]
COMMANDS = [
    "kpi",
    "kpi gmv yesterday",
    "kpi gmv orders aov last 7d vs previous by channel",
    "top category by gmv mtd",
    "top channel by orders last 7d",
    "trend gmv last 30d",
    "trend orders last 12w weekly",
    "help",
    "help kpi",
]
# --mix light: what a team mostly types (one number, a comparison, help), a chart one time in ten
LIGHT = [
    "kpi gmv yesterday", "kpi orders yesterday", "kpi gmv orders aov last 7d vs previous by channel", "help",
    "kpi gmv yesterday", "help kpi", "kpi conversion yesterday", "kpi gmv mtd", "kpi refund_rate last 7d",
    "top category by gmv mtd",
    "kpi gmv yesterday", "kpi orders yesterday", "kpi gmv orders aov last 7d vs previous by channel", "help",
    "kpi gmv yesterday", "help kpi", "kpi conversion yesterday", "kpi gmv mtd", "kpi refund_rate last 7d",
    "trend gmv last 30d",
]


# ---- the bot process ---------------------------------------------------------------------------


def options(pairs: list[str]) -> dict[str, float]:
    """--bot-option name=value → SlackConfig overrides (numbers), to compare adapter settings."""
    out: dict[str, float] = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        out[name] = int(value) if value.lstrip("-").isdigit() else float(value)
    return out


def serve(args: argparse.Namespace) -> None:
    """The bot: dispatcher over the demo shop, Slack adapter in HTTP mode; prints READY <url>."""
    import logging

    from bot.adapters.slack.adapter import SlackAdapter
    from bot.adapters.slack.config import SlackConfig
    from bot.app import build_dispatcher
    from bot.config import Settings
    from bot.state.store import Store
    from metrics.data.warehouse import Warehouse

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.model_validate({
        "warehouse": {"url": args.warehouse},
        "state": {"url": args.state},
        "access": {"chats": [f"slack:{c}" for c in CHANNELS]},
        "limits": {"user_per_minute": 10**9, "chat_per_minute": 10**9},
        "slack": {"mode": "http", "port": 0},
    })

    async def main() -> None:
        warehouse = Warehouse.from_url(settings.warehouse_url(), settings.mapping())
        dispatcher = build_dispatcher(settings, warehouse, store=Store(settings.state_url()))
        adapter = SlackAdapter(dispatcher, SlackConfig(
            bot_token=BOT_TOKEN, mode="http", signing_secret=SECRET, host="127.0.0.1", port=0,
            api_url=args.api_url, **options(args.bot_option)))
        await adapter.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print(f"READY {adapter.url}", flush=True)
        await stop.wait()
        await adapter.stop()
        warehouse.engine.dispose()

    asyncio.run(main())


def serve_trivial() -> None:
    """The baseline server: reads the body and acks at once, nothing else."""
    from aiohttp import web

    async def ack(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"response_type": "ephemeral", "text": "Working on it"})

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/slack/events", ack)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, backlog=1024).start()  # the adapter's backlog
        print(f"READY http://127.0.0.1:{runner.addresses[0][1]}/slack/events", flush=True)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()

    asyncio.run(main())


async def baseline(commands: int, mix: list[str]) -> dict[str, float]:
    proc = await asyncio.create_subprocess_exec(sys.executable, __file__, "--serve-trivial",
                                                stdout=asyncio.subprocess.PIPE, cwd=str(ROOT))
    assert proc.stdout is not None
    url = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().split(" ", 1)[1].strip()
    fake = TimedSlack()  # never started: only its response_url format is used
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                         timeout=aiohttp.ClientTimeout(total=60)) as session:
            await asyncio.gather(*(send_one(session, url, fake, -1 - i, "kpi") for i in range(10)))
            burst = [build(fake, i, mix[i % len(mix)]) for i in range(commands)]
            sent = await asyncio.gather(*(send_one(session, url, fake, i, r.text, r) for i, r in enumerate(burst)))
    finally:
        await stop_bot(proc)
    acks = [s.acked - s.started for s in sent if s.acked is not None and s.ack_ok]
    return {"baseline_acked": len(acks), "baseline_acked_within_3s": sum(a <= ACK_LIMIT for a in acks),
            "baseline_ack_p50_ms": percentile(acks, 0.5) * 1000, "baseline_ack_p99_ms": percentile(acks, 0.99) * 1000,
            "baseline_ack_max_ms": max(acks, default=float("nan")) * 1000}


# ---- the load side -----------------------------------------------------------------------------


class TimedSlack(FakeSlack):
    """The fake Slack, keeping only what the benchmark needs (an hour of calls would be a lot)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.answers: dict[str, tuple[float, str]] = {}  # rid -> (first answer time, response_type)
        self.methods: Counter[str] = Counter()
        self.failed_calls = 0

    def _record(self, call: Call) -> None:
        self.methods[call.method] += 1
        if call.status != 200:
            self.failed_calls += 1
        if call.method == "response":
            self.answers.setdefault(str(call.args.get("rid")), (time.monotonic(), str(call.args.get("response_type"))))


@dataclass
class Sent:
    rid: str
    text: str
    started: float
    status: int = 0
    acked: float | None = None
    ack_ok: bool = False
    error: str = ""


@dataclass
class Run:
    sent: list[Sent] = field(default_factory=list)
    rss: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, kB)
    idle: list[tuple[float, int]] = field(default_factory=list)  # after each soak round, answered and settled
    sent_seconds: float = 0.0  # when the last soak command was sent


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@dataclass(frozen=True)
class Request:
    rid: str
    text: str
    form: bytes
    headers: dict[str, str]


def build(fake: FakeSlack, i: int, text: str) -> Request:
    """Command i as Slack would POST it: its own response_url, signed with the signing secret."""
    rid = f"c{i}"
    form = urlencode(slash_command(text, channel=CHANNELS[i % len(CHANNELS)], user=USERS[i % len(USERS)],
                                   response_url=fake.response_url(rid))).encode()
    return Request(rid, text, form, {"Content-Type": "application/x-www-form-urlencoded", **sign(SECRET, form)})


async def send_one(session: aiohttp.ClientSession, url: str, fake: FakeSlack, i: int, text: str,
                   request: Request | None = None) -> Sent:
    req = request or build(fake, i, text)
    rid, form, headers = req.rid, req.form, req.headers
    sent = Sent(rid, text, time.monotonic())
    try:
        async with session.post(url, data=form, headers=headers) as response:
            body = await response.text()
            sent.acked = time.monotonic()
            sent.status = response.status
            sent.ack_ok = response.status == 200 and "Working on" in body
            if not sent.ack_ok:
                sent.error = f"HTTP {response.status}: {body[:100]}"
    except (aiohttp.ClientError, TimeoutError) as exc:
        sent.error = f"{type(exc).__name__}: {exc}"
    return sent


async def wait_answers(fake: TimedSlack, rids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(r not in fake.answers for r in rids):
        await asyncio.sleep(0.05)


def ensure_shop(orders: int, days: int) -> str:
    from sqlalchemy import create_engine

    from metrics.data.load import demo_end, write_shop
    from metrics.data.sample import ShopSpec, generate

    OUT.mkdir(exist_ok=True)
    path = OUT / f"shop-slack-{orders}-{days}.duckdb"
    url = f"duckdb:///{path}"
    spec = ShopSpec(end=date.today(), days=days, orders=orders)
    engine = create_engine(url)
    try:
        if not (path.exists() and demo_end(engine) == spec.end):
            write_shop(engine, generate(spec), spec)
    finally:
        engine.dispose()
    return url


async def start_bot(fake: FakeSlack, warehouse: str, state: str, log_path: Path,
                    bot_options: list[str]) -> tuple[asyncio.subprocess.Process, str]:
    with open(log_path, "wb") as log_file:  # the child holds its own copy of the descriptor
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--serve", "--api-url", fake.api_url, "--warehouse", warehouse, "--state", state,
            *[f"--bot-option={o}" for o in bot_options],
            stdout=asyncio.subprocess.PIPE, stderr=log_file, cwd=str(ROOT),
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=120)
    except TimeoutError:
        proc.kill()
        raise
    if not line.startswith(b"READY "):
        proc.kill()
        raise RuntimeError(f"the bot did not start: {line!r}: {log_path.read_text(errors='replace')[-2000:]}")
    return proc, line.decode().split(" ", 1)[1].strip()


async def stop_bot(proc: asyncio.subprocess.Process) -> int:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout=60)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0


async def load(args: argparse.Namespace) -> dict[str, Any]:
    warehouse = ensure_shop(args.orders, args.days)
    mix = LIGHT if args.mix == "light" else COMMANDS
    fake = TimedSlack()
    await fake.start()
    with tempfile.TemporaryDirectory(prefix="opsbot-slack-load-") as tmp:
        state = f"sqlite:///{Path(tmp) / 'state.db'}"
        log_path = Path(tmp) / "bot.log"  # its own per run: the smoke test may run beside a benchmark
        proc, url = await start_bot(fake, warehouse, state, log_path, args.bot_option)
        run = Run()
        connector = aiohttp.TCPConnector(limit=0)  # every request really in flight at once
        timeout = aiohttp.ClientTimeout(total=60)
        try:
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
                # warm-up: one of each kind, answered before the clock starts
                warm = await asyncio.gather(*(send_one(session, url, fake, -1 - i, c) for i, c in enumerate(COMMANDS)))
                await wait_answers(fake, [s.rid for s in warm], 120)
                started = time.monotonic()
                rss_task = asyncio.create_task(sample_rss(proc.pid, started, run, args.sample))
                if args.soak:
                    for _ in range(args.rounds):
                        sent = await soak(session, url, fake, args.soak, args.rate, mix, len(run.sent))
                        run.sent_seconds = time.monotonic() - started
                        run.sent += sent
                        await wait_answers(fake, [s.rid for s in sent], args.answer_timeout)
                        await asyncio.sleep(args.settle)  # idle: what memory does the bot keep?
                        run.idle.append((time.monotonic() - started, rss_kb(proc.pid)))
                else:
                    # built and signed before the clock starts: the client's own work is not the bot's
                    burst = [build(fake, i, mix[i % len(mix)]) for i in range(args.commands)]
                    started = time.monotonic()
                    run.sent = list(await asyncio.gather(*(
                        send_one(session, url, fake, i, r.text, r) for i, r in enumerate(burst))))
                sent_for = time.monotonic() - started if not args.soak else run.sent_seconds
                await wait_answers(fake, [s.rid for s in run.sent], args.answer_timeout)
                finished = time.monotonic() - started - (args.settle if args.soak else 0)
                rss_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await rss_task
                run.rss.append((time.monotonic() - started, rss_kb(proc.pid)))
        finally:
            code = await stop_bot(proc)
            await fake.stop()
        bot_log = log_path.read_text(errors="replace")
    if args.keep_log:
        Path(args.keep_log).write_text(bot_log)
    result = report(args, run, fake, sent_for, finished, code, bot_log)
    if not args.soak and args.baseline:
        result.update(await baseline(args.commands, mix))
    return result


async def sample_rss(pid: int, started: float, run: Run, every: float) -> None:
    while True:
        run.rss.append((time.monotonic() - started, rss_kb(pid)))
        await asyncio.sleep(every)


async def soak(session: aiohttp.ClientSession, url: str, fake: FakeSlack, seconds: float, rate: float,
               mix: list[str], first: int = 0) -> list[Sent]:
    """Open loop: command i leaves at start + i/rate whether or not earlier ones were answered."""
    tasks: list[asyncio.Task[Sent]] = []
    start = time.monotonic()
    total = int(seconds * rate)
    for i in range(total):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send_one(session, url, fake, first + i, mix[i % len(mix)])))
    return list(await asyncio.gather(*tasks))


def report(args: argparse.Namespace, run: Run, fake: TimedSlack, sent_for: float, finished: float, code: int,
           bot_log: str) -> dict[str, Any]:
    acks = [s.acked - s.started for s in run.sent if s.acked is not None and s.ack_ok]
    answers = [fake.answers[s.rid][0] - s.started for s in run.sent if s.rid in fake.answers]
    kinds = Counter(fake.answers[s.rid][1] for s in run.sent if s.rid in fake.answers)
    errors = [s.error for s in run.sent if s.error]
    log_errors = [line for line in bot_log.splitlines() if " ERROR " in line or " CRITICAL " in line
                  or line.startswith("Traceback")]
    rss = [kb for _, kb in run.rss]
    out: dict[str, Any] = {
        "mode": "soak" if args.soak else "burst",
        "commands": len(run.sent),
        "acked": len(acks),
        "acked_within_3s": sum(a <= ACK_LIMIT for a in acks),
        "answered": len(answers),
        "answered_in_channel": kinds.get("in_channel", 0),
        "error_replies": kinds.get("ephemeral", 0),
        "request_errors": len(errors),
        "request_error_samples": errors[:5],
        "bot_log_errors": len(log_errors),
        "bot_log_error_samples": log_errors[:5],
        "bot_exit_code": code,
        "fake_calls": dict(fake.methods),
        "fake_failed_calls": fake.failed_calls,
        "ack_p50_ms": percentile(acks, 0.5) * 1000,
        "ack_p99_ms": percentile(acks, 0.99) * 1000,
        "ack_max_ms": max(acks, default=float("nan")) * 1000,
        "answer_p50_ms": percentile(answers, 0.5) * 1000,
        "answer_p99_ms": percentile(answers, 0.99) * 1000,
        "answer_max_ms": max(answers, default=float("nan")) * 1000,
        "sent_seconds": sent_for,
        "all_answered_seconds": finished,
        "rss_start_mb": rss[0] / 1024 if rss else None,
        "rss_end_mb": rss[-1] / 1024 if rss else None,
        "rss_max_mb": max(rss) / 1024 if rss else None,
        "rss_samples_mb": [(round(t), round(kb / 1024, 1)) for t, kb in run.rss],
        "shop": {"orders": args.orders, "days": args.days},
        "mix": args.mix,
        "bot_options": args.bot_option,
        "unanswered": len(run.sent) - len(answers),
    }
    if args.soak:
        out["rate"] = args.rate
        out.update(flatness(run.rss, run.idle, args.soak))
        out["rounds"] = args.rounds
    out["ok"] = (out["acked_within_3s"] == out["commands"] == out["answered"] and not errors and not log_errors
                 and out["error_replies"] == 0)
    return out


def flatness(samples: list[tuple[float, int]], idle: list[tuple[float, int]], load_seconds: float) -> dict[str, Any]:
    """Is memory flat? The bot idle before the load (after its warm-up) and idle after each round
    (all answered, then --settle seconds), plus the drift while loaded: the least-squares slope
    from the end of the first minute to the end of the first round, in MB per hour.

    With one round, flat means the bot keeps under 3 % (at least 10 MB) of what it started with.
    With more, the first rounds may fill caches (DuckDB's buffers, SQLite's page cache, pools):
    flat means a plateau, the last round adding under 2 % (at least 5 MB) to the one before."""
    mb = [(t, kb / 1024) for t, kb in samples]
    before = mb[0][1]
    after = [kb / 1024 for _, kb in idle] or [mb[-1][1]]
    out: dict[str, Any] = {"rss_idle_before_mb": before, "rss_idle_after_rounds_mb": after,
                           "rss_idle_after_mb": after[-1], "rss_retained_mb": after[-1] - before}
    loaded = [(t, m) for t, m in mb if 60 <= t <= load_seconds]
    if len(loaded) >= 3:
        ts, ms = [t for t, _ in loaded], [m for _, m in loaded]
        mt, mm = statistics.fmean(ts), statistics.fmean(ms)
        slope = sum((t - mt) * (m - mm) for t, m in loaded) / sum((t - mt) ** 2 for t in ts)  # MB/s
        out.update(rss_loaded_slope_mb_per_hour=slope * 3600, rss_loaded_first_mb=ms[0], rss_loaded_last_mb=ms[-1])
    if len(after) >= 2:
        out["rss_flat"] = after[-1] - after[-2] < max(5.0, 0.02 * after[-2])
    else:
        out["rss_flat"] = after[-1] - before < max(10.0, 0.03 * before)
    return out


def machine() -> dict[str, str]:
    load1, load5, load15 = os.getloadavg()
    return {"date": datetime.now().isoformat(timespec="seconds"), "uname": " ".join(platform.uname()),
            "nproc": str(os.cpu_count()), "python": platform.python_version(),
            "loadavg": f"{load1:.2f} {load5:.2f} {load15:.2f}",
            "uname_a": subprocess.getoutput("uname -a")}


def markdown(r: dict[str, Any], m: dict[str, str]) -> str:
    lines = [f"{r['mode']}: {r['commands']:,} commands"
             + (f" at {r['rate']}/s" if r["mode"] == "soak" else " sent concurrently")
             + f", {r['mix']} mix; demo shop {r['shop']['orders']:,} orders / {r['shop']['days']} days (DuckDB)"
             + (f"; bot options {' '.join(r['bot_options'])}" if r["bot_options"] else ""),
             f"machine: {m['uname_a']}; nproc {m['nproc']}; load average at the end {m['loadavg']}; {m['date']}",
             "", "| measure | value |", "| --- | --- |"]
    rows = [
        ("acknowledged (HTTP 200 + 'Working on')", f"{r['acked']:,} / {r['commands']:,}"),
        ("acknowledged within 3 s", f"{r['acked_within_3s']:,} / {r['commands']:,}"),
        ("ack p50 / p99 / max", f"{r['ack_p50_ms']:,.0f} / {r['ack_p99_ms']:,.0f} / {r['ack_max_ms']:,.0f} ms"),
        ("answered (response_url)", f"{r['answered']:,} / {r['commands']:,}"),
        ("answer p50 / p99 / max", f"{r['answer_p50_ms']:,.0f} / {r['answer_p99_ms']:,.0f} / {r['answer_max_ms']:,.0f} ms"),
        ("all sent after / all answered after", f"{r['sent_seconds']:.1f} s / {r['all_answered_seconds']:.1f} s"),
        ("errors (request, error replies, bot log ERROR lines)",
         f"{r['request_errors']}, {r['error_replies']}, {r['bot_log_errors']}"),
        ("bot RSS start / end / max", f"{r['rss_start_mb']:.0f} / {r['rss_end_mb']:.0f} / {r['rss_max_mb']:.0f} MB"),
    ]
    if "baseline_ack_p50_ms" in r:
        rows.append(("baseline: trivial aiohttp server, same client and burst: acked within 3 s, p50 / p99 / max",
                     f"{r['baseline_acked_within_3s']:,} / {r['commands']:,}; {r['baseline_ack_p50_ms']:,.0f} / "
                     f"{r['baseline_ack_p99_ms']:,.0f} / {r['baseline_ack_max_ms']:,.0f} ms"))
    if r["mode"] == "soak":
        rounds = " → ".join(f"{m:.0f}" for m in r["rss_idle_after_rounds_mb"])
        rows.append((f"bot RSS idle before the load → idle after {'each round' if r['rounds'] > 1 else 'it'}",
                     f"{r['rss_idle_before_mb']:.0f} → {rounds} MB "
                     f"({r['rss_retained_mb']:+.0f} MB): {'flat' if r['rss_flat'] else 'NOT FLAT'}"))
        if r.get("rss_loaded_slope_mb_per_hour") is not None:
            rows.append(("bot RSS under load, minute 1 → end of the load",
                         f"{r['rss_loaded_first_mb']:.0f} → {r['rss_loaded_last_mb']:.0f} MB "
                         f"(trend {r['rss_loaded_slope_mb_per_hour']:+.0f} MB/h)"))
    lines += [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--commands", type=int, default=1000, help="burst size (ignored with --soak)")
    ap.add_argument("--soak", type=float, default=0, help="seconds of steady load instead of a burst")
    ap.add_argument("--rate", type=float, default=20, help="commands per second during --soak")
    ap.add_argument("--sample", type=float, default=10, help="seconds between RSS samples")
    ap.add_argument("--rounds", type=int, default=1, help="soak this many times in a row, idle in between")
    ap.add_argument("--settle", type=float, default=20, help="idle seconds after a soak before the last RSS sample")
    ap.add_argument("--mix", choices=["full", "light"], default="full",
                    help="full: kpi, top, trend and help in equal turns; light: mostly kpi and help, a chart in ten")
    ap.add_argument("--orders", type=int, default=120_000, help="demo shop size ([demo] defaults)")
    ap.add_argument("--days", type=int, default=400)
    ap.add_argument("--answer-timeout", type=float, default=600)
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    ap.add_argument("--keep-log", help="write the bot's log (WARNING and up) to this file")
    ap.add_argument("--no-baseline", dest="baseline", action="store_false",
                    help="skip the trivial-server baseline after a burst")
    ap.add_argument("--serve-trivial", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--bot-option", action="append", default=[], metavar="NAME=VALUE",
                    help="a SlackConfig override for the bot, e.g. backlog=128 answer_concurrency=100000 "
                         "ack_first_wait=0 (the adapter's settings before issue 10)")
    # the bot process
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--api-url", help=argparse.SUPPRESS)
    ap.add_argument("--warehouse", help=argparse.SUPPRESS)
    ap.add_argument("--state", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args)
        return
    if args.serve_trivial:
        serve_trivial()
        return
    result = asyncio.run(load(args))
    info = machine()
    if args.json:
        print(json.dumps({**result, "machine": info}, indent=2))
    else:
        print(markdown(result, info))
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
