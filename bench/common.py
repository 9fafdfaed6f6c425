"""What the benchmark scripts share: the output folder, the machine line, timing, the demo shop
and a dispatcher that answers commands as chat messages."""

from __future__ import annotations

import asyncio
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the bot is imported where it is used: a worker that only runs SQL starts in a blink
    from bot.dispatch import Dispatcher
    from metrics.data.sample import Shop, ShopSpec

OUT = Path(__file__).parent / "out"  # git-ignored: built shops and CSV files


def machine() -> str:
    cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True, text=True)
    return f"{platform.machine()} {cpu.stdout.strip() or 'cpu'}, {subprocess.getoutput('nproc')} cores, python {platform.python_version()}"


def median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm caches: every bot answers many questions on one warm database
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def ensure_shop(url: str, path: Path, spec: ShopSpec) -> Shop | None:
    """Build the demo shop at `url` unless the file is there and ends on spec.end; the Shop if built."""
    from sqlalchemy import create_engine

    from metrics.data.load import demo_end, write_shop
    from metrics.data.sample import generate

    engine = create_engine(url)
    if demo_end(engine) == spec.end and path.exists():
        engine.dispose()
        return None
    shop = generate(spec)
    write_shop(engine, shop, spec)
    engine.dispose()
    return shop


def dispatcher_for(url: str, now: datetime, state_dir: Path | None = None) -> Dispatcher:
    """The bot's dispatcher on the warehouse at `url`, with the clock fixed at `now` and its own state file
    (an in-memory SQLite state is one database per connection)."""
    from bot.app import build_dispatcher
    from bot.config import Settings
    from bot.state.store import Store
    from metrics.data.warehouse import Warehouse

    settings = Settings.model_validate({"warehouse": {"url": url}})
    wh = Warehouse.from_url(settings.warehouse_url(), settings.mapping())
    state = (state_dir or Path(tempfile.mkdtemp(prefix="opsbot-bench-"))) / "state.db"
    return build_dispatcher(settings, wh, clock=lambda: now, store=Store(f"sqlite:///{state}"))


def asker(dispatcher: Dispatcher, cmd: str) -> Callable[[], object]:
    """A function that sends `cmd` as a console chat message and returns the Reply (an error reply raises)."""
    from bot.context import CONSOLE, Incoming

    def run() -> object:
        reply = asyncio.run(dispatcher.dispatch(Incoming(cmd, CONSOLE, "console:local")))
        assert not reply.error, reply.plain_text()
        return reply
    return run
