"""The desk's Announcements pages over HTTP (no browser), on SQLite and PostgreSQL: a facilitator writes an
announcement with the chat's cards (write it, who gets it with its size rounded, check it and when, quiet hours),
sends it through the chat's service, watches its progress card and stops it; the history shows each final report,
suppressed (design §5). Every write needs the form's CSRF token and the desk's origin and is audited as in chat; a
colleague, a facilitator on someone else's announcement, a forged form or an unknown id gets a clear page and
changes nothing, never a 500. The browser suite is tests/browser/test_desk_announcements_browser.py."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from bot.clock import FixedClock
from bot.desk.announcements_pages import AUDIENCE_WAITS, NOT_YOURS_TO_SEE, SAMPLE_WAITS
from bot.features.announcements import ALREADY_TEXT, ANNOUNCEMENTS, GONE, NOT_YOURS, STOPPED_TEXT
from bot.services.announcements import AudienceChoice
from bot.services.announcements.service import TOO_FEW
from cards.announcements import ROUNDING_NOTE, SMALL_NOTE
from dialogs.announce import REFUSED
from storage.models import Announcement, Invitation, OutboxMessage
from tests.app_fixtures import BotHarness, start_harness
from tests.browser.world import ADMIN, COLLEAGUE, FACILITATOR, VOLUNTEERS, build_world, desk_settings
from tests.doubles.issuer import TokenIssuer
from tests.doubles.teams import TeamsDouble, make_member
from tests.test_desk import audit, get
from tests.test_desk_sessions import Signed, TwoInstances, as_person, chat_texts, deliver, words
from tests.test_desk_sessions import two_instances as two_instances  # the fixture, for this module's tests too
from tests.test_sessions_helpers import make_facilitator
from vocabulary.uk_time import uk_date_iso
from vocabulary.words import OutboxPurpose, OutboxStatus, Phase, Role, VolunteerSpace

OTHER_FACILITATOR = make_member(406)
TITLE = "Co-design day moved"
BODY = "The co-design day is now on Thursday. Same room, same time."
BOTH_SPACES = "minoritised,ally"
NEW = "/desk/announcements/new"


@pytest.fixture
async def desk(db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble,
               clock: FixedClock) -> AsyncIterator[BotHarness]:
    settings = desk_settings(db_url, token_issuer)
    async for harness in start_harness(db_url, token_issuer, teams_double, clock,
                                       **{name: getattr(settings, name) for name in (
                                           "desk_openid_metadata_url", "desk_token_issuer", "bot_domain",
                                           "bootstrap_admins")}):
        await build_world(harness)
        await make_facilitator(harness, OTHER_FACILITATOR)
        yield harness


def hidden(page: str) -> list[tuple[str, str]]:
    """The journey's form as a browser would send it: its hidden fields (the CSRF token left to `Signed`)."""
    form = re.search(r'<form method="post" action="/desk/announcements/new" class="card-form".*?</form>', page,
                     re.S)
    assert form is not None, words(page)
    return [(name, value.replace("&#34;", '"').replace("&#39;", "'").replace("&amp;", "&"))
            for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(0))
            if name != "csrf"]


@dataclass
class Step:
    status: int
    page: str

    @property
    def text(self) -> str:
        return words(self.page)


async def step(person: Signed, page: str, nav: str, **inputs: str) -> Step:
    """Press a journey button of `page` with these inputs (a multi-select's values comma-joined, as one field)."""
    fields = [(name, value) for name, value in hidden(page) if name not in inputs]
    for name, value in inputs.items():
        fields += [(name, part) for part in value.split(",")] if name in ("spaces", "phases") else [(name, value)]
    status, answer = await person.post(NEW, [*fields, ("nav", nav)])
    return Step(status, answer)


async def to_confirm(person: Signed, *, spaces: str = BOTH_SPACES, phases: str = "", when: str = "now",
                     date: str = "", time: str = "") -> Step:
    status, page = await person.get(NEW)
    assert status == 200
    written = await step(person, page, "next", title=TITLE, body=BODY)
    assert "Who should get it?" in written.text, written.text
    audience = {"spaces": spaces, **({"phases": phases} if phases else {})}
    checked = await step(person, written.page, "next", **audience)
    assert "Check your announcement" in checked.text, checked.text
    confirm = await step(person, checked.page, "next", when=when, date=date, time=time)
    assert confirm.status == 200 and "Ready to send?" in confirm.text, confirm.text
    return confirm


