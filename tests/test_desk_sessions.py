"""The desk's Sessions pages over HTTP (no browser), on SQLite and PostgreSQL: a facilitator creates, publishes,
changes and cancels a session, reads who is coming (and its CSV) and marks who came, through the chat's own
services, cards and messages; every write needs the form's CSRF token and the desk's origin and is audited as in
chat; a colleague, or a facilitator on someone else's session, gets a clear refusal page (audited), never a 500.
The browser suite is tests/browser/test_desk_sessions_browser.py."""

from __future__ import annotations

import asyncio
import html as html_lib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from markupsafe import escape
from sqlalchemy import select

from bot.clock import FixedClock
from bot.desk.session import COOKIE_NAME
from bot.features.delivery import DELIVERY
from bot.features.sessions import SESSIONS
from bot.services.sessions import RosterFile, SessionForm
from storage.models import TrainingSession
from tests.app_fixtures import BotHarness, card_text, deliver_due, start_harness
from tests.browser.world import ADMIN, COLLEAGUE, FACILITATOR, SESSION_TITLE, VOLUNTEERS, build_world, desk_settings
from tests.doubles.issuer import TokenIssuer
from tests.doubles.teams import Member, TeamsDouble, make_member
from tests.test_desk import audit, get, origin, signed_in, text_of, url
from tests.test_sessions_helpers import invitation, make_facilitator, outbox, session_row
from vocabulary.uk_time import uk_date_iso
from vocabulary.words import OutboxPurpose

OTHER_FACILITATOR = make_member(406)
NEW_TITLE = "Desk-made session"
FEEDBACK = "https://forms.office.com/r/hny-desk"


@dataclass
class World:
    harness: BotHarness
    session_id: int  # the world's published session, the facilitator's


@pytest.fixture
async def world(db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble,
                clock: FixedClock) -> AsyncIterator[World]:
    settings = desk_settings(db_url, token_issuer)
    async for harness in start_harness(db_url, token_issuer, teams_double, clock,
                                       **{name: getattr(settings, name) for name in (
                                           "desk_openid_metadata_url", "desk_token_issuer", "bot_domain",
                                           "bootstrap_admins")}):
        session_id = await build_world(harness)
        await make_facilitator(harness, OTHER_FACILITATOR)
        yield World(harness, session_id)


@dataclass
class Signed:
    """One person signed in to the desk: their cookie and their session's CSRF token."""

    harness: BotHarness
    cookie: str
    csrf: str

    async def get(self, path: str) -> tuple[int, str]:
        status, body, _ = await get(self.harness, path, self.cookie)
        return status, body

    async def post(self, path: str, data: dict[str, str] | list[tuple[str, str]], *, csrf: str | None = None,
                   from_origin: dict[str, str] | None = None) -> tuple[int, str]:
        fields = list(data.items()) if isinstance(data, dict) else list(data)
        fields.append(("csrf", self.csrf if csrf is None else csrf))
        headers = {"Cookie": f"{COOKIE_NAME}={self.cookie}", **(origin(self.harness) if from_origin is None
                                                                else from_origin)}
        async with self.harness.http.post(url(self.harness, path), data=fields, headers=headers,
                                          allow_redirects=False) as response:
            return response.status, await response.text()


async def as_person(harness: BotHarness, member: Member) -> Signed:
    cookie = await signed_in(harness, member)
    _, page, _ = await get(harness, "/desk/home", cookie)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    return Signed(harness, cookie, csrf.group(1))


def words(page: str) -> str:
    return html_lib.unescape(text_of(page))


def new_session_answers(harness: BotHarness, **changes: str) -> dict[str, str]:
    day = uk_date_iso(harness.clock.now() + timedelta(days=10))
    answers = {"title": NEW_TITLE, "phase": "codesign", "space": "open", "date": day, "start": "14:00",
               "end": "15:30", "join_url": "", "capacity": "20", "co_facilitators": ""}
    answers.update(changes)
    return answers


async def new_sessions(harness: BotHarness) -> list[TrainingSession]:
    async with harness.core.database.read() as session:
        return list((await session.execute(select(TrainingSession).where(
            TrainingSession.title == NEW_TITLE))).scalars())


