"""Attendance after a session (issue 7) end to end through /api/messages, on SQLite and PostgreSQL: any of the
session's facilitators marks who came once it has started, the figures show it (exact, like the seats), people
who came are thanked through the outbox with the feedback link, and colleagues are refused and audited."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from bot.services.attendance import PAGE_SIZE
from tests.app_fixtures import BotHarness, card_text, cards_in, nodes, only_card
from tests.doubles.teams import Member, make_member
from tests.test_reminders_support import booked_session, chat_activities, chat_cards, drain
from tests.test_roster_e2e import add_co_facilitator
from tests.test_sessions_helpers import (
    CO_FACILITATOR,
    COLLEAGUE,
    FACILITATOR,
    add_person,
    audit_rows,
    invitation,
    make_facilitator,
    outbox,
    publish,
    service_of,
    session_row,
)

FEEDBACK = "https://forms.office.com/r/hny-feedback"


def buttons(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every button on the card (Submit and OpenUrl, in action sets too) by title; the last one wins."""
    return {node["title"]: node for node in nodes(card)
            if str(node.get("type", "")).startswith("Action.") and "title" in node}


def choice_sets(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {element["id"]: element for element in card["body"] if element["type"] == "Input.ChoiceSet"}


async def mark_id(harness: BotHarness, session_id: int, member: Member) -> str:
    row = await invitation(harness, session_id, member)
    assert row is not None
    return f"mark_{row.id}"


async def held_session(harness: BotHarness, people: list[Member], *, capacity: int) -> int:
    """A session that has finished, with `capacity` of `people` booked and the rest waiting."""
    session_id, _ = await booked_session(harness, people, capacity=capacity, starts_in=timedelta(days=2),
                                         join_url=None)
    await add_co_facilitator(harness, session_id)
    return session_id


async def test_a_co_facilitator_marks_who_came_and_people_who_came_are_thanked_with_the_feedback_link(
        harness: BotHarness) -> None:
    came, absent, unsure, waiting = (make_member(7300 + index) for index in range(4))
    session_id = await held_session(harness, [came, absent, unsure, waiting], capacity=3)
    too_early = only_card(await harness.press({"action": "session_attendance", "session_id": session_id},
                                              CO_FACILITATOR))
    assert "You can mark who came once the session has started." in card_text(too_early)
    listed = only_card(await harness.say("sessions", CO_FACILITATOR))
    assert "Mark who came" not in buttons(listed)

    harness.clock.advance(timedelta(days=2, hours=3))  # the session has ended
    listed = only_card(await harness.say("sessions", CO_FACILITATOR))
    assert "Finished" in card_text(listed)
    sheet = only_card(await harness.press(buttons(listed)["Mark who came"]["data"], CO_FACILITATOR))
    text = card_text(sheet)
    marks = {member.aad_object_id: await mark_id(harness, session_id, member) for member in (came, absent, unsure)}
    assert set(choice_sets(sheet)) == set(marks.values())  # people with a place only, not the waiting list
    assert f"{came.name} ({came.email}) (optional)" in text and waiting.name not in text
    for element in choice_sets(sheet).values():
        assert [choice["title"] for choice in element["choices"]] == ["Came", "Did not come"]
        assert element["style"] == "expanded" and element["value"] == ""
    save = buttons(sheet)["Save"]["data"]
    chosen = {marks[came.aad_object_id]: "attended", marks[absent.aad_object_id]: "absent",
              marks[unsure.aad_object_id]: ""}

    again = only_card(await harness.press({**save, **chosen, "feedback_url": "http://forms.example.com/x"},
                                          CO_FACILITATOR))
    assert "Please fix: Paste a link that starts with https://" in card_text(again)
    # Nothing was saved, and nothing the facilitator chose is lost: the card comes back as they left it.
    assert {mark: element["value"] for mark, element in choice_sets(again).items()} == chosen
    assert await outbox(harness, "thanks:") == []
    assert (await invitation(harness, session_id, came)).attended is None  # type: ignore[union-attr]

    saved = only_card(await harness.press({**save, **chosen, "feedback_url": FEEDBACK}, CO_FACILITATOR))
    assert "Came: 1. Did not come: 1. Not marked yet: 1." in card_text(saved)
    assert "thank-you message to 1 person" in card_text(saved)
    assert (await session_row(harness, session_id)).feedback_url == FEEDBACK
    # Saving the same marks again thanks no one twice.
    await harness.press({**save, **chosen, "feedback_url": FEEDBACK}, CO_FACILITATOR)
    [thanks] = await outbox(harness, "thanks:")
    assert thanks.key == f"thanks:{session_id}:{came.aad_object_id}:1" and thanks.purpose == "thanks"
    await drain(harness)
    [thank_you] = [card for card in cards_in(chat_activities(harness.teams, came))
                   if "Thank you for coming" in card_text(card)]
    assert "Thank you for coming: Allyship basics" in card_text(thank_you)
    assert buttons(thank_you)["Give feedback"]["url"] == FEEDBACK
    for member in (absent, unsure, waiting):
        assert not any("Thank you for coming" in text for text in chat_cards(harness.teams, member))

    listed = only_card(await harness.say("sessions", FACILITATOR))  # the other facilitator sees the figures
    text = card_text(listed)
    assert "Came\n1" in text and "Did not come\n1" in text and "Not marked yet\n1" in text
    assert "who came are exact" in text
    # The card opens again with the marks and the link as saved.
    sheet = only_card(await harness.press({"action": "session_attendance", "session_id": session_id}, FACILITATOR))
    assert choice_sets(sheet)[marks[came.aad_object_id]]["value"] == "attended"
    assert choice_sets(sheet)[marks[absent.aad_object_id]]["value"] == "absent"
    assert FEEDBACK in card_text(sheet)

    audited = [(row.actor_id, row.action, row.record_id) for row in await audit_rows(harness)
               if row.action.startswith("session.attendance") or row.action == "session.feedback_link"]
    assert (CO_FACILITATOR.aad_object_id, "session.attendance.mark", marks[came.aad_object_id][5:]) in audited
    assert (CO_FACILITATOR.aad_object_id, "session.feedback_link", str(session_id)) in audited
    # Audit rows carry ids only.
    for row in await audit_rows(harness):
        for member in (came, absent, unsure, waiting):
            assert member.name not in str(row.record_id) and member.email not in str(row.record_id)


async def test_a_thank_you_not_sent_yet_is_withdrawn_when_the_mark_changes(harness: BotHarness) -> None:
    person = make_member(7310)
    session_id = await held_session(harness, [person], capacity=1)
    harness.clock.advance(timedelta(days=2, minutes=30))  # started, not ended: marking may begin
    mark = await mark_id(harness, session_id, person)
    service = {"action": "session_attendance_save", "session_id": session_id, "page": 0}
    await harness.press({**service, mark: "attended", "feedback_url": ""}, FACILITATOR)
    await harness.press({**service, mark: "absent", "feedback_url": ""}, FACILITATOR)
    assert [(message.key, message.status) for message in await outbox(harness, "thanks:")] == [
        (f"thanks:{session_id}:{person.aad_object_id}:1", "cancelled")]
    await harness.press({**service, mark: "attended", "feedback_url": ""}, FACILITATOR)
    await drain(harness)
    assert [(message.key, message.status) for message in await outbox(harness, "thanks:")] == [
        (f"thanks:{session_id}:{person.aad_object_id}:1", "cancelled"),
        (f"thanks:{session_id}:{person.aad_object_id}:2", "sent")]
    [thank_you] = [card for card in cards_in(chat_activities(harness.teams, person))
                   if "Thank you for coming" in card_text(card)]
    assert "Give feedback" not in buttons(thank_you)  # no link was given


async def test_a_big_session_is_marked_page_by_page(harness: BotHarness) -> None:
    people = [make_member(7400 + index) for index in range(PAGE_SIZE + 3)]
    session_id = await held_session(harness, people, capacity=len(people))
    harness.clock.advance(timedelta(days=3))
    first = only_card(await harness.press({"action": "session_attendance", "session_id": session_id}, FACILITATOR))
    assert len(choice_sets(first)) == PAGE_SIZE and f"Page 1 of 2. {len(people)} people have a place." in card_text(
        first)
    chosen = dict.fromkeys(choice_sets(first), "attended")
    second = only_card(await harness.press({**buttons(first)["Save and show the next people"]["data"], **chosen,
                                            "feedback_url": FEEDBACK}, FACILITATOR))
    assert len(choice_sets(second)) == 3 and "Page 2 of 2." in card_text(second)
    assert "Saved. Here are the next people." in card_text(second)
    assert not set(choice_sets(second)) & set(chosen)
    saved = only_card(await harness.press({**buttons(second)["Save"]["data"], **dict.fromkeys(
        choice_sets(second), "absent"), "feedback_url": FEEDBACK}, FACILITATOR))
    assert f"Came: {PAGE_SIZE}. Did not come: 3. Not marked yet: 0." in card_text(saved)
    assert len(await outbox(harness, "thanks:")) == PAGE_SIZE


async def test_people_are_listed_by_name_as_a_person_reads_a_list(harness: BotHarness) -> None:
    """Capitals do not decide the order (SQLite compares bytes, so 'Carol' came before 'ben')."""
    people = [replace(make_member(7500 + index), name=name)
              for index, name in enumerate(["Carol Cole", "ben Baker", "Ada Able"])]
    session_id = await held_session(harness, people, capacity=len(people))
    harness.clock.advance(timedelta(days=3))
    text = card_text(only_card(await harness.press({"action": "session_attendance", "session_id": session_id},
                                                   FACILITATOR)))
    assert text.index("Ada Able") < text.index("ben Baker") < text.index("Carol Cole")


async def test_colleagues_and_other_facilitators_are_refused_and_audited(harness: BotHarness) -> None:
    person = make_member(7320)
    session_id = await held_session(harness, [person], capacity=1)
    harness.clock.advance(timedelta(days=3))
    mark = await mark_id(harness, session_id, person)
    await add_person(harness, COLLEAGUE)
    other = make_member(7321)
    await make_facilitator(harness, other)
    save = {"action": "session_attendance_save", "session_id": session_id, "page": 0, mark: "attended",
            "feedback_url": FEEDBACK}
    for value in ({"action": "session_attendance", "session_id": session_id}, save):
        assert "Only facilitators can do that." in card_text(only_card(await harness.press(value, COLLEAGUE)))
        assert "Only the session's facilitators can manage it." in card_text(
            only_card(await harness.press(value, other)))
    refused = [(row.actor_id, row.action) for row in await audit_rows(harness) if row.outcome == "refused"]
    assert refused == [(COLLEAGUE.aad_object_id, "session_attendance"),
                       (other.aad_object_id, "session.attendance.open"),
                       (COLLEAGUE.aad_object_id, "session_attendance_save"),
                       (other.aad_object_id, "session.attendance")]
    assert (await invitation(harness, session_id, person)).attended is None  # type: ignore[union-attr]
    assert await outbox(harness, "thanks:") == []


async def test_forged_marks_and_sessions_that_were_not_held_change_nothing(harness: BotHarness) -> None:
    person = make_member(7330)
    session_id = await held_session(harness, [person], capacity=1)
    cancelled = await publish(harness, capacity=1, starts_in=timedelta(days=1))
    assert (await service_of(harness).cancel(FACILITATOR.aad_object_id, cancelled)).outcome == "done"
    harness.clock.advance(timedelta(days=3))
    base = {"action": "session_attendance_save", "session_id": session_id, "page": 0, "feedback_url": ""}
    for forged in ({"person_id": person.aad_object_id}, {"mark_1": "present"}, {"mark_x": "attended"}):
        replies = await harness.press({**base, **forged}, FACILITATOR)
        assert "out of date" in card_text(only_card(replies))
    # A mark for someone without a place here (another session's invitation id) is left out.
    await harness.press({**base, "mark_999999": "attended"}, FACILITATOR)
    assert await outbox(harness, "thanks:") == []
    closed = only_card(await harness.press({"action": "session_attendance", "session_id": cancelled}, FACILITATOR))
    assert "This session was not held" in card_text(closed)
