"""'my sessions' for a colleague (design §4, issue 7) end to end through /api/messages, on SQLite and PostgreSQL:
the upcoming sessions they are invited to with their reply, and "Send again", where each press is its own
resend (named by the press), within the hourly limit, with a kind answer when the limit is reached."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from storage.models import TrainingSession
from tests.app_fixtures import BotHarness, card_text, cards_in
from tests.doubles.fixtures import make_activity
from tests.doubles.teams import Member, make_member
from tests.test_reminders_support import chat_cards, drain
from tests.test_sessions_helpers import (
    FACILITATOR,
    add_volunteer,
    audit_rows,
    draft,
    invitation,
    make_facilitator,
    outbox,
    press_execute,
    publish,
    service_of,
)
from vocabulary.actions.sessions import INVITATION_ACCEPT, INVITATION_DECLINE


def send_again_buttons(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [action for element in card["body"] if element["type"] == "ActionSet" for action in element["actions"]
            if action["title"] == "Send again"]


async def titled(harness: BotHarness, title: str, **options: Any) -> int:
    """A published session with its own title, so the list shows which is which."""
    session_id = await publish(harness, **options)
    async with harness.core.database.transaction() as session:
        row = await session.get(TrainingSession, session_id)
        assert row is not None
        row.title = title
    return session_id


async def press_as(harness: BotHarness, value: dict[str, Any], member: Member, activity_id: str) -> str:
    """A press whose activity id we choose (Teams may deliver one press twice, with the same id)."""
    activity = make_activity(harness.teams.url, text=None, value=value, member=member, id=activity_id)
    before = len(harness.teams.sent())
    response = await harness.post(activity)
    assert response.status in (200, 201)
    [reply] = harness.teams.sent()[before:]
    return str(reply["text"])


async def test_my_sessions_lists_upcoming_invitations_with_each_reply(harness: BotHarness) -> None:
    me, first = make_member(7500), make_member(7501)
    await add_volunteer(harness, first, ally=True)
    await add_volunteer(harness, me, ally=True)
    full = await titled(harness, "Full session", capacity=1, starts_in=timedelta(days=2))
    await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": full}, first)
    booked = await titled(harness, "Booked session", starts_in=timedelta(days=3))
    declined = await titled(harness, "Declined session", starts_in=timedelta(days=4))
    no_reply = await titled(harness, "No reply session", starts_in=timedelta(days=5))
    soon_over = await titled(harness, "Started session", starts_in=timedelta(hours=1))
    cancelled = await titled(harness, "Cancelled session", starts_in=timedelta(days=6))
    await titled(harness, "Minoritised session", space="minoritised", starts_in=timedelta(days=2))
    await make_facilitator(harness)
    saved = await service_of(harness).create(FACILITATOR.aad_object_id, draft(harness, starts_in=timedelta(days=9)),
                                             publish=False)
    assert saved.outcome == "done"  # a draft invites no one
    for session_id, verb in ((full, INVITATION_ACCEPT.name), (booked, INVITATION_ACCEPT.name),
                             (declined, INVITATION_DECLINE.name)):
        await press_execute(harness, verb, {"session_id": session_id}, me)
    assert (await service_of(harness).cancel(FACILITATOR.aad_object_id, cancelled)).outcome == "done"
    harness.clock.advance(timedelta(hours=2))

    card = cards_in(await harness.say("my sessions", me))[0]
    text = card_text(card)
    assert "Here are the upcoming sessions for you. Press \"Send again\" if you can't find the invitation." in text
    order = [element["text"] for element in card["body"] if element.get("separator")]  # each session's title
    assert order == ["Full session", "Booked session", "Declined session", "No reply session"]
    assert "You're number 1 on the waiting list." in text
    assert "You're booked." in text and "You said you can't come." in text and "You have not replied yet." in text
    for gone in ("Started session", "Cancelled session", "Minoritised session", "Allyship basics"):
        assert gone not in text
    assert [button["data"]["session_id"] for button in send_again_buttons(card)] == [
        full, booked, declined, no_reply]
    assert soon_over not in [button["data"]["session_id"] for button in send_again_buttons(card)]


async def test_each_press_of_send_again_is_its_own_resend_within_the_hourly_limit(harness: BotHarness) -> None:
    harness.teams.set_limits(per_conversation=False, global_per_second=None)  # many presses in one chat at once
    me = make_member(7510)
    await add_volunteer(harness, me, ally=True)
    session_id = await publish(harness, capacity=3)
    await drain(harness)
    card = cards_in(await harness.say("my sessions", me))[0]
    [button] = send_again_buttons(card)
    limit = harness.core.settings.resend_limit_per_hour

    assert "I've sent your invitation again." in await press_as(harness, button["data"], me, "press-1")
    # Teams delivered the same press twice: still one card.
    assert "I've sent your invitation again." in await press_as(harness, button["data"], me, "press-1")
    assert len(await outbox(harness, "resend:")) == 1
    # A double press (a second press a moment later, with its own id) is one request too.
    assert "I've sent your invitation again." in await press_as(harness, button["data"], me, "press-1-again")
    assert len(await outbox(harness, "resend:")) == 1
    for number in range(2, limit + 1):
        harness.clock.advance(timedelta(seconds=11))
        assert "I've sent your invitation again." in await press_as(harness, button["data"], me, f"press-{number}")
    resends = await outbox(harness, "resend:")
    assert len(resends) == limit and len({message.key for message in resends}) == limit
    harness.clock.advance(timedelta(seconds=11))
    answer = await press_as(harness, button["data"], me, "press-over")
    assert answer == ("You've asked for this a few times in the last hour, so I didn't send it again. Please try "
                      "later, or contact HNY.Inc@nhs.net.")
    assert len(await outbox(harness, "resend:")) == limit
    assert ("invitation.resend", "refused") in [(row.action, row.outcome) for row in await audit_rows(harness)
                                                if row.actor_id == me.aad_object_id]

    await drain(harness)
    invited = [text for text in chat_cards(harness.teams, me) if "You're invited: Allyship basics" in text]
    assert len(invited) == 1 + limit  # the invitation, and one card for each press within the limit
    # The newest card is the one later changes update.
    row = await invitation(harness, session_id, me)
    assert row is not None and row.card_outbox_id == resends[-1].id

    harness.clock.advance(timedelta(minutes=61))  # an hour later the person may ask again
    assert "I've sent your invitation again." in await press_as(harness, button["data"], me, "press-later")
    assert len(await outbox(harness, "resend:")) == limit + 1


async def test_send_again_for_a_session_that_started_or_someone_not_invited(harness: BotHarness) -> None:
    me, stranger = make_member(7520), make_member(7521)
    await add_volunteer(harness, me, ally=True)
    await add_volunteer(harness, stranger, minoritised=True)
    session_id = await publish(harness, space="ally", starts_in=timedelta(hours=1))
    value = {"action": "invitation_resend", "session_id": session_id}
    assert "This invitation is not for you" in await press_as(harness, value, stranger, "a")
    harness.clock.advance(timedelta(hours=1, minutes=1))
    assert "That session has started or was cancelled" in await press_as(harness, value, me, "b")
    assert await outbox(harness, "resend:") == []
    card = cards_in(await harness.say("my sessions", me))[0]
    assert "You have no invitations to upcoming sessions yet." in card_text(card)