def chat_texts(harness: BotHarness, member: Member) -> str:
    """Every card that reached the person's chat with the bot, in the Teams double."""
    teams = harness.teams
    chat = teams.conversation_for(member.aad_object_id)
    return "\n".join(card_text(attachment["content"])
                     for sent in (teams.sent(chat) if chat else [])
                     for attachment in sent.get("attachments") or [])


async def deliver(harness: BotHarness) -> None:
    await deliver_due(harness.core.database, harness.clock, harness.app[DELIVERY].config)


# -- create and publish -------------------------------------------------------------------------------------------


async def test_the_form_has_the_chats_fields_and_says_the_chats_messages(world: World) -> None:
    facilitator = await as_person(world.harness, FACILITATOR)
    status, page = await facilitator.get("/desk/sessions")
    assert status == 200 and 'href="/desk/sessions/new"' in page
    status, page, response = await get(world.harness, "/desk/sessions/new", facilitator.cookie)
    assert status == 200 and "frame-ancestors" in response.headers["Content-Security-Policy"]
    assert " style=" not in page and not re.search(r"<script(?![^>]*\ssrc=)", page)
    text = words(page)
    for label in ("Title (required)", "Phase (required)", "Who is it for? (required)", "Date (required)",
                  "Start time, UK time (required)", "End time, UK time (required)", "Teams meeting link (optional)",
                  "Number of places (required)", "Co-facilitators' e-mails (optional)", "Co-design",
                  "Open to both spaces", "LGBT+"):
        assert label in text, label
    # Nothing filled in: every message the chat's form check gives, each under its field.
    expected = await world.harness.app[SESSIONS].check(FACILITATOR.aad_object_id, SessionForm(capacity="x"))
    status, page = await facilitator.post("/desk/sessions/new", {"nav": "next", "capacity": "x"})
    assert status == 200
    text = words(page)
    assert f"Please fix {len(expected.errors)} answers below." in text
    for field, message in expected.errors.items():
        assert f'id="f-{field}-error">Please fix: {escape(message)}</p>' in page, field
        assert f'aria-describedby="f-{field}-error"' in page, field  # read out with its field
    # What was typed is kept.
    status, page = await facilitator.post("/desk/sessions/new", {**new_session_answers(world.harness),
                                                                  "nav": "next", "start": "25:00"})
    assert 'value="Desk-made session"' in page and "Please fix: " in words(page)
    assert await new_sessions(world.harness) == []


async def test_a_facilitator_previews_and_publishes_and_invitations_go_out_through_the_outbox(world: World) -> None:
    harness = world.harness
    facilitator = await as_person(harness, FACILITATOR)
    answers = new_session_answers(harness)
    checked = await harness.app[SESSIONS].check(FACILITATOR.aad_object_id, SessionForm.from_dict(answers))
    assert checked.draft is not None
    preview = await harness.app[SESSIONS].preview(checked.draft)
    status, page = await facilitator.post("/desk/sessions/new", {**answers, "nav": "next"})
    assert status == 200
    text = words(page)
    assert "Check your session" in text and f"I will invite {preview.invited} people." in text
    assert "Numbers are rounded to the nearest 5." in text
    # The preview keeps the answers for Publish, Save as draft and Back; Cancel leads back to the sessions.
    for name, value in answers.items():
        assert f'name="{name}" value="{value}"' in page, name
    assert 'value="publish">Publish</button>' in page and 'value="draft">Save as draft</button>' in page
    assert '<a class="button button-plain" href="/desk/sessions">Cancel</a>' in page
    status, page = await facilitator.post("/desk/sessions/new", {**answers, "nav": "back"})
    assert "New session" in words(page) and f'value="{NEW_TITLE}"' in page
    assert await new_sessions(harness) == []

    status, page = await facilitator.post("/desk/sessions/new", {**answers, "nav": "publish"})
    assert status == 200
    assert f"Your session is published. I'm sending invitations to {preview.invited} people now." in words(page)
    [row] = await new_sessions(harness)
    assert row.status == "published" and row.capacity == 20 and row.created_by == FACILITATOR.aad_object_id
    invitations = [message for message in await outbox(harness, f"invite:{row.id}:")]
    assert invitations and {message.purpose for message in invitations} == {OutboxPurpose.INVITATION.value}
    rows = await audit(harness)
    assert (FACILITATOR.aad_object_id, "session.create", "done") in rows
    assert (FACILITATOR.aad_object_id, "session.publish", "done") in rows
    # The worker sends them: the invitation reaches the volunteers' chats in Teams.
    await deliver(harness)
    assert NEW_TITLE in chat_texts(harness, VOLUNTEERS[0]) and NEW_TITLE in chat_texts(harness, COLLEAGUE)
    # The new session is on the Sessions page, with the chat's buttons for a published session.
    status, page = await facilitator.get("/desk/sessions")
    assert NEW_TITLE in page and f'href="/desk/sessions/{row.id}/roster"' in page
    assert f'href="/desk/sessions/{row.id}/change"' in page and f'href="/desk/sessions/{row.id}/cancel"' in page