async def announcements(harness: BotHarness) -> list[Announcement]:
    async with harness.core.database.read() as session:
        return list((await session.execute(select(Announcement).order_by(Announcement.id))).scalars())


async def messages(harness: BotHarness, announcement_id: int) -> dict[str, int]:
    async with harness.core.database.read() as session:
        rows = (await session.execute(
            select(OutboxMessage.status, func.count()).where(OutboxMessage.batch == f"announcement:{announcement_id}")
            .group_by(OutboxMessage.status))).tuples().all()
    return dict(rows)


async def sent(harness: BotHarness, person: Signed, **options: str) -> int:
    """An announcement sent from the desk by `person`; its id."""
    confirm = await to_confirm(person, **options)
    status, _ = await person.post(NEW, [*hidden(confirm.page), ("nav", "send")])
    assert status == 303
    return (await announcements(harness))[-1].id


async def tick(harness: BotHarness) -> None:
    await harness.app[ANNOUNCEMENTS].tick()


# -- the journey ----------------------------------------------------------------------------------------------------


async def test_a_facilitator_writes_checks_and_sends_an_announcement_with_the_chats_cards(desk: BotHarness) -> None:
    facilitator = await as_person(desk, FACILITATOR)
    status, page = await facilitator.get("/desk/home")
    assert 'href="/desk/announcements"' in page  # in the one navigation
    status, page = await facilitator.get("/desk/announcements")
    assert status == 200 and "You have not sent any announcements yet." in words(page)
    assert 'href="/desk/announcements/new"' in page and "New announcement" in words(page)

    status, page = await facilitator.get(NEW)
    text = words(page)
    assert status == 200
    for label in ("Title (required)", "Message (required)", "Link for a button (optional)",
                  "Button text (optional)", "Up to 2,000 characters.", SAMPLE_WAITS):
        assert label in text, label
    assert '<textarea name="body"' in page and 'data-sample="/desk/announcements/sample"' in page

    # Nothing written: the chat's messages, each under its field.
    empty = await step(facilitator, page, "next")
    assert empty.status == 200
    assert "Please fix: Give the announcement a title." in empty.text and "Please fix: Write the message." in empty.text
    assert 'aria-invalid="true"' in empty.page
    written = await step(facilitator, empty.page, "next", title=TITLE, body=BODY)
    assert "Who should get it?" in written.text and "Volunteers in these spaces" in written.text

    # No audience: the chat's message, and the journey stays.
    nobody = await step(facilitator, written.page, "next")
    assert "Choose at least one channel, or the volunteers who should get it." in nobody.text
    checked = await step(facilitator, nobody.page, "next", spaces=BOTH_SPACES)
    expected = await desk.app[ANNOUNCEMENTS].preview(
        AudienceChoice(spaces=(VolunteerSpace.MINORITISED, VolunteerSpace.ALLY)))
    text = checked.text
    assert "Check your announcement" in text and TITLE in text and BODY in text
    assert f"People {expected.people} people" in text and ROUNDING_NOTE in text
    assert expected.people is not None and re.fullmatch(r"\d*[05]", expected.people)  # rounded to 5 (§5)
    # The card people will get is shown inside, its buttons doing nothing.
    assert '<div class="sample">' in checked.page
    assert re.search(r'<span class="button button-plain sample-button">Stop announcements</span>', checked.page)
    assert 'name="nav" value="sample"' not in checked.page

    back = await step(facilitator, checked.page, "back")
    assert "Who should get it?" in back.text and 'value="minoritised" checked' in back.page

    confirm = await step(facilitator, checked.page, "next", when="now")
    assert "Ready to send?" in confirm.text and "When Now" in confirm.text
    assert await announcements(desk) == []  # nothing is stored until Send
    status, _ = await facilitator.post(NEW, [*hidden(confirm.page), ("nav", "send")])
    assert status == 303
    [row] = await announcements(desk)
    assert (row.title, row.body, row.author_person_id) == (TITLE, BODY, FACILITATOR.aad_object_id)
    assert (FACILITATOR.aad_object_id, "announcement.create", "done") in await audit(desk)
    assert (FACILITATOR.aad_object_id, "announcement.send", "done") in await audit(desk)

    status, page, _ = await get(desk, f"/desk/announcements/{row.id}?sent=now", facilitator.cookie)
    text = words(page)
    assert status == 200 and "Thank you. Your announcement is on its way." in text
    assert f'data-poll="/desk/announcements/{row.id}/progress"' in page and "Stop sending" in text

    # The tick starts it, as in chat: a message per volunteer in the outbox, and the progress piece says so.
    await tick(desk)
    assert (await messages(desk, row.id)).get(OutboxStatus.PENDING, 0) >= 8
    status, piece = await facilitator.get(f"/desk/announcements/{row.id}/progress")
    assert status == 200 and "<html" not in piece and "0% done." in words(piece)
    assert 'data-finished="false"' in piece
    await deliver(desk)
    await tick(desk)
    status, piece = await facilitator.get(f"/desk/announcements/{row.id}/progress")
    text = words(piece)
    assert "Your announcement has gone" in text and "Delivered 100%" in text and 'data-finished="true"' in piece
    assert TITLE in chat_texts(desk, VOLUNTEERS[0])

    status, page = await facilitator.get("/desk/announcements")
    text = words(page)
    assert f'href="/desk/announcements/{row.id}"' in page and TITLE in text
    assert "Your announcement has gone" in text and "Could not be delivered 0" in text


