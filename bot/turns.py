"""What a command or card action handler gets: the turn, who is asking, and ways to answer."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.dialogs import DialogContext
from botbuilder.schema import Activity, ActivityTypes

from bot.core import Core
from cards.common import attachment
from storage.repositories.people import Contact

_MENTION = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)


def card_activity(content: dict[str, Any]) -> Activity:
    """A card sent as its own message, with no text beside it (design §9, teams-facts)."""
    return Activity(type=ActivityTypes.message, attachments=[attachment(content)])


def plain_text(activity: Activity) -> str:
    text = activity.text or ""
    return " ".join(_MENTION.sub(" ", text).split())


def person_id_of(activity: Activity) -> str:
    """Who sent the activity: their Entra object id, lower case ("" when Teams gave none)."""
    return str(getattr(activity.from_property, "aad_object_id", None) or "").lower()


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    """channelData is free-form JSON: a field of the wrong type is treated as absent."""
    return value if isinstance(value, str) and value else None


# Names are kept as long as their columns; Teams' own limits are shorter, so only a forged name is cut.
NAME_MAX_LENGTH = 256


def _name(value: object) -> str | None:
    text = _text(value)
    return text[:NAME_MAX_LENGTH] if text else None


def contact_from(activity: Activity) -> Contact | None:
    conversation = activity.conversation
    if conversation is None or not activity.service_url:
        return None
    sender = activity.from_property
    person_id = person_id_of(activity) or None
    channel_data = _dict(activity.channel_data)
    tenant = _text(_dict(channel_data.get("tenant")).get("id")) or getattr(conversation, "tenant_id", None) or ""
    team = _dict(channel_data.get("team"))
    channel = _dict(channel_data.get("channel"))
    kind = conversation.conversation_type or "personal"
    return Contact(
        conversation_id=conversation.id,
        kind=kind,
        service_url=activity.service_url,
        tenant_id=str(tenant).lower(),
        bot_id=activity.recipient.id if activity.recipient else "",
        person_id=person_id,
        teams_user_id=sender.id if sender else None,
        display_name=_name(sender.name) if sender else None,
        team_id=_text(team.get("id")),
        team_name=_name(team.get("name")),
        channel_name=_name(channel.get("name")),
    )


@dataclass
class Turn:
    context: TurnContext
    core: Core
    dialogs: DialogContext
    person_id: str
    _roles: set[str] | None = field(default=None, repr=False)

    @property
    def activity(self) -> Activity:
        activity: Activity = self.context.activity
        return activity

    @property
    def is_personal(self) -> bool:
        conversation = self.activity.conversation
        return not conversation or (conversation.conversation_type or "personal") == "personal"

    async def roles(self) -> set[str]:
        if self._roles is None:
            self._roles = await self.core.roles.roles_of(self.person_id) if self.person_id else set()
        return self._roles

    async def reply_card(self, content: dict[str, Any]) -> str | None:
        response = await self.context.send_activity(card_activity(content))
        return response.id if response else None

    async def reply_text(self, text: str) -> None:
        await self.context.send_activity(Activity(type=ActivityTypes.message, text=text))

    async def in_private_chat(self, otherwise: str) -> bool:
        """True in the person's private chat with the bot; elsewhere answers `otherwise` (how to go there)."""
        if self.is_personal:
            return True
        await self.reply_text(otherwise)
        return False
