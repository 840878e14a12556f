"""Activities as the bot's own code sees them, whichever Teams SDK received them (bot/edge/).

An incoming activity is read once from the JSON body the endpoint has already checked (bot/messages.py), so
commands, features and dialogs never touch an SDK's model. Outgoing activities are plain Bot Framework JSON;
each edge turns them into its SDK's type at the last moment."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cards.common import attachment

_MENTION = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)
# Names are kept as long as their columns; Teams' own limits are shorter, so only a forged name is cut.
NAME_MAX_LENGTH = 256
# A message names at most this many people: Teams itself allows 20 mentions.
MAX_MENTIONS = 20


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    """Activities are free-form JSON: a field of the wrong type is treated as absent."""
    return value if isinstance(value, str) and value else None


def _name(value: object) -> str | None:
    text = _text(value)
    return text[:NAME_MAX_LENGTH] if text else None


@dataclass(frozen=True)
class Account:
    id: str
    name: str | None = None
    aad_object_id: str | None = None

    @classmethod
    def of(cls, value: object) -> Account | None:
        data = _dict(value)
        account_id = data.get("id")
        if not isinstance(account_id, str):
            return None
        return cls(id=account_id, name=_name(data.get("name")), aad_object_id=_text(data.get("aadObjectId")))


@dataclass(frozen=True)
class Conversation:
    id: str
    conversation_type: str | None = None
    tenant_id: str | None = None


@dataclass(frozen=True)
class Mention:
    """A person @mentioned in a message: their Teams user id and the name Teams showed."""

    id: str
    name: str | None


@dataclass(frozen=True)
class IncomingActivity:
    type: str
    conversation: Conversation | None
    from_property: Account | None
    recipient: Account | None
    service_url: str | None = None
    channel_id: str | None = None
    id: str | None = None
    name: str | None = None
    text: str | None = None
    value: Any = None
    action: str | None = None
    channel_data: dict[str, Any] = field(default_factory=dict)
    members_added: tuple[Account, ...] = ()
    mentions: tuple[Mention, ...] = ()

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> IncomingActivity:
        conversation = _dict(body.get("conversation"))
        conversation_id = conversation.get("id")
        recipient = Account.of(body.get("recipient"))
        return cls(
            type=str(body.get("type") or ""),
            conversation=Conversation(
                id=conversation_id,
                conversation_type=_text(conversation.get("conversationType")),
                tenant_id=_text(conversation.get("tenantId")),
            ) if isinstance(conversation_id, str) else None,
            from_property=Account.of(body.get("from")),
            recipient=recipient,
            service_url=_text(body.get("serviceUrl")),
            channel_id=_text(body.get("channelId")),
            id=_text(body.get("id")),
            name=_text(body.get("name")),
            text=body.get("text") if isinstance(body.get("text"), str) else None,
            value=body.get("value"),
            action=_text(body.get("action")),
            channel_data=_dict(body.get("channelData")),
            members_added=tuple(account for account in map(Account.of, body.get("membersAdded") or [])
                                if account is not None) if isinstance(body.get("membersAdded"), list) else (),
            mentions=_mentions(body.get("entities"), recipient.id if recipient else None),
        )

    @property
    def is_personal(self) -> bool:
        return self.conversation is None or (self.conversation.conversation_type or "personal") == "personal"


def _mentions(entities: object, bot_id: str | None) -> tuple[Mention, ...]:
    """Each person @mentioned once, in order, leaving out the bot itself."""
    found: dict[str, Mention] = {}
    for entity in entities if isinstance(entities, list) else []:
        if not isinstance(entity, dict) or str(entity.get("type", "")).lower() != "mention":
            continue
        mentioned = _dict(entity.get("mentioned"))
        user_id = mentioned.get("id")
        if isinstance(user_id, str) and user_id and user_id != bot_id and len(user_id) <= 256:
            found.setdefault(user_id, Mention(user_id, _name(mentioned.get("name"))))
    return tuple(found.values())[:MAX_MENTIONS]


def plain_text(activity: IncomingActivity) -> str:
    text = activity.text or ""
    return " ".join(_MENTION.sub(" ", text).split())


def person_id_of(activity: IncomingActivity) -> str:
    """Who sent the activity: their Entra object id, lower case ("" when Teams gave none)."""
    sender = activity.from_property
    return (sender.aad_object_id or "").lower() if sender else ""


def tenant_of(activity: IncomingActivity) -> str:
    tenant = _text(_dict(activity.channel_data.get("tenant")).get("id"))
    if tenant is None and activity.conversation is not None:
        tenant = activity.conversation.tenant_id
    return (tenant or "").lower()


# -- outgoing --------------------------------------------------------------------------------------------------

OutgoingActivity = dict[str, Any]


def card_activity(content: dict[str, Any]) -> OutgoingActivity:
    """A card sent as its own message, with no text beside it (design §9, teams-facts)."""
    return {"type": "message", "attachments": [attachment(content)]}


def text_activity(text: str, *, markdown: bool = False) -> OutgoingActivity:
    activity: OutgoingActivity = {"type": "message", "text": text}
    if markdown:
        activity["textFormat"] = "markdown"
    return activity


@dataclass(frozen=True)
class InvokeAnswer:
    """What the bot answers an invoke activity with (the HTTP response's status and JSON body)."""

    status: int
    body: dict[str, Any] | None = None


@dataclass(frozen=True)
class MemberInfo:
    """A member of the current conversation, as Teams' members API describes them."""

    aad_object_id: str | None
    name: str | None
    email: str | None
    user_principal_name: str | None