async def test_sending_one_journey_twice_sends_one_announcement(desk: BotHarness) -> None:
    facilitator = await as_person(desk, FACILITATOR)
    confirm = await to_confirm(facilitator)
    first = await facilitator.post(NEW, [*hidden(confirm.page), ("nav", "send")])
    again = await facilitator.post(NEW, [*hidden(confirm.page), ("nav", "send")])
    [row] = await announcements(desk)
    assert first[0] == again[0] == 303
    assert len(await announcements(desk)) == 1 and row.title == TITLE


async def test_send_pressed_at_once_on_two_web_instances_sends_one_announcement(
        two_instances: TwoInstances) -> None:
    """A double click on Send may reach both instances behind one address."""
    first, on_first, on_second = two_instances.first, two_instances.on_first, two_instances.on_second
    confirm = await to_confirm(on_first)
    send = [*hidden(confirm.page), ("nav", "send")]
    answers = await asyncio.gather(on_first.post(NEW, send), on_second.post(NEW, send),
                                   on_first.post(NEW, send))
    assert [status for status, _ in answers] == [303, 303, 303]
    assert [row.title for row in await announcements(first)] == [TITLE]
    await tick(first)
    await deliver(first)
    assert chat_texts(first, VOLUNTEERS[0]).count(TITLE) == 1  # one announcement, once


async def test_a_time_in_quiet_hours_is_asked_about_as_in_chat(desk: BotHarness) -> None:
    facilitator = await as_person(desk, FACILITATOR)
    day = uk_date_iso(desk.clock.now())
    confirm = await to_confirm(facilitator, when="later", date=day, time="21:00")
    text = confirm.text
    assert "21:00 is in quiet hours (20:00 to 08:00, UK time)." in text
    assert "Send at 08:00" in text and "Send at 21:00 anyway" in text
    # Each choice is a form of its own, with the journey's answers and its own choice.
    forms = re.findall(r'<form method="post" action="/desk/announcements/new" class="inline">(.*?)</form>',
                       confirm.page, re.S)
    waits = next(form for form in forms if "Send at 08:00" in form)
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', waits)
    assert ("quiet", "wait") in fields and ("nav", "send") in fields
    status, _ = await facilitator.post(NEW, [field for field in fields if field[0] != "csrf"])
    assert status == 303
    [row] = await announcements(desk)
    assert row.send_at.astimezone(desk.clock.now().tzinfo) > desk.clock.now() + timedelta(hours=12)
    assert not row.quiet_hours_confirmed
    status, page, _ = await get(desk, f"/desk/announcements/{row.id}?sent=later", facilitator.cookie)
    text = words(page)
    assert "Your announcement will start on" in text and "Announcement scheduled" in text
    assert "The time you chose is in quiet hours, so it will start when they end." in text


