"""Teams meetings as calendar events in the organiser mailbox (design §6, §8), through Graph's Outlook calendar
API: the event is an online meeting (`isOnlineMeeting`, `teamsForBusiness`), hides its attendee list from
attendees (`hideAttendees`) and has a neutral subject. Needs the application permission Calendars.ReadWrite
(RBAC for Applications in Exchange Online can limit it to the organiser mailbox).

Attendees are added and removed by reading the current list and writing it back: Graph has no call to add one
attendee, and an update that carries only `attendees` sends meeting mail only to the attendees that changed.
Callers must not change one event's attendees concurrently (the calendar sync runs one job per session at a
time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.graph.client import GraphClient, segment
from bot.graph.errors import GraphError

NEUTRAL_SUBJECT = "HNY Inc. allyship session"
NEUTRAL_BODY = "HNY Inc. allyship session on Microsoft Teams. Use the join link in this invitation."


@dataclass(frozen=True)
class CreatedEvent:
    event_id: str
    join_url: str | None  # Graph sometimes fills in the online meeting a moment after creating the event


def _when(moment: datetime) -> dict[str, str]:
    if moment.tzinfo is None:
        raise ValueError("calendar times must be aware")
    return {"dateTime": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def _join_url(body: dict[str, Any]) -> str | None:
    meeting = body.get("onlineMeeting")
    url = meeting.get("joinUrl") if isinstance(meeting, dict) else None
    return url if isinstance(url, str) and url.startswith("https://") else None


class CalendarClient:
    def __init__(self, client: GraphClient, organiser_mailbox: str) -> None:
        self._client = client
        self._mailbox = organiser_mailbox

    def _events(self, mailbox: str | None) -> str:
        mailbox = mailbox or self._mailbox
        if not mailbox:
            raise ValueError("no organiser mailbox: set GRAPH_ORGANISER_MAILBOX")
        return f"/users/{segment(mailbox)}/events"

    async def create_event(self, start: datetime, end: datetime, *, mailbox: str | None = None,
                           transaction_id: str | None = None, subject: str = NEUTRAL_SUBJECT) -> CreatedEvent:
        """`transaction_id` makes a repeated POST (a retry after a lost answer) return the same event."""
        body: dict[str, Any] = {
            "subject": subject,
            "body": {"contentType": "text", "content": NEUTRAL_BODY},
            "start": _when(start),
            "end": _when(end),
            "isOnlineMeeting": True,
            "onlineMeetingProvider": "teamsForBusiness",
            "hideAttendees": True,
            "allowNewTimeProposals": False,
            "responseRequested": False,
            "attendees": [],
        }
        if transaction_id:
            body["transactionId"] = transaction_id
        created = (await self._client.call("events.create", "POST", self._events(mailbox), json=body,
                                           ok=(200, 201))).body
        event_id = created.get("id")
        if not isinstance(event_id, str):
            raise GraphError("events.create", 201, "no_event_id")
        return CreatedEvent(event_id, _join_url(created))

    async def join_url(self, event_id: str, *, mailbox: str | None = None) -> str | None:
        body = await self._client.get("events.get", f"{self._events(mailbox)}/{segment(event_id)}",
                                      {"$select": "onlineMeeting"})
        return _join_url(body)

    async def attendees(self, event_id: str, *, mailbox: str | None = None) -> list[dict[str, Any]]:
        body = await self._client.get("events.attendees", f"{self._events(mailbox)}/{segment(event_id)}",
                                      {"$select": "attendees"})
        return [item for item in body.get("attendees") or [] if isinstance(item, dict)]

    async def add_attendee(self, event_id: str, email: str, *, mailbox: str | None = None) -> bool:
        """True if added, False if already there. Only the address is sent: the name is not needed."""
        current = await self.attendees(event_id, mailbox=mailbox)
        if any(_address(item) == email.lower() for item in current):
            return False
        current.append({"emailAddress": {"address": email}, "type": "required"})
        await self._write_attendees(event_id, current, mailbox)
        return True

    async def remove_attendee(self, event_id: str, email: str, *, mailbox: str | None = None) -> bool:
        """True if removed, False if they were not there."""
        current = await self.attendees(event_id, mailbox=mailbox)
        kept = [item for item in current if _address(item) != email.lower()]
        if len(kept) == len(current):
            return False
        await self._write_attendees(event_id, kept, mailbox)
        return True

    async def _write_attendees(self, event_id: str, attendees: list[dict[str, Any]], mailbox: str | None) -> None:
        # Send back only what an attendee is made of; Graph's read-only `status` is left out.
        clean = [{"emailAddress": {"address": item["emailAddress"]["address"]}, "type": item.get("type") or "required"}
                 for item in attendees if _address(item)]
        await self._client.call("events.attendees.write", "PATCH", f"{self._events(mailbox)}/{segment(event_id)}",
                                json={"attendees": clean})

    async def update_time(self, event_id: str, start: datetime, end: datetime, *,
                          mailbox: str | None = None) -> None:
        await self._client.call("events.update", "PATCH", f"{self._events(mailbox)}/{segment(event_id)}",
                                json={"start": _when(start), "end": _when(end)})

    async def cancel(self, event_id: str, *, mailbox: str | None = None, comment: str | None = None) -> None:
        """Sends a cancellation to the attendees and removes the event (organiser only)."""
        await self._client.call("events.cancel", "POST", f"{self._events(mailbox)}/{segment(event_id)}/cancel",
                                json={"comment": comment} if comment else {}, ok=(200, 202, 204))


def _address(item: dict[str, Any]) -> str:
    address = (item.get("emailAddress") or {}).get("address")
    return address.lower() if isinstance(address, str) else ""
