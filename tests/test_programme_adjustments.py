"""The adjustments follow-up (issue 12): people who asked for an adjustments conversation are listed for
facilitators with name and e-mail only; a facilitator marks them contacted; nothing about the adjustment is
stored; everything is audited with ids."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.clock import FixedClock
from bot.features.programme import PROGRAMME
from storage.models import Volunteer
from tests.app_fixtures import BotHarness, card_text
from tests.signup_helpers import sign_up
from tests.test_programme_support import (
    ADMIN,
    COLLEAGUE,
    FACILITATOR,
    FACILITATOR_REFUSAL,
    OTHER,
    admin_bot,
    all_text,
    audit_rows,
    data_of,
    inputs,
    only_card,
)
from vocabulary.words import ProgrammeChange

__all__ = ["admin_bot"]


async def volunteer(harness: BotHarness, person_id: str) -> Volunteer:
    async with harness.core.database.read() as session:
        row = await session.get(Volunteer, person_id)
        assert row is not None
        return row


async def test_facilitators_see_who_asked_and_mark_them_contacted(admin_bot: BotHarness,
                                                                  clock: FixedClock) -> None:
    await sign_up(admin_bot, COLLEAGUE, adjustments="yes", communities="disability")
    await sign_up(admin_bot, OTHER, adjustments="no")
    await admin_bot.say("hello", FACILITATOR)  # so the bot knows the facilitator's name

    card = only_card(await admin_bot.say("adjustments", FACILITATOR))
    text = card_text(card)
    assert COLLEAGUE.name in text and OTHER.name not in text
    assert "Not contacted yet" in text
    # Names and e-mails only: never a space, a community or an organisation.
    for word in ("Disabled", "disability", "Navigo", "minoritised", "ally"):
        assert word not in text
    assert inputs(card) == {}  # no box to write the adjustment in

    clock.advance(timedelta(hours=3))
    replies = await admin_bot.press(data_of(card, "adjustments_mark", person_id=COLLEAGUE.aad_object_id),
                                    FACILITATOR)
    card = only_card(replies)
    assert "Marked as contacted" in card_text(card)
    assert f"by {FACILITATOR.name}" in card_text(card)
    row = await volunteer(admin_bot, COLLEAGUE.aad_object_id)
    assert row.adjustments_contacted_at == clock.now()
    assert row.adjustments_contacted_by == FACILITATOR.aad_object_id

    # A second facilitator (an admin here) pressing the same stale button keeps the first mark.
    again = await admin_bot.press({"action": "adjustments_mark", "person_id": COLLEAGUE.aad_object_id,
                                   "contacted": "true"}, ADMIN)
    assert "Someone already marked that" in all_text(again)
    assert (await volunteer(admin_bot, COLLEAGUE.aad_object_id)).adjustments_contacted_by == \
        FACILITATOR.aad_object_id

    undo = await admin_bot.press(data_of(card, "adjustments_mark", person_id=COLLEAGUE.aad_object_id),
                                 FACILITATOR)
    assert "Marked as not contacted" in all_text(undo)
    row = await volunteer(admin_bot, COLLEAGUE.aad_object_id)
    assert row.adjustments_contacted_at is None and row.adjustments_contacted_by is None

    audit = await audit_rows(admin_bot)
    assert (FACILITATOR.aad_object_id, "adjustments.contacted", COLLEAGUE.aad_object_id, "done") in audit
    assert (ADMIN.aad_object_id, "adjustments.contacted", COLLEAGUE.aad_object_id, "unchanged") in audit
    assert (FACILITATOR.aad_object_id, "adjustments.not_contacted", COLLEAGUE.aad_object_id, "done") in audit
    assert not any(COLLEAGUE.name in str(entry) or COLLEAGUE.email in str(entry) for entry in audit)


async def test_colleagues_are_refused_and_audited(admin_bot: BotHarness) -> None:
    await sign_up(admin_bot, COLLEAGUE, adjustments="yes")
    assert FACILITATOR_REFUSAL in all_text(await admin_bot.say("adjustments", OTHER))
    forged = await admin_bot.press({"action": "adjustments_mark", "person_id": COLLEAGUE.aad_object_id,
                                    "contacted": "true"}, OTHER)
    assert FACILITATOR_REFUSAL in all_text(forged)
    assert (await volunteer(admin_bot, COLLEAGUE.aad_object_id)).adjustments_contacted_at is None
    audit = await audit_rows(admin_bot)
    assert (OTHER.aad_object_id, "command.adjustments", None, "refused") in audit
    assert (OTHER.aad_object_id, "adjustments_mark", None, "refused") in audit


async def test_the_list_is_shown_only_in_a_private_chat(admin_bot: BotHarness) -> None:
    await sign_up(admin_bot, COLLEAGUE, adjustments="yes")
    replies = await admin_bot.say("adjustments", FACILITATOR,
                                  conversation={"id": "19:channel@thread.tacv2", "conversationType": "channel",
                                                "tenantId": FACILITATOR.tenant_id})
    text = all_text(replies)
    assert "only in a private chat" in text and COLLEAGUE.name not in text


async def test_people_behind_the_privacy_notice_or_gone_are_not_listed(admin_bot: BotHarness) -> None:
    await sign_up(admin_bot, COLLEAGUE, adjustments="yes")
    service = admin_bot.app[PROGRAMME]
    assert [row.person_id for row in await service.adjustments()] == [COLLEAGUE.aad_object_id]
    text = (await admin_bot.core.notices.current()).text + "\nA new paragraph.\n"
    await service.publish_notice(ADMIN.aad_object_id, text)
    assert await service.adjustments() == []  # not used until they agree again
    assert await service.mark_contacted(FACILITATOR.aad_object_id, OTHER.aad_object_id, True) == ProgrammeChange.MISSING


async def test_someone_who_no_longer_asks_is_not_listed(admin_bot: BotHarness) -> None:
    await sign_up(admin_bot, COLLEAGUE, adjustments="yes")
    service = admin_bot.app[PROGRAMME]
    assert (await service.mark_contacted(FACILITATOR.aad_object_id, COLLEAGUE.aad_object_id, True)
            == ProgrammeChange.DONE)
    async with admin_bot.core.database.transaction() as session:
        row = (await session.execute(select(Volunteer))).scalars().one()
        row.adjustments_contact = False
    assert await service.adjustments() == []
    assert await service.mark_contacted(FACILITATOR.aad_object_id, COLLEAGUE.aad_object_id, False) == \
        ProgrammeChange.MISSING