async def test_the_live_preview_is_the_card_people_will_get(desk: BotHarness) -> None:
    facilitator = await as_person(desk, FACILITATOR)
    status, page = await facilitator.get(NEW)
    form = [*hidden(page), ("title", TITLE), ("body", BODY), ("link_url", "https://www.nhs.uk"),
            ("link_title", "")]
    status, piece = await facilitator.post("/desk/announcements/sample", form)
    assert status == 200 and "<html" not in piece and "<form" not in piece
    text = words(piece)
    assert TITLE in text and BODY in text and "Find out more" in text and "Stop announcements" in text
    assert "<h3>" + TITLE in piece.replace("\n", "")  # under the page's "Preview" heading
    status, piece = await facilitator.post("/desk/announcements/sample", [*hidden(page), ("title", TITLE)])
    assert status == 200 and SAMPLE_WAITS in words(piece)
    status, _ = await facilitator.post("/desk/announcements/sample", form, csrf="forged")
    assert status == 403


async def test_who_gets_it_is_counted_live_rounded_as_on_the_check_card(desk: BotHarness) -> None:
    facilitator = await as_person(desk, FACILITATOR)
    _, page = await facilitator.get(NEW)
    written = await step(facilitator, page, "next", title=TITLE, body=BODY)
    assert 'data-live-audience="/desk/announcements/audience"' in written.page
    assert AUDIENCE_WAITS in written.text
    form = [(name, value) for name, value in hidden(written.page) if name != "spaces"]
    expected = await desk.app[ANNOUNCEMENTS].preview(
        AudienceChoice(spaces=(VolunteerSpace.MINORITISED, VolunteerSpace.ALLY)))
    status, piece = await facilitator.post("/desk/announcements/audience",
                                           [*form, ("spaces", "minoritised"), ("spaces", "ally")])
    text = words(piece)
    assert status == 200 and "<html" not in piece
    assert f"People {expected.people} people" in text and ROUNDING_NOTE in text
    assert "Volunteers in Active allies and Minoritised colleagues" in text
    # Few people: "fewer than 8", never the number.
    status, piece = await facilitator.post("/desk/announcements/audience", [*form, ("phases", "train_the_trainer")])
    assert "People fewer than 8 people" in words(piece) and not re.search(r"People \d", words(piece))
    # Nothing chosen, or something that cannot be chosen: the chat's message.
    status, piece = await facilitator.post("/desk/announcements/audience", form)
    assert "Choose at least one channel, or the volunteers who should get it." in words(piece)
    status, piece = await facilitator.post("/desk/announcements/audience", [*form, ("spaces", "everyone")])
    assert status == 200 and "Choose a space from the list." in words(piece)
    status, _ = await facilitator.post("/desk/announcements/audience", [*form, ("surprise", "1")])
    assert status == 400
    status, _ = await facilitator.post("/desk/announcements/audience", form, csrf="forged")
    assert status == 403
    colleague = await as_person(desk, COLLEAGUE)
    status, _ = await colleague.post("/desk/announcements/audience", form)
    assert status == 403
    # Back from the check page, the page says who it was.
    checked = await step(facilitator, written.page, "next", spaces=BOTH_SPACES)
    back = await step(facilitator, checked.page, "back")
    assert f"Who gets it so far Volunteers in Active allies and Minoritised colleagues People {expected.people}" \
        in back.text


