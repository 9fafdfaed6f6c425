"""The core: commands registered on routers, and the dispatcher that runs them.

Adapters hand the dispatcher an `Incoming` and get a `Reply` back; the
dispatcher finds the command, checks who may run it, calls the handler and turns
every failure into a reply (see bot/errors.py for the contract). It never raises
into an adapter.
"""


from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy.exc import SQLAlchemyError

from bot.context import Args, ChatRef, Context, Incoming, Services
from bot.errors import AccessDenied, RateLimited, UnknownCommand, UserError
from bot.reply import Reply
from bot.router import Command, Router
from bot.state.shared import ReplayGuard, SharedRateLimiter
from bot.suggest import closest, is_question_word, looks_like_question
from bot.text.language import chinese_vocabulary, question_language
from bot.text.messages import DIMENSION_LABELS, t
from bot.tokens import split_args
from metrics.errors import InputError, SourceUnavailable
from metrics.kpis import metric_names

log = logging.getLogger(__name__)
# where a message carries no language hint, the platform's own: Feishu, DingTalk and WeCom are
# where Chinese teams work (an adapter passes "en" for Lark, the international Feishu)
PLATFORM_LANGUAGE = {"feishu": "zh", "dingtalk": "zh", "wecom": "zh"}


class Dispatcher:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._commands: dict[str, Command] = {}
        self._ordered: list[Command] = []
        # called after every command with (command name, outcome kind, seconds): metrics hook in here
        self.observers: list[Callable[[str, str, float], None]] = []
        self._audit_thread = ThreadPoolExecutor(1, "opsbot-audit")
        # in the state database, so several instances together allow the limit once
        self._limiter = SharedRateLimiter(services.store)
        # only while the state database fails: limits per process beat no limits at all
        self._local = MovingWindowRateLimiter(MemoryStorage())
        # signed platform requests used once, for every adapter and instance (issue 23); metrics
        # hook into its observers as into this dispatcher's
        self.replays = ReplayGuard(services.store)
        self._vocabulary: frozenset[str] | None = None  # the grammar's Chinese words, built on first use

    def include(self, router: Router) -> None:
        self._vocabulary = None
        for command in router.commands:
            for word in command.words:
                if word in self._commands:
                    raise ValueError(f"command word {word!r} is registered twice")
                self._commands[word] = command
            self._ordered.append(command)

    @property
    def commands(self) -> list[Command]:
        return list(self._ordered)

    def find(self, word: str) -> Command | None:
        return self._commands.get(word.lower())

    # ---- access -------------------------------------------------------------------

    def is_allowed(self, incoming: Incoming) -> bool:
        if incoming.chat.platform == "console":
            return True
        access = self.services.settings.access
        tenants = access.tenants_of(incoming.chat.platform)
        if tenants and incoming.team not in tenants:
            # another workspace or tenant, even for a listed chat id or user; logged with the team
            # so an admin setting up the allow-list can copy it
            log.info("refused %s from %s: team %r is not in the allow-list", incoming.user, incoming.chat,
                     incoming.team)
            return False
        return str(incoming.chat) in access.chats or incoming.user in access.users or incoming.user in access.admins

    def check_rate(self, incoming: Incoming) -> None:
        """Per-user and per-chat moving one-minute windows, counted once for every instance (the
        state database); the console is never limited. Blocking: call it in a thread."""
        if incoming.chat.platform == "console":
            return
        limits = self.services.settings.limits
        for kind, per_minute, who in (("user", limits.user_per_minute, incoming.user),
                                      ("chat", limits.chat_per_minute, str(incoming.chat))):
            left = self._hit(kind, who, per_minute)
            if left is not None:
                wait = max(1, int(left + 0.999))
                log.warning("rate limited %s %s (%d/min)", kind, who, per_minute)
                raise RateLimited(f"rate_limited_{kind}", limit=per_minute, seconds=wait)

    def _hit(self, kind: str, who: str, per_minute: int) -> float | None:
        """None when allowed (and counted), else the seconds until a slot is free."""
        try:
            return self._limiter.hit(f"{kind}:{who}", per_minute)
        except SQLAlchemyError:
            log.warning("rate limits: the state database failed; counting in this process meanwhile",
                        exc_info=True)
        item = RateLimitItemPerMinute(per_minute)
        if self._local.hit(item, kind, who):
            return None
        return self._local.get_window_stats(item, kind, who).reset_time - time.time()

    def is_admin(self, incoming: Incoming) -> bool:
        return incoming.chat.platform == "console" or incoming.user in self.services.settings.access.admins

    def language(self, incoming: Incoming) -> str:
        """The reply's language, one rule for every command (bot/text/language.py, docs/languages.md):
        a question in Chinese words gets Chinese whatever the chat's setting (names and data values
        never count); else the chat's choice (`lang en|zh`); else (`lang auto`) the question's own
        language, then Chinese for a Chinese platform language, then the configured default."""
        asked = question_language(incoming.text[:200], self._chinese_words(), lambda w: self.find(w) is not None)
        if asked == "zh":
            return "zh"
        try:
            chosen = self.services.store.chat_language(str(incoming.chat))
        except Exception:  # the state database being down must not silence the bot
            log.warning("could not read the language of %s", incoming.chat, exc_info=True)
            chosen = None
        if chosen:
            return chosen
        if asked:
            return asked
        hint = incoming.language or PLATFORM_LANGUAGE.get(incoming.chat.platform)
        if (hint or "").lower().startswith("zh"):
            return "zh"
        return self.services.settings.bot.language

    def _chinese_words(self) -> frozenset[str]:
        if self._vocabulary is None:
            dimensions = (labels.get("zh", "") for labels in DIMENSION_LABELS.values())
            self._vocabulary = chinese_vocabulary([*self._commands, *metric_names(), *dimensions])
        return self._vocabulary

    def context_for(self, chat: ChatRef, user: str = "opsbot:scheduler") -> Context:
        """A context for work nobody typed (a scheduled digest), in the chat's language."""
        incoming = Incoming(text="", chat=chat, user=user)
        return Context(self.services, incoming, self.language(incoming), True, self.commands)

    # ---- dispatch -----------------------------------------------------------------

    async def dispatch(self, incoming: Incoming) -> Reply:
        started = time.monotonic()
        reply = await self._answer(incoming)
        seconds = time.monotonic() - started
        outcome = "ok"
        if reply.error:
            key = str(reply.data.get("error", "error"))
            outcome = f"incident:{reply.data.get('incident')}" if key in ("incident", "data_unavailable") else (
                "refused" if key in REFUSALS else
                "limited" if key.startswith("rate_limited") else f"error:{key}")
        await self._audit(incoming, outcome, int(seconds * 1000))
        name = self.command_name(incoming.text)
        for observe in self.observers:
            try:
                observe(name, outcome_kind(reply), seconds)
            except Exception:  # metrics must never cost the user the answer
                log.warning("a dispatch observer failed", exc_info=True)
        return reply

    def command_name(self, text: str) -> str:
        """The command a text asks for, for metrics: its name, or "unknown" (never the raw word)."""
        word = text.strip().lstrip("/").partition(" ")[0].split("@", 1)[0]
        command = self.find(word) if word else None
        return command.name if command else "unknown"

    async def _audit(self, incoming: Incoming, outcome: str, duration_ms: int) -> None:
        # on a thread of its own: a locked state database must neither delay the answer nor take
        # the threads questions run on; the entry is still written once the lock is gone
        written = asyncio.get_running_loop().run_in_executor(
            self._audit_thread, self.services.store.audit, str(incoming.chat), incoming.user,
            incoming.text.strip(), outcome, duration_ms)
        written.add_done_callback(_log_audit_failure)
        try:
            await asyncio.wait_for(asyncio.shield(written), AUDIT_WAIT)
        except TimeoutError:
            log.warning("the audit log is slow to write; answering first")
        except Exception:  # logged by the callback
            pass

    async def draw(self, reply: Reply) -> None:
        """Draw the reply's pending charts (bot/reply.py: Chart.later) in the worker pool, off the
        event loop. Adapters call this after they have sent the numbers. A chart that cannot be
        drawn is left out and logged with an incident id: its numbers are already on their way."""
        loop = asyncio.get_running_loop()
        for chart in list(reply.charts):
            if not chart.pending:
                continue
            try:
                await loop.run_in_executor(self.services.executor, lambda c=chart: c.png)  # type: ignore[misc]
            except Exception:
                incident = secrets.token_hex(4)
                log.exception("incident %s: drawing the chart %r failed", incident, chart.title)
                reply.charts.remove(chart)

    async def _answer(self, incoming: Incoming) -> Reply:
        lang = self.language(incoming)
        try:
            return await self._dispatch(incoming, lang)
        except (UserError, InputError) as exc:
            return self._error_reply(lang, exc.key, exc.params, getattr(exc, "usage", None))
        except SourceUnavailable:
            incident = secrets.token_hex(4)
            log.exception("incident %s: data source unavailable for %r", incident, incoming.text[:200])
            return self._error_reply(lang, "data_unavailable", {"incident": incident})
        except Exception:
            incident = secrets.token_hex(4)
            log.exception("incident %s: command %r from %s failed", incident, incoming.text[:200], incoming.user)
            return self._error_reply(lang, "incident", {"incident": incident})

    async def _dispatch(self, incoming: Incoming, lang: str) -> Reply:
        text = incoming.text.strip()
        limit = self.services.settings.bot.max_command_length
        if len(text) > limit:
            raise UserError("too_long", length=len(text), limit=limit)
        if not self.is_allowed(incoming):
            log.warning("refused %s from %s: chat not allowed", incoming.chat, incoming.user)
            raise AccessDenied("not_allowed", chat=str(incoming.chat))
        if not text:
            raise UserError("empty")
        await asyncio.to_thread(self.check_rate, incoming)
        word, _, rest = text.lstrip("/").partition(" ")
        word = word.split("@", 1)[0]  # /kpi@opsbot in Telegram groups
        command = self.find(word)
        if command is None:
            suggestion = "" if is_question_word(word) else self._suggest(word, lang)
            if not suggestion and looks_like_question(text):
                raise UnknownCommand("not_a_command")  # a question in words: point at the commands
            raise UnknownCommand("unknown_command", name=word[:50], suggestion=suggestion)
        admin = self.is_admin(incoming)
        if command.admin and not admin:
            raise AccessDenied("admin_only", command=command.name, user=incoming.user)
        ctx = Context(self.services, incoming, lang, admin, self.commands)
        try:
            return await command.handler(ctx, Args(rest.strip(), split_args(rest)))
        except (UserError, InputError) as exc:
            exc.usage = command.usage  # type: ignore[attr-defined]
            raise

    def _suggest(self, word: str, lang: str) -> str:
        """A command only when `word` is a close typo of one of its words (bot/suggest.py)."""
        match = closest(word, self._commands)
        return t(lang, "did_you_mean", choice=match) if match else ""

    def _error_reply(self, lang: str, key: str, params: dict[str, Any], usage: str | None = None) -> Reply:
        text = [t(lang, key, **params)]
        if usage:
            text.append(t(lang, "usage_line", usage=usage))
        return Reply(title=t(lang, "error_title"), text=text, error=True, data={"error": key, **_jsonable(params)})


REFUSALS = ("not_allowed", "admin_only", "chat_settings_admin_only")  # audited and counted as refused
AUDIT_WAIT = 0.5  # seconds an answer waits for its audit entry before going out anyway


def _log_audit_failure(written: asyncio.Future[None]) -> None:
    if not written.cancelled() and written.exception() is not None:
        log.warning("could not write the audit log", exc_info=written.exception())


def outcome_kind(reply: Reply) -> str:
    """A small fixed set of outcomes for metrics: ok, user_error, refused, limited, unavailable, incident."""
    if not reply.error:
        return "ok"
    key = str(reply.data.get("error", ""))
    if key in REFUSALS:
        return "refused"
    if key.startswith("rate_limited"):
        return "limited"
    if key == "data_unavailable":
        return "unavailable"
    if key == "incident":
        return "incident"
    return "user_error"


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, (str, int, float, bool, type(None))) else str(v) for k, v in params.items()}
