"""People who stop matching (design §4 Sessions): when a volunteer changes their answers and an upcoming session
no longer fits them, an invitation they have not accepted is withdrawn (the card in their chat is closed in
place), an accepted place is kept and they are told so, and matching again brings a new invitation. Through
/api/messages, the real delivery worker and the Teams double, on both databases."""

from __future__ import annotations

from typing import Any

from bot.delivery.worker import DeliveryWorker
from tests.app_fixtures import BotHarness, card_text
from tests.doubles.teams import Member, make_member
from tests.signup_helpers import all_text, answer, bot, button_data, last_card, sign_up, step_of
from tests.test_invitations_delivery import worker
from tests.test_sessions_helpers import audit_rows, invitation, press_execute, publish
from vocabulary.actions.sessions import INVITATION_ACCEPT

__all__ = ["bot", "worker"]

INVITED, WAITING, BOOKED, STAYS = (make_member(5000 + index) for index in range(4))


async def change_space(harness: BotHarness, member: Member, space: str) -> None:
    """Your details → Change your space → answer → Confirm, as the person would."""
    details = last_card(await harness.say("my details", member))
    card = last_card(await harness.press(button_data(details, action="change_answer", field="space"), member))
    card = last_card(await answer(harness, card, member, space=space))
    while step_of(card) != "review":  # e.g. the communities question, for the minoritised space
        card = last_card(await answer(harness, card, member))
    assert "Your changes are saved." in all_text(await answer(harness, card, member))


def session_cards(harness: BotHarness, member: Member) -> list[dict[str, Any]]:
    """The cards about the session in the person's 1:1 chat as they look now (updates applied), oldest first."""
    chat = f"a:personal-{member.aad_object_id}"
    cards = []
    for sent in harness.teams.sent(chat):
        current = harness.teams.activity(chat, sent["id"]) or sent
        cards += [attachment["content"] for attachment in current.get("attachments") or []
                  if "Allyship basics" in card_text(attachment["content"])]
    return cards


async def test_changed_answers_withdraw_unaccepted_invitations_and_keep_places(
        bot: BotHarness, worker: DeliveryWorker) -> None:
    for member in (INVITED, WAITING, BOOKED, STAYS):
        bot.teams.add_member(member)
        await sign_up(bot, member, space="ally")
    session_id = await publish(bot, space="ally", capacity=1)
    await press_execute(bot, INVITATION_ACCEPT.name, {"session_id": session_id}, BOOKED)
    await press_execute(bot, INVITATION_ACCEPT.name, {"session_id": session_id}, WAITING)  # full: the waiting list
    await worker.run_until_idle()
    invitation_cards = {member: len(session_cards(bot, member)) for member in (INVITED, WAITING, BOOKED)}

    for member in (INVITED, WAITING, BOOKED):
        await change_space(bot, member, "minoritised")
    await change_space(bot, STAYS, "both")  # still matches: nothing happens
    await worker.run_until_idle()

    for member, waiting_line in ((INVITED, False), (WAITING, True)):
        assert await invitation(bot, session_id, member) is None
        cards = session_cards(bot, member)
        assert len(cards) == invitation_cards[member]  # closed in place, not a second message
        closed = cards[-1]
        assert "Invitation closed: Allyship basics" in card_text(closed)
        assert "I'll send you an invitation when there's a session that fits your answers." in card_text(closed)
        assert ("You're no longer on its waiting list." in card_text(closed)) == waiting_line
        assert not closed.get("actions") and "refresh" not in closed  # nothing left to press
    kept = await invitation(bot, session_id, BOOKED)
    assert kept is not None and kept.status == "accepted"
    told = session_cards(bot, BOOKED)
    assert len(told) == invitation_cards[BOOKED] + 1
    assert "Your place is kept: Allyship basics" in card_text(told[-1])
    assert "Nothing changes for your booking." in card_text(told[-1])
    still = await invitation(bot, session_id, STAYS)
    assert still is not None and still.status == "invited"
    withdrawn = [row.actor_id for row in await audit_rows(bot) if row.action == "invitation.withdraw"]
    assert sorted(withdrawn) == sorted([INVITED.aad_object_id, WAITING.aad_object_id])

    # Changing again tells the booked person nothing new; matching again brings a new invitation card.
    await change_space(bot, BOOKED, "minoritised")
    await change_space(bot, INVITED, "ally")
    await worker.run_until_idle()
    assert len(session_cards(bot, BOOKED)) == invitation_cards[BOOKED] + 1
    again = await invitation(bot, session_id, INVITED)
    assert again is not None and again.status == "invited"
    cards = session_cards(bot, INVITED)
    assert "You're invited: Allyship basics" in card_text(cards[-1])
    assert "Invitation closed" in card_text(cards[-2])  # the old card stays closed
    # The waiting list closed up when WAITING left it.
    answered = await press_execute(bot, INVITATION_ACCEPT.name, {"session_id": session_id}, INVITED)
    assert "This session is full. You're number 1 on the waiting list." in card_text(answered["value"])