async def test_fewer_than_8_people_are_never_counted_on_the_pages(desk: BotHarness) -> None:
    """Volunteers interested in train the trainer: 4 in this world, so "fewer than 8", and a final report
    without any figure (design §5)."""
    facilitator = await as_person(desk, FACILITATOR)
    summary = await desk.app[ANNOUNCEMENTS].preview(AudienceChoice(phases=(Phase.TRAIN_THE_TRAINER,)))
    assert summary.people == "fewer than 8"
    status, page = await facilitator.get(NEW)
    written = await step(facilitator, page, "next", title=TITLE, body=BODY)
    checked = await step(facilitator, written.page, "next", phases="train_the_trainer")
    assert "People fewer than 8 people" in checked.text
    confirm = await step(facilitator, checked.page, "next", when="now")
    status, _ = await facilitator.post(NEW, [*hidden(confirm.page), ("nav", "send")])
    [row] = await announcements(desk)
    await tick(desk)
    await deliver(desk)
    await tick(desk)
    for path in (f"/desk/announcements/{row.id}", "/desk/announcements"):
        status, page = await facilitator.get(path)
        text = words(page)
        assert status == 200 and SMALL_NOTE in text and "It has been sent." in text
        assert "%" not in text and not re.search(r"Delivered|Could not be delivered \d", text), text


# -- stop sending ---------------------------------------------------------------------------------------------------


async def test_the_author_stops_sending_and_what_had_not_gone_is_cancelled(desk: BotHarness) -> None:
    facilitator = await as_person(desk, FACILITATOR)
    announcement_id = await sent(desk, facilitator)
    await tick(desk)
    status, page = await facilitator.get(f"/desk/announcements/{announcement_id}")
    assert f'action="/desk/announcements/{announcement_id}/stop"' in page
    status, _ = await facilitator.post(f"/desk/announcements/{announcement_id}/stop", {})
    assert status == 303
    counts = await messages(desk, announcement_id)
    assert counts.get(OutboxStatus.PENDING, 0) == 0 and counts[OutboxStatus.CANCELLED] >= 8
    assert (FACILITATOR.aad_object_id, "announcement.stop", "done") in await audit(desk)
    await tick(desk)
    status, page, _ = await get(desk, f"/desk/announcements/{announcement_id}?done=stopped", facilitator.cookie)
    text = words(page)
    assert STOPPED_TEXT in text and "You stopped this announcement" in text
    assert "Delivered 0%" in text and "Not sent, because you stopped it 100%" in text
    assert "Stop sending" not in text
    # Pressing again changes nothing and says so.
    status, _ = await facilitator.post(f"/desk/announcements/{announcement_id}/stop", {})
    assert status == 303
    status, page, _ = await get(desk, f"/desk/announcements/{announcement_id}?done=already", facilitator.cookie)
    assert ALREADY_TEXT in words(page)
    assert [row for row in await audit(desk) if row[1] == "announcement.stop"] == [
        (FACILITATOR.aad_object_id, "announcement.stop", "done")]


async def test_an_admin_sees_every_announcement_and_may_stop_it(desk: BotHarness) -> None:
    facilitator = await as_person(desk, FACILITATOR)
    announcement_id = await sent(desk, facilitator)
    admin = await as_person(desk, ADMIN)
    status, page = await admin.get("/desk/announcements")
    assert status == 200 and "Every announcement" in words(page) and TITLE in words(page)
    status, _ = await admin.post(f"/desk/announcements/{announcement_id}/stop", {})
    assert status == 303
    assert (ADMIN.aad_object_id, "announcement.stop", "done") in await audit(desk)


# -- refusals and forged forms ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/desk/announcements", NEW, "/desk/announcements/1",
                                  "/desk/announcements/1/progress"])
async def test_a_colleague_is_refused_every_announcements_page(desk: BotHarness, path: str) -> None:
    colleague = await as_person(desk, COLLEAGUE)
    status, page = await colleague.get(path)
    assert status == 403 and "This page is for the facilitators of HNY Inc." in words(page)
    assert 'href="/desk/announcements"' not in page  # not in their navigation either
    assert (COLLEAGUE.aad_object_id, "refused") in {(actor, outcome) for actor, _, outcome in await audit(desk)}


async def test_a_colleague_cannot_send_or_stop(desk: BotHarness) -> None:
    facilitator = await as_person(desk, FACILITATOR)
    confirm = await to_confirm(facilitator)
    colleague = await as_person(desk, COLLEAGUE)
    status, page = await colleague.post(NEW, [*hidden(confirm.page), ("nav", "send")])
    assert status == 403 and "This page is for the facilitators of HNY Inc." in words(page)
    assert await announcements(desk) == []
    announcement_id = await sent(desk, facilitator)
    status, _ = await colleague.post(f"/desk/announcements/{announcement_id}/stop", {})
    assert status == 403
    status, _ = await colleague.post("/desk/announcements/sample", [*hidden(confirm.page)])
    assert status == 403
    assert (await announcements(desk))[0].stopped_at is None
    refused = [action for actor, action, outcome in await audit(desk)
               if actor == COLLEAGUE.aad_object_id and outcome == "refused"]
    assert refused == ["announce", "announcement_stop", "announce"]


