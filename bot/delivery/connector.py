"""A small Bot Connector REST client over aiohttp, for the worker.

botbuilder's connector client runs its HTTP calls on a small thread pool (6 workers measured here) and, through
`continue_conversation`, hands failures to on_turn_error where the caller cannot see them (teams-facts). The
worker needs every status code, Teams' error code and the Retry-After header, and many sends in flight at once,
so it speaks the three calls it needs itself.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from bot.delivery.classify import error_codes

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True)
class Reply:
    """What came back. `status` None means no answer at all: `error` says Timeout or ConnectionError."""

    status: int | None
    codes: list[str] = field(default_factory=list)
    resource_id: str | None = None  # the "id" of a 2xx answer: the activity or the new conversation
    retry_after: str | None = None
    duration: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def activity_from_payload(payload: str) -> dict[str, Any]:
    """The outbox payload as a message activity: a card goes alone, with no text beside it (teams-facts:
    Teams splits text + attachment into two messages, and a card we will update must be its own message)."""
    data = json.loads(payload)
    if data.get("card") is not None:
        return {"type": "message", "attachments": [{"contentType": ADAPTIVE_CARD, "content": data["card"]}]}
    return {"type": "message", "text": str(data.get("text") or "")}


def _url(service_url: str, *segments: str) -> URL:
    # Service URLs carry a path (".../uk/") and conversation ids carry ':', ';' and '@': encode every segment
    # fully, as botbuilder does, and keep yarl from re-encoding them.
    path = "/".join(quote(segment, safe="") for segment in segments)
    return URL(f"{service_url.rstrip('/')}/v3/conversations{'/' + path if path else ''}", encoded=True)


class ConnectorClient:
    def __init__(self, *, timeout_seconds: float = 30.0, max_connections: int = 100) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ConnectorClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=self._max_connections)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, json_serialize=json.dumps
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, service_url: str, conversation_id: str, activity: dict[str, Any], token: str) -> Reply:
        return await self._call("POST", _url(service_url, conversation_id, "activities"), activity, token)

    async def update(
        self, service_url: str, conversation_id: str, activity_id: str, activity: dict[str, Any], token: str
    ) -> Reply:
        body = {**activity, "id": activity_id}
        return await self._call("PUT", _url(service_url, conversation_id, "activities", activity_id), body, token)

    async def create_personal(
        self, service_url: str, *, bot_id: str, teams_user_id: str, tenant_id: str, token: str
    ) -> Reply:
        """Open (or find: Teams answers with the same one) the 1:1 chat with a person."""
        body = {
            "isGroup": False,
            "bot": {"id": bot_id},
            "members": [{"id": teams_user_id}],
            "channelData": {"tenant": {"id": tenant_id}},
            "tenantId": tenant_id,
        }
        return await self._call("POST", _url(service_url), body, token)

    async def _call(self, method: str, url: URL, body: dict[str, Any], token: str) -> Reply:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        started = time.monotonic()
        try:
            async with self._client().request(method, url, json=body, headers=headers) as response:
                raw = await response.content.read(MAX_ANSWER_BYTES)
                answer = _json(raw)
                resource_id = answer.get("id") if isinstance(answer, dict) else None
                return Reply(
                    status=response.status,
                    codes=error_codes(answer) if response.status >= 400 else [],
                    resource_id=str(resource_id) if resource_id is not None else None,
                    retry_after=response.headers.get("Retry-After"),
                    duration=time.monotonic() - started,
                )
        except TimeoutError:
            return Reply(status=None, duration=time.monotonic() - started, error="Timeout")
        except aiohttp.ClientError:
            return Reply(status=None, duration=time.monotonic() - started, error="ConnectionError")


def _json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None
