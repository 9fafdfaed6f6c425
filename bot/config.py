"""Settings: a TOML file read with tomllib into frozen, validated models.

Secrets (tokens, signing secrets, passwords) never live here: they come from the
environment. A database URL with a password is refused in the file and read from
OPSBOT_WAREHOUSE_URL / OPSBOT_STATE_URL instead. With no file at all the defaults
describe the embedded demo shop.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy.engine import make_url

from bot.errors import ConfigError
from metrics.data.schema import (
    DEFAULT_STATUSES,
    LOGICAL_TABLES,
    ColumnMap,
    Mapping,
    TableMap,
    validate_select,
)
from metrics.data.warehouse import DUCKDB_MEMORY_LIMIT


class _Section(BaseModel):
    # Unknown keys are typos until proven otherwise: refuse them by name.
    model_config = ConfigDict(extra="forbid", frozen=True)


class BotSection(_Section):
    timezone: str = "Asia/Shanghai"
    language: Literal["en", "zh"] = "en"
    currency: str = "CNY"
    max_command_length: int = Field(default=1000, ge=10, le=100_000)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r} (use an IANA name such as 'Asia/Shanghai')") from exc
        return value

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        if len(value) != 3 or not value.isalpha():
            raise ValueError(f"currency must be an ISO 4217 code such as 'CNY' or 'USD', got {value!r}")
        return value.upper()


PLATFORMS = ("slack", "telegram", "feishu", "dingtalk", "wecom", "console")


def _check_chat_id(value: str) -> str:
    platform, _, ident = value.partition(":")
    if platform not in PLATFORMS or not ident:
        raise ValueError(f"{value!r} must look like 'slack:C0123', 'telegram:-100123', 'feishu:oc_…', "
                         "'dingtalk:cid…' or 'wecom:<robot>'")
    return value


class AccessSection(_Section):
    """Who gets answers, and what they may see. Entries are `platform:id`, e.g. `slack:C0123`."""

    chats: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    admins: tuple[str, ...] = ()
    # Slack workspaces (team ids) opsbot answers in; empty: any workspace its token is installed in
    slack_teams: tuple[str, ...] = ()
    # Feishu/Lark tenants (tenant_key) and DingTalk organisations (corp id) opsbot answers in;
    # empty: any the app is installed in
    feishu_tenants: tuple[str, ...] = ()
    dingtalk_corps: tuple[str, ...] = ()
    # row-level scopes: a chat sees only these dimension values, everywhere (kpi, digests, alerts,
    # exports), e.g. "slack:C0EAST" = { region = ["east"] }
    scopes: dict[str, dict[str, tuple[str, ...]]] = {}
    # where operational notices go (data source down / back); none: only the log says it
    admin_chat: str | None = None
    audit_retention_days: int = Field(default=365, ge=1)
    # who may change a group chat's chat-wide settings (`lang`): "admins" (the default), "anyone"
    # in that chat, or a list of users who may besides the admins; "*" sets it for every group.
    # A direct message is always its user's own. e.g. { "slack:C0OPS" = "anyone" }
    settings_by: dict[str, Literal["admins", "anyone"] | tuple[str, ...]] = {}

    @field_validator("chats", "users", "admins")
    @classmethod
    def _qualified(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for v in values:
            _check_chat_id(v)
        return values

    @field_validator("admin_chat")
    @classmethod
    def _admin_chat(cls, value: str | None) -> str | None:
        return None if value is None else _check_chat_id(value)

    @field_validator("scopes", mode="before")
    @classmethod
    def _scopes(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value
        out: dict[str, dict[str, tuple[str, ...]]] = {}
        for chat, dims in value.items():
            _check_chat_id(chat)
            if not isinstance(dims, dict) or not dims:
                raise ValueError(f"scope of {chat!r} must be a table like {{ region = [\"east\"] }}")
            out[chat] = {}
            for dim, values in dims.items():
                values = [values] if isinstance(values, str) else values
                if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
                    raise ValueError(f"scope of {chat!r}: {dim} must be a value or a non-empty list of values")
                out[chat][dim] = tuple(values)
        return out

    def tenants_of(self, platform: str) -> tuple[str, ...]:
        """The workspaces/tenants a platform's messages must come from (empty: any)."""
        return {"slack": self.slack_teams, "feishu": self.feishu_tenants, "dingtalk": self.dingtalk_corps}.get(
            platform, ())

    def scope_for(self, chat: str) -> dict[str, tuple[str, ...]]:
        """The dimension values a chat is limited to (empty: it sees the whole shop)."""
        return self.scopes.get(chat, {})

    @field_validator("settings_by")
    @classmethod
    def _settings_by(
        cls, value: dict[str, Literal["admins", "anyone"] | tuple[str, ...]]
    ) -> dict[str, Literal["admins", "anyone"] | tuple[str, ...]]:
        for chat, who in value.items():
            if chat != "*":
                _check_chat_id(chat)
            if isinstance(who, tuple):
                for user in who:
                    _check_chat_id(user)
        return value

    def may_change_settings(self, chat: str, user: str) -> bool:
        """Whether a user who is no admin may change a group chat's settings (admins always may)."""
        who = self.settings_by.get(chat, self.settings_by.get("*", "admins"))
        return who == "anyone" or (isinstance(who, tuple) and user in who)


