"""The desk's Programme page over HTTP (issue 22): roles, organisations, the phase and end date, privacy notice
versions and the audit log, through the chat's own features, rules, messages and audit rows; CSRF and our own
origin on every form; anyone but an admin gets the refusal page (403, audited under the action's name). Both
databases (the `db_url` fixture). The browser tests are tests/browser/test_desk_programme_browser.py."""

from __future__ import annotations

import html as entities
import re
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.cli.audit import HEADER as AUDIT_HEADER
from bot.cli.audit import audit_rows
from bot.clock import FixedClock
from bot.desk.programme import PAGE, form_address
from bot.desk.session import COOKIE_NAME, SAID_COOKIE
from bot.features.programme import PROGRAMME
from bot.services.csv_export import csv_bytes
from storage.models import OutboxMessage
from tests.app_fixtures import BotHarness, start_harness
from tests.browser.world import ADMIN, COLLEAGUE, FACILITATOR, VOLUNTEERS, build_world, desk_settings
from tests.doubles.issuer import TokenIssuer
from tests.doubles.teams import Member, TeamsDouble
from tests.test_desk import audit, get, origin, signed_in, text_of, url
from vocabulary.actions.programme import (
    ADD_ORGANISATION,
    GRANT_ROLE,
    GRANT_ROLE_BY_EMAIL,
    PUBLISH_NOTICE,
    RENAME_ORGANISATION,
    RESTORE_ORGANISATION,
    RETIRE_ORGANISATION,
    REVOKE_ROLE,
    SAVE_PROGRAMME,
)
from vocabulary.catalogue import CardAction
from vocabulary.words import Role

FORMS = (SAVE_PROGRAMME, GRANT_ROLE, REVOKE_ROLE, GRANT_ROLE_BY_EMAIL, ADD_ORGANISATION, RENAME_ORGANISATION,
         RETIRE_ORGANISATION, RESTORE_ORGANISATION, PUBLISH_NOTICE)
NOTICE = ("We use your answers only to plan the HNY Inc. sessions and to invite you to them. " * 4).strip()


@pytest.fixture
async def desk(db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble,
               clock: FixedClock) -> AsyncIterator[BotHarness]:
    settings = desk_settings(db_url, token_issuer)
    async for harness in start_harness(db_url, token_issuer, teams_double, clock,
                                       **{name: getattr(settings, name) for name in (
                                           "desk_openid_metadata_url", "desk_token_issuer", "bot_domain",
                                           "bootstrap_admins")}):
        await build_world(harness)
        yield harness


class SignedIn:
    """Someone's browser, in short: the desk cookie, and the CSRF token of their pages' forms."""

    def __init__(self, harness: BotHarness, cookie: str, csrf: str) -> None:
        self.harness, self.cookie, self.csrf = harness, cookie, csrf

    async def answer(self, path: str, data: dict[str, str], *, csrf: str | None = None,
                     site: str | None = None) -> tuple[int, str, dict[str, str], str | None]:
        """Post a form: status, page, response headers, and the value of the "what happened" cookie it set."""
        headers = {"Cookie": f"{COOKIE_NAME}={self.cookie}",
                   **({"Origin": site} if site else origin(self.harness))}
        form = {"csrf": self.csrf if csrf is None else csrf, **data}
        async with self.harness.http.post(url(self.harness, path), data=form, headers=headers,
                                          allow_redirects=False) as response:
            said = [header for header in response.headers.getall("Set-Cookie", [])
                    if header.startswith(f"{SAID_COOKIE}=")]
            value = said[0].split(";", 1)[0].split("=", 1)[1] if said else None
            return response.status, await response.text(), dict(response.headers), value

    async def post(self, path: str, data: dict[str, str], *, csrf: str | None = None,
                   site: str | None = None) -> tuple[int, str]:
        status, html, _, _ = await self.answer(path, data, csrf=csrf, site=site)
        return status, html

    async def page_after(self, said: str | None) -> str:
        """The page the browser is sent to after a form, with the cookie the form set."""
        cookie = f"{COOKIE_NAME}={self.cookie}" + (f"; {SAID_COOKIE}={said}" if said else "")
        async with self.harness.http.get(url(self.harness, PAGE), headers={"Cookie": cookie},
                                         allow_redirects=False) as response:
            assert response.status == 200
            return await response.text()

    async def press(self, action: CardAction[Any], **data: str) -> str:
        """Post one form and follow it as a browser does (Post/Redirect/Get); the page, as the text a person
        reads."""
        status, html, headers, said = await self.answer(form_address(action), data)
        if status == 303:
            assert headers["Location"] in (PAGE, f"{PAGE}#status")
            html = await self.page_after(said)
        else:
            assert status == 200, (status, text_of(html))
        return read(html)


