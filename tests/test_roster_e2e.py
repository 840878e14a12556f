"""The roster as a CSV file (issue 7) end to end, on SQLite and PostgreSQL: a facilitator presses "Download the
list", the bot sends Teams' file consent card, Teams answers with a `fileConsent/invoke` naming an upload URL
(served by the double), the bot PUTs the CSV there and sends a file info card. Names and e-mails of accepted
and waiting people only, never communities; cells cannot run as spreadsheet formulas; colleagues are refused."""

from __future__ import annotations

import csv
import io
from typing import Any

from storage.repositories.sessions import SessionRepository
from tests.app_fixtures import BotHarness, card_text, cards_in
from tests.doubles.fixtures import make_activity
from tests.doubles.teams import Member, make_member
from tests.test_sessions_helpers import (
    CO_FACILITATOR,
    COLLEAGUE,
    FACILITATOR,
    add_person,
    add_volunteer,
    audit_rows,
    make_facilitator,
    press_execute,
    publish,
)
from vocabulary.actions.sessions import INVITATION_ACCEPT, INVITATION_DECLINE

CONSENT = "application/vnd.microsoft.teams.card.file.consent"
INFO = "application/vnd.microsoft.teams.card.file.info"
CONTENT_URL = "https://contoso-my.sharepoint.com/personal/facilitator/Documents/Applications/HNY/roster.csv"
UNIQUE_ID = "1150D938-8870-4044-9F2C-5BBDEBA70C8C"


async def add_co_facilitator(harness: BotHarness, session_id: int, member: Member = CO_FACILITATOR) -> None:
    await make_facilitator(harness, member)
    async with harness.core.database.transaction() as session:
        await SessionRepository(session).add_facilitator(session_id, member.aad_object_id,
                                                         FACILITATOR.aad_object_id, harness.clock.now())


async def file_consent(harness: BotHarness, member: Member, value: dict[str, Any]) -> list[dict[str, Any]]:
    """Teams' invoke after the person answered a file consent card; returns what the bot sent in that turn."""
    activity = make_activity(harness.teams.url, text=None, activity_type="invoke", name="fileConsent/invoke",
                             member=member, value=value)
    before = len(harness.teams.sent())
    async with harness.http.post(harness.url, json=activity, headers={
            "Authorization": "Bearer " + harness.issuer.token(activity["serviceUrl"])}) as response:
        assert response.status == 200, await response.text()
    return harness.teams.sent()[before:]


def accept(context: dict[str, Any], upload_url: str, name: str = "roster.csv") -> dict[str, Any]:
    return {"type": "fileUpload", "action": "accept", "context": context, "uploadInfo": {
        "contentUrl": CONTENT_URL, "name": name, "uploadUrl": upload_url, "uniqueId": UNIQUE_ID, "fileType": "csv"}}


def consent_card(replies: list[dict[str, Any]]) -> dict[str, Any]:
    [found] = [attachment for activity in replies for attachment in activity.get("attachments") or []
               if attachment["contentType"] == CONSENT]
    return found


async def session_with_people(harness: BotHarness) -> tuple[int, dict[str, Member]]:
    people = {
        "booked": make_member(7200),
        "waiting": Member("00000000-0000-4000-8000-000000007201", "29:1member00007201", "=HYPERLINK(\"x\")",
                          "waiting@hny.test"),
        "declined": make_member(7202),
        "silent": make_member(7203),
    }
    await add_volunteer(harness, people["booked"], minoritised=True, communities=["lgbtq", "disability"])
    for key in ("waiting", "declined", "silent"):
        await add_volunteer(harness, people[key], minoritised=True, communities=["ethnicity"])
    session_id = await publish(harness, capacity=1, space="minoritised")
    await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id}, people["booked"])
    await press_execute(harness, INVITATION_ACCEPT.name, {"session_id": session_id}, people["waiting"])
    await press_execute(harness, INVITATION_DECLINE.name, {"session_id": session_id}, people["declined"])
    return session_id, people