class LimitsSection(_Section):
    """So that one person or one heavy question cannot stall everyone."""

    user_per_minute: int = Field(default=20, ge=1)
    chat_per_minute: int = Field(default=60, ge=1)
    query_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    max_concurrent_queries: int = Field(default=4, ge=1, le=64)


class LogSection(_Section):
    format: Literal["text", "json"] = "text"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class OpsSection(_Section):
    """The operating surface: /healthz and /metrics (Prometheus) on a local port; port 0 turns it off."""

    host: str = "127.0.0.1"
    port: int = Field(default=9108, ge=0, le=65535)


class TableSection(_Section):
    table: str | None = None
    # a read-only SELECT written by the admin, instead of `table`; `columns` then name its output columns
    query: str | None = None
    columns: dict[str, str] = {}

    @field_validator("query")
    @classmethod
    def _read_only(cls, value: str | None) -> str | None:
        return None if value is None else validate_select(value)

    @model_validator(mode="after")
    def _table_or_query(self) -> TableSection:
        if self.table is not None and self.query is not None:
            raise ValueError("set either table or query, not both")
        return self


class StatusSection(_Section):
    placed: tuple[str, ...] = DEFAULT_STATUSES["placed"]
    cancelled: tuple[str, ...] = DEFAULT_STATUSES["cancelled"]
    refunded: tuple[str, ...] = DEFAULT_STATUSES["refunded"]


class WarehouseSection(_Section):
    url: str | None = None  # None: the embedded demo warehouse
    timestamps: Literal["local", "utc"] = "local"
    tables: dict[str, TableSection] = {}
    status: StatusSection = StatusSection()
    # extra dimensions of orders: logical name -> physical column
    dimensions: dict[str, str] = {}
    # DuckDB only: memory it may use before spilling to a temporary folder ("" = DuckDB's default, 80 % of RAM)
    memory_limit: str = DUCKDB_MEMORY_LIMIT
    # how long answers about closed days (segments, retention, LTV) are kept; an embedded database's
    # answers are dropped as soon as its file changes, a server's after this long at most. 0: never kept
    cache_minutes: float = Field(default=30, ge=0)

    @field_validator("url")
    @classmethod
    def _no_password(cls, value: str | None) -> str | None:
        return _without_password(value, "OPSBOT_WAREHOUSE_URL")

    @field_validator("tables")
    @classmethod
    def _known_tables(cls, tables: dict[str, TableSection]) -> dict[str, TableSection]:
        for name, section in tables.items():
            if name not in LOGICAL_TABLES:
                raise ValueError(f"unknown logical table {name!r} (expected one of {', '.join(LOGICAL_TABLES)})")
            unknown = set(section.columns) - set(LOGICAL_TABLES[name])
            if unknown:
                raise ValueError(
                    f"unknown column(s) {', '.join(sorted(unknown))} for table {name!r} "
                    f"(expected among {', '.join(LOGICAL_TABLES[name])})"
                )
        return tables


class StateSection(_Section):
    url: str | None = None  # None: opsbot-state.db beside the config file
    # `opsbot run` on a state database behind the code: migrate it at start (one instance at a
    # time), or refuse to start until an operator runs `opsbot migrate`
    auto_migrate: bool = True

    @field_validator("url")
    @classmethod
    def _no_password(cls, value: str | None) -> str | None:
        return _without_password(value, "OPSBOT_STATE_URL")


