"""POST /api/messages: parse, authenticate (every failure is a 401), check the tenant, run the turn."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web
from botbuilder.core import ActivityHandler
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity
from botframework.connector.auth import BotFrameworkAuthentication
from msrest.serialization import Model

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


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class MessagesEndpoint:
    def __init__(self, adapter: CloudAdapter, authentication: BotFrameworkAuthentication,
                 bot: ActivityHandler, allowed_tenants: list[str]) -> None:
        self._adapter = adapter
        self._authentication = authentication
        self._bot = bot
        self._allowed_tenants = set(allowed_tenants)

    async def handle(self, request: web.Request) -> web.Response:
        if "application/json" not in request.headers.get("Content-Type", ""):
            return _error(415, "expected application/json")
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, "the body is not JSON")
        if not _looks_like_activity(body):
            return _error(400, "the body is not an activity")
        try:
            activity = Activity().deserialize(body)
        except Exception:  # msrest raises several types for a malformed activity
            return _error(400, "the body is not an activity")
        header = request.headers.get("Authorization", "")
        try:
            authentication = await self._authentication.authenticate_request(activity, header)
        except Exception as exc:  # botbuilder raises more than PermissionError for bad tokens (teams-facts)
            log.info("refused an unauthenticated request: %s", type(exc).__name__)
            return _error(401, "unauthorized")
        if self._allowed_tenants:
            tenant = tenant_of(body)
            if tenant not in self._allowed_tenants:
                log.info("refused an activity from a tenant that is not allowed")
                return _error(403, "tenant not allowed")
        invoke_response = await self._adapter.process_activity(authentication, activity, self._bot.on_turn)
        if invoke_response is None:
            return web.Response(status=201)
        response_body = invoke_response.body
        if isinstance(response_body, Model):
            response_body = response_body.serialize()
        return web.json_response(response_body, status=invoke_response.status)
