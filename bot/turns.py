"""What a command or card action handler gets: the turn, who is asking, and ways to answer. Nothing here knows
which Teams SDK carried the turn: each edge (bot/edge/) gives a `TurnIO` that sends into its own context."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.activity import (
    IncomingActivity,
    MemberInfo,
    OutgoingActivity,
    _dict,
    _name,
    _text,
    card_activity,
    person_id_of,
    plain_text,
    text_activity,
)
from bot.core import Core
from storage.repositories.people import Contact

__all__ = ["Turn", "TurnIO", "card_activity", "contact_from", "person_id_of", "plain_text", "text_activity"]


class TurnIO(Protocol):
    """One turn's ways out to Teams, given by the SDK edge that received it."""

    @property
    def activity(self) -> IncomingActivity: ...

    async def send_activity(self, activity: OutgoingActivity) -> str | None:
        """Send a reply into this conversation; the id Teams gave it, if any."""

    async def member(self, teams_user_id: str) -> MemberInfo | None:
        """A member of this conversation by Teams user id (None when Teams does not say)."""


class ForgettableState(Protocol):
    """This conversation's stored journey state, as far as a feature needs it."""

    def forget(self) -> None:
        """Drop what this turn loaded, so the end of the turn writes nothing back (after an erasure)."""


def contact_from(activity: IncomingActivity) -> Contact | None:
    conversation = activity.conversation
    if conversation is None or not activity.service_url:
        return None
    sender = activity.from_property
    channel_data = activity.channel_data
    tenant = _text(_dict(channel_data.get("tenant")).get("id")) or conversation.tenant_id or ""
    team = _dict(channel_data.get("team"))
    channel = _dict(channel_data.get("channel"))
    return Contact(
        conversation_id=conversation.id,
        kind=conversation.conversation_type or "personal",
        service_url=activity.service_url,
        tenant_id=str(tenant).lower(),
        bot_id=activity.recipient.id if activity.recipient else "",
        person_id=person_id_of(activity) or None,
        teams_user_id=sender.id if sender else None,
        display_name=sender.name if sender else None,
        team_id=_text(team.get("id")),
        team_name=_name(team.get("name")),
        channel_name=_name(channel.get("name")),
    )


@dataclass
class Turn:
    context: TurnIO
    core: Core
    dialogs: Any  # dialogs.engine.DialogContext (typed Any here: dialogs/ imports bot.turns)
    person_id: str
    memory: ForgettableState | None = None
    _roles: set[str] | None = field(default=None, repr=False)

    @property
    def activity(self) -> IncomingActivity:
        return self.context.activity

    @property
    def is_personal(self) -> bool:
        return self.activity.is_personal

    async def roles(self) -> set[str]:
        if self._roles is None:
            self._roles = await self.core.roles.roles_of(self.person_id) if self.person_id else set()
        return self._roles

    async def send(self, activity: OutgoingActivity) -> str | None:
        return await self.context.send_activity(activity)

    async def reply_card(self, content: dict[str, Any]) -> str | None:
        return await self.context.send_activity(card_activity(content))

    async def reply_text(self, text: str) -> None:
        await self.context.send_activity(text_activity(text))

    async def in_private_chat(self, otherwise: str) -> bool:
        """True in the person's private chat with the bot; elsewhere answers `otherwise` (how to go there)."""
        if self.is_personal:
            return True
        await self.reply_text(otherwise)
        return False
