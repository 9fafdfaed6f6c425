"""The Slack adapter: slack-bolt's `AsyncApp`, in Socket Mode (default) or over HTTP.

Inbound, it turns a slash command (`/ops kpi gmv yesterday`), an app mention, a
direct message or a button click into an `Incoming` for the dispatcher; outbound,
it renders the `Reply` as Block Kit (`bot.adapters.slack.render`) and uploads its
charts with `files_upload_v2`. It holds no business logic: access control,
parsing and wording of replies belong to the core.

Identity: a chat is `ChatRef("slack", <channel id>, thread=<thread ts>)`, a user
is `slack:<user id>`.

Flow of a slash command: Bolt hands us the command, we `ack()` at once (with a
short ephemeral "working on it"), then dispatch in a task we track, so a slow
query never hits Slack's 3-second limit and `stop()` can let it finish. The
answer goes back through the command's `response_url` (which works even in
channels the bot has not joined) and falls back to `chat.postMessage`.

Outbound pushes (`send`, `edit`) use an `AsyncWebClient` whose retry handlers
(`retries`) honour 429 `Retry-After` and back off on 5xx, timeouts and dropped
connections; an error no retry can fix (channel gone, bot removed, token revoked)
raises `DeliveryError(permanent=True)` (`errors`).

In HTTP mode every request is checked before Bolt reads it (`requests`: content
type, signature, shape, replay key).

Environment (`config`): SLACK_BOT_TOKEN, SLACK_APP_TOKEN (Socket Mode),
SLACK_SIGNING_SECRET (HTTP mode) and SLACK_API_URL (a replacement for
https://slack.com/api/, for tests and proxies). Tokens are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.adapters.base import Progress, Sent, first_delivery
from bot.adapters.slack.config import SlackConfig, config_from_env, normalize_api_url
from bot.adapters.slack.errors import (
    CHANNEL_ERRORS,
    REFUSED_TOKEN_ERRORS,
    SEND_ERRORS,
    delivery_error,
    error_code,
)
from bot.adapters.slack.inbound import clean_text, is_direct, team_of
from bot.adapters.slack.render import ACTION_ID_PREFIX, SlackMessage, escape, plain_message, render
from bot.adapters.slack.requests import SLACK_CONTENT_TYPES, malformed, signature_ok, signed_request
from bot.adapters.slack.retries import retry_handlers
from bot.config import Settings
from bot.context import ChatRef, Incoming
from bot.dispatch import Dispatcher
from bot.errors import ConfigError
from bot.reply import Chart, Reply
from bot.state.shared import SeenEvents
from bot.text.messages import t

log = logging.getLogger(__name__)

# seconds the language lookup (a state-database read) may take before the default language is used
LANGUAGE_BUDGET = 0.5


# ---- configuration ------------------------------------------------------------------------


def slack_from_env(
    settings: Settings, dispatcher: Dispatcher, environ: Mapping[str, str] | None = None
) -> SlackAdapter:
    """The adapter configured by `[slack]` and the SLACK_* environment variables."""
    return SlackAdapter(dispatcher, config_from_env(settings, environ))


@dataclass(frozen=True)
class _Target:
    """Where an answer goes: the chat, and the interaction's response_url when there is one."""

    chat: ChatRef
    user: str | None = None  # Slack user id, for ephemeral notices
    response_url: str | None = None
    # slash commands answer through response_url (works where the bot is no member);
    # button clicks post in the message's thread and use response_url only as a fallback
    prefer_response_url: bool = False


def _quiet_client_token_warning(record: logging.LogRecord) -> bool:
    # AsyncApp reads SLACK_BOT_TOKEN from the environment by itself and then warns that the client we
    # pass (which carries that same token, plus our base URL and retries) wins: true, and noise.
    return not record.getMessage().startswith("As you gave `client` as well")


# ---- the adapter ------------------------------------------------------------------------------