def _without_password(url: str | None, variable: str) -> str | None:
    """Config files get committed and pasted: a URL there must not carry its password."""
    if url is None:
        return url
    try:
        password = make_url(url).password
    except Exception as exc:
        raise ValueError(f"not a database URL such as 'postgresql+psycopg://user@host/db': {url.split('@')[-1]}") \
            from exc
    if password:
        raise ValueError(f"the URL holds a password: put the whole URL in the {variable} environment variable "
                         "instead of the config file (or use a .pgpass file / trust authentication)")
    return url


class DemoSection(_Section):
    days: int = Field(default=400, ge=30, le=3650)
    orders: int = Field(default=120_000, ge=1000, le=50_000_000)
    seed: int = 7


class SlackSection(_Section):
    mode: Literal["socket", "http"] = "socket"
    command: str = "/ops"
    host: str = "127.0.0.1"
    port: int = Field(default=3000, ge=0, le=65535)
    path: str = "/slack/events"


class TelegramSection(_Section):
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8443, ge=0, le=65535)
    path: str = "/telegram"


class DigestSection(_Section):
    """A subscription from the config file (`[[digest]]`), kept in sync at start-up."""

    chat: str
    cadence: Literal["daily", "weekly"] = "daily"
    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] | None = None
    at: str = "09:00"
    metrics: tuple[str, ...] = ()
    by: str | None = None
    wait_until: str | None = None
    # optional sections after the standard digest: "stock" (stock-outs, SKUs about to run out and
    # the on-time ship rate; docs/digest.md), as `with stock` in the subscribe command
    sections: tuple[Literal["stock"], ...] = ()

    @field_validator("chat")
    @classmethod
    def _chat(cls, value: str) -> str:
        return _check_chat_id(value)

    @field_validator("at", "wait_until")
    @classmethod
    def _time(cls, value: str | None) -> str | None:
        if value is None:
            return value
        h, sep, m = value.partition(":")
        if not sep or not h.isdigit() or not m.isdigit() or int(h) > 23 or int(m) > 59 or len(m) != 2:
            raise ValueError(f"{value!r} is not a time; write HH:MM")
        if f"{int(h):02d}:{m}" < "03:00":
            raise ValueError(f"{value} is between 00:00 and 03:00, where DST changes skip or repeat runs")
        return f"{int(h):02d}:{m}"


class AlertRoute(_Section):
    """Send anomalies of these KPIs (and at least this severity) to this chat."""

    chat: str
    kpis: tuple[str, ...] = ()  # empty: every KPI
    min_severity: Literal["info", "warning", "critical"] = "info"