@dataclass
class TwoInstances:
    """Two web instances on one database (the deployment docs/deploy.md describes), the facilitator signed in
    on the first; the same cookie works on the second, as both share DESK_SESSION_SECRET."""

    first: BotHarness
    on_first: Signed
    on_second: Signed


@pytest.fixture
async def two_instances(db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble,
                        clock: FixedClock) -> AsyncIterator[TwoInstances]:
    settings = desk_settings(db_url, token_issuer, desk_session_secret="s" * 40)
    shared = {name: getattr(settings, name) for name in (
        "desk_openid_metadata_url", "desk_token_issuer", "bot_domain", "bootstrap_admins", "desk_session_secret")}
    async for first in start_harness(db_url, token_issuer, teams_double, clock, **shared):
        async for second in start_harness(db_url, token_issuer, teams_double, clock, **shared):
            await build_world(first)
            on_first = await as_person(first, FACILITATOR)
            yield TwoInstances(first, on_first, Signed(second, on_first.cookie, on_first.csrf))


async def test_publish_pressed_at_once_on_two_web_instances_makes_one_session_and_invites_once(
        two_instances: TwoInstances) -> None:
    """A double click on Publish may reach both instances behind one address."""
    first, on_first, on_second = two_instances.first, two_instances.on_first, two_instances.on_second
    status, page = await on_first.post("/desk/sessions/new", {**new_session_answers(first), "nav": "next"})
    form = re.search(r'name="form" value="([^"]+)"', page)
    assert status == 200 and form is not None  # the preview carries the form's id to Publish
    publish = {**new_session_answers(first), "form": form.group(1), "nav": "publish"}
    answers = await asyncio.gather(on_first.post("/desk/sessions/new", publish),
                                   on_second.post("/desk/sessions/new", publish),
                                   on_first.post("/desk/sessions/new", publish))
    assert sorted(status for status, _ in answers) == [200, 303, 303]
    assert len(await new_sessions(first)) == 1
    await deliver(first)
    assert chat_texts(first, VOLUNTEERS[0]).count(NEW_TITLE) == 1  # one invitation
    # A press after the first one finished goes to the sessions, where the new one is.
    status, _ = await on_second.post("/desk/sessions/new", publish)
    assert status == 303 and len(await new_sessions(first)) == 1
    status, page = await on_second.get("/desk/sessions?saved")
    assert "Your new session was saved when you first pressed the button, so nothing more was done." in words(page)
    assert NEW_TITLE in page


async def test_a_draft_is_published_later_from_the_sessions_page(world: World) -> None:
    harness = world.harness
    facilitator = await as_person(harness, FACILITATOR)
    status, page = await facilitator.post("/desk/sessions/new", {**new_session_answers(harness), "nav": "draft"})
    assert status == 200 and "Your session is saved as a draft. Nothing has been sent." in words(page)
    [row] = await new_sessions(harness)
    assert row.status == "draft" and await outbox(harness, f"invite:{row.id}:") == []
    status, page = await facilitator.get("/desk/sessions")
    assert f'action="/desk/sessions/{row.id}/publish"' in page
    status, page = await facilitator.post(f"/desk/sessions/{row.id}/publish", {})
    assert status == 200 and "Your session is published." in words(page)
    assert (await session_row(harness, row.id)).status == "published"
    assert await outbox(harness, f"invite:{row.id}:")
    status, page = await facilitator.post(f"/desk/sessions/{row.id}/publish", {})
    assert "This session is already published." in words(page)


