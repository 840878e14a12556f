"""pytest plugin: the Teams doubles as fixtures, and a builder for inbound Teams activities."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio

from tests.doubles.issuer import DEFAULT_APP_ID, TokenIssuer
from tests.doubles.teams import DEFAULT_TENANT_ID, Member, TeamsDouble, make_member

DEFAULT_MEMBER = make_member(1)


@pytest.fixture(scope="session")
def token_issuer() -> Iterator[TokenIssuer]:
    """One issuer for the whole run: botbuilder caches its keys per metadata URL for a day."""
    issuer = TokenIssuer().start()
    yield issuer
    issuer.stop()


@pytest_asyncio.fixture
async def teams_double() -> AsyncIterator[TeamsDouble]:
    """A fresh Connector double in the test's event loop, with DEFAULT_MEMBER known."""
    double = TeamsDouble()
    double.add_member(DEFAULT_MEMBER)
    await double.start()
    yield double
    await double.stop()


def make_activity(
    service_url: str,
    *,
    text: str | None = "hello",
    value: Any = None,
    member: Member = DEFAULT_MEMBER,
    conversation_id: str | None = None,
    app_id: str = DEFAULT_APP_ID,
    tenant_id: str = DEFAULT_TENANT_ID,
    activity_type: str = "message",
    name: str | None = None,
    reply_to_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A personal-chat Teams activity as the channel posts it to the bot (JSON dict).

    For an Action.Execute press: ``activity_type="invoke", name="adaptiveCard/action", text=None,
    value={"action": {"type": "Action.Execute", "verb": ..., "data": ...}, "trigger": "manual"}``.
    """
    activity: dict[str, Any] = {
        "type": activity_type,
        "id": uuid.uuid4().hex,
        "timestamp": datetime.now(UTC).isoformat(),
        "channelId": "msteams",
        "serviceUrl": service_url,
        "from": {"id": member.teams_user_id, "name": member.name, "aadObjectId": member.aad_object_id},
        "recipient": {"id": f"28:{app_id}", "name": "HNY Inc. volunteers"},
        "conversation": {
            "id": conversation_id or f"a:personal-{member.aad_object_id}",
            "conversationType": "personal",
            "tenantId": tenant_id,
        },
        "channelData": {"tenant": {"id": tenant_id}},
        "locale": "en-GB",
    }
    if text is not None:
        activity["text"] = text
    if value is not None:
        activity["value"] = value
    if name is not None:
        activity["name"] = name
    if reply_to_id is not None:
        activity["replyToId"] = reply_to_id
    activity.update(extra)
    return activity
