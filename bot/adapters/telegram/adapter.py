"""The Telegram adapter, on python-telegram-bot v22's `Application`.

Inbound: one `CommandHandler` per core command word (so `/kpi@opsbot` works in
groups with privacy mode on), plain text in private chats, `/x@opsbot` and
`@opsbot x` in groups, and inline-button presses; each becomes an `Incoming`
for the dispatcher, and the Reply goes back to the same chat. Outbound:
`send(chat, reply)` for the scheduler and `edit(sent, reply)` for digests,
with flood control, network retries, chat migration and "bot was removed"
handled here so callers get a `Sent` or a `DeliveryError`.

The Application runs inside the shared event loop (`initialize()`, `start()`,
`updater.start_polling()`), never `run_polling()`, which owns and closes the
loop. Webhook mode runs its own small aiohttp server instead of PTB's
tornado-based one, so the secret token check is ours and visible.

Beside it: `render` (Reply → HTML chunks, photos, keyboard), `inbound` (what a
message says: chat, sender, command), `retries` (the send policy, flood waits, the
plain-text resend), `webhook` (the secret token and update checks, the replay key),
`polling` (getUpdates without the updates PTB cannot read) and `limits`.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import hmac
import html
import logging
import os
import random
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from telegram import BotCommand, InputFile, Message, ReplyParameters, Update
from telegram.constants import ChatAction, ChatMemberStatus, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.adapters.base import DeliveryError, Progress, Sent
from bot.adapters.telegram.inbound import (
    ADDRESSED,
    PLATFORM,
    addressed_text,
    chat_ref,
    command_text,
    is_private,
    language_of,
    user_of,
)
from bot.adapters.telegram.limits import MAX_COMMAND_DESCRIPTION
from bot.adapters.telegram.polling import SkipUnreadableUpdates
from bot.adapters.telegram.render import CallbackStore, adapter_text, render
from bot.adapters.telegram.retries import RetryPolicy, as_plain, retry_after_seconds
from bot.adapters.telegram.webhook import SECRET_HEADER, SECRET_RE, signed_update, update_data
from bot.config import Settings, TelegramSection
from bot.context import ChatRef, Incoming
from bot.dispatch import Dispatcher
from bot.errors import ConfigError
from bot.reply import Reply
from bot.state.shared import ButtonTokens
from bot.text.messages import MESSAGES, t

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.telegram.org"
# Telegram's rule for bot command words (CommandHandler enforces the same)
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
CONCURRENT_UPDATES = 8  # one slow report must not hold up everyone else's commands

ChatEvent = Callable[[ChatRef, ChatRef | None], Awaitable[None]]


class TelegramAdapter:
    """One bot token, one Application; `start()` returns once updates are flowing."""

    platform = PLATFORM

    def __init__(
        self,
        dispatcher: Dispatcher,
        token: str,
        *,
        section: TelegramSection | None = None,
        api_url: str = DEFAULT_API_URL,
        webhook_secret: str | None = None,
        poll_timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not token:
            raise ConfigError("TELEGRAM_BOT_TOKEN is empty")
        self.dispatcher = dispatcher
        self.section = section or TelegramSection()
        self.api_url = api_url.rstrip("/")
        self.poll_timeout = poll_timeout
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self.lang = dispatcher.services.settings.bot.language
        self.callbacks = CallbackStore()
        # long buttons' tokens, kept where a restarted or another instance finds them
        self.tokens = ButtonTokens(dispatcher.services.store)
        self._bot_id = token.partition(":")[0]  # the public part of the token: the bot's user id
        # Hooks for the subscription store: a chat moved (old, new) or the bot was removed (chat, None).
        self.on_chat_migrated: ChatEvent | None = None
        self.on_bot_removed: ChatEvent | None = None
        if self.section.mode == "webhook":
            if not self.section.webhook_url:
                raise ConfigError("[telegram] mode = \"webhook\" needs webhook_url (the public HTTPS URL)")
            secret = webhook_secret or secrets.token_urlsafe(32)
            if not SECRET_RE.match(secret):
                raise ConfigError("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
            self.webhook_secret: str | None = secret
        else:
            self.webhook_secret = None
        self.webhook_port: int | None = None  # the bound port once the webhook server runs
        self._moved: dict[ChatRef, ChatRef] = {}  # groups seen becoming supergroups (old -> new)
        self._runner: web.AppRunner | None = None

        # Opt in to PTB's timedelta durations now (RetryAfter.retry_after); otherwise every
        # flood-control error emits a PTBDeprecationWarning. setdefault: an explicit choice wins.
        os.environ.setdefault("PTB_TIMEDELTA", "1")
        # httpx logs every request URL at INFO, and Bot API URLs contain the token.
        httpx_log = logging.getLogger("httpx")
        httpx_log.setLevel(max(httpx_log.getEffectiveLevel(), logging.WARNING))

        builder = (
            ApplicationBuilder()
            .token(token)
            .base_url(f"{self.api_url}/bot")
            .base_file_url(f"{self.api_url}/file/bot")
            .concurrent_updates(CONCURRENT_UPDATES)
            # the scheduler is ours (bot/delivery/scheduler.py); PTB's JobQueue would start a second one
            .job_queue(None)
        )
        if self.section.mode == "webhook":
            builder = builder.updater(None)
        else:
            # PTB's default for getUpdates (one connection, HTTP/1.1), tolerant of unreadable updates
            builder = builder.get_updates_request(SkipUnreadableUpdates(connection_pool_size=1))
        self.app: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        self._add_handlers()

    # ---- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            # run.py only stops adapters that started: release sockets and tasks here
            await self.stop()
            raise

    async def _start(self) -> None:
        try:
            await self.app.initialize()  # getMe: the bot's username, which /kpi@name needs
        except InvalidToken:
            # `from None`: PTB's message quotes the token, and tracebacks end up in logs
            raise ConfigError("Telegram rejected TELEGRAM_BOT_TOKEN (check it with @BotFather)") from None
        await self._register_commands()
        await self.app.start()
        if self.section.mode == "webhook":
            await self._start_webhook()
        else:
            assert self.app.updater is not None
            await self.app.updater.start_polling(
                timeout=dtm.timedelta(seconds=self.poll_timeout),
                allowed_updates=ALLOWED_UPDATES,
                error_callback=self._on_poll_error,
            )
        log.info("telegram: @%s running (%s)", self.app.bot.username, self.section.mode)

    async def stop(self) -> None:
        """Stop receiving first, then let in-flight updates finish, then close connections."""
        await self.stop_receiving()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()
        # Application.shutdown skips everything when initialize() failed half-way (a bad token),
        # which would leave the HTTP connection pool open; Bot.shutdown is safe to repeat.
        await self.app.bot.shutdown()

    async def stop_receiving(self) -> None:
        """Take no new updates (stop polling, close the webhook listener); updates in hand go on."""
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()
        if self._runner is not None:
            # The webhook stays registered with Telegram on purpose: updates that arrive while
            # we are down are queued and redelivered when we come back.
            await self._runner.cleanup()
            self._runner = None

    async def drain(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for updates in flight (PTB's Application.stop waits for them)."""
        if not self.app.running:
            return
        stopping = asyncio.ensure_future(self.app.stop())
        done, _ = await asyncio.wait({stopping}, timeout=timeout)
        if not done:
            log.warning("telegram: answers still running at shutdown were abandoned")
            stopping.cancel()
        await asyncio.gather(stopping, return_exceptions=True)

    async def _register_commands(self) -> None:
        """The command menu: English by default, Chinese for clients set to zh."""
        for language in ("en", "zh"):
            commands = [
                BotCommand(c.name, self._summary(c.summary_key, c.usage, language))
                for c in self.dispatcher.commands
                if _COMMAND_RE.match(c.name)
            ]
            try:
                await self.app.bot.set_my_commands(commands, language_code=None if language == "en" else language)
            except TelegramError as exc:
                # the menu is a convenience: a failure here must not keep the bot offline
                log.warning("telegram: set_my_commands(%s) failed: %s", language, exc)

    @staticmethod
    def _summary(key: str, usage: str, language: str) -> str:
        text = t(language, key) if key in MESSAGES else usage
        return (text or usage)[:MAX_COMMAND_DESCRIPTION]

    def _on_poll_error(self, exc: TelegramError) -> None:
        # PTB retries polling by itself; this only keeps the log readable (no traceback per retry)
        log.warning("telegram: polling failed, retrying: %s", exc)

    # ---- webhook --------------------------------------------------------------------------------

    async def _start_webhook(self) -> None:
        web_app = web.Application(client_max_size=1024 * 1024)
        web_app.router.add_post(self.section.path, self._on_webhook)
        self._runner = web.AppRunner(web_app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.section.host, self.section.port)
        await site.start()
        self.webhook_port = self._runner.addresses[0][1] if self._runner.addresses else self.section.port
        assert self.webhook_secret is not None and self.section.webhook_url is not None
        await self.app.bot.set_webhook(
            url=self.section.webhook_url,
            secret_token=self.webhook_secret,
            allowed_updates=ALLOWED_UPDATES,
        )
        log.info("telegram: webhook listening on %s:%s%s", self.section.host, self.webhook_port, self.section.path)

    async def _on_webhook(self, request: web.Request) -> web.Response:
        assert self.webhook_secret is not None
        given = request.headers.get(SECRET_HEADER)
        if given is None:
            return web.Response(status=401, text="missing secret token")
        # constant-time: the header is the only thing standing between the internet and the bot
        if not hmac.compare_digest(given.encode(), self.webhook_secret.encode()):
            log.warning("telegram: webhook call with a wrong secret token from %s", request.remote)
            return web.Response(status=403, text="wrong secret token")
        data = update_data(await request.read())
        if data is None:
            return web.Response(status=400, text="not a Telegram update")
        try:
            update = Update.de_json(data, self.app.bot)
        except Exception as exc:
            # An update, but not one this PTB can read (a field missing, another Bot API version):
            # acknowledged, so Telegram does not redeliver it forever, and logged (as when polling).
            log.warning("telegram: skipping update %s that cannot be read (%s: %s)",
                        data["update_id"], type(exc).__name__, str(exc)[:200])
            return web.Response(status=200)
        # once per update_id, whichever instance it reaches: Telegram redelivers an update it saw
        # no 200 for, and whoever holds the secret token could post a captured one again (issue 23)
        if not await self.dispatcher.replays.admit(signed_update(self._bot_id, update)):
            return web.Response(status=200)  # acknowledged, so Telegram stops redelivering it
        await self.app.update_queue.put(update)
        return web.Response(status=200)

    # ---- inbound --------------------------------------------------------------------------------

    def _add_handlers(self) -> None:
        words = sorted({w for c in self.dispatcher.commands for w in c.words if _COMMAND_RE.match(w)})
        new_messages = filters.UpdateType.MESSAGE  # an edited command is not run a second time
        if words:
            self.app.add_handler(CommandHandler(words, self._on_command, filters=new_messages))
        # Only the first matching handler in a group runs, so these see what the above did not.
        self.app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, self._on_migrate))
        self.app.add_handler(
            MessageHandler(new_messages & filters.TEXT & filters.ChatType.PRIVATE, self._on_text)
        )
        self.app.add_handler(MessageHandler(new_messages & filters.TEXT & ADDRESSED, self._on_text))
        self.app.add_handler(CallbackQueryHandler(self._on_callback))
        self.app.add_handler(ChatMemberHandler(self._on_membership, ChatMemberHandler.MY_CHAT_MEMBER))
        self.app.add_error_handler(self._on_error)

    async def _on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or message.text is None or not _has_chat(message, update):
            return
        await self._answer(message, command_text(message))

    async def _on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or message.text is None or not _has_chat(message, update):
            return
        text = addressed_text(message)
        await self._answer(message, text if text is not None else message.text)

    async def _answer(self, message: Message, text: str) -> None:
        thread = message.message_thread_id if message.is_topic_message else None
        chat = chat_ref(message.chat.id, thread)
        incoming = Incoming(text=text, chat=chat, user=user_of(message), language=language_of(message),
                            direct=is_private(message.chat))
        try:
            await self.app.bot.send_chat_action(message.chat.id, ChatAction.TYPING, message_thread_id=thread)
        except TelegramError:
            pass  # only a courtesy
        reply = await self.dispatcher.dispatch(incoming)
        # in a busy group, quote the command so the answer is visibly tied to it
        quote = message.message_id if message.chat.type != "private" else None
        await self._reply(chat, reply, quote)

    async def _on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        if query.from_user is None or not query.data:
            # Telegram always names the presser; no data means a game button, not one of ours
            log.info("telegram: ignoring callback query %s without %s", update.update_id,
                     "sender" if query.from_user is None else "data")
            return
        if query.message is not None and query.message.chat is None:
            log.info("telegram: ignoring callback query %s on a message without chat", update.update_id)
            return
        command = await self._command_for(query.data)
        try:
            if command is None:
                where = chat_ref(query.message.chat.id) if query.message is not None else ChatRef(PLATFORM, "")
                lang = self.dispatcher.language(
                    Incoming(text="", chat=where, user=f"{PLATFORM}:{query.from_user.id}",
                             language=query.from_user.language_code)
                )
                await query.answer(adapter_text(lang, "button_expired"), show_alert=True)
            else:
                await query.answer()  # stops the button's spinner; Telegram expects it within seconds
        except TelegramError as exc:
            log.info("telegram: answering a callback failed: %s", exc)
        if command is None or query.message is None:
            return  # query.message is None for buttons on inline-mode messages: no chat to answer in
        message = query.message
        thread = message.message_thread_id if isinstance(message, Message) and message.is_topic_message else None
        chat = chat_ref(message.chat.id, thread)
        user = query.from_user
        incoming = Incoming(text=command, chat=chat, user=f"{PLATFORM}:{user.id}", language=user.language_code,
                            direct=is_private(message.chat))
        reply = await self.dispatcher.dispatch(incoming)
        await self._reply(chat, reply, None)

    async def _command_for(self, data: str) -> str | None:
        """A button's command: from memory, else from the tokens every instance kept."""
        command = self.callbacks.command_for(data)
        if command is not None or not data.startswith(CallbackStore.PREFIX):
            return command
        try:
            command = await asyncio.to_thread(self.tokens.find, data)
        except Exception:  # the state database is down: the button answers "expired" for now
            log.warning("telegram: looking up a button token failed", exc_info=True)
            return None
        if command is not None:
            self.callbacks.remember(data, command)
        return command

    async def _keep_tokens(self) -> None:
        """Keep the tokens a render issued before their buttons are posted, so a press reaching
        another instance, or this one after a restart, finds them."""
        new = self.callbacks.take_new()
        if not new:
            return
        try:
            await asyncio.to_thread(self.tokens.save, new)
        except Exception:  # still works on this instance until it restarts
            log.warning("telegram: keeping %d button token(s) failed", len(new), exc_info=True)

    async def _on_migrate(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or not message.migrate_to_chat_id or not _has_chat(message, update):
            return  # the twin service message in the new supergroup (migrate_from_chat_id)
        old, new = chat_ref(message.chat.id), chat_ref(message.migrate_to_chat_id)
        await self._chat_migrated(old, new)

    async def _on_membership(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        member = update.my_chat_member
        if member is None or member.chat is None or member.new_chat_member is None:
            if member is not None:
                log.info("telegram: ignoring a membership update %s without chat or status", update.update_id)
            return
        chat = chat_ref(member.chat.id)
        status = member.new_chat_member.status
        if status in (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED):
            log.warning("telegram: the bot was removed from %s", chat)
            if self.on_bot_removed is not None:
                await self.on_bot_removed(chat, None)
        elif status in (ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR):
            log.info("telegram: the bot was added to %s (allow it with [access] chats = [\"%s\"])", chat, chat)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        # The dispatcher never raises, so this is a bug or a delivery failure nobody can retry.
        log.error("telegram: handling an update failed", exc_info=context.error)

    async def _reply(self, chat: ChatRef, reply: Reply, quote: int | None) -> None:
        """Answer a person: nobody is waiting on a DeliveryError here, so log it instead."""
        # a chart goes first on Telegram (a photo captioned with the title), so it is drawn first
        await self.dispatcher.draw(reply)
        try:
            await self._deliver(chat, reply, quote)
        except DeliveryError as exc:
            log.warning("telegram: could not answer in %s: %s", chat, exc.reason)

    async def _chat_migrated(self, old: ChatRef, new: ChatRef) -> None:
        self._moved[ChatRef(old.platform, old.id)] = new
        log.warning(
            "telegram: %s became supergroup %s; add it to [access] chats and move its subscriptions", old, new
        )
        if self.on_chat_migrated is not None:
            await self.on_chat_migrated(old, new)

    # ---- outbound -------------------------------------------------------------------------------

    async def send(self, chat: ChatRef, reply: Reply, progress: Progress | None = None) -> Sent:
        """Push a reply (digests, alerts).

        Follows a group's upgrade to a supergroup: the message goes to the new
        chat and the returned `Sent.chat` names it, so the caller can move the
        subscription (compare it with `chat`); `on_chat_migrated` fires too.
        Raises DeliveryError: permanent when the bot was removed or the chat
        is gone, not permanent after bounded flood/network retries.
        """
        return await self._deliver(chat, reply, None, progress)

    async def edit(self, sent: Sent, reply: Reply) -> Sent:
        """Replace the text of a message `send` posted (a digest updated by late data).

        Charts cannot be added to a text message by editing, so only the text
        is updated; if the new text needs more than one message, the first
        replaces the old one and the rest follow as new messages.
        """
        rendered = render(reply, self.callbacks, self.lang)
        await self._keep_tokens()
        texts = rendered.texts or [html.escape(adapter_text(self.lang, "empty_reply"))]
        only = len(texts) == 1
        _, target = await self._call(
            ChatRef(sent.chat.platform, sent.chat.id), "edit_message_text",
            message_id=int(sent.message_id), text=texts[0], parse_mode=ParseMode.HTML,
            reply_markup=rendered.keyboard if only else None,
        )
        for i, text in enumerate(texts[1:], start=1):
            await self._call(
                target, "send_message", text=text, parse_mode=ParseMode.HTML,
                message_thread_id=_thread(sent.chat),
                reply_markup=rendered.keyboard if i == len(texts) - 1 else None,
            )
        return Sent(target, sent.message_id)

    async def _deliver(self, chat: ChatRef, reply: Reply, quote: int | None,
                       progress: Progress | None = None) -> Sent:
        try:
            return await self._deliver_parts(chat, reply, quote, progress or Progress())
        except DeliveryError as exc:
            # If the chat moved before the failure, say so: the caller's retry should go to the new id.
            moved = self._moved.get(ChatRef(chat.platform, chat.id))
            if exc.migrated_to is None and moved is not None:
                exc.migrated_to = moved
            raise

    async def _deliver_parts(self, chat: ChatRef, reply: Reply, quote: int | None, progress: Progress) -> Sent:
        """Photos, then text parts, then files; the parts an earlier attempt delivered are skipped."""
        rendered = render(reply, self.callbacks, self.lang)
        await self._keep_tokens()
        total = len(rendered.photos) + len(rendered.texts)
        target = chat
        first_photo: Message | None = None
        sent = 0
        for photo in rendered.photos:
            sent += 1
            if sent <= progress.done:
                continue
            message, target = await self._call(
                target, "send_photo",
                photo=InputFile(photo.png, filename=photo.filename),
                caption=photo.caption, parse_mode=ParseMode.HTML,
                message_thread_id=_thread(target),
                reply_parameters=_quote(quote) if sent == 1 else None,
                reply_markup=rendered.keyboard if sent == total else None,
            )
            first_photo = first_photo or message
            await progress.landed()
        for text in rendered.texts:
            sent += 1
            if sent <= progress.done:
                continue
            message, target = await self._call(
                target, "send_message",
                text=text, parse_mode=ParseMode.HTML,
                message_thread_id=_thread(target),
                reply_parameters=_quote(quote) if sent == 1 else None,
                reply_markup=rendered.keyboard if sent == total else None,
            )
            # text messages are the ones an edit can replace (a photo has no text to edit)
            await progress.landed(str(message.message_id))
        for attachment in reply.files:
            sent += 1
            if sent <= progress.done:
                continue
            _, target = await self._call(
                target, "send_document",
                document=InputFile(attachment.content, filename=attachment.filename),
                message_thread_id=_thread(target),
            )
            await progress.landed()
        first = progress.ids[0] if progress.ids else str(first_photo.message_id) if first_photo else ""
        return Sent(target, first)

    async def _call(self, target: ChatRef, method: str, **kwargs: Any) -> tuple[Any, ChatRef]:
        """Call a Bot API send/edit method on `target` with bounded retries.

        Returns the result and the chat it finally went to (different after a
        migration). Every failure becomes a DeliveryError.
        """
        policy = self.retry
        flood_waited = 0.0
        migrated = False
        attempt = 0
        while True:
            attempt += 1
            try:
                fn = getattr(self.app.bot, method)
                return await fn(chat_id=int(target.id), **kwargs), target
            except RetryAfter as exc:
                wait = retry_after_seconds(exc.retry_after)
                if attempt >= policy.attempts or flood_waited + wait > policy.max_flood_wait:
                    raise DeliveryError(f"flood control: Telegram asks to wait {wait:.0f} s", permanent=False) from exc
                log.info("telegram: flood control on %s, waiting %.0f s", target, wait)
                flood_waited += wait
                await self._sleep(wait)
            except ChatMigrated as exc:
                new = chat_ref(exc.new_chat_id)
                if migrated:  # migrated twice in one send: something is off, let the caller decide
                    raise DeliveryError(f"{target} moved again to {new}", permanent=False, migrated_to=new) from exc
                migrated = True
                await self._chat_migrated(target, new)
                target = new
                attempt -= 1  # following the move is not a failed attempt
            except Forbidden as exc:
                # kicked, blocked by the user, or not a member: nothing will change by retrying
                if self.on_bot_removed is not None:
                    await self.on_bot_removed(target, None)
                raise DeliveryError(f"Telegram refused delivery to {target}: {exc.message}", permanent=True) from exc
            except InvalidToken as exc:
                raise DeliveryError("Telegram rejected the bot token", permanent=True) from exc
            except BadRequest as exc:  # before NetworkError: BadRequest is a subclass of it
                text = exc.message.lower()
                if "not modified" in text:
                    return None, target  # an edit with identical content: already what we wanted
                if "parse entities" in text and kwargs.get("parse_mode"):
                    # a rendering bug must not cost the message: send it once more as plain text
                    log.error("telegram: HTML rejected (%s); resending as plain text", exc.message)
                    kwargs = as_plain(kwargs)
                    continue
                raise DeliveryError(f"Telegram rejected the message to {target}: {exc.message}",
                                    permanent=True) from exc
            except NetworkError as exc:  # includes TimedOut and 5xx answers
                if attempt >= policy.attempts:
                    raise DeliveryError(f"network error talking to Telegram: {exc.message}",
                                        permanent=False) from exc
                # A timed-out send may still have been delivered; a rare duplicate beats a lost alert.
                wait = min(policy.max_backoff, policy.backoff * 2 ** (attempt - 1))
                await self._sleep(wait * random.uniform(0.8, 1.2))
            except TelegramError as exc:  # Conflict and anything new: not ours to interpret
                raise DeliveryError(f"Telegram error: {exc.message}", permanent=False) from exc


# ---- small helpers -------------------------------------------------------------------------------


def _has_chat(message: Message, update: Update) -> bool:
    """Telegram always says which chat a message is in; PTB lets a malformed one through without."""
    if message.chat is None:
        log.info("telegram: ignoring update %s: a message without chat", update.update_id)
        return False
    return True


def _thread(chat: ChatRef) -> int | None:
    return int(chat.thread) if chat.thread and chat.thread.lstrip("-").isdigit() else None


def _quote(message_id: int | None) -> ReplyParameters | None:
    # allow_sending_without_reply: if the command was deleted meanwhile, still answer
    return ReplyParameters(message_id, allow_sending_without_reply=True) if message_id else None


def telegram_from_env(settings: Settings, dispatcher: Dispatcher) -> TelegramAdapter:
    """The adapter `opsbot run` builds when TELEGRAM_BOT_TOKEN is set.

    TELEGRAM_API_URL replaces https://api.telegram.org (a local Bot API server,
    a proxy, or a test fake); TELEGRAM_WEBHOOK_SECRET fixes the webhook's
    secret token (otherwise a random one is set on every start).
    """
    return TelegramAdapter(
        dispatcher,
        os.environ.get("TELEGRAM_BOT_TOKEN", ""),
        section=settings.telegram or TelegramSection(),
        api_url=os.environ.get("TELEGRAM_API_URL") or DEFAULT_API_URL,
        webhook_secret=os.environ.get("TELEGRAM_WEBHOOK_SECRET") or None,
    )
