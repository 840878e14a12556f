"""A small Graph HTTP client on aiohttp: app-only tokens, bounded retries that honour Retry-After on 429 and
503 (also 502, 504, timeouts), typed errors, and logs that carry an operation name and status codes only.

One instance per app (built by `bot.graph.services.build_graph`); its aiohttp session is created on first use,
inside the running event loop, and closed by the app's cleanup.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from yarl import URL

from bot.graph.errors import GraphAuthError, GraphError, GraphUnavailable, error_for
from bot.graph.tokens import TokenSource
from bot.retry import backoff_seconds, retry_after_seconds

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Characters OData needs unescaped in a query ($filter=teamsApp/id eq 'x', $expand=a,b); spaces become %20.
_QUERY_SAFE = "$'(),/:@="


def segment(value: str) -> str:
    """One path segment: an id, or an e-mail used as a user key."""
    return quote(value, safe="@")


def odata_string(value: str) -> str:
    """A string literal inside $filter: quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class GraphResponse:
    status: int
    body: dict[str, Any]


class GraphClient:
    def __init__(self, base_url: str, tokens: TokenSource, *, max_attempts: int = 4,
                 max_retry_after: float = 120.0, timeout: float = 30.0, sleep: Sleep = asyncio.sleep,
                 rng: random.Random | None = None) -> None:
        """`max_retry_after`: a Retry-After longer than this is not waited out here; the error carries it so a
        durable job can come back later instead of holding a worker."""
        self.base_url = base_url.rstrip("/")
        self._origin = urlsplit(self.base_url)[:2]
        self._tokens = tokens
        self._max_attempts = max_attempts
        self._max_retry_after = max_retry_after
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._http: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=self._timeout)
        return self._http

    def url(self, path: str, params: Mapping[str, str] | None = None) -> URL:
        """`path` starts with '/' and has its segments already escaped (see `segment`)."""
        text = self.base_url + path
        if params:
            text += "?" + "&".join(f"{quote(k, safe='$')}={quote(v, safe=_QUERY_SAFE)}" for k, v in params.items())
        return URL(text, encoded=True)

    async def call(self, op: str, method: str, path_or_url: str | URL, *, params: Mapping[str, str] | None = None,
                   json: Any = None, headers: Mapping[str, str] | None = None,
                   ok: Collection[int] = (200, 201, 202, 204)) -> GraphResponse:
        """One Graph request with retries. `op` names it in logs and errors (e.g. "events.create")."""
        url = path_or_url if isinstance(path_or_url, URL) else self.url(path_or_url, params)
        if (url.scheme, url.raw_authority) != self._origin:
            # Never send the token anywhere but Graph (an @odata.nextLink is followed only on the same host).
            raise GraphError(op, None, "foreign_url")
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            token = await self._tokens.token()
            request_headers = {"Authorization": f"Bearer {token}", "Accept": "application/json",
                               **(headers or {})}
            try:
                async with self._session().request(method, url, json=json, headers=request_headers) as response:
                    status = response.status
                    # Not capped: a long one is handed to the caller (see max_retry_after), who comes back then.
                    retry_after = retry_after_seconds(response.headers.get("Retry-After"), datetime.now(UTC),
                                                      cap=math.inf)
                    body = await _body(response)
            except (aiohttp.ClientError, TimeoutError) as exc:
                if attempt >= self._max_attempts:
                    raise GraphUnavailable(op, None, type(exc).__name__) from None
                delay = self._backoff(attempt)
                log.warning("graph %s: %s, retry %d of %d in %.1fs", op, type(exc).__name__, attempt,
                            self._max_attempts - 1, delay)
                await self._sleep(delay)
                continue
            log.debug("graph %s %s", op, status)
            if status in ok:
                return GraphResponse(status, body)
            code = _error_code(body)
            if status == 401 and not refreshed:
                # A revoked or rotated token: fetch a fresh one once before calling it a credentials problem.
                refreshed = True
                self._tokens.invalidate()
                log.warning("graph %s answered 401; fetching a new token", op)
                continue
            if status in RETRY_STATUSES and attempt < self._max_attempts:
                if retry_after is not None and retry_after > self._max_retry_after:
                    raise error_for(op, status, code, retry_after)
                delay = retry_after if retry_after is not None else self._backoff(attempt)
                log.warning("graph %s answered %s%s, retry %d of %d in %.1fs", op, status,
                            " (Retry-After)" if retry_after is not None else "", attempt,
                            self._max_attempts - 1, delay)
                await self._sleep(delay)
                continue
            if status == 401:
                raise GraphAuthError(op, status, code)
            log.info("graph %s failed: %s %s", op, status, code or "")
            raise error_for(op, status, code, retry_after)

    async def get(self, op: str, path: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        return (await self.call(op, "GET", path, params=params)).body

    async def items(self, op: str, path: str, params: Mapping[str, str] | None = None,
                    *, max_pages: int = 1000) -> AsyncIterator[dict[str, Any]]:
        """Every item of a collection, following @odata.nextLink (bounded, in case a server loops)."""
        target: str | URL = path
        query = params
        for _ in range(max_pages):
            page = (await self.call(op, "GET", target, params=query)).body
            query = None  # a nextLink carries its own query
            for item in page.get("value") or []:
                if isinstance(item, dict):
                    yield item
            next_link = page.get("@odata.nextLink")
            if not isinstance(next_link, str):
                return
            target = URL(next_link, encoded=True)
        raise GraphError(op, None, "too_many_pages")

    def _backoff(self, attempt: int) -> float:
        """Exponential with jitter from 1 s to at most 30 s, when Graph gave no Retry-After."""
        return backoff_seconds(attempt, base=1.0, cap=30.0, rng=self._rng)


async def _body(response: aiohttp.ClientResponse) -> dict[str, Any]:
    raw = await response.read()
    if not raw:
        return {}
    try:
        data = await response.json(content_type=None)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _error_code(body: dict[str, Any]) -> str | None:
    error = body.get("error")
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        return str(error["code"])[:64]
    return None
