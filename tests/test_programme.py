"""Running the programme through the real HTTP path (issue 12): the admin settings card (phase, end date),
the organisation list, refusals with audit rows, and forged payloads."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select

from bot.clock import UK, FixedClock
from bot.features.programme import PROGRAMME
from bot.services.programme import clean_name
from bot.services.uk_time import after_quiet_hours, in_quiet_hours, parse_uk_date
from bot.services.volunteers import load_organisation_names
from storage.models import Organisation, ProgrammeSetting, Volunteer
from tests.app_fixtures import BotHarness, card_text
from tests.doubles.issuer import TokenIssuer
from tests.doubles.teams import Member, TeamsDouble
from tests.signup_helpers import sign_up
from tests.test_programme_support import (
    ADMIN,
    ADMIN_REFUSAL,
    COLLEAGUE,
    FACILITATOR,
    STALE,
    admin_bot,
    all_text,
    audit_rows,
    data_of,
    inputs,
    only_card,
    press,
    running,
)
from vocabulary.words import ProgrammeChange

__all__ = ["admin_bot"]  # the fixture, used here by name


async def settings_rows(harness: BotHarness) -> dict[str, str]:
    async with harness.core.database.read() as session:
        rows = (await session.execute(select(ProgrammeSetting))).scalars().all()
        return {row.key: row.value for row in rows}


# -- the settings card ------------------------------------------------------------------------------------------


async def test_admin_sees_the_programme_card_with_defaults(admin_bot: BotHarness) -> None:
    card = only_card(await admin_bot.say("programme"))
    text = card_text(card)
    assert "Running the programme" in text
    assert "Co-design" in text
    assert "Not set" in text and "Not planned: set an end date first" in text
    assert "Version 1, published" in text
    fields = inputs(card)
    assert fields["phase"]["value"] == "codesign" and fields["phase"]["isRequired"] is True
    assert "(required)" in fields["phase"]["label"] and "(optional)" in fields["end_date"]["label"]
    # Buttons that open other cards send none of this card's inputs.
    assert all(button.get("associatedInputs") == "none" for button in card["actions"][1:])


async def test_colleagues_and_facilitators_are_refused_and_audited(admin_bot: BotHarness) -> None:
    for member in (COLLEAGUE, FACILITATOR):
        assert ADMIN_REFUSAL in all_text(await admin_bot.say("programme", member))
        replies = await admin_bot.press({"action": "programme_save", "phase": "train_the_trainer",
                                         "end_date": "2027-03-31"}, member)
        assert ADMIN_REFUSAL in all_text(replies)
    assert "phase" not in await settings_rows(admin_bot)
    refused = [row for row in await audit_rows(admin_bot) if row[3] == "refused"]
    assert (COLLEAGUE.aad_object_id, "command.programme", None, "refused") in refused
    assert (FACILITATOR.aad_object_id, "programme_save", None, "refused") in refused


async def test_saving_phase_and_end_date_is_stored_and_audited(admin_bot: BotHarness) -> None:
    card = only_card(await admin_bot.say("programme"))
    replies = await press(admin_bot, card, "programme_save", phase="train_the_trainer", end_date="2027-03-31")
    text = all_text(replies)
    assert "Saved. The current phase is Train the trainer." in text
    assert "The programme ends on Wednesday 31 March 2027" in text
    # RETENTION_DAYS defaults to 365.
    assert "Personal data will be deleted on Thursday 30 March 2028" in text
    assert await settings_rows(admin_bot) == {"phase": "train_the_trainer", "end_date": "2027-03-31"}
    service = admin_bot.app[PROGRAMME]
    assert await service.current_phase() == "train_the_trainer"
    assert await service.end_date() == date(2027, 3, 31)
    audit = await audit_rows(admin_bot)
    assert (ADMIN.aad_object_id, "programme.phase", "train_the_trainer", "done") in audit
    assert (ADMIN.aad_object_id, "programme.end_date", "2027-03-31", "done") in audit

    # The same values again change nothing.
    card = only_card(replies)
    assert inputs(card)["end_date"]["value"] == "2027-03-31"
    again = await press(admin_bot, card, "programme_save", phase="train_the_trainer", end_date="2027-03-31")
    assert "Nothing needed to change." in all_text(again)

    # An empty date clears it: no deletion is planned.
    cleared = await press(admin_bot, card, "programme_save", phase="train_the_trainer", end_date="")
    assert "no programme end date, so no deletion is planned" in all_text(cleared)
    assert "end_date" not in await settings_rows(admin_bot)
    assert (ADMIN.aad_object_id, "programme.end_date", "none", "done") in await audit_rows(admin_bot)


async def test_an_end_date_that_deletes_soon_asks_first(admin_bot: BotHarness, clock: FixedClock) -> None:
    today = clock.now().astimezone(UK).date()
    end = today - timedelta(days=365) + timedelta(days=3)  # deletion in 3 days
    card = only_card(await admin_bot.say("programme"))
    replies = await press(admin_bot, card, "programme_save", phase="codesign", end_date=end.isoformat())
    confirm = only_card(replies)
    assert "Personal data will be deleted soon" in card_text(confirm)
    assert "in 3 days" in card_text(confirm)
    assert "end_date" not in await settings_rows(admin_bot)  # nothing saved yet
    replies = await press(admin_bot, confirm, "programme_save")
    assert "Saved." in all_text(replies)
    assert (await settings_rows(admin_bot))["end_date"] == end.isoformat()


async def test_a_date_typed_badly_gets_a_kind_answer(admin_bot: BotHarness) -> None:
    card = only_card(await admin_bot.say("programme"))
    replies = await press(admin_bot, card, "programme_save", phase="codesign", end_date="next spring")
    assert "I couldn't read that end date" in all_text(replies)
    assert await settings_rows(admin_bot) == {}
    # The UK way of typing a date works too.
    replies = await press(admin_bot, card, "programme_save", phase="codesign", end_date="31/03/2030")
    assert (await settings_rows(admin_bot))["end_date"] == "2030-03-31"


async def test_forged_or_stale_payloads_change_nothing(admin_bot: BotHarness) -> None:
    forged = [
        {"action": "programme_save", "phase": "everything", "end_date": ""},
        {"action": "programme_save", "phase": "codesign", "end_date": "", "role": "admin"},
        {"action": "programme_save", "phase": "codesign", "end_date": "x" * 500},
        {"action": "programme_org_retire", "retire_id": "not a number"},
        {"action": "adjustments_mark", "person_id": "'; drop table volunteers; --", "contacted": "true"},
    ]
    for payload in forged:
        assert STALE in all_text(await admin_bot.press(payload))
    assert await settings_rows(admin_bot) == {}


async def test_helpers_for_dates_names_and_quiet_hours() -> None:
    assert parse_uk_date("2027-03-31") == date(2027, 3, 31)
    assert parse_uk_date("31/03/2027") == date(2027, 3, 31)
    assert parse_uk_date("31 March") is None
    assert clean_name("  Hull \t City\nCouncil\x07 ") == "Hull City Council"
    from datetime import UTC, datetime, time
    late = datetime(2026, 11, 26, 21, 30, tzinfo=UTC)  # 21:30 in London (GMT)
    assert in_quiet_hours(late, time(20), time(8))
    assert after_quiet_hours(late, time(20), time(8)) == datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    summer_morning = datetime(2026, 7, 1, 5, 0, tzinfo=UTC)  # 06:00 in London (BST)
    assert after_quiet_hours(summer_morning, time(20), time(8)) == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)
    noon = datetime(2026, 7, 1, 11, 0, tzinfo=UTC)
    assert after_quiet_hours(noon, time(20), time(8)) == noon


# -- organisations ----------------------------------------------------------------------------------------------


async def organisation(harness: BotHarness, name: str) -> Organisation:
    async with harness.core.database.read() as session:
        row = (await session.execute(select(Organisation).where(Organisation.name == name))).scalars().first()
        assert row is not None, name
        return row


async def test_organisations_are_added_renamed_retired_and_brought_back(admin_bot: BotHarness) -> None:
    card = only_card(await admin_bot.say("programme"))
    card = only_card(await press(admin_bot, card, "programme_organisations"))
    assert "Navigo" in card_text(card)
    ids = inputs(card)
    assert {"add_name", "rename_id", "rename_name", "retire_id"} <= set(ids)

    card = only_card(await press(admin_bot, card, "programme_org_add", add_name="  Hull   Pride  Network "))
    assert 'Added "Hull Pride Network"' in card_text(card)
    added = await organisation(admin_bot, "Hull Pride Network")
    options = [option.name for option in await admin_bot.core.volunteers.organisations()]
    assert options[-1] == "Hull Pride Network"

    card = only_card(await press(admin_bot, card, "programme_org_add", add_name="hull pride network"))
    assert "already on the list" in card_text(card)

    card = only_card(await press(admin_bot, card, "programme_org_rename", rename_id=str(added.id),
                                 rename_name="Hull Pride"))
    assert 'now show "Hull Pride"' in card_text(card)
    card = only_card(await press(admin_bot, card, "programme_org_rename", rename_id=str(added.id),
                                 rename_name="Navigo"))
    assert "Another organisation already has that name" in card_text(card)

    card = only_card(await press(admin_bot, card, "programme_org_retire", retire_id=str(added.id)))
    assert 'Retired "Hull Pride"' in card_text(card)
    options = [option.name for option in await admin_bot.core.volunteers.organisations()]
    assert "Hull Pride" not in options
    assert "restore_id" in inputs(card)

    # Adding a retired name brings it back rather than making a second one.
    card = only_card(await press(admin_bot, card, "programme_org_add", add_name="Hull Pride"))
    assert (await organisation(admin_bot, "Hull Pride")).retired is False
    card = only_card(await press(admin_bot, card, "programme_org_retire", retire_id=str(added.id)))
    card = only_card(await press(admin_bot, card, "programme_org_restore", restore_id=str(added.id)))
    assert "offered at sign-up again" in card_text(card)

    audit = await audit_rows(admin_bot)
    record = str(added.id)
    for action, outcome in [("organisation.add", "done"), ("organisation.add", "duplicate"),
                            ("organisation.rename", "done"), ("organisation.rename", "duplicate"),
                            ("organisation.retire", "done"), ("organisation.restore", "done")]:
        assert (ADMIN.aad_object_id, action, record, outcome) in audit
    # Audit rows hold ids, never the names typed in.
    assert not any("Pride" in str(row) for row in audit)


async def test_renamed_and_retired_organisations_stay_so_after_a_restart(
        db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble, clock: FixedClock,
        tmp_path: Path) -> None:
    shipped = load_organisation_names()
    log = str(tmp_path / "erasures.log")
    async with running(db_url, token_issuer, teams_double, clock, erasure_log_path=log) as first:
        card = only_card(await first.say("organisations"))
        navigo = await organisation(first, "Navigo")
        card = only_card(await press(first, card, "programme_org_rename", rename_id=str(navigo.id),
                                     rename_name="Navigo Health and Social Care CIC"))
        retired = await organisation(first, shipped[0])
        await press(first, card, "programme_org_retire", retire_id=str(retired.id))
        before = await first.app[PROGRAMME].organisations()
    async with running(db_url, token_issuer, teams_double, clock, erasure_log_path=log) as second:
        after = await second.app[PROGRAMME].organisations()
        assert after == before  # nothing added back, nothing restored, same order
        names = [option.name for option in await second.core.volunteers.organisations()]
        assert "Navigo Health and Social Care CIC" in names
        assert "Navigo" not in names and shipped[0] not in names
        assert len(after) == len(shipped)


async def test_a_retired_organisation_stays_on_existing_sign_ups(admin_bot: BotHarness) -> None:
    await sign_up(admin_bot, COLLEAGUE, organisation="Navigo")
    navigo = await organisation(admin_bot, "Navigo")
    card = only_card(await admin_bot.say("organisations"))
    await press(admin_bot, card, "programme_org_retire", retire_id=str(navigo.id))
    async with admin_bot.core.database.read() as session:
        volunteer = await session.get(Volunteer, COLLEAGUE.aad_object_id)
        assert volunteer is not None and volunteer.organisation_id == navigo.id
    details = await admin_bot.core.volunteers.details(COLLEAGUE.aad_object_id)
    assert details is not None and details.organisation_name == "Navigo"
    assert "Navigo" not in [option.name for option in await admin_bot.core.volunteers.organisations()]


async def test_the_last_organisation_cannot_be_retired(admin_bot: BotHarness) -> None:
    service = admin_bot.app[PROGRAMME]
    rows = await service.organisations()
    for row in rows[:-1]:
        assert await service.set_retired(ADMIN.aad_object_id, row.id, True) == ProgrammeChange.DONE
    assert await service.set_retired(ADMIN.aad_object_id, rows[-1].id, True) == ProgrammeChange.LAST_ONE
    card = only_card(await admin_bot.say("organisations"))
    replies = await press(admin_bot, card, "programme_org_retire", retire_id=str(rows[-1].id))
    assert "the last organisation people can choose" in all_text(replies)
    assert "retire_id" in inputs(only_card(replies))


async def test_organisation_names_are_checked(admin_bot: BotHarness) -> None:
    card = only_card(await admin_bot.say("organisations"))
    assert "between 2 and 200 characters" in all_text(await press(admin_bot, card, "programme_org_add",
                                                                 add_name=" x "))
    assert "between 2 and 200 characters" in all_text(await press(admin_bot, card, "programme_org_add",
                                                                 add_name="y" * 201))
    missing = await admin_bot.press({"action": "programme_org_rename", "rename_id": "99999",
                                     "rename_name": "Somewhere"})
    assert "no longer on the list" in all_text(missing)


async def test_organisation_buttons_are_for_admins_only(admin_bot: BotHarness) -> None:
    card = only_card(await admin_bot.say("organisations"))
    data = data_of(card, "programme_org_add")
    replies = await admin_bot.press({**data, "add_name": "Sneaky Org"}, FACILITATOR)
    assert ADMIN_REFUSAL in all_text(replies)
    async with admin_bot.core.database.read() as session:
        assert (await session.execute(select(Organisation).where(Organisation.name == "Sneaky Org"))).first() is None
    assert (FACILITATOR.aad_object_id, "programme_org_add", None, "refused") in await audit_rows(admin_bot)


async def test_help_names_the_new_commands_for_those_who_may_use_them(admin_bot: BotHarness) -> None:
    async def commands(member: Member) -> set[str]:
        card = only_card(await admin_bot.say("help", member))
        return {fact["title"] for block in card["body"] if block.get("type") == "FactSet"
                for fact in block["facts"]}

    assert {"programme", "adjustments"} <= await commands(ADMIN)
    facilitator = await commands(FACILITATOR)
    assert "adjustments" in facilitator and "programme" not in facilitator
    assert not {"programme", "adjustments"} & await commands(COLLEAGUE)
