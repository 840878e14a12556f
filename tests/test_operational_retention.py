"""Retention of the operational tables (issue 23, item 4), on SQLite and PostgreSQL: old finished outbox messages
lose their text but keep their keys, Teams ids and statuses, so nothing is sent twice and delivered cards still
change in place; messages waiting to go are never touched; an announcement's final figures are stored first and
its report reads them from then on; old delivery attempts are deleted; and the erasure log keeps an erasure as
long as a backup could bring the person back (a restored backup is erased again), then drops it."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from bot.app import WIRING
from bot.clock import FixedClock
from bot.core import Core
from bot.delivery.outbox import Message, Recipient, enqueue, rearm
from bot.features.announcements import ANNOUNCEMENTS
from bot.features.operational_retention import OPERATIONAL_RETENTION
from bot.jobs import Leader
from bot.services.announcements import AudienceChoice, progress_of, progress_signature
from bot.services.operational_retention import OperationalRetention, RetentionPeriods, RetentionRun
from bot.services.retention import ErasureLog, LogEntry, RetentionService, install_erasure_log
from bot.settings import Settings, SettingsError, load_settings
from storage.db import Database
from storage.models import (
    Announcement,
    ConsentRecord,
    OutboxAttempt,
    OutboxMessage,
    Person,
    PrivacyNotice,
    Volunteer,
)
from storage.repositories.outbox import COMPACTED_PAYLOAD
from tests.app_fixtures import BotHarness, card_text
from tests.signup_helpers import last_card
from tests.test_announcements_changes import copies, press, sent_and_reported
from tests.test_announcements_helpers import (
    Deliver,
    add_volunteers,
    announce,
    announcements,
    bot,
    deliver,
    install_in_channel,
    personal_chat,
    progress_card,
)
from tests.test_programme_support import COLLEAGUE, OTHER, backup_of
from tests.test_retention import retention_service
from vocabulary.words import AttemptOperation, ErasureReason, OutboxPurpose, OutboxStatus, VolunteerSpace

__all__ = ["bot", "deliver"]

NEWS = "19:news@thread.tacv2"
ELSEWHERE = "19:elsewhere@thread.tacv2"
MONTH_AND_A_DAY = timedelta(days=31)  # past the default OUTBOX_COMPACT_DAYS and OUTBOX_ATTEMPTS_DAYS (30)


async def outbox_rows(harness: BotHarness) -> dict[int, OutboxMessage]:
    async with harness.core.database.read() as session:
        return {row.id: row for row in (await session.execute(select(OutboxMessage))).scalars()}


async def attempts_count(database: Database) -> int:
    async with database.read() as session:
        return int((await session.execute(select(func.count()).select_from(OutboxAttempt))).scalar_one())


def kept_columns(row: OutboxMessage) -> tuple[object, ...]:
    return (row.key, row.status, row.activity_id, row.sent_conversation_id, row.person_id, row.conversation_id,
            row.batch, row.kind, row.updates_id)


# -- the outbox, end to end --------------------------------------------------------------------------------------


async def test_old_messages_lose_their_text_yet_never_go_twice_and_their_cards_still_change_in_place(
        bot: BotHarness, deliver: Deliver) -> None:
    [job] = [job for job in bot.app[WIRING].jobs if job.name == "operational_retention"]
    assert job.leader is Leader.DATABASE
    volunteers = await add_volunteers(bot, 12, first=100)
    await install_in_channel(bot, "Inclusion Assembly", "News", NEWS)
    unreachable, leaver, reader = volunteers[0], volunteers[5], volunteers[1]
    bot.teams.block(personal_chat(unreachable))  # removed the app before the announcement
    await announce(bot, spaces="minoritised", channels=["Inclusion Assembly › News"], title="Co-design day in Hull",
                   body="Join us on Friday in room 4.")
    await sent_and_reported(bot, deliver)
    [row] = await announcements(bot)
    announcement_service = bot.app[ANNOUNCEMENTS]
    view_before = await announcement_service.progress(row.id)
    assert view_before is not None and view_before.finished
    report_before = card_text(await progress_card(bot))
    assert "about 90%" in report_before  # 12 of the 13 copies delivered
    before = await outbox_rows(bot)
    assert {message.status for message in before.values()} == {"sent", "undeliverable"}
    assert await attempts_count(bot.core.database) > 0

    # Two messages still on their way, made as long ago: one due later, one being sent right now.
    now = bot.clock.now()
    async with bot.core.database.transaction() as session:
        later = await enqueue(session, key="test:later", recipient=Recipient.channel(ELSEWHERE),
                              message=Message(text="Next season starts in March."),
                              purpose=OutboxPurpose.ANNOUNCEMENT, now=now, due_at=now + timedelta(days=90))
        claimed = await enqueue(session, key="test:claimed", recipient=Recipient.channel(ELSEWHERE),
                                message=Message(text="On its way."), purpose=OutboxPurpose.ANNOUNCEMENT, now=now)
        await session.execute(update(OutboxMessage).where(OutboxMessage.id == claimed).values(
            status=OutboxStatus.SENDING.value, lease_owner="another-worker", lease_until=now + timedelta(days=90)))

    bot.clock.advance(MONTH_AND_A_DAY)
    run = await bot.app[OPERATIONAL_RETENTION].tick()
    assert (run.figures_stored, run.compacted) == (1, len(before))
    assert run.attempts_deleted > 0 and await attempts_count(bot.core.database) == 0

    after = await outbox_rows(bot)
    for message_id, old in before.items():
        assert after[message_id].payload == COMPACTED_PAYLOAD
        assert kept_columns(after[message_id]) == kept_columns(old)
    assert "room 4" not in json.dumps([message.payload for message in after.values()])
    # Open messages keep everything.
    assert (after[later].status, json.loads(after[later].payload)) == ("pending",
                                                                       {"text": "Next season starts in March."})
    assert (after[claimed].status, json.loads(after[claimed].payload)) == ("sending", {"text": "On its way."})

    # The final figures are on the announcement, and the report shows exactly what it showed.
    [row] = await announcements(bot)
    assert (row.final_sent, row.final_undeliverable, row.final_failed, row.final_cancelled) == (12, 1, 0, 0)
    assert await announcement_service.progress(row.id) == view_before
    # A recipient withdraws: their copy goes from the outbox, the report still says what happened then.
    async with bot.core.database.transaction() as session:
        await bot.core.volunteers.erase(session, leaver.aad_object_id, at=bot.clock.now(),
                                        reason=ErasureReason.WITHDRAWN, method="teams-card",
                                        actor=leaver.aad_object_id)
    assert await announcement_service.progress(row.id) == view_before

    # The same cause enqueued again is the same message: nothing goes twice.
    [reader_copy] = [m for m in before.values() if m.person_id == reader.aad_object_id]
    posts = len(bot.teams.sent())
    async with bot.core.database.transaction() as session:
        again = await enqueue(session, key=reader_copy.key, recipient=Recipient.person(reader.aad_object_id),
                              message=Message(text="Sent twice?"), purpose=OutboxPurpose.ANNOUNCEMENT,
                              now=bot.clock.now(), batch=reader_copy.batch)
        # Someone unreachable then comes back: a month-old message whose text is gone is not sent after all.
        assert await rearm(session, unreachable.aad_object_id, bot.clock.now()) == 0
    assert again == reader_copy.id
    await deliver()
    assert len(bot.teams.sent()) == posts

    # Editing it still changes every delivered copy in place, from the ids the compacted messages kept.
    final = await progress_card(bot)
    edit = last_card(await press(bot, final, "Edit announcement"))
    check = last_card(await press(bot, edit, "Next", title="Co-design day in Hull",
                                  body="Join us on Friday in room 9."))
    await press(bot, check, "Update the announcement")
    posts = len(bot.teams.sent())
    await sent_and_reported(bot, deliver)
    assert len(bot.teams.sent()) == posts  # in place: no new message anywhere
    for member in volunteers[1:]:
        if member is leaver:
            continue
        [copy] = copies(bot, personal_chat(member))
        assert "room 9" in card_text(copy) and "room 4" not in card_text(copy)
    [channel_copy] = copies(bot, NEWS)
    assert "room 9" in card_text(channel_copy)
    report = card_text(await progress_card(bot))
    assert "Your changes are in place" in report
    assert "about 90%" in report[:report.index("Your changes are in place")]  # still 12 of 13 delivered


@pytest.mark.parametrize("people", [5, 40])
def test_stored_figures_are_shown_as_the_outbox_figures_were_suppressed_the_same(people: int,
                                                                                  clock: FixedClock) -> None:
    """Fewer than 8 people: the report still names no figure; more: the same rounded figures."""
    now = clock.now()
    row = Announcement(id=7, author_person_id=None, title="t", body="b", status="done", requested_at=now,
                       send_at=now, created_at=now, started_at=now, finished_at=now, recipients=people,
                       audience=json.dumps(AudienceChoice(spaces=(VolunteerSpace.MINORITISED,)).to_json()),
                       figures_stored_at=None, recalled_at=None)
    live = {"sent": people - 2, "undeliverable": 1, "failed": 1}
    before = progress_of(row, live, now)
    assert before.small == (people < 8)
    row.final_sent, row.final_undeliverable, row.final_failed, row.final_cancelled = people - 2, 1, 1, 0
    row.figures_stored_at = now
    after = progress_of(row, {}, now)  # the outbox has nothing left to count (everyone was erased, say)
    assert after == before
    assert progress_signature(after) == progress_signature(before)


# -- the outbox and attempts, in batches ---------------------------------------------------------------------------


async def finished(database: Database, *, key: str, status: OutboxStatus, at: datetime, recipient: Recipient,
                   batch: str | None = None, created: datetime | None = None) -> int:
    """A message that finished (`status`) at `at`."""
    async with database.transaction() as session:
        message_id = await enqueue(session, key=key, recipient=recipient, message=Message(text=f"text of {key}"),
                                   purpose=OutboxPurpose.ANNOUNCEMENT, now=created or at, batch=batch)
        await session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(
            status=status.value, finished_at=at,
            activity_id=f"activity-{key}" if status == OutboxStatus.SENT else None))
        return message_id


async def test_batches_compact_only_old_finished_messages_and_delete_only_old_attempts(
        db: Database, clock: FixedClock, tmp_path: Path) -> None:
    service = OperationalRetention(db, clock, ErasureLog(tmp_path / "erasures.log"),
                                   RetentionPeriods.of_days(compact=30, attempts=10, backups=35), batch_rows=2)
    start = clock.now()
    channel = Recipient.channel(NEWS)
    async with db.transaction() as session:
        session.add(Person(id=COLLEAGUE.aad_object_id, created_at=start, last_seen_at=start))
        for announcement_id, status, finished_at in ((1, "done", start), (2, "sending", None)):
            session.add(Announcement(
                id=announcement_id, author_person_id=None, title="t", body="b", audience="{}", status=status,
                requested_at=start, send_at=start, created_at=start, started_at=start, finished_at=finished_at,
                recipients=1, progress_updates=0))
    old = [await finished(db, key=f"old-{n}", status=OutboxStatus.SENT, at=start, recipient=channel)
           for n in range(5)]
    old.append(await finished(db, key="old-failed", status=OutboxStatus.FAILED, at=start, recipient=channel))
    old.append(await finished(db, key="old-cancelled", status=OutboxStatus.CANCELLED, at=start, recipient=channel))
    old.append(await finished(db, key="old-unreachable", status=OutboxStatus.UNDELIVERABLE, at=start,
                              recipient=Recipient.person(COLLEAGUE.aad_object_id)))
    old.append(await finished(db, key="announcement-1", status=OutboxStatus.SENT, at=start, recipient=channel,
                              batch="announcement:1"))
    # Still being sent, announcement 2 keeps its messages' text: its figures still come from the outbox.
    unsettled = await finished(db, key="announcement-2", status=OutboxStatus.SENT, at=start, recipient=channel,
                               batch="announcement:2")
    recent = await finished(db, key="recent", status=OutboxStatus.SENT, at=start + timedelta(days=26),
                            recipient=channel, created=start)
    async with db.transaction() as session:
        waiting = await enqueue(session, key="waiting", recipient=channel, message=Message(text="still to go"),
                                purpose=OutboxPurpose.ANNOUNCEMENT, now=start, due_at=start + timedelta(days=60))
        unreachable_now = await enqueue(session, key="unreachable-recently",
                                        recipient=Recipient.person(COLLEAGUE.aad_object_id),
                                        message=Message(text="recent"), purpose=OutboxPurpose.ANNOUNCEMENT, now=start)
        await session.execute(update(OutboxMessage).where(OutboxMessage.id == unreachable_now).values(
            status=OutboxStatus.UNDELIVERABLE.value, finished_at=start + timedelta(days=29)))
        session.add_all([OutboxAttempt(message_id=old[0], at=start, operation=AttemptOperation.SEND.value,
                                       status=201, error=None, duration_ms=40) for _ in range(5)])
        session.add(OutboxAttempt(message_id=recent, at=start + timedelta(days=25),
                                  operation=AttemptOperation.SEND.value, status=201, error=None, duration_ms=40))

    clock.set(start + MONTH_AND_A_DAY)
    run = await service.tick()
    assert (run.figures_stored, run.compacted, run.attempts_deleted) == (1, len(old), 5)
    async with db.read() as session:
        rows = {row.id: row for row in (await session.execute(select(OutboxMessage))).scalars()}
        first = await session.get(Announcement, 1)
        second = await session.get(Announcement, 2)
    assert all(rows[message_id].payload == COMPACTED_PAYLOAD for message_id in old)
    assert rows[old[0]].activity_id == "activity-old-0" and rows[old[0]].key == "old-0"
    for message_id in (unsettled, recent, waiting, unreachable_now):
        assert rows[message_id].payload != COMPACTED_PAYLOAD
    assert first is not None and (first.final_sent, first.figures_stored_at) == (1, clock.now())
    assert second is not None and second.figures_stored_at is None
    assert await attempts_count(db) == 1
    # Nothing is left to do: a second run (or another instance's) changes nothing.
    assert await service.tick() == RetentionRun()
    # The person comes back: only the message that could not reach them recently goes after all.
    async with db.transaction() as session:
        assert await rearm(session, COLLEAGUE.aad_object_id, clock.now()) == 1
    async with db.read() as session:
        assert (await session.get(OutboxMessage, unreachable_now)).status == "pending"  # type: ignore[union-attr]
        assert (await session.get(OutboxMessage, old[7])).status == "undeliverable"  # type: ignore[union-attr]


# -- the erasure log and a restored backup -------------------------------------------------------------------------

BACKUP_DAYS = 35


@dataclass
class Instance:
    core: Core
    retention: RetentionService
    housekeeping: OperationalRetention


@asynccontextmanager
async def instance(db_url: str, clock: FixedClock, path: Path) -> AsyncIterator[Instance]:
    """The parts of a bot that erase, replay and prune, on `db_url` (the bot itself is tested elsewhere)."""
    database = Database(db_url)
    settings = Settings(_env_file=None, database_url=db_url, erasure_log_path=str(path),  # type: ignore[call-arg]
                        backup_retention_days=BACKUP_DAYS)
    core = Core.build(settings, database, clock)
    try:
        await core.notices.publish_repo_versions()
        erasure_log = ErasureLog(path)
        install_erasure_log(database, erasure_log)
        periods = RetentionPeriods.of_days(compact=settings.outbox_compact_days,
                                           attempts=settings.outbox_attempts_days,
                                           backups=settings.backup_retention_days)
        yield Instance(core, retention_service(core, erasure_log),
                       OperationalRetention(database, clock, erasure_log, periods))
    finally:
        await database.dispose()


async def signed_up(core: Core, person_id: str) -> None:
    now = core.clock.now()
    async with core.database.transaction() as session:
        notice = (await session.execute(select(PrivacyNotice).order_by(PrivacyNotice.version.desc()))).scalars().first()
        assert notice is not None
        session.add(Person(id=person_id, created_at=now, last_seen_at=now))
        await session.flush()
        session.add(Volunteer(person_id=person_id, space_minoritised=True, space_ally=False, phase_codesign=True,
                              phase_train_the_trainer=False, consent_version=notice.version, signed_up_at=now,
                              updated_at=now))
        session.add(ConsentRecord(person_id=person_id, recorded_at=now, action="given", notice_version=notice.version,
                                  notice_sha256=notice.sha256, method="teams-card"))


async def withdraw(core: Core, person_id: str) -> None:
    async with core.database.transaction() as session:
        await core.volunteers.erase(session, person_id, at=core.clock.now(), reason=ErasureReason.WITHDRAWN,
                                    method="teams-card", actor=person_id)


async def has_data(core: Core, person_id: str) -> bool:
    async with core.database.read() as session:
        return (await session.get(Person, person_id) is not None) or (await session.get(Volunteer, person_id)
                                                                       is not None)


async def test_the_erasure_log_keeps_an_erasure_while_a_backup_could_bring_it_back_and_then_drops_it(
        db_url: str, clock: FixedClock, tmp_path: Path) -> None:
    path = tmp_path / "outside-the-database" / "erasures.log"
    async with instance(db_url, clock, path) as bot:
        await signed_up(bot.core, COLLEAGUE.aad_object_id)
        await signed_up(bot.core, OTHER.aad_object_id)

    async with backup_of(db_url, tmp_path) as backup_url:  # the night's backup, before the withdrawal
        clock.advance(timedelta(hours=1))
        async with instance(db_url, clock, path) as bot:
            await withdraw(bot.core, COLLEAGUE.aad_object_id)
            assert not await has_data(bot.core, COLLEAGUE.aad_object_id)

        # Almost BACKUP_RETENTION_DAYS later the backup can still be restored, so the job keeps the line.
        clock.advance(timedelta(days=BACKUP_DAYS) - timedelta(hours=2))
        async with instance(db_url, clock, path) as bot:
            assert (await bot.housekeeping.tick()).log_lines_pruned == 0
        assert [entry.person_id for entry in ErasureLog(path).read()] == [COLLEAGUE.aad_object_id]

        # The database is restored from that backup: the person's rows are back, as the backup had them, and
        # start-up's replay erases them again.
        async with instance(backup_url, clock, path) as restored:
            assert await has_data(restored.core, COLLEAGUE.aad_object_id)
            assert await restored.retention.replay() == 1
            assert not await has_data(restored.core, COLLEAGUE.aad_object_id)
            assert await has_data(restored.core, OTHER.aad_object_id)
            clock.advance(timedelta(hours=1))
            await withdraw(restored.core, OTHER.aad_object_id)

            # Past BACKUP_RETENTION_DAYS no backup kept is older than the first erasure: its line goes, and the
            # recent one stays.
            clock.advance(timedelta(hours=2))
            assert (await restored.housekeeping.tick()).log_lines_pruned == 1
            assert [entry.person_id for entry in ErasureLog(path).read()] == [OTHER.aad_object_id]
            assert (await restored.housekeeping.tick()).log_lines_pruned == 0
            await signed_up(restored.core, "0c1d2e3f-4a5b-4c6d-8e7f-001122334455")
            await withdraw(restored.core, "0c1d2e3f-4a5b-4c6d-8e7f-001122334455")
    # The pruned file is whole and is appended to as before.
    assert [entry.person_id for entry in ErasureLog(path).read()] == [
        OTHER.aad_object_id, "0c1d2e3f-4a5b-4c6d-8e7f-001122334455"]
    assert not list(path.parent.glob("*.pruning"))


def test_lines_appended_while_another_process_prunes_the_file_are_never_lost(tmp_path: Path) -> None:
    """Two processes' views of one file (two objects share only the file's lock): one appends erasures while the
    other keeps appending old lines and pruning them, so the file is replaced again and again under the writer."""
    path = tmp_path / "erasures.log"
    writer, pruner = ErasureLog(path), ErasureLog(path)
    old, recent = datetime(2020, 1, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    cutoff = datetime(2025, 1, 1, tzinfo=UTC)
    pruned: list[int] = []

    def write() -> None:
        for n in range(300):
            writer.append([LogEntry(f"recent-{n}", recent, "withdrawn")])

    def prune() -> None:
        for n in range(100):
            pruner.append([LogEntry(f"old-{n}", old, "withdrawn")])
            pruned.append(pruner.prune(cutoff))

    threads = [threading.Thread(target=write), threading.Thread(target=prune)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(pruned) == 100  # every old line went, each in a rewrite of the whole file
    assert sorted(entry.person_id for entry in ErasureLog(path).read()) == sorted(f"recent-{n}" for n in range(300))


# -- settings ------------------------------------------------------------------------------------------------------


def test_each_period_has_its_setting_with_a_default_and_bad_values_name_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the developer's checkout
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    settings = load_settings()
    assert (settings.outbox_compact_days, settings.outbox_attempts_days, settings.backup_retention_days) == (
        30, 30, 35)
    for name, value in (("OUTBOX_COMPACT_DAYS", "0"), ("OUTBOX_ATTEMPTS_DAYS", "0"),
                        ("BACKUP_RETENTION_DAYS", "0"), ("BACKUP_RETENTION_DAYS", "a month")):
        monkeypatch.setenv(name, value)
        with pytest.raises(SettingsError) as raised:
            load_settings()
        assert str(raised.value).startswith(f"Setting {name}:")
        monkeypatch.delenv(name)
    monkeypatch.setenv("BACKUP_RETENTION_DAYS", "400")
    assert load_settings().backup_retention_days == 400
