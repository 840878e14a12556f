"""Retention and lasting erasure (issue 12, design §6): the daily job warns admins and then erases, at most
once per UK day across restarts and instances; every erasure reaches the erasure log before it commits; and
start-up re-applies logged erasures that a restored backup lacks."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.__main__ import build_parser
from bot.cli.worker import build_worker_app, run_jobs
from bot.clock import UK, FixedClock
from bot.core import Core
from bot.delivery.tokens import StaticTokenProvider
from bot.features.programme import PROGRAMME, RETENTION, warning_card
from bot.services.programme import ProgrammeService
from bot.services.retention import ErasureLog, LogEntry, RetentionService, install_erasure_log
from storage.db import Database
from storage.models import (
    AuditEntry,
    ConsentRecord,
    ConversationRef,
    Erasure,
    OutboxMessage,
    Person,
    ProgrammeSetting,
    RoleGrant,
    Volunteer,
)
from tests.app_fixtures import BotHarness, bot_settings, served
from tests.doubles.issuer import TokenIssuer
from tests.doubles.teams import Member, TeamsDouble
from tests.signup_helpers import sign_up
from tests.test_programme_support import (
    ADMIN,
    COLLEAGUE,
    FACILITATOR,
    OTHER,
    all_text,
    backup_of,
    data_of,
    only_card,
    running,
)
from vocabulary.words import Role


def retention_service(core: Core, erasure_log: ErasureLog) -> RetentionService:
    """The retention job as the programme feature builds it, on `core`'s database and clock."""
    settings = core.settings
    programme = ProgrammeService(core.database, core.clock, core.audit, retention_days=settings.retention_days,
                                 quiet_hours=(settings.quiet_hours_start, settings.quiet_hours_end))
    return RetentionService(core.database, core.clock, core.audit, core.roles, core.volunteers, programme,
                            erasure_log, warning_card, retention_days=settings.retention_days)


def log_path(tmp_path: Path) -> Path:
    return tmp_path / "outside-the-database" / "erasures.log"


def log_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


async def withdraw(harness: BotHarness, member: Member) -> None:
    card = only_card(await harness.say("withdraw", member))
    replies = await harness.press(data_of(card, "withdraw_confirm"), member)
    assert "Your answers have been deleted" in all_text(replies)


async def rows(harness: BotHarness, model: type, *where: object) -> list[object]:
    async with harness.core.database.read() as session:
        query = select(model)
        for condition in where:
            query = query.where(condition)  # type: ignore[arg-type]
        return list((await session.execute(query)).scalars())


async def count(harness: BotHarness, model: type, *where: object) -> int:
    return len(await rows(harness, model, *where))


def uk_today(clock: FixedClock) -> date:
    return clock.now().astimezone(UK).date()


async def set_deletion_in(harness: BotHarness, clock: FixedClock, days: int) -> date:
    """Set the programme end date so that the deletion date is `days` from today (UK)."""
    deletion = uk_today(clock) + timedelta(days=days)
    end = deletion - timedelta(days=harness.core.settings.retention_days)
    await harness.app[PROGRAMME].set_end_date(ADMIN.aad_object_id, end)
    return deletion


# -- the erasure log ---------------------------------------------------------------------------------------------


async def test_a_withdrawal_reaches_the_erasure_log_with_ids_only(
        db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble, clock: FixedClock,
        tmp_path: Path) -> None:
    path = log_path(tmp_path)
    async with running(db_url, token_issuer, teams_double, clock, erasure_log_path=str(path)) as bot:
        await sign_up(bot, COLLEAGUE)
        assert not path.exists()
        clock.advance(timedelta(minutes=5))
        await withdraw(bot, COLLEAGUE)
        erasure = (await rows(bot, Erasure))[0]
        assert isinstance(erasure, Erasure)
    content = path.read_text(encoding="utf-8")
    lines = content.splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry == {"person_id": COLLEAGUE.aad_object_id, "at": erasure.erased_at.isoformat(),
                     "reason": "withdrawn", "notice_version": 1, "notice_sha256": entry["notice_sha256"]}
    assert len(entry["notice_sha256"]) == 64
    assert COLLEAGUE.name not in content and COLLEAGUE.email not in content
    assert LogEntry.from_line(lines[0]).at == erasure.erased_at