# -- every write: CSRF, origin, role, the session's own facilitators ----------------------------------------------


async def test_every_write_needs_the_forms_token_and_the_desks_origin(world: World) -> None:
    harness = world.harness
    facilitator = await as_person(harness, FACILITATOR)
    other = await as_person(harness, OTHER_FACILITATOR)
    writes = [("/desk/sessions/new", {**new_session_answers(harness), "nav": "publish"}),
              (f"/desk/sessions/{world.session_id}/cancel", {"change_no": "0"}),
              (f"/desk/sessions/{world.session_id}/publish", {})]
    before = await audit(harness)
    for path, data in writes:
        for kind in ("no token", "forged token", "another person's token", "another site"):
            status, page = await facilitator.post(
                path, data, csrf={"no token": "", "forged token": "forged",
                                  "another person's token": other.csrf}.get(kind),
                from_origin={"Origin": "https://evil.example"} if kind == "another site" else None)
            assert status == 403, (path, kind)
            assert "The desk did not recognise that form." in words(page)
    assert await new_sessions(harness) == []
    assert (await session_row(harness, world.session_id)).status == "published"
    assert await audit(harness) == before  # nothing was done, so nothing to audit


async def test_a_colleague_is_refused_every_sessions_page_with_a_clear_page(world: World) -> None:
    harness = world.harness
    colleague = await as_person(harness, COLLEAGUE)
    one = f"/desk/sessions/{world.session_id}"
    for path, action in (("/desk/sessions/new", "desk.session.new"), (f"{one}/change", "session_change_start"),
                         (f"{one}/cancel", "session_cancel_start"), (f"{one}/roster", "session_roster"),
                         (f"{one}/roster.csv", "session_roster_csv"), (f"{one}/attendance", "session_attendance")):
        status, page = await colleague.get(path)
        assert status == 403, path
        assert "You can't open this page" in page and "for the facilitators of HNY Inc." in page
        assert SESSION_TITLE not in page and VOLUNTEERS[0].email not in page
        assert (COLLEAGUE.aad_object_id, action, "refused") in await audit(harness), path
    for path, data, action in (
            ("/desk/sessions/new", {**new_session_answers(harness), "nav": "publish"}, "session.create"),
            (f"{one}/publish", {}, "session_publish"), (f"{one}/cancel", {"change_no": "0"}, "session_cancel"),
            (f"{one}/change", {"change_no": "0", "capacity": "3"}, "session_change"),
            (f"{one}/attendance", {"page": "0", "feedback_url": ""}, "session_attendance_save")):
        status, page = await colleague.post(path, data)
        assert status == 403, path
        assert "for the facilitators of HNY Inc." in page
        assert (COLLEAGUE.aad_object_id, action, "refused") in await audit(harness), path
    assert await new_sessions(harness) == []
    assert (await session_row(harness, world.session_id)).status == "published"


async def test_a_facilitator_is_refused_someone_elses_session_and_a_missing_one_is_not_found(world: World) -> None:
    harness = world.harness
    other = await as_person(harness, OTHER_FACILITATOR)
    one = f"/desk/sessions/{world.session_id}"
    for path, audited in ((f"{one}/change", "session.change.open"), (f"{one}/cancel", "session.cancel.open"),
                          (f"{one}/roster", "session.roster"), (f"{one}/roster.csv", "session.roster.export"),
                          (f"{one}/attendance", "session.attendance.open")):
        status, page = await other.get(path)
        assert status == 403, path
        assert "Sorry, you can't do that" in words(page) and "Only the session's facilitators can manage it." in \
            words(page)
        assert VOLUNTEERS[0].email not in page
        assert (OTHER_FACILITATOR.aad_object_id, audited, "refused") in await audit(harness), path
    status, page = await other.post(f"{one}/cancel", {"change_no": "0"})
    assert status == 403 and (await session_row(harness, world.session_id)).status == "published"
    status, page = await other.get("/desk/sessions/999999/change")
    assert status == 404 and "That session was not found" in words(page)
    for path in ("/desk/sessions/0/roster", "/desk/sessions/9999999999/roster", "/desk/sessions/x/roster"):
        status, page = await other.get(path)
        assert status == 404 and "Sorry, something went wrong" not in page, path
    # A form that is not the card's (a change number that is no number) is refused as not recognised.
    facilitator = await as_person(harness, FACILITATOR)
    status, page = await facilitator.post(f"{one}/cancel", {"change_no": "soon"})
    assert status == 400 and "The desk did not recognise that form." in words(page)
    status, page = await facilitator.post(f"{one}/cancel", {"change_no": "0", "extra": "x"})
    assert status == 400


