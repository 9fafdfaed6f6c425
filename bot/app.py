"""Assembly: settings → warehouse → dispatcher with every router included explicitly."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date, datetime

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

import bot.state.planning  # noqa: F401  (its tables must exist before any Store is built)
from bot.config import Settings
from bot.context import Services
from bot.delivery.source_watch import SourceWatch
from bot.dispatch import Dispatcher
from bot.state.shared import StateAnswers
from bot.state.store import Store
from handlers import alerts as alert_handlers
from handlers import analysis as analysis_handlers
from handlers import cohorts as cohort_handlers
from handlers import digest as digest_handlers
from handlers import help as help_handlers
from handlers import kpi as kpi_handlers
from handlers import prefs as prefs_handlers
from handlers import products as product_handlers
from handlers.planning import budget as budget_handlers
from handlers.planning import campaigns as campaign_handlers
from handlers.planning import goals as goal_handlers
from handlers.planning import segments as segment_handlers
from metrics.data.load import demo_end, write_shop
from metrics.data.sample import ShopSpec, generate
from metrics.data.warehouse import QueryGate, Warehouse
from metrics.periods import now_in

log = logging.getLogger(__name__)

ROUTERS = (
    help_handlers.router,
    kpi_handlers.router,
    analysis_handlers.router,
    product_handlers.router,
    cohort_handlers.router,
    digest_handlers.router,
    alert_handlers.router,
    goal_handlers.router,
    budget_handlers.router,
    segment_handlers.router,
    campaign_handlers.router,
    prefs_handlers.router,
)


def ensure_demo_shop(settings: Settings, today: date, rebuild: bool = False) -> bool:
    """Build the demo warehouse unless it already ends yesterday; True when it was (re)built."""
    url = settings.warehouse_url()
    engine = create_engine(url)
    try:
        if not rebuild and demo_end(engine) == today:
            return False
        spec = ShopSpec(end=today, days=settings.demo.days, orders=settings.demo.orders, seed=settings.demo.seed)
        started = time.monotonic()
        log.info("building the demo shop (%d days, ~%d orders) in %s", spec.days, spec.orders, _safe(url))
        write_shop(engine, generate(spec), spec, settings.mapping())
        log.info("demo shop ready in %.1f s", time.monotonic() - started)
        return True
    finally:
        engine.dispose()


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def open_warehouse(settings: Settings) -> Warehouse:
    if settings.is_demo:
        ensure_demo_shop(settings, now_in(settings.zone).date())
    limits = settings.limits
    gate = QueryGate(timeout=limits.query_timeout_seconds, max_concurrent=limits.max_concurrent_queries)
    warehouse = Warehouse.from_url(settings.warehouse_url(), settings.mapping(), gate,
                                   memory_limit=settings.warehouse.memory_limit or None)
    warehouse.cache.ttl = settings.warehouse.cache_minutes * 60
    return warehouse


def build_dispatcher(
    settings: Settings,
    warehouse: Warehouse | None = None,
    clock: Callable[[], datetime] | None = None,
    store: Store | None = None,
) -> Dispatcher:
    services = Services(
        settings=settings,
        warehouse=warehouse or open_warehouse(settings),
        store=store or Store(settings.state_url()),
        clock=clock,
    )
    if warehouse is None:
        # the slow answers are kept in the state database too, so every instance (and the next
        # `opsbot ask`) serves the one any of them computed; a warehouse passed in (tests, tools)
        # keeps its own cache as it is
        services.warehouse.cache.shared = StateAnswers(services.store)
    # an unreachable warehouse is told to the admins once (and its return once)
    services.source_watch = SourceWatch(settings, services.store)
    services.warehouse.reachability.append(services.source_watch.observe)
    dispatcher = Dispatcher(services)
    for router in ROUTERS:
        dispatcher.include(router)
    return dispatcher
