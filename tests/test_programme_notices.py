"""Privacy notice versions (issue 12, design §6): an admin publishes a new version in Teams, or one ships in the
repo and is published at start-up; every volunteer is then asked to agree again before their answers are used,
and nobody behind is invited."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.clock import FixedClock
from bot.features.programme import PROGRAMME
from bot.services import notices as notices_module
from bot.services import programme as programme_module
from bot.services.notices import Notice, notice_from_text, repo_notices
from storage.models import AuditEntry, ConsentRecord, OutboxMessage, PrivacyNotice
from storage.repositories.sessions import SessionRepository
from tests.app_fixtures import BotHarness, card_text
from tests.doubles.issuer import TokenIssuer
from tests.doubles.teams import TeamsDouble
from tests.signup_helpers import sign_up
from tests.test_programme_support import (
    ADMIN,
    ADMIN_REFUSAL,
    COLLEAGUE,
    FACILITATOR,
    OTHER,
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

__all__ = ["admin_bot"]

V1 = repo_notices()[0].text
V2 = V1 + "\nWe now also keep the date you last used the bot, to tidy up old records.\n"


async def versions(harness: BotHarness) -> list[int]:
    async with harness.core.database.read() as session:
        return list((await session.execute(select(PrivacyNotice.version).order_by(PrivacyNotice.version))).scalars())


async def consent_outbox(harness: BotHarness) -> list[OutboxMessage]:
    async with harness.core.database.read() as session:
        return list((await session.execute(select(OutboxMessage).where(OutboxMessage.purpose == "consent-again")
                                           .order_by(OutboxMessage.key))).scalars())


async def eligible(harness: BotHarness) -> int:
    """How many volunteers a co-design session for both spaces would invite."""
    async with harness.core.database.read() as session:
        repository = SessionRepository(session)
        version = await repository.latest_notice_version()
        assert version is not None
        return await repository.count_eligible(space="open", phase="codesign", communities=[],
                                               notice_version=version)


async def notices_card(harness: BotHarness) -> dict[str, object]:
    card = only_card(await harness.say("programme"))
    return only_card(await press(harness, card, "programme_notices"))


async def test_the_card_lists_versions_and_offers_the_current_text(admin_bot: BotHarness) -> None:
    card = await notices_card(admin_bot)
    text = card_text(card)
    assert "Version 1" in text and "Fingerprint" in text
    fields = inputs(card)
    assert fields["notice_text"]["value"] == V1 and fields["notice_text"]["isMultiline"] is True
    assert fields["notice_text"]["maxLength"] == 20_000
    assert fields["understood"]["isRequired"] is True and fields["ask_now"]["value"] == "true"
    assert len(json.dumps(card).encode()) < 80 * 1024


async def test_publishing_asks_everyone_again_and_stops_invitations_until_they_agree(
        admin_bot: BotHarness) -> None:
    await sign_up(admin_bot, COLLEAGUE)
    await sign_up(admin_bot, OTHER)
    assert await eligible(admin_bot) == 2
    card = await notices_card(admin_bot)

    replies = await press(admin_bot, card, "programme_notice_publish", notice_text=V2.replace("\n", "\r\n"),
                          ask_now="true", understood="true")
    assert "Version 2 is published" in all_text(replies)
    assert await versions(admin_bot) == [1, 2]
    async with admin_bot.core.database.read() as session:
        published = await session.get(PrivacyNotice, 2)
        assert published is not None
        # Stored as the repo's files are: \n line ends, hashed the same way.
        assert published.text == V2 and published.sha256 == notice_from_text(2, V2).sha256
    assert (ADMIN.aad_object_id, "notice.publish", "2", "done") in await audit_rows(admin_bot)

    # Nobody behind the new notice is invited, or counted by the journey as consented.
    assert await eligible(admin_bot) == 0
    assert await admin_bot.core.volunteers.consented_ids() == []
    # Each volunteer is sent the journey's "agree again" card, once.
    asked = await consent_outbox(admin_bot)
    assert [row.key for row in asked] == sorted(f"consent-again:2:{member.aad_object_id}"
                                                for member in (COLLEAGUE, OTHER))
    again = json.loads(asked[0].payload)["card"]
    assert "Our privacy notice has changed" in card_text(again)

    # The journey's gate asks at the next message; agreeing makes them invitable again.
    gate = only_card(await admin_bot.say("my details", COLLEAGUE))
    assert "Our privacy notice has changed" in card_text(gate)
    replies = await admin_bot.press({**data_of(again, "consent_again"), "agree": "true"}, COLLEAGUE)
    assert "Your permission is saved" in all_text(replies)
    assert await eligible(admin_bot) == 1
    async with admin_bot.core.database.read() as session:
        given = (await session.execute(select(ConsentRecord).where(
            ConsentRecord.person_id == COLLEAGUE.aad_object_id, ConsentRecord.notice_version == 2))).scalars().all()
        assert [record.action for record in given] == ["given"]


async def test_publishing_checks_the_text_and_the_tick(admin_bot: BotHarness) -> None:
    card = await notices_card(admin_bot)
    replies = await press(admin_bot, card, "programme_notice_publish", notice_text=V2, understood="false")
    assert "Nothing was published" in all_text(replies)
    assert inputs(only_card(replies))["notice_text"]["value"] == V2  # their text is kept
    replies = await press(admin_bot, card, "programme_notice_publish", notice_text="Test.", understood="true")
    assert "between 200 and 20,000 characters" in all_text(replies)
    replies = await press(admin_bot, card, "programme_notice_publish", notice_text="x" * 20_001,
                          understood="true")
    assert "between 200 and 20,000 characters" in all_text(replies)
    replies = await press(admin_bot, card, "programme_notice_publish", notice_text=V1 + "\n\n",
                          understood="true")
    assert "same text as version 1" in all_text(replies)
    # Too big to be a card's text at all: a clear "out of date" and nothing changes.
    replies = await press(admin_bot, card, "programme_notice_publish", notice_text="x" * 30_000,
                          understood="true")
    assert "out of date" in all_text(replies)
    assert await versions(admin_bot) == [1]
    assert (ADMIN.aad_object_id, "notice.publish", "1", "unchanged") in await audit_rows(admin_bot)


async def test_only_admins_publish(admin_bot: BotHarness) -> None:
    card = await notices_card(admin_bot)
    replies = await admin_bot.press({**data_of(card, "programme_notice_publish"), "notice_text": V2,
                                     "understood": "true"}, FACILITATOR)
    assert ADMIN_REFUSAL in all_text(replies)
    assert await versions(admin_bot) == [1]
    assert (FACILITATOR.aad_object_id, "programme_notice_publish", None, "refused") in await audit_rows(admin_bot)


async def test_asking_waits_for_the_end_of_quiet_hours(admin_bot: BotHarness, clock: FixedClock) -> None:
    await sign_up(admin_bot, COLLEAGUE)
    clock.set(datetime(2026, 11, 26, 21, 30, tzinfo=UTC))  # 21:30 in London
    result = await admin_bot.app[PROGRAMME].publish_notice(ADMIN.aad_object_id, V2, lambda v, t: {"v": v})
    assert (result.change, result.version, result.asked) == (ProgrammeChange.DONE, 2, 1)
    [asked] = await consent_outbox(admin_bot)
    assert asked.due_at == datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


async def test_a_version_shipped_in_the_repo_is_published_at_start_up(
        db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble, clock: FixedClock, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    log = str(tmp_path / "erasures.log")
    async with running(db_url, token_issuer, teams_double, clock, erasure_log_path=log) as bot:
        await sign_up(bot, COLLEAGUE)
        assert await eligible(bot) == 1
    shipped = [*repo_notices(), notice_from_text(2, V2)]
    monkeypatch.setattr(notices_module, "repo_notices", lambda: shipped)
    monkeypatch.setattr(programme_module, "repo_notices", lambda: shipped)
    async with running(db_url, token_issuer, teams_double, clock, erasure_log_path=log) as bot:
        assert await versions(bot) == [1, 2]
        assert await eligible(bot) == 0
        gate = only_card(await bot.say("hello", COLLEAGUE))
        assert "Our privacy notice has changed" in card_text(gate)


async def test_a_shipped_file_that_clashes_with_a_published_version_is_reported(
        admin_bot: BotHarness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    service = admin_bot.app[PROGRAMME]
    assert (await service.publish_notice(ADMIN.aad_object_id, V2)).version == 2
    other = Notice(2, V1 + "\nSomething else.\n", notice_from_text(2, V1 + "\nSomething else.\n").sha256)
    monkeypatch.setattr(programme_module, "repo_notices", lambda: [*repo_notices(), other])
    with caplog.at_level(logging.WARNING):
        assert await service.check_repo_notices() == [2]
    assert "ship it as privacy_notice_v3.md" in caplog.text
    assert V2 not in caplog.text  # the log names versions, never the text


async def test_two_admins_publishing_at_once_get_two_versions(admin_bot: BotHarness) -> None:
    import asyncio
    service = admin_bot.app[PROGRAMME]
    results = await asyncio.gather(service.publish_notice(ADMIN.aad_object_id, V2),
                                   service.publish_notice(ADMIN.aad_object_id, V2 + "\nAnd more.\n"))
    assert sorted(result.version or 0 for result in results) == [2, 3]
    async with admin_bot.core.database.read() as session:
        actions = (await session.execute(select(AuditEntry.record_id).where(
            AuditEntry.action == "notice.publish"))).scalars().all()
        assert sorted(actions) == ["2", "3"]