# -- change and cancel --------------------------------------------------------------------------------------------


async def test_a_facilitator_changes_the_places_with_the_chats_checks(world: World) -> None:
    harness = world.harness
    facilitator = await as_person(harness, FACILITATOR)
    one = f"/desk/sessions/{world.session_id}"
    row = await session_row(harness, world.session_id)
    status, page = await facilitator.get(f"{one}/change")
    assert status == 200 and f"Change: {SESSION_TITLE}" in words(page)
    assert f'name="change_no" value="{row.change_no}"' in page and 'name="capacity" id="f-capacity" value="12"' in page
    form = {"change_no": str(row.change_no), "date": uk_date_iso(row.starts_at), "start": "10:00", "end": "12:00",
            "join_url": "", "capacity": "nine", "co_facilitators": ""}
    status, page = await facilitator.post(f"{one}/change", form)
    assert "Please fix: Give the number of places as a whole number from 1 to 1000." in words(page)
    assert 'value="nine"' in page and (await session_row(harness, world.session_id)).capacity == 12
    status, page = await facilitator.post(f"{one}/change", {**form, "capacity": "30"})
    assert status == 200 and "Your changes are saved." in words(page)
    assert (await session_row(harness, world.session_id)).capacity == 30
    assert (FACILITATOR.aad_object_id, "session.change", "done") in await audit(harness)
    # The same form again is out of date: someone (this facilitator) changed the session since.
    status, page = await facilitator.post(f"{one}/change", {**form, "capacity": "31"})
    assert "Someone changed this session after your card was made, so nothing was changed." in words(page)


async def test_a_facilitator_cancels_and_people_with_a_place_are_told(world: World) -> None:
    harness = world.harness
    service = harness.app[SESSIONS]
    for member in VOLUNTEERS[:2]:
        assert (await service.reply(member.aad_object_id, world.session_id, "accept")).outcome == "done"
    facilitator = await as_person(harness, FACILITATOR)
    one = f"/desk/sessions/{world.session_id}"
    status, page = await facilitator.get(f"{one}/cancel")
    assert status == 200 and f"Cancel {SESSION_TITLE}?" in words(page)
    assert "The 2 people who accepted and the 0 people waiting will be told." in words(page)
    assert 'href="/desk/sessions">Keep the session</a>' in page
    change_no = re.search(r'name="change_no" value="(\d+)"', page)
    assert change_no is not None
    status, page = await facilitator.post(f"{one}/cancel", {"change_no": change_no.group(1)})
    assert status == 200 and "The session is cancelled." in words(page)
    assert (await session_row(harness, world.session_id)).status == "cancelled"
    told = await outbox(harness, f"session-cancel:{world.session_id}:")
    assert {message.key.rsplit(":", 1)[1] for message in told} == {member.aad_object_id for member in VOLUNTEERS[:2]}
    assert (FACILITATOR.aad_object_id, "session.cancel", "done") in await audit(harness)
    status, page = await facilitator.get(f"{one}/change")
    assert status == 200 and "This session is cancelled, so it can't change." in words(page)


# -- who is coming, and who came ----------------------------------------------------------------------------------