async def test_a_co_facilitator_gets_the_roster_as_a_csv_file_through_the_file_consent_card(
        harness: BotHarness) -> None:
    session_id, people = await session_with_people(harness)
    await add_co_facilitator(harness, session_id)
    roster = cards_in(await harness.press({"action": "session_roster", "session_id": session_id}, CO_FACILITATOR))[0]
    [download] = [action for action in roster["actions"] if action["title"] == "Download the list (CSV)"]

    offer = consent_card(await harness.press(download["data"], CO_FACILITATOR))
    assert offer["name"].endswith(".csv") and offer["name"].startswith(f"hny-inc-session-{session_id}-")
    content = offer["content"]
    assert content["acceptContext"] == content["declineContext"] == {"kind": "roster_csv", "session_id": session_id}
    assert content["sizeInBytes"] > 0 and "names and e-mails" in content["description"]
    # Nothing personal travels in the card: the file is made only once the person has chosen where it goes.
    assert people["booked"].email not in str(offer)

    # Teams answers with the name it saved under (here the one offered) and where to upload it.
    replies = await file_consent(harness, CO_FACILITATOR, accept(
        content["acceptContext"], harness.teams.upload_url(offer["name"]), offer["name"]))
    [upload] = harness.teams.uploads
    assert upload.name == offer["name"]
    text = upload.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert rows == [
        ["Status", "Waiting list position", "Name", "E-mail"],
        ["Accepted", "", people["booked"].name, people["booked"].email],
        # A name that a spreadsheet would run as a formula is kept as text.
        ["Waiting", "1", "'=HYPERLINK(\"x\")", "waiting@hny.test"],
    ]
    for word in ("LGBT", "Disabled", "Ethnic", "lgbtq", "disability", "ethnicity", "ommunit"):
        assert word not in text
    assert people["declined"].email not in text and people["silent"].email not in text

    [info] = [attachment for activity in replies for attachment in activity.get("attachments") or []
              if attachment["contentType"] == INFO]
    assert info["contentUrl"] == CONTENT_URL and info["name"] == offer["name"]
    assert info["content"] == {"uniqueId": UNIQUE_ID, "fileType": "csv"}
    audited = [(row.actor_id, row.action, row.record_id, row.outcome) for row in await audit_rows(harness)]
    for action in ("session.roster.export.offer", "session.roster.export"):
        assert (CO_FACILITATOR.aad_object_id, action, str(session_id), "done") in audited


async def test_declining_or_a_bad_upload_address_saves_nothing(harness: BotHarness) -> None:
    session_id, _ = await session_with_people(harness)
    context = {"kind": "roster_csv", "session_id": session_id}
    replies = await file_consent(harness, FACILITATOR, {"type": "fileUpload", "action": "decline",
                                                        "context": context})
    assert "I didn't save the file" in replies[0]["text"]
    replies = await file_consent(harness, FACILITATOR, accept(context, "http://files.example.com/upload/roster.csv"))
    assert "I couldn't save the file" in replies[0]["text"]
    # A context the bot never wrote is out of date.
    replies = await file_consent(harness, FACILITATOR, accept({"kind": "everything", "session_id": session_id},
                                                              harness.teams.upload_url("x.csv")))
    assert "out of date" in card_text(cards_in(replies)[0])
    assert harness.teams.uploads == []


async def test_a_colleague_or_another_facilitator_gets_no_file_and_is_audited(harness: BotHarness) -> None:
    session_id, _ = await session_with_people(harness)
    await add_person(harness, COLLEAGUE)
    replies = await harness.press({"action": "session_roster_csv", "session_id": session_id}, COLLEAGUE)
    assert "Only facilitators can do that." in card_text(cards_in(replies)[0])
    # Teams only sends this invoke after our own card, but a colleague's forged answer still gets nothing.
    context = {"kind": "roster_csv", "session_id": session_id}
    replies = await file_consent(harness, COLLEAGUE, accept(context, harness.teams.upload_url("x.csv")))
    assert "Only the session's facilitators can manage it." in card_text(cards_in(replies)[0])
    other = make_member(7210)
    await make_facilitator(harness, other)
    replies = await harness.press({"action": "session_roster_csv", "session_id": session_id}, other)
    assert "Only the session's facilitators can manage it." in card_text(cards_in(replies)[0])
    assert harness.teams.uploads == []
    refused = [(row.actor_id, row.action) for row in await audit_rows(harness) if row.outcome == "refused"]
    assert refused == [(COLLEAGUE.aad_object_id, "session_roster_csv"),
                       (COLLEAGUE.aad_object_id, "session.roster.export"),
                       (other.aad_object_id, "session.roster.export.offer")]