async def test_another_facilitator_cannot_see_or_stop_someone_elses_announcement(desk: BotHarness) -> None:
    facilitator = await as_person(desk, FACILITATOR)
    announcement_id = await sent(desk, facilitator)
    other = await as_person(desk, OTHER_FACILITATOR)
    status, page = await other.get(f"/desk/announcements/{announcement_id}")
    assert status == 403 and NOT_YOURS_TO_SEE in words(page)
    status, page = await other.get(f"/desk/announcements/{announcement_id}/progress")
    assert status == 403
    status, page = await other.get("/desk/announcements")
    assert TITLE not in words(page)
    status, page = await other.post(f"/desk/announcements/{announcement_id}/stop", {})
    assert status == 403 and NOT_YOURS in words(page)
    [row] = await announcements(desk)
    assert row.stopped_at is None
    rows = await audit(desk)
    assert (OTHER_FACILITATOR.aad_object_id, "desk.announcements.view", "refused") in rows
    assert (OTHER_FACILITATOR.aad_object_id, "announcement.stop", "refused") in rows


@pytest.mark.parametrize("path", ["/desk/announcements/999999", "/desk/announcements/0",
                                  "/desk/announcements/99999999999", "/desk/announcements/999999/progress",
                                  "/desk/announcements/abc"])
async def test_an_announcement_that_is_not_there_is_a_clear_404(desk: BotHarness, path: str) -> None:
    facilitator = await as_person(desk, FACILITATOR)
    status, page = await facilitator.get(path)
    assert status == 404 and "<h1>" in page  # the desk's kind page (the address is checked before the service)


async def test_stopping_an_unknown_announcement_or_with_extra_fields_changes_nothing(desk: BotHarness) -> None:
    facilitator = await as_person(desk, FACILITATOR)
    announcement_id = await sent(desk, facilitator)
    status, page = await facilitator.post("/desk/announcements/999999/stop", {})
    assert status == 404 and GONE in words(page)
    status, page = await facilitator.post(f"/desk/announcements/{announcement_id}/stop", {"announcement_id": "x"})
    assert status == 400 and "The desk did not recognise that form." in words(page)
    status, _ = await facilitator.post(f"/desk/announcements/{announcement_id}/stop", {"surprise": "1"})
    assert status == 400
    status, _ = await facilitator.post(f"/desk/announcements/{announcement_id}/stop", {}, csrf="forged")
    assert status == 403
    status, _ = await facilitator.post(f"/desk/announcements/{announcement_id}/stop", {},
                                       from_origin={"Origin": "https://evil.example"})
    assert status == 403
    assert (await announcements(desk))[0].stopped_at is None