async def test_a_withdrawal_that_cannot_be_logged_does_not_happen(
        db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble, clock: FixedClock,
        tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the log's folder should be")
    async with running(db_url, token_issuer, teams_double, clock,
                       erasure_log_path=str(blocker / "erasures.log")) as bot:
        await sign_up(bot, COLLEAGUE)
        card = only_card(await bot.say("withdraw", COLLEAGUE))
        replies = await bot.press(data_of(card, "withdraw_confirm"), COLLEAGUE)
        assert "something went wrong" in all_text(replies)
        # Nothing was erased without its log line: the person can try again, and nothing is half done.
        assert await count(bot, Volunteer) == 1
        assert await count(bot, Erasure) == 0


async def test_unreadable_log_lines_are_skipped(tmp_path: Path) -> None:
    path = log_path(tmp_path)
    erasure_log = ErasureLog(path)
    at = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    erasure_log.append([LogEntry(COLLEAGUE.aad_object_id, at, "withdrawn", 1, "a" * 64)])
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"person_id": "x", "reason": "because"}\nnot json\n{"person_id": "00000000-0000-4000-8000-0000')
    later = at + timedelta(days=1)
    ErasureLog(path.parent / "erasures-instance-b.log").append([LogEntry(COLLEAGUE.aad_object_id, later,
                                                                         "retention")])
    newest = erasure_log.latest()
    assert list(newest) == [COLLEAGUE.aad_object_id]
    assert newest[COLLEAGUE.aad_object_id].at == later  # every instance's file is read
    assert newest[COLLEAGUE.aad_object_id].reason == "retention"


# -- restore from backup -----------------------------------------------------------------------------------------


async def test_a_withdrawal_is_applied_again_after_a_restore_from_backup(
        db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble, clock: FixedClock,
        tmp_path: Path) -> None:
    path = str(log_path(tmp_path))
    async with running(db_url, token_issuer, teams_double, clock, erasure_log_path=path) as bot:
        await sign_up(bot, COLLEAGUE)
        await sign_up(bot, OTHER)

    async with backup_of(db_url, tmp_path) as backup_url:
        clock.advance(timedelta(days=2))
        async with running(db_url, token_issuer, teams_double, clock, erasure_log_path=path) as bot:
            await withdraw(bot, COLLEAGUE)
            withdrawn_at = clock.now()

        clock.advance(timedelta(days=1))
        # The database is restored from the backup: it knows nothing of the withdrawal.
        async with running(backup_url, token_issuer, teams_double, clock, erasure_log_path=path) as bot:
            assert await count(bot, Volunteer, Volunteer.person_id == COLLEAGUE.aad_object_id) == 0
            assert await count(bot, Person, Person.id == COLLEAGUE.aad_object_id) == 0
            assert await count(bot, ConversationRef, ConversationRef.person_id == COLLEAGUE.aad_object_id) == 0
            assert await count(bot, Volunteer, Volunteer.person_id == OTHER.aad_object_id) == 1
            async with bot.core.database.read() as session:
                row = await session.get(Erasure, COLLEAGUE.aad_object_id)
                assert row is not None and row.erased_at == withdrawn_at and row.reason == "withdrawn"
                history = (await session.execute(
                    select(ConsentRecord).where(ConsentRecord.person_id == COLLEAGUE.aad_object_id)
                    .order_by(ConsentRecord.id))).scalars().all()
                # The consent history says again that consent was withdrawn, at the time it was.
                assert [(record.action, record.method) for record in history] == [
                    ("given", "teams-card"), ("withdrawn", "restore-replay")]
                assert history[-1].recorded_at == withdrawn_at
                audit = (await session.execute(select(AuditEntry).where(
                    AuditEntry.action == "erasure.withdrawn"))).scalars().all()
                assert [(entry.actor_id, entry.record_id) for entry in audit] == [
                    ("system", COLLEAGUE.aad_object_id)]
            # The person may come back and sign up again; that is theirs to do.
            clock.advance(timedelta(hours=1))
            await sign_up(bot, COLLEAGUE)

        # Next start-up: the erasure is in the database now, so the new sign-up stays.
        async with running(backup_url, token_issuer, teams_double, clock, erasure_log_path=path) as bot:
            assert await count(bot, Volunteer, Volunteer.person_id == COLLEAGUE.aad_object_id) == 1
    # Replaying wrote nothing more to the log.
    assert len(log_lines(Path(path))) == 1


async def test_a_worker_started_alone_after_a_restore_applies_the_erasures_again_before_any_job(
        db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble, clock: FixedClock,
        tmp_path: Path) -> None:
    """`python -m bot worker` may be the first process up after a restore: it replays the erasure log too."""
    path = str(log_path(tmp_path))
    async with running(db_url, token_issuer, teams_double, clock, erasure_log_path=path) as bot:
        await sign_up(bot, COLLEAGUE)
    async with backup_of(db_url, tmp_path) as backup_url:
        clock.advance(timedelta(days=2))
        async with running(db_url, token_issuer, teams_double, clock, erasure_log_path=path) as bot:
            await withdraw(bot, COLLEAGUE)
        clock.advance(timedelta(days=1))
        args = build_parser().parse_args(["worker", "--static-token", "test-token"])
        app = build_worker_app(bot_settings(backup_url, token_issuer, run_worker=False, erasure_log_path=path),
                               args, clock=clock, outbound=StaticTokenProvider())
        stopping = asyncio.Event()
        stopping.set()  # start, then stop at once: what matters is what happened before the first job ran
        assert await run_jobs(app, stopping) == 0
        database = Database(backup_url)
        try:
            async with database.read() as session:
                assert await session.scalar(select(func.count()).select_from(Volunteer).where(
                    Volunteer.person_id == COLLEAGUE.aad_object_id)) == 0
                assert await session.get(Erasure, COLLEAGUE.aad_object_id) is not None
        finally:
            await database.dispose()


async def test_replay_keeps_what_was_created_after_the_erasure(db: Database, clock: FixedClock,
                                                               tmp_path: Path) -> None:
    """A log line from before a re-sign-up that the database already has (e.g. the log was restored from an
    older copy than the database) removes nothing new."""
    from bot.settings import Settings
    settings = Settings(_env_file=None, database_url=db.url)  # type: ignore[call-arg]
    core = Core.build(settings, db, clock)
    await core.notices.publish_repo_versions()
    erasure_log = ErasureLog(log_path(tmp_path))
    install_erasure_log(db, erasure_log)
    earlier = clock.now() - timedelta(days=3)
    erasure_log.append([LogEntry(COLLEAGUE.aad_object_id, earlier, "withdrawn", 1, "b" * 64)])
    async with db.transaction() as session:
        session.add(Person(id=COLLEAGUE.aad_object_id, created_at=clock.now(), last_seen_at=clock.now()))
    service = retention_service(core, erasure_log)
    assert await service.replay() == 1
    async with db.read() as session:
        assert await session.get(Person, COLLEAGUE.aad_object_id) is not None
        row = await session.get(Erasure, COLLEAGUE.aad_object_id)
        assert row is not None and row.erased_at == earlier
        # They never consented in this database, so no consent record is made up for them.
        assert (await session.execute(select(func.count()).select_from(ConsentRecord))).scalar_one() == 0
    assert await service.replay() == 0


# -- the retention job -------------------------------------------------------------------------------------------


@pytest.fixture
async def bot(db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble, clock: FixedClock,
              tmp_path: Path) -> BotHarness:
    async with running(db_url, token_issuer, teams_double, clock,
                       erasure_log_path=str(log_path(tmp_path))) as harness:
        await harness.core.roles.grant(ADMIN.aad_object_id, FACILITATOR.aad_object_id, Role.FACILITATOR)
        yield harness  # type: ignore[misc]


async def warnings(harness: BotHarness) -> list[OutboxMessage]:
    found = await rows(harness, OutboxMessage, OutboxMessage.purpose == "retention-warning")
    return sorted((row for row in found if isinstance(row, OutboxMessage)), key=lambda row: row.id)


async def test_nothing_happens_without_an_end_date_or_long_before_it(bot: BotHarness, clock: FixedClock) -> None:
    retention = bot.app[RETENTION]
    assert (await retention.run_if_due()).status == "no_end_date"
    await set_deletion_in(bot, clock, 30)
    assert (await retention.run_if_due()).status == "not_yet"
    assert await count(bot, ProgrammeSetting, ProgrammeSetting.key == "retention_last_run") == 0
    assert await warnings(bot) == []


async def test_admins_are_warned_14_days_and_1_day_before(bot: BotHarness, clock: FixedClock) -> None:
    await bot.core.roles.grant(ADMIN.aad_object_id, OTHER.aad_object_id, Role.ADMIN)
    await bot.say("hello", COLLEAGUE)
    retention = bot.app[RETENTION]
    deletion = await set_deletion_in(bot, clock, 14)
    result = await retention.run_if_due()
    assert (result.status, result.warned, result.deletion_date) == ("warned", 2, deletion)
    sent = await warnings(bot)
    assert {row.key for row in sent} == {f"retention-warning:{deletion.isoformat()}:14:{admin.aad_object_id}"
                                         for admin in (ADMIN, OTHER)}
    card = json.loads(sent[0].payload)["card"]
    assert "Personal data will be deleted in 14 days" in json.dumps(card)
    assert data_of(card, "programme")  # the button opens the settings card

    # The same day again: nothing. The next day: the 14-day warning is not sent twice.
    assert (await retention.run_if_due()).status == "already_ran"
    clock.advance(timedelta(days=1))
    assert (await retention.run_if_due()).status == "warned"
    assert len(await warnings(bot)) == 2

    clock.advance(timedelta(days=12))  # one day before
    assert (await retention.run_if_due()).status == "warned"
    sent = await warnings(bot)
    assert len(sent) == 4
    assert "deleted tomorrow" in sent[-1].payload
    # Nobody's data was touched.
    assert await count(bot, Person) == 1 and await count(bot, Erasure) == 0


async def test_on_the_deletion_date_everyone_is_erased(bot: BotHarness, clock: FixedClock,
                                                        tmp_path: Path) -> None:
    await sign_up(bot, COLLEAGUE)
    await sign_up(bot, OTHER, adjustments="no")
    await bot.say("hello", FACILITATOR)
    await bot.say("hello", ADMIN)
    await set_deletion_in(bot, clock, 1)
    retention = bot.app[RETENTION]
    assert (await retention.run_if_due()).status == "warned"
    clock.advance(timedelta(days=1))
    result = await retention.run_if_due()
    assert (result.status, result.erased) == ("erased", 4)  # two volunteers, the facilitator, the admin

    assert await count(bot, Volunteer) == 0
    assert await count(bot, Person) == 0
    assert await count(bot, ConversationRef, ConversationRef.kind == "personal") == 0
    # Roles are opaque ids and stay, so admins can still run the bot.
    assert await count(bot, RoleGrant, RoleGrant.role == "admin") == 1
    erasures = [row for row in await rows(bot, Erasure) if isinstance(row, Erasure)]
    assert {row.reason for row in erasures} == {"retention"} and len(erasures) == 4
    ended = await rows(bot, ConsentRecord, ConsentRecord.action == "erased")
    assert {record.person_id for record in ended if isinstance(record, ConsentRecord)} == {
        COLLEAGUE.aad_object_id, OTHER.aad_object_id}
    assert all(record.method == "retention-job" for record in ended if isinstance(record, ConsentRecord))
    assert await count(bot, AuditEntry, AuditEntry.action == "erasure.retention",
                       AuditEntry.actor_id == "system") == 4
    assert await count(bot, AuditEntry, AuditEntry.action == "retention.run") == 2
    logged = ErasureLog(log_path(tmp_path)).latest()
    assert set(logged) == {member.aad_object_id for member in (ADMIN, FACILITATOR, COLLEAGUE, OTHER)}
    assert {entry.reason for entry in logged.values()} == {"retention"}

    # Someone who turns up after the deletion date is erased by the next day's run.
    clock.advance(timedelta(hours=2))
    assert (await retention.run_if_due()).status == "already_ran"
    await bot.say("hello", COLLEAGUE)
    clock.advance(timedelta(days=1))
    assert (await retention.run_if_due()).erased == 1
    assert await count(bot, Person) == 0


async def test_the_job_runs_once_a_day_across_instances(bot: BotHarness, clock: FixedClock,
                                                         tmp_path: Path) -> None:
    await sign_up(bot, COLLEAGUE)
    await set_deletion_in(bot, clock, 0)
    # Five instances, each with its own connection pool, try at the same moment.
    databases = [Database(bot.core.database.url) for _ in range(5)]
    try:
        services = []
        for database in databases:
            core = Core.build(bot.core.settings, database, clock)
            erasure_log = ErasureLog(log_path(tmp_path))
            install_erasure_log(database, erasure_log)
            services.append(retention_service(core, erasure_log))
        results = await asyncio.gather(*(service.run_if_due() for service in services))
    finally:
        for database in databases:
            await database.dispose()
    assert sorted(result.status for result in results) == ["already_ran"] * 4 + ["erased"]
    assert await count(bot, AuditEntry, AuditEntry.action == "retention.run") == 1
    # A restart the same day does not run it again: the day is recorded in the database.
    assert (await bot.app[RETENTION].run_if_due()).status == "already_ran"


async def test_the_job_runs_in_the_background_from_start_up(
        db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble, clock: FixedClock,
        tmp_path: Path) -> None:
    path = str(log_path(tmp_path))
    async with running(db_url, token_issuer, teams_double, clock, erasure_log_path=path) as harness:
        await set_deletion_in(harness, clock, 14)
        assert await warnings(harness) == []
    # The background jobs run with RUN_WORKER on (in a web instance, or in `python -m bot worker`).
    async with served(db_url, token_issuer, clock, StaticTokenProvider(), run_worker=True,
                      erasure_log_path=path) as (app, http, server):
        harness = BotHarness(server=server, http=http, issuer=token_issuer, teams=teams_double, clock=clock, app=app)
        for _ in range(200):
            if await warnings(harness):
                break
            await asyncio.sleep(0.02)
        assert len(await warnings(harness)) == 1


async def test_the_deletion_date_follows_uk_days(bot: BotHarness, clock: FixedClock) -> None:
    """At 23:30 UTC in summer it is already the next day in the UK."""
    clock.set(datetime(2027, 6, 30, 23, 30, tzinfo=UTC))
    end = date(2027, 7, 1) - timedelta(days=bot.core.settings.retention_days)
    await bot.app[PROGRAMME].set_end_date(ADMIN.aad_object_id, end)
    assert (await bot.app[RETENTION].run_if_due()).status == "erased"