class SlackAdapter:
    """Serves Slack through Bolt; implements bot.adapters.base.Adapter."""

    platform = "slack"

    def __init__(self, dispatcher: Dispatcher, config: SlackConfig) -> None:
        self.dispatcher = dispatcher
        self.config = config
        self._retry_handlers = retry_handlers(config.max_retries, config.retry_backoff)
        self.client = AsyncWebClient(
            token=config.bot_token,
            base_url=normalize_api_url(config.api_url),
            timeout=config.timeout,
            retry_handlers=self._retry_handlers,
            logger=logging.getLogger("slack_sdk.web.async_client"),
        )
        bolt_logger = logging.getLogger("bot.adapters.slack.adapter.bolt")
        bolt_logger.addFilter(_quiet_client_token_warning)
        self.app = AsyncApp(
            name="opsbot",
            client=self.client,
            signing_secret=config.signing_secret or "",
            # Socket Mode envelopes come over our own authenticated websocket: nothing to verify
            request_verification_enabled=config.mode == "http",
            logger=bolt_logger,
        )
        self._register(self.app)
        # event ids already taken, by any instance: Slack redelivers an event it thinks was
        # missed (PITFALLS 2.2), and behind a load balancer the redelivery may reach another one
        self._seen = SeenEvents(dispatcher.services.store)
        self._tasks: set[asyncio.Task[None]] = set()
        self._answer_slots = asyncio.Semaphore(config.answer_concurrency)
        # requests being handled by the HTTP endpoint; answers start once it is 0 (see _answer)
        self._in_requests = 0
        self._requests_done = asyncio.Event()
        self._requests_done.set()
        # one connection pool for Web API calls and response_url posts, opened by start(); without
        # it slack_sdk opens (and tears down) a session and a connection for every single call
        self._session: aiohttp.ClientSession | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._runner: web.AppRunner | None = None
        self.url: str | None = None  # HTTP mode: the bound http://host:port/path, once started

    # ---- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (Socket Mode) or listen (HTTP); returns once Slack can reach us.

        Raises ConfigError when Slack refuses a token, so a typo stops `opsbot run` at once
        instead of surfacing as silence on the first command.
        """
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.config.timeout))
        self.client.session = self._session
        try:
            await self._check_bot_token()
            if self.config.mode == "http":
                await self._start_http()
            else:
                await self._start_socket()
        except BaseException:
            await self._close_session()
            raise

    async def _close_session(self) -> None:
        if self._session is not None:
            self.client.session = None
            await self._session.close()
            self._session = None

    async def _check_bot_token(self) -> None:
        try:
            identity = await self.client.auth_test()
        except SlackApiError as exc:
            code = error_code(exc)
            if code in REFUSED_TOKEN_ERRORS:
                raise ConfigError(
                    f"Slack refused SLACK_BOT_TOKEN ({code}): use the Bot User OAuth Token (xoxb-…) of the "
                    "installed app"
                ) from exc
            raise
        except (aiohttp.ClientError, TimeoutError) as exc:
            if self.config.mode == "socket":
                raise  # no connection to Slack means no Socket Mode either
            # HTTP mode can serve once Slack is reachable again; Slack's requests are what matter
            log.warning("slack: could not reach Slack to check the bot token (%s)", type(exc).__name__)
            return
        log.info("slack: signed in as %s in team %s", identity.get("user_id"), identity.get("team_id"))

    async def _start_http(self) -> None:
        web_app = web.Application()
        # commands, events and interactivity all arrive on one path; Bolt tells them apart
        web_app.router.add_post(self.config.path, self._http_endpoint)
        web_app.router.add_get("/healthz", self._health)
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port, backlog=self.config.backlog)
        await site.start()
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.url = f"http://{host}:{port}{self.config.path}"
        log.info("slack: HTTP mode listening on %s", self.url)

    async def _http_endpoint(self, request: web.Request) -> web.Response:
        self._in_requests += 1
        self._requests_done.clear()
        try:
            return await self._handle_http(request)
        finally:
            self._in_requests -= 1
            if not self._in_requests:
                self._requests_done.set()

    async def _handle_http(self, request: web.Request) -> web.Response:
        # Verify before parsing (PITFALLS 2.4). Bolt verifies too, but only after it has parsed the
        # body, and a body or header it cannot read (not JSON, not UTF-8, a timestamp that is not a
        # number) would come out of it as a 500 and an error log, for anyone who can reach us.
        if request.content_type not in SLACK_CONTENT_TYPES:
            log.warning("slack: refused a request with content type %r", request.content_type)
            return web.json_response({"error": "unsupported content type"}, status=415)
        raw = await request.read()
        headers = request.headers
        # no signing secret (a misconfigured adapter) verifies nothing: everything is refused
        if not signature_ok(self.config.signing_secret or "", raw, headers.get("X-Slack-Request-Timestamp"),
                            headers.get("X-Slack-Signature")):
            log.info("slack: refused a request with a missing, stale or wrong signature")
            return web.json_response({"error": "invalid request"}, status=401)
        try:
            bolt_request = AsyncBoltRequest(body=raw.decode("utf-8"), query=request.query_string,
                                            headers=dict(headers))
        except Exception as exc:  # not UTF-8, not JSON, or JSON that is no object (Bolt calls .get on it)
            log.warning("slack: refused a signed request Bolt cannot read (%s)", type(exc).__name__)
            return web.json_response({"error": "unreadable body"}, status=400)
        problem = malformed(bolt_request.body)
        if problem:
            log.warning("slack: refused a signed request: %s", problem)
            return web.json_response({"error": problem}, status=400)
        # before Bolt, which would ack and run it: a replay gets its 200 and nothing else (issue 23)
        signed = signed_request(raw, headers["X-Slack-Request-Timestamp"], bolt_request.body)
        if signed is not None and not await self.dispatcher.replays.admit(signed):
            return web.Response(status=200)
        bolt_response = await self.app.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _start_socket(self) -> None:
        app_token = self.config.app_token
        if not app_token:
            raise ConfigError("SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token (xapp-…)")
        # Ask for the websocket URL ourselves: the SDK's connect() retries a refused token forever,
        # while a wrong token is a configuration error the operator should see at once.
        try:
            opened = await self.client.apps_connections_open(app_token=app_token)
        except SlackApiError as exc:
            code = error_code(exc)
            if code in REFUSED_TOKEN_ERRORS:
                raise ConfigError(
                    f"Slack refused SLACK_APP_TOKEN ({code}): use the app-level token (xapp-…) with the "
                    "connections:write scope, and enable Socket Mode for the app"
                ) from exc
            raise
        handler = AsyncSocketModeHandler(
            self.app, app_token=app_token, web_client=self.client, ping_interval=self.config.ping_interval
        )
        handler.client.wss_uri = opened["url"]
        try:
            # connect_async returns once the websocket is open; start_async would then sleep forever
            await asyncio.wait_for(handler.connect_async(), timeout=self.config.connect_timeout)
        except BaseException:
            await handler.close_async()
            raise
        self._socket = handler
        log.info("slack: Socket Mode connected")

    async def stop(self) -> None:
        """Stop receiving, let replies in flight finish (up to drain_timeout), release connections."""
        await self.stop_receiving()
        await self.drain(self.config.drain_timeout)
        await self._close_session()

    async def stop_receiving(self) -> None:
        """Take no new commands (close the socket or the HTTP listener); replies in flight go on."""
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def drain(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for replies in flight; cancel what is still running then.

        The connection pool stays open: outbox deliveries may still be sending through `send`
        (bot/run.py drains both at once); stop() closes it.
        """
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("slack: %d replies still running at shutdown were cancelled", len(pending))
                await asyncio.gather(*pending, return_exceptions=True)

    # ---- inbound --------------------------------------------------------------------------

    def _register(self, app: AsyncApp) -> None:
        # Bolt injects listener arguments by parameter name; keep that surface here, small and typed.

        async def on_command(ack: AsyncAck, command: dict[str, Any]) -> None:
            user_id, channel_id = command.get("user_id"), command.get("channel_id")
            if not user_id or not channel_id:
                # Slack always sends both; without them there is nobody to check access for or answer
                log.warning("slack: ignoring a slash command without user or channel")
                await ack()
                return
            text = clean_text(str(command.get("text") or ""))
            chat = ChatRef("slack", str(channel_id))
            incoming = Incoming(text=text, chat=chat, user=f"slack:{user_id}", team=team_of(command),
                                direct=is_direct(str(channel_id)))
            # echoed as mrkdwn: escaped, so `/ops <!channel>` cannot ping anyone even privately
            shown = escape(f"{self.config.command} {text}".strip().replace("`", "'"))
            lang = await self._lang(incoming)
            await ack(response_type="ephemeral", text=t(lang, "slack_working", command=shown))
            target = _Target(
                chat, user=str(user_id), response_url=command.get("response_url") or None, prefer_response_url=True
            )
            self._spawn(self._answer(incoming, target))

        async def on_mention(event: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext) -> None:
            # events are acknowledged by Bolt before this runs
            if not event.get("user") or not event.get("channel"):
                log.info("slack: ignoring an app_mention without user or channel")
                return
            if not await first_delivery(self._seen, "slack", body.get("event_id")):
                return
            if str(event.get("channel", "")).startswith("D"):
                return  # a mention inside a DM also arrives as the DM's message event: answer that one only
            thread = event.get("thread_ts") or event.get("ts")
            chat = ChatRef("slack", event["channel"], thread=thread)
            text = clean_text(event.get("text") or "", context.bot_user_id)
            incoming = Incoming(text=text, chat=chat, user=f"slack:{event['user']}", team=team_of(body))
            self._spawn(self._answer(incoming, _Target(chat)))

        async def on_message(event: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext) -> None:
            # Every message event lands here so none is "unhandled" (a 404 Slack would retry);
            # only a person's direct message is a command: edits, joins and bots' posts have a subtype/bot_id.
            if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
                return
            if not event.get("user") or not event.get("channel"):
                log.info("slack: ignoring a direct message without user or channel")
                return
            if not await first_delivery(self._seen, "slack", body.get("event_id")):
                return
            chat = ChatRef("slack", event["channel"], thread=event.get("thread_ts"))
            text = clean_text(event.get("text") or "", context.bot_user_id)
            incoming = Incoming(text=text, chat=chat, user=f"slack:{event['user']}", team=team_of(body),
                                direct=True)  # channel_type im, checked above
            self._spawn(self._answer(incoming, _Target(chat)))

        async def on_action(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
            await ack()
            command = action.get("value") or ""
            user = (body.get("user") or {}).get("id")
            container = body.get("container") or {}
            channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
            if not command or not user or not channel:
                log.warning("slack: ignoring a button click without command, user or channel")
                return
            message = body.get("message") or {}
            ephemeral = bool(container.get("is_ephemeral"))
            # the answer goes in the clicked message's thread; an ephemeral message has no thread to join
            thread = None if ephemeral else (message.get("thread_ts") or message.get("ts") or container.get("message_ts"))
            chat = ChatRef("slack", channel, thread=thread)
            target = _Target(chat, user=user, response_url=body.get("response_url"), prefer_response_url=ephemeral)
            incoming = Incoming(text=clean_text(command), chat=chat, user=f"slack:{user}", team=team_of(body),
                                direct=is_direct(str(channel)))
            self._spawn(self._answer(incoming, target))

        async def on_other_event(event: dict[str, Any]) -> None:
            # Acknowledged (200) rather than left unhandled: Slack redelivers a 404 and counts it
            # against the app. The manifest subscribes to no other events; log what came anyway.
            log.info("slack: ignoring a %r event", event.get("type"))

        async def on_error(error: Exception, body: dict[str, Any]) -> None:
            log.error("slack: Bolt failed on a %s request", body.get("type") or "slash command", exc_info=error)

        app.command(self.config.command)(on_command)
        app.event("app_mention")(on_mention)
        app.event("message")(on_message)
        app.event(re.compile(".*"))(on_other_event)  # last: only what the two above did not take
        app.action(re.compile(f"^{re.escape(ACTION_ID_PREFIX)}"))(on_action)
        app.error(on_error)

    async def _lang(self, incoming: Incoming) -> str:
        """The dispatcher's language for this chat, without blocking the loop on the state database.

        It is read before the ack, which Slack wants within 3 s: a slow database gets the default.
        """
        try:
            return await asyncio.wait_for(asyncio.to_thread(self.dispatcher.language, incoming), LANGUAGE_BUDGET)
        except TimeoutError:
            return self.dispatcher.services.settings.bot.language

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        # tracked, so stop() can wait for answers in flight and the task is not garbage-collected mid-run
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, incoming: Incoming, target: _Target) -> None:
        """Dispatch and deliver; failures are logged (nobody is waiting on an exception here)."""
        async with self._answer_slots:
            # Acks first: while requests are still arriving, the answers' queries (threads holding
            # the GIL) and rendering would slow their acks past Slack's 3 seconds; a burst is
            # acknowledged in full, then answered. Bounded, so steady traffic cannot starve answers.
            if not self._requests_done.is_set() and self.config.ack_first_wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._requests_done.wait(), self.config.ack_first_wait)
            reply = await self.dispatcher.dispatch(incoming)
            try:
                await self._deliver(target, reply, await self._lang(incoming))
            except SEND_ERRORS as exc:
                log.error("slack: could not answer %s in %s: %s", incoming.user, incoming.chat,
                          delivery_error(exc).reason)
            except Exception:
                log.exception("slack: answering %s in %s failed", incoming.user, incoming.chat)

    # ---- outbound -------------------------------------------------------------------------

    async def send(self, chat: ChatRef, reply: Reply, progress: Progress | None = None) -> Sent:
        """Push a reply (digests, alerts). The Sent's message_id is the ts of the message; a reply
        split into several messages has their ts joined by commas."""
        try:
            # pushes have no sender; the dispatcher decides a chat's language the same way for everyone
            lang = await self._lang(Incoming(text="", chat=chat, user=""))
            stamps = await self._deliver(_Target(chat), reply, lang, progress)
        except SEND_ERRORS as exc:
            err = delivery_error(exc)
            log.error("slack: delivery to %s failed (%s, %s)", chat, err.reason,
                      "permanent" if err.permanent else "transient")
            raise err from exc
        return Sent(chat, ",".join(stamps))

    async def edit(self, sent: Sent, reply: Reply) -> Sent:
        """Replace a sent reply in place (chat.update). Extra messages are posted, surplus ones deleted.

        Charts are not re-uploaded: a file cannot be replaced in place, and a second copy would
        confuse more than a stale chart.
        """
        chat = sent.chat
        stamps = [s for s in sent.message_id.split(",") if s]
        result: list[str] = []
        try:
            for i, message in enumerate(render(reply)):
                if i < len(stamps):
                    await self.client.chat_update(
                        channel=chat.id, ts=stamps[i], text=message.text, blocks=message.blocks_json()
                    )
                    result.append(stamps[i])
                else:
                    result.append(await self._post(chat, message))
            for ts in stamps[len(result):]:
                await self.client.chat_delete(channel=chat.id, ts=ts)
        except SEND_ERRORS as exc:
            err = delivery_error(exc)
            log.error("slack: editing %s in %s failed (%s)", sent.message_id, chat, err.reason)
            raise err from exc
        return Sent(chat, ",".join(result))

    async def _deliver(self, target: _Target, reply: Reply, lang: str, progress: Progress | None = None) -> list[str]:
        """Post every message of the reply, then its charts and files, skipping the parts that
        landed in an earlier attempt; the ts of each message posted via the API."""
        progress = progress or Progress()
        use_response_url = target.prefer_response_url and target.response_url is not None
        # a refusal or a typo concerns only the person who typed it: keep it out of the channel
        ephemeral = reply.error and target.user is not None and target.response_url is not None
        charts = list(reply.charts)
        uploads = [*charts, *(Chart(a.content, a.title or a.filename, a.filename) for a in reply.files)]
        messages = list(render(reply))
        for part, message in enumerate(messages):
            if part < progress.done:
                continue
            if use_response_url and await self._respond(target, message, ephemeral):
                await progress.landed()
                continue
            # response_url is spent (5 uses, 30 minutes) or never existed: use the Web API
            use_response_url = False
            try:
                stamp = await self._post(target.chat, message, user=target.user if ephemeral else None)
            except SlackApiError as exc:
                # a button under a message the bot could not post itself (slash command in a channel
                # it never joined): only response_url reaches that channel
                if error_code(exc) in CHANNEL_ERRORS and target.response_url and not target.prefer_response_url:
                    if await self._respond(target, message, ephemeral):
                        await progress.landed()
                        continue
                raise
            await progress.landed(stamp)
        # the numbers are out: now the charts are drawn, while people read them
        await self.dispatcher.draw(reply)
        uploads = [*reply.charts, *uploads[len(charts):]]
        for part, chart in enumerate(uploads, start=len(messages)):
            if part >= progress.done:
                await self._upload(target, chart, lang)
                await progress.landed()
        return list(progress.ids)

    async def _post(self, chat: ChatRef, message: SlackMessage, user: str | None = None) -> str:
        if user is not None:
            await self.client.chat_postEphemeral(
                channel=chat.id, user=user, text=message.text, blocks=message.blocks_json(), thread_ts=chat.thread
            )
            return ""  # ephemeral messages have no ts anyone could edit
        response = await self.client.chat_postMessage(
            channel=chat.id,
            text=message.text,
            blocks=message.blocks_json(),
            thread_ts=chat.thread,
            unfurl_links=False,
            unfurl_media=False,
        )
        return str(response.get("ts") or "")

    async def _respond(self, target: _Target, message: SlackMessage, ephemeral: bool) -> bool:
        """Post through the interaction's response_url; False when Slack would not take it."""
        assert target.response_url is not None
        webhook = AsyncWebhookClient(
            url=target.response_url, timeout=self.config.timeout, retry_handlers=self._retry_handlers,
            session=self._session,
        )
        body: dict[str, Any] = {
            "response_type": "ephemeral" if ephemeral else "in_channel",
            "text": message.text,
            "blocks": message.blocks_json(),
        }
        if target.chat.thread and not target.prefer_response_url:
            body["thread_ts"] = target.chat.thread
        try:
            response = await webhook.send_dict(body)
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.warning("slack: response_url failed (%s); falling back to the Web API", type(exc).__name__)
            return False
        if response.status_code != 200:
            log.warning("slack: response_url answered %s; falling back to the Web API", response.status_code)
            return False
        return True

    async def _upload(self, target: _Target, chart: Chart, lang: str) -> None:
        """Upload one chart into the chat (and thread); if Slack refuses, say why instead of failing."""
        try:
            await self.client.files_upload_v2(
                channel=target.chat.id,  # files_upload_v2 wants the channel ID, as `channel=` (slack-sdk#1608)
                thread_ts=target.chat.thread,
                content=chart.png,
                filename=chart.filename,
                title=chart.title,
            )
            return
        except SlackApiError as exc:
            code = error_code(exc) or f"http_{exc.response.status_code}"
        except SEND_ERRORS as exc:
            code = type(exc).__name__
        log.warning("slack: chart %r not attached in %s: %s", chart.title, target.chat, code)
        if code in CHANNEL_ERRORS:
            reason = t(lang, "slack_chart_not_in_channel")
        elif code in ("missing_scope", "not_allowed_token_type", "no_permission"):
            reason = t(lang, "slack_chart_missing_scope")
        else:
            reason = t(lang, "slack_chart_failed", error=code)
        await self._notice(target, t(lang, "slack_chart_missing", title=chart.title, reason=reason))

    async def _notice(self, target: _Target, text: str) -> None:
        """A short adapter notice: to the asking user when we can, else into the chat."""
        message = plain_message(text)
        try:
            if target.response_url and target.user and await self._respond(target, message, ephemeral=True):
                return
            await self._post(target.chat, message)
        except SEND_ERRORS as exc:
            log.warning("slack: notice to %s failed: %s", target.chat, delivery_error(exc).reason)