def read(html: str) -> str:
    return entities.unescape(text_of(html))


async def open_as(harness: BotHarness, member: Member) -> SignedIn:
    cookie = await signed_in(harness, member)
    status, html, _ = await get(harness, PAGE, cookie)
    assert status == 200, text_of(html)
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return SignedIn(harness, cookie, found.group(1))


async def organisation_id(harness: BotHarness, name: str) -> int:
    rows = await harness.app[PROGRAMME].organisations()
    return next(row.id for row in rows if row.name == name)


# -- the page -------------------------------------------------------------------------------------------------


async def test_the_admin_sees_phase_roles_organisations_notices_and_the_audit_log(desk: BotHarness) -> None:
    cookie = await signed_in(desk, ADMIN)
    status, html, _ = await get(desk, PAGE, cookie)
    assert status == 200
    text = read(html)
    organisations = await desk.app[PROGRAMME].organisations()
    assert "Running the programme" in text and "Current phase Co-design" in text
    assert f"{FACILITATOR.name} ({FACILITATOR.email})" in text and f"{ADMIN.name} ({ADMIN.email}) (you)" in text
    assert f"Make {FACILITATOR.name} ({FACILITATOR.email}) an admin" in text
    assert all(row.name in text for row in organisations if not row.retired) and len(organisations) > 1
    assert "Version 1 Published" in text
    [newest] = await desk.core.roles.audit_entries(1)
    assert "The latest" in text and f"What {newest.action}" in text and f"Who {newest.actor_id}" in text
    assert 'href="/desk/programme" aria-current="page"' in html
    # Every form carries the CSRF token; no inline script or style.
    assert html.count('name="csrf"') == html.count("<form")
    assert not re.search(r"<script(?![^>]*\ssrc=)", html) and " style=" not in html


@pytest.mark.parametrize("member", [COLLEAGUE, FACILITATOR])
async def test_anyone_but_an_admin_is_refused_the_page_and_every_form(desk: BotHarness, member: Member) -> None:
    cookie = await signed_in(desk, member)
    status, html, _ = await get(desk, PAGE, cookie)
    assert status == 403 and "You can't open this page" in html and "for the admins of HNY Inc." in html
    assert 'href="/desk/programme"' not in html
    status, html, _ = await get(desk, f"{PAGE}/audit.csv", cookie)
    assert status == 403 and "for the admins of HNY Inc." in html
    # Their session's CSRF token is valid; the role is what refuses them, audited under the chat action's name.
    _, home, _ = await get(desk, "/desk/home", cookie)
    found = re.search(r'name="csrf" value="([^"]+)"', home)
    assert found is not None
    someone = SignedIn(desk, cookie, found.group(1))
    before = await desk.core.roles.holders()
    audited = len(await audit(desk))
    for action in FORMS:
        status, html = await someone.post(form_address(action), {
            "role": "facilitator", "person_id": member.aad_object_id, "email": member.email,
            "add_name": "Somewhere new", "phase": "train_the_trainer", "notice_text": NOTICE, "understood": "true"})
        assert status == 403 and "for the admins of HNY Inc." in html, action.name
        assert (member.aad_object_id, action.name, "refused") in await audit(desk)
    assert await desk.core.roles.holders() == before
    assert "Somewhere new" not in [row.name for row in await desk.app[PROGRAMME].organisations()]
    assert (await desk.app[PROGRAMME].view()).phase == "codesign"
    assert {row[2] for row in (await audit(desk))[audited:]} == {"refused"}


