"""How the Slack clients retry a call: 429 after Retry-After, 5xx and dropped connections with a
jittered backoff (`retry_handlers`, given to the Web API and response_url clients)."""

from __future__ import annotations

import aiohttp
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.jitter import Jitter
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState


class _ProportionalJitter(Jitter):
    """Up to +50 % of the interval: spreads a fan-out's retries without adding a fixed second."""

    def recalculate(self, duration: float) -> float:
        import random

        return duration * (1 + random.random() / 2)


class _ServerErrorRetryHandler(AsyncServerErrorRetryHandler):
    """slack_sdk retries only 500 and 503; a proxy's 502 and 504 are just as transient."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code in (500, 502, 503, 504)


def retry_handlers(max_retries: int, backoff: float) -> list[AsyncRetryHandler]:
    """429 (Retry-After), 5xx and connection/timeouts; the SDK's default covers connection errors only."""
    interval = BackoffRetryIntervalCalculator(backoff_factor=backoff, jitter=_ProportionalJitter())
    return [
        AsyncConnectionErrorRetryHandler(
            max_retry_count=max_retries,
            interval_calculator=interval,
            error_types=[
                aiohttp.ServerConnectionError,  # includes ServerDisconnectedError and ServerTimeoutError
                aiohttp.ClientOSError,  # connection reset by peer
                TimeoutError,  # the client's total timeout
            ],
        ),
        AsyncRateLimitErrorRetryHandler(max_retry_count=max_retries),
        _ServerErrorRetryHandler(max_retry_count=max_retries, interval_calculator=interval),
    ]