async def test_who_is_coming_and_its_csv_are_the_chats(world: World) -> None:
    harness = world.harness
    service = harness.app[SESSIONS]
    booked = VOLUNTEERS[0]
    assert (await service.reply(booked.aad_object_id, world.session_id, "accept")).outcome == "done"
    facilitator = await as_person(harness, FACILITATOR)
    one = f"/desk/sessions/{world.session_id}"
    status, page = await facilitator.get(f"{one}/roster")
    assert status == 200
    text = words(page)
    assert f"Who is coming: {SESSION_TITLE}" in text and "Accepted (1 of 12 places)" in text
    assert f"{booked.name} ({booked.email})" in text and VOLUNTEERS[1].email not in text
    assert "Teams asks you where to save it first" not in text  # the desk downloads the file itself
    assert f'href="{one}/roster.csv" download>Download the list (CSV)</a>' in page
    async with harness.http.get(url(harness, f"{one}/roster.csv"),
                                headers={"Cookie": f"{COOKIE_NAME}={facilitator.cookie}"}) as response:
        assert response.status == 200 and response.content_type == "text/csv"
        body = await response.read()
        disposition = response.headers["Content-Disposition"]
    expected = await service.roster_file(FACILITATOR.aad_object_id, world.session_id, "test")
    assert isinstance(expected, RosterFile)
    assert body == expected.content and disposition == f'attachment; filename="{expected.name}"'
    assert booked.email.encode() in body
    rows = await audit(harness)
    assert (FACILITATOR.aad_object_id, "session.roster", "done") in rows
    assert (FACILITATOR.aad_object_id, "session.roster.export", "done") in rows


async def test_a_facilitator_marks_who_came_and_people_who_came_are_thanked(world: World) -> None:
    harness = world.harness
    service = harness.app[SESSIONS]
    came, absent = VOLUNTEERS[0], VOLUNTEERS[1]
    for member in (came, absent):
        assert (await service.reply(member.aad_object_id, world.session_id, "accept")).outcome == "done"
    facilitator = await as_person(harness, FACILITATOR)
    one = f"/desk/sessions/{world.session_id}"
    status, page = await facilitator.get(f"{one}/attendance")
    assert status == 200 and "You can mark who came once the session has started." in words(page)
    status, page = await facilitator.get("/desk/sessions")
    assert f'href="{one}/attendance"' not in page

    harness.clock.advance(timedelta(days=5, hours=3))  # the session has ended
    status, page = await facilitator.get("/desk/sessions")
    assert f'href="{one}/attendance"' in page and "Finished" in words(page)
    status, page = await facilitator.get(f"{one}/attendance")
    assert status == 200
    text = words(page)
    assert f"Who came: {SESSION_TITLE}" in text and f"{came.name} ({came.email}) (optional)" in text
    marks = {}
    for member in (came, absent):
        row = await invitation(harness, world.session_id, member)
        assert row is not None
        marks[member] = f"mark_{row.id}"
        assert f'name="{marks[member]}"' in page
    form = {marks[came]: "attended", marks[absent]: "absent", "page": "0", "feedback_url": "not a link"}
    status, page = await facilitator.post(f"{one}/attendance", form)
    assert "Please fix: Paste a link that starts with https://, or leave it empty." in words(page)
    assert re.search(rf'name="{marks[came]}" id="[^"]+" value="attended" checked', page)  # kept, not saved
    assert (await invitation(harness, world.session_id, came)).attended is None  # type: ignore[union-attr]
    status, page = await facilitator.post(f"{one}/attendance", {**form, "feedback_url": FEEDBACK})
    assert status == 200
    text = words(page)
    assert f"Saved: {SESSION_TITLE}" in text and "Came: 1. Did not come: 1. Not marked yet: 0." in text
    assert "I'm sending a thank-you message to 1 person who came." in text
    assert (await invitation(harness, world.session_id, came)).attended is True  # type: ignore[union-attr]
    assert (await invitation(harness, world.session_id, absent)).attended is False  # type: ignore[union-attr]
    [thanks] = await outbox(harness, f"thanks:{world.session_id}:")
    assert thanks.key.startswith(f"thanks:{world.session_id}:{came.aad_object_id}:")
    rows = await audit(harness)
    assert (FACILITATOR.aad_object_id, "session.attendance", "done") in rows
    assert (FACILITATOR.aad_object_id, "session.feedback_link", "done") in rows
    await deliver(harness)
    assert f"Thank you for coming: {SESSION_TITLE}" in chat_texts(harness, came)
    assert "Thank you for coming" not in chat_texts(harness, absent)


async def test_an_admin_manages_any_session(world: World) -> None:
    admin = await as_person(world.harness, ADMIN)
    status, page = await admin.get(f"/desk/sessions/{world.session_id}/roster")
    assert status == 200 and f"Who is coming: {SESSION_TITLE}" in words(page)