async def test_every_form_needs_the_csrf_token_and_our_own_origin(desk: BotHarness) -> None:
    admin = await open_as(desk, ADMIN)
    for action in FORMS:
        for csrf, site in (("", None), ("forged", None), (None, "https://evil.example")):
            status, html = await admin.post(form_address(action), {"add_name": "Forged Trust", "role": "admin",
                                                                    "person_id": FACILITATOR.aad_object_id},
                                            csrf=csrf, site=site)
            assert status == 403 and "did not recognise that form" in html, action.name
    assert Role.ADMIN not in await desk.core.roles.roles_of(FACILITATOR.aad_object_id)
    assert "Forged Trust" not in [row.name for row in await desk.app[PROGRAMME].organisations()]


async def test_a_form_that_does_not_fit_its_action_is_a_clear_400_page(desk: BotHarness) -> None:
    admin = await open_as(desk, ADMIN)
    for action, data in ((RETIRE_ORGANISATION, {"retire_id": "not-a-number"}),
                         (GRANT_ROLE, {"role": "owner", "person_id": FACILITATOR.aad_object_id}),
                         (SAVE_PROGRAMME, {"phase": "forever"}),
                         (ADD_ORGANISATION, {"add_name": "x", "surprise": "field"})):
        status, html = await admin.post(form_address(action), data)
        assert status == 400 and "did not recognise that form, so nothing was changed" in html, action.name
        assert "Running the programme" in html


# -- roles ----------------------------------------------------------------------------------------------------------


async def test_an_admin_grants_and_revokes_a_role_with_the_chats_messages_and_audit(desk: BotHarness) -> None:
    admin = await open_as(desk, ADMIN)
    person = VOLUNTEERS[0]
    label = f"{person.name} ({person.email})"
    said = await admin.press(GRANT_ROLE_BY_EMAIL, email=person.email.upper(), role="facilitator")
    assert f"{label} is now a facilitator." in said
    assert Role.FACILITATOR in await desk.core.roles.roles_of(person.aad_object_id)
    said = await admin.press(GRANT_ROLE_BY_EMAIL, email=person.email, role="facilitator")
    assert f"{label} is already a facilitator, so nothing changed." in said
    said = await admin.press(GRANT_ROLE, role="admin", person_id=person.aad_object_id)
    assert f"{label} is now an admin." in said
    said = await admin.press(REVOKE_ROLE, role="admin", person_id=person.aad_object_id)
    assert f"{label} is no longer an admin." in said
    said = await admin.press(GRANT_ROLE_BY_EMAIL, email="nobody@hny.test", role="admin")
    assert "I don't know anyone with the e-mail nobody@hny.test yet." in said
    said = await admin.press(GRANT_ROLE_BY_EMAIL, email="not an address", role="admin")
    assert "That doesn't look like an e-mail address." in said
    rows = await audit(desk)
    for action, outcome in (("role.grant.facilitator", "done"), ("role.grant.facilitator", "unchanged"),
                            ("role.grant.admin", "done"), ("role.revoke.admin", "done")):
        assert (ADMIN.aad_object_id, action, outcome) in rows


async def test_the_last_admin_keeps_their_role(desk: BotHarness) -> None:
    admin = await open_as(desk, ADMIN)
    said = await admin.press(REVOKE_ROLE, role="admin", person_id=ADMIN.aad_object_id)
    assert "is the only admin, so I can't remove their admin role. Make someone else an admin first." in said
    assert Role.ADMIN in await desk.core.roles.roles_of(ADMIN.aad_object_id)
    assert (ADMIN.aad_object_id, "role.revoke.admin", "last_admin") in await audit(desk)


# -- organisations -------------------------------------------------------------------------------------------------