class AlertsSection(_Section):
    enabled: bool = True
    scan_at: str = "07:30"  # daily scan of yesterday, business timezone
    sensitivity: Literal["low", "medium", "high"] = "medium"
    routes: tuple[AlertRoute, ...] = ()
    cooldown_hours: float = Field(default=6.0, ge=0)
    quiet_hours: str | None = "22:00-08:00"  # outside working hours only critical alerts are pushed
    daily_budget: int = Field(default=5, ge=0)  # pushes per chat per day before minor ones wait for the digest

    @field_validator("quiet_hours")
    @classmethod
    def _window(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = value.split("-")
        if len(parts) != 2 or not all(len(p) == 5 and p[2] == ":" and p.replace(":", "").isdigit() for p in parts):
            raise ValueError(f"{value!r} must look like '22:00-08:00'")
        return value


class KpisSection(_Section):
    # days after which an order's refunds are all in (docs/kpis.md, "Refunds arrive later"); unset:
    # measured from the data (metrics/lagging.py)
    refund_window_days: int | None = Field(default=None, ge=0, le=365)


class ProductsSection(_Section):
    # an order ships on time when it ships within this many hours of being placed (docs/products.md)
    ship_sla_hours: float = Field(default=24.0, gt=0, le=24 * 30)
    # the days of sales days of cover are measured over
    cover_window_days: int = Field(default=28, ge=1, le=365)


class FeishuSection(_Section):
    # "ws": the SDK's long connection (no public URL); "http": event callbacks on host:port/path
    mode: Literal["ws", "http"] = "ws"
    domain: Literal["feishu", "lark"] = "feishu"  # open.feishu.cn, or open.larksuite.com for Lark
    host: str = "127.0.0.1"
    port: int = Field(default=3001, ge=0, le=65535)
    path: str = "/feishu/events"


class DingTalkSection(_Section):
    # "stream": the SDK's stream mode (no public URL); "http": the outgoing robot's callbacks
    mode: Literal["stream", "http"] = "stream"
    host: str = "127.0.0.1"
    port: int = Field(default=3002, ge=0, le=65535)
    path: str = "/dingtalk/events"


class WeComSection(_Section):
    # push-only group robots: chat `wecom:<name>` -> the environment variable holding its webhook key
    # (never the key itself in the file), e.g. { ops = "WECOM_KEY_OPS" }
    robots: dict[str, str] = {}

    @field_validator("robots")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, env in value.items():
            if not name or ":" in name:
                raise ValueError(f"robot name {name!r} must be a plain word (the chat becomes wecom:<name>)")
            if not env.replace("_", "").isalnum() or not env[0].isalpha():
                raise ValueError(f"robots.{name} must name an environment variable (e.g. WECOM_KEY_OPS), "
                                 "not hold the key itself")
        return value


class Settings(_Section):
    bot: BotSection = BotSection()
    kpis: KpisSection = KpisSection()
    products: ProductsSection = ProductsSection()
    access: AccessSection = AccessSection()
    limits: LimitsSection = LimitsSection()
    log: LogSection = LogSection()
    ops: OpsSection = OpsSection()
    warehouse: WarehouseSection = WarehouseSection()
    state: StateSection = StateSection()
    demo: DemoSection = DemoSection()
    slack: SlackSection | None = None
    telegram: TelegramSection | None = None
    feishu: FeishuSection | None = None
    dingtalk: DingTalkSection | None = None
    wecom: WeComSection | None = None
    digest: tuple[DigestSection, ...] = ()
    alerts: AlertsSection = AlertsSection()
    # where the file was read from (None: defaults); relative paths resolve beside it
    source: Path | None = None

    @model_validator(mode="after")
    def _scopes_name_dimensions(self) -> Settings:
        known = self.mapping().dimensions
        for chat, dims in self.access.scopes.items():
            for dim in dims:
                if dim not in known:
                    raise ValueError(f"access.scopes: {chat} is scoped by unknown dimension {dim!r} "
                                     f"(known: {', '.join(known)})")
        return self

    @property
    def base_dir(self) -> Path:
        return self.source.parent if self.source else Path.cwd()

    @property
    def is_demo(self) -> bool:
        return self.warehouse.url is None and not os.environ.get("OPSBOT_WAREHOUSE_URL")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.bot.timezone)

    def warehouse_url(self) -> str:
        # DuckDB: measured 10x faster than SQLite on the KPI queries (bench/README.md)
        return (os.environ.get("OPSBOT_WAREHOUSE_URL") or self.warehouse.url
                or f"duckdb:///{self.base_dir / 'opsbot-demo.duckdb'}")

    def state_url(self) -> str:
        return os.environ.get("OPSBOT_STATE_URL") or self.state.url or f"sqlite:///{self.base_dir / 'opsbot-state.db'}"

    def mapping(self) -> Mapping:
        """The logical→physical mapping; with nothing configured, the logical names are the physical ones."""
        tables: dict[str, TableMap] = {}
        for name, columns in LOGICAL_TABLES.items():
            section = self.warehouse.tables.get(name, TableSection())
            tables[name] = TableMap(
                table=section.table or name,
                columns=ColumnMap({c: section.columns.get(c, c) for c in columns}),
                query=section.query,
            )
        return Mapping(
            tables=tables,
            statuses={
                "placed": self.warehouse.status.placed,
                "cancelled": self.warehouse.status.cancelled,
                "refunded": self.warehouse.status.refunded,
            },
            extra_dimensions=dict(self.warehouse.dimensions),
            timestamps=self.warehouse.timestamps,
            timezone=self.bot.timezone,
        )


def _describe(error: ValidationError, path: Path) -> str:
    lines = [f"{path}: invalid configuration"]
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (check its spelling against config.example.toml)"
        lines.append(f"  {key}: {message}")
    return "\n".join(lines)


def load_settings(path: str | Path | None) -> Settings:
    """Read and validate a config file; None gives the defaults (the demo)."""
    if path is None:
        return Settings()
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    if "source" in raw:
        raise ConfigError(f"{path}: source: unknown key")
    try:
        return Settings(**raw, source=path.resolve())
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from exc