async def test_forged_journey_forms_get_a_clear_page_and_store_nothing(desk: BotHarness) -> None:
    facilitator = await as_person(desk, FACILITATOR)
    confirm = await to_confirm(facilitator)
    good = hidden(confirm.page)

    def but(**changes: str) -> list[tuple[str, str]]:
        return [(name, changes.get(name, value)) for name, value in good] + [("nav", "send")]

    cases: list[tuple[list[tuple[str, str]], int, str]] = [
        ([*good, ("nav", "send"), ("admin", "1")], 400, "The desk did not recognise that form."),
        (but(journey="not-a-journey"), 400, "The desk did not recognise that form."),
        (but(step="launch"), 400, "The desk did not recognise that form."),
        ([*good, ("nav", "explode")], 400, "The desk did not recognise that form."),
        (but(body="x" * 6000), 400, "The desk did not recognise that form."),  # past the journey's bound
        (but(body="x" * 2500), 200, "Make the message shorter: at most 2000 characters. It has 2500."),
        (but(channels="999"), 200, "One of those channels can't be used any more."),
        (but(sessions="1; DROP TABLE"), 200, "One of those sessions can't be chosen any more."),
        (but(spaces="everyone"), 200, "Choose a space from the list."),
        (but(organisations="123456"), 200, "One of those organisations can't be chosen any more."),
        (but(when="yesterday"), 200, "Choose when to send it: now, or at a time you choose."),
        (but(when="later", date="2026-13-40", time="09:00"), 200, "Choose the date to send it."),
        (but(link_url="javascript:alert(1)"), 200, "Give a web address that starts with https://"),
    ]
    for fields, status, message in cases:
        answer_status, page = await facilitator.post(NEW, fields)
        assert (answer_status, message in words(page)) == (status, True), (fields[-3:], words(page))
    status, _ = await facilitator.post(NEW, [*good, ("nav", "send")], csrf="forged")
    assert status == 403
    status, _ = await facilitator.post(NEW, [*good, ("nav", "send")], from_origin={"Origin": "https://evil.example"})
    assert status == 403
    assert await announcements(desk) == []
    # A body past what a form may hold at all (aiohttp's 1 MiB) is a clear page too, never a 500.
    status, page = await facilitator.post(NEW, but(body="x" * 1_100_000))
    assert status == 413 and "Sorry, that did not work" in words(page)
    assert await announcements(desk) == []


async def test_a_narrow_audience_of_fewer_than_8_is_refused_as_in_chat(desk: BotHarness) -> None:
    """Chosen by who came to a session (3 people): it could single them out, so the chat's refusal."""
    options = await desk.app[ANNOUNCEMENTS].options()
    session_id = str(options.sessions[0].session_id)
    async with desk.core.database.transaction() as session:
        await session.execute(update(Invitation).where(
            Invitation.person_id.in_([member.aad_object_id for member in VOLUNTEERS[:3]])).values(attended=True))
    facilitator = await as_person(desk, FACILITATOR)
    _, page = await facilitator.get(NEW)
    written = await step(facilitator, page, "next", title=TITLE, body=BODY)
    refused = await step(facilitator, written.page, "next", sessions=session_id, session_people="attended")
    assert refused.status == 200 and TOO_FEW in refused.text and "Who should get it?" in refused.text


async def test_not_signed_in_the_pages_lead_to_sign_in_and_writes_are_refused(desk: BotHarness) -> None:
    status, _, response = await get(desk, "/desk/announcements")
    assert status == 303 and response.headers["Location"].startswith("/desk/?next=")
    status, _, _ = await get(desk, "/desk/announcements/1/progress")
    assert status == 303
    facilitator = await as_person(desk, FACILITATOR)
    nobody = Signed(desk, "", facilitator.csrf)
    status, _ = await nobody.post("/desk/announcements/1/stop", {})
    assert status == 401


async def test_a_role_taken_away_half_way_stops_the_journey(desk: BotHarness) -> None:
    facilitator = await as_person(desk, FACILITATOR)
    confirm = await to_confirm(facilitator)
    await desk.core.roles.revoke("test", FACILITATOR.aad_object_id, Role.FACILITATOR)
    status, page = await facilitator.post(NEW, [*hidden(confirm.page), ("nav", "send")])
    assert status == 403 and REFUSED not in words(page)  # the desk's refusal page, before the service
    assert "This page is for the facilitators of HNY Inc." in words(page)
    assert await announcements(desk) == []


async def test_only_announcement_messages_go_out(desk: BotHarness) -> None:
    """What Send queues is the chat's: one announcement message per person, the author's progress card."""
    facilitator = await as_person(desk, FACILITATOR)
    announcement_id = await sent(desk, facilitator)
    await tick(desk)
    async with desk.core.database.read() as session:
        purposes = set((await session.execute(select(OutboxMessage.purpose).where(
            (OutboxMessage.batch == f"announcement:{announcement_id}")
            | (OutboxMessage.key.like(f"announcement-progress:{announcement_id}:%"))))).scalars())
    assert purposes == {OutboxPurpose.ANNOUNCEMENT.value, OutboxPurpose.ANNOUNCEMENT_PROGRESS.value}