async def test_an_admin_adds_renames_retires_and_restores_an_organisation(desk: BotHarness) -> None:
    admin = await open_as(desk, ADMIN)
    said = await admin.press(ADD_ORGANISATION, add_name="  Humber   Community Trust ")
    assert 'Added "Humber Community Trust". People can choose it when they sign up.' in said
    added = await organisation_id(desk, "Humber Community Trust")
    said = await admin.press(ADD_ORGANISATION, add_name="Humber Community Trust")
    assert '"Humber Community Trust" is already on the list, so nothing changed.' in said
    said = await admin.press(ADD_ORGANISATION, add_name="H")
    assert "Type a name between 2 and 200 characters." in said
    said = await admin.press(RENAME_ORGANISATION, rename_id=str(added), rename_name="Humber Care Trust")
    assert 'Renamed. Sign-ups that had the old name now show "Humber Care Trust".' in said
    said = await admin.press(RETIRE_ORGANISATION, retire_id=str(added))
    assert 'Retired "Humber Care Trust". It stays on existing sign-ups, and new people can\'t choose it.' in said
    assert [row.retired for row in await desk.app[PROGRAMME].organisations() if row.id == added] == [True]
    said = await admin.press(RESTORE_ORGANISATION, restore_id=str(added))
    assert '"Humber Care Trust" is offered at sign-up again.' in said
    said = await admin.press(RETIRE_ORGANISATION, retire_id="999999")
    assert "That organisation is no longer on the list, so nothing changed." in said
    rows = await audit(desk)
    for action, outcome in (("organisation.add", "done"), ("organisation.add", "duplicate"),
                            ("organisation.rename", "done"), ("organisation.retire", "done"),
                            ("organisation.restore", "done"), ("organisation.retire", "missing")):
        assert (ADMIN.aad_object_id, action, outcome) in rows, action


# -- phase and end date ----------------------------------------------------------------------------------------------


async def test_an_admin_sets_the_phase_and_an_end_date_asked_first_when_deletion_is_near(desk: BotHarness) -> None:
    admin = await open_as(desk, ADMIN)
    far = date(2030, 3, 31)
    said = await admin.press(SAVE_PROGRAMME, phase="train_the_trainer", end_date=far.isoformat())
    assert "Saved. The current phase is Train the trainer. The programme ends on" in said
    assert "Personal data will be deleted on" in said
    view = await desk.app[PROGRAMME].view()
    assert (view.phase, view.end_date) == ("train_the_trainer", far)
    # An end date whose deletion date is near: nothing is saved until the admin says so, as in chat.
    near = desk.clock.now().date() - timedelta(days=desk.core.settings.retention_days)
    status, html = await admin.post(form_address(SAVE_PROGRAMME), {"phase": "train_the_trainer",
                                                                  "end_date": near.isoformat()})
    assert status == 200 and "Personal data will be deleted soon" in html and 'name="confirmed" value="true"' in html
    assert (await desk.app[PROGRAMME].view()).end_date == far
    said = await admin.press(SAVE_PROGRAMME, phase="train_the_trainer", end_date=near.isoformat(), confirmed="true")
    assert "Saved." in said and (await desk.app[PROGRAMME].view()).end_date == near
    said = await admin.press(SAVE_PROGRAMME, phase="train_the_trainer", end_date="31/02/2027")
    assert "I couldn't read that end date." in said
    rows = await audit(desk)
    assert (ADMIN.aad_object_id, "programme.phase", "done") in rows
    assert (ADMIN.aad_object_id, "programme.end_date", "done") in rows


# -- privacy notice versions --------------------------------------------------------------------------------------


async def test_an_admin_publishes_a_privacy_notice_version_through_the_same_service(desk: BotHarness) -> None:
    admin = await open_as(desk, ADMIN)
    said = await admin.press(PUBLISH_NOTICE, notice_text=NOTICE)
    assert 'Nothing was published. Tick "I understand" and press Publish again.' in said
    said = await admin.press(PUBLISH_NOTICE, notice_text="Too short.", understood="true")
    assert "Nothing was published. The notice must be between 200 and 20,000 characters long." in said
    async with desk.core.database.read() as session:
        before = await session.scalar(select(func.count()).select_from(OutboxMessage))
    said = await admin.press(PUBLISH_NOTICE, notice_text=NOTICE, understood="true", ask_now="true")
    assert "Version 2 is published." in said and "I'm sending each of them a message to ask" in said
    assert "Version 2 Published" in said
    async with desk.core.database.read() as session:
        after = await session.scalar(select(func.count()).select_from(OutboxMessage))
    assert (after or 0) - (before or 0) == len(VOLUNTEERS) + 1  # every volunteer, the colleague too
    said = await admin.press(PUBLISH_NOTICE, notice_text=NOTICE, understood="true")
    assert "That is the same text as version 2, so nothing was published." in said
    rows = await audit(desk)
    assert (ADMIN.aad_object_id, "notice.publish", "done") in rows
    assert (ADMIN.aad_object_id, "notice.publish", "unchanged") in rows


