"""POST /api/messages: parse, check, authenticate (every failure is a 401), check the tenant, run the turn.

These checks stand in front of either Teams SDK (bot/edge/): neither SDK's own endpoint answers a malformed body
with 400 (the Agents SDK raises outside any try, a 500), checks the service URL against an allow-list, or knows
the tenants this bot serves."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from bot.activity import IncomingActivity
from bot.edge import Edge, EdgeMalformed, EdgeRefused
from bot.log_format import CONTROL_CHARACTERS
from bot.service_urls import service_url_allowed

log = logging.getLogger(__name__)


def tenant_of(body: dict[str, Any]) -> str | None:
    channel_data = body.get("channelData") or {}
    tenant = channel_data.get("tenant") if isinstance(channel_data, dict) else None
    if isinstance(tenant, dict) and isinstance(tenant.get("id"), str):
        return str(tenant["id"]).lower()
    conversation = body.get("conversation") or {}
    value = conversation.get("tenantId") if isinstance(conversation, dict) else None
    return value.lower() if isinstance(value, str) else None


def _looks_like_activity(body: object) -> bool:
    """The fields every turn relies on; anything less is answered 400, never a failed turn."""
    if not isinstance(body, dict) or not isinstance(body.get("type"), str):
        return False
    conversation = body.get("conversation")
    sender = body.get("from")
    return (
        isinstance(conversation, dict) and isinstance(conversation.get("id"), str) and bool(conversation["id"])
        and isinstance(sender, dict) and isinstance(sender.get("id"), str)
        and isinstance(body.get("serviceUrl"), str) and body["serviceUrl"].startswith(("https://", "http://"))
    )


# Deeper JSON than any Teams activity carries (a card's data sits about 6 levels down) is refused before any
# code walks it: Python's parsers recurse.
MAX_JSON_DEPTH = 32

# The ids Teams sends, where they sit in the activity, and the longest each may be (docs/deploy.md): as long as
# the columns that keep them. No format is imposed (the Playground and tests use ids like `a:1`), but no id may
# hold a control character, which could forge a log line or break a header.
ID_FIELDS: tuple[tuple[tuple[str, ...], int], ...] = (
    (("id",), 256),
    (("replyToId",), 256),
    (("serviceUrl",), 512),
    (("conversation", "id"), 512),
    (("conversation", "tenantId"), 64),
    (("from", "id"), 256),
    (("from", "aadObjectId"), 64),
    (("recipient", "id"), 256),
    (("channelData", "tenant", "id"), 64),
    (("channelData", "team", "id"), 512),
    (("channelData", "channel", "id"), 512),
)


def _within_depth(value: object, limit: int) -> bool:
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


def _id_problem(body: dict[str, Any]) -> str | None:
    """Why an id in the activity cannot be used (its path), or None."""
    for path, longest in ID_FIELDS:
        value: object = body
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            continue
        name = ".".join(path)
        if not isinstance(value, str):
            return f"{name} is not text"
        if len(value) > longest:
            return f"{name} is longer than {longest} characters"
        if CONTROL_CHARACTERS.search(value):
            return f"{name} holds a control character"
    return None


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class MessagesEndpoint:
    def __init__(self, edge: Edge, allowed_tenants: list[str], *, service_url_hosts: list[str],
                 local_mode: bool) -> None:
        self._edge = edge
        self._allowed_tenants = set(allowed_tenants)
        self._service_url_hosts = service_url_hosts
        self._local_mode = local_mode

    async def handle(self, request: web.Request) -> web.Response:
        # aiohttp parses the media type: `text/plain; charset=application/json` is text/plain.
        if request.content_type != "application/json":
            return _error(415, "expected application/json")
        if (request.charset or "utf-8").lower() not in ("utf-8", "utf8"):
            return _error(415, "expected JSON in UTF-8")
        try:
            body = json.loads((await request.read()).decode("utf-8"))
        except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            return _error(400, "the body is not JSON")
        if not _within_depth(body, MAX_JSON_DEPTH):
            return _error(400, f"the body is nested deeper than {MAX_JSON_DEPTH} levels")
        if not _looks_like_activity(body):
            return _error(400, "the body is not an activity")
        problem = _id_problem(body)
        if problem is not None:
            log.info("refused an activity: %s", problem)
            return _error(400, problem)
        if not service_url_allowed(body["serviceUrl"], self._service_url_hosts, local_mode=self._local_mode):
            log.warning("refused an activity whose serviceUrl is not an allowed Teams host")
            return _error(401, "unauthorized")
        header = request.headers.get("Authorization", "")
        try:
            identity = await self._edge.authenticate(body, header)
        except EdgeMalformed:
            return _error(400, "the body is not an activity")
        except EdgeRefused as refused:
            log.info("refused an unauthenticated request: %s", refused)
            return _error(401, "unauthorized")
        if self._allowed_tenants:
            tenant = tenant_of(body)
            if tenant not in self._allowed_tenants:
                log.info("refused an activity from a tenant that is not allowed")
                return _error(403, "tenant not allowed")
        answer = await self._edge.process(identity, body, IncomingActivity.from_json(body))
        if answer is None:
            return web.Response(status=201)
        if answer.body is None:
            return web.Response(status=answer.status)
        return web.json_response(answer.body, status=answer.status)