# -- the audit log ----------------------------------------------------------------------------------------------


async def test_the_audit_download_is_the_command_lines_export_and_is_recorded(desk: BotHarness) -> None:
    cookie = await signed_in(desk, ADMIN)
    expected = csv_bytes(AUDIT_HEADER, audit_rows(await desk.core.roles.audit_entries()))
    async with desk.http.get(url(desk, f"{PAGE}/audit.csv"), headers={"Cookie": f"{COOKIE_NAME}={cookie}"}) as r:
        assert r.status == 200 and r.content_type == "text/csv"
        assert r.headers["Content-Disposition"].startswith('attachment; filename="hny-inc-audit-')
        assert r.headers["Cache-Control"] == "no-store"
        body = await r.read()
    assert body == expected
    assert (await audit(desk))[-1] == (ADMIN.aad_object_id, "audit.export", "done")


# -- after a form: Post/Redirect/Get -----------------------------------------------------------------------------------


async def test_after_a_form_the_browser_is_sent_back_to_the_page_which_says_what_happened_once(
        desk: BotHarness) -> None:
    admin = await open_as(desk, ADMIN)
    status, _, headers, said = await admin.answer(form_address(ADD_ORGANISATION), {"add_name": "Hull Hospice"})
    assert status == 303 and headers["Location"] == f"{PAGE}#status" and said is not None
    # What happened is in a short cookie for this session, never in the address.
    [header] = [value for name, value in headers.items() if name == "Set-Cookie"]
    assert header.startswith(f"{SAID_COOKIE}=") and all(
        part in header for part in ("Max-Age=60", "HttpOnly", "Secure", "SameSite=None", "Partitioned", "Path=/"))
    assert "Hull" not in headers["Location"]
    cookie = f"{COOKIE_NAME}={admin.cookie}; {SAID_COOKIE}={said}"
    async with desk.http.get(url(desk, PAGE), headers={"Cookie": cookie}) as response:
        html = await response.text()
        assert response.status == 200 and any(value.startswith(f"{SAID_COOKIE}=;")
                                              for value in response.headers.getall("Set-Cookie"))
    assert 'role="status"' in html and "Hull Hospice" in read(html).split("Organisations")[0]
    assert "Hull Hospice" in [row.name for row in await desk.app[PROGRAMME].organisations()]
    # Another session, or an altered cookie, makes the page say nothing.
    other = await open_as(desk, ADMIN)
    for member_cookie, value in ((other.cookie, said), (admin.cookie, said[:-2] + "xx")):
        async with desk.http.get(url(desk, PAGE), headers={
                "Cookie": f"{COOKIE_NAME}={member_cookie}; {SAID_COOKIE}={value}"}) as response:
            assert response.status == 200 and 'role="status"' not in await response.text()


async def test_a_form_that_needs_an_answer_or_keeps_the_typed_text_is_answered_directly(desk: BotHarness) -> None:
    admin = await open_as(desk, ADMIN)
    status, html = await admin.post(form_address(PUBLISH_NOTICE), {"notice_text": NOTICE})  # not "I understand"
    assert status == 200 and NOTICE in entities.unescape(html)
    near = desk.clock.now().date() - timedelta(days=desk.core.settings.retention_days)
    status, html = await admin.post(form_address(SAVE_PROGRAMME), {"phase": "codesign",
                                                                  "end_date": near.isoformat()})
    assert status == 200 and 'name="confirmed" value="true"' in html
