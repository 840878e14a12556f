"""Each outcome class of design §7 through the Connector double, on SQLite and PostgreSQL: retry, the recipient
unreachable (and re-armed), the message at fault, 500, timeouts and connection errors."""

from __future__ import annotations

import socket

import pytest

from bot.clock import FixedClock
from bot.delivery import outbox
from storage.db import Database
from tests.doubles.teams import TeamsDouble, make_member
from tests.test_delivery_support import (
    WorkerFactory,
    add_people,
    add_person,
    attempts,
    card,
    chat_id,
    later,
    make_worker,
    person,
    put,
    row,
    texts,
)

__all__ = ["make_worker"]


@pytest.mark.parametrize("status", [412, 502, 503, 504])
async def test_retryable_answers_back_off_then_the_message_goes(
        status: int, db: Database, clock: FixedClock, teams_double: TeamsDouble, make_worker: WorkerFactory) -> None:
    [member] = await add_people(db, clock, teams_double, 1)
    message = await put(db, clock, "k", person=member.aad_object_id, text="hello")
    teams_double.fail_next(status)
    worker = make_worker()

    await worker.run_until_idle()
    waiting = await row(db, message)
    assert (waiting.status, waiting.attempts, waiting.last_status) == ("pending", 1, status)
    assert waiting.retry_at is not None
    # Backoff with jitter: between half and all of base * 2^0, here 1 s.
    assert 0.5 <= (waiting.retry_at - clock.now()).total_seconds() <= 1.0

    await worker.run_until_idle()
    assert len(teams_double.requests) == 1  # not before its time

    later(clock, 1)
    await worker.run_until_idle()
    assert texts(teams_double, chat_id(member)) == ["hello"]
    assert [a[1] for a in await attempts(db, message)] == [status, 201]
    assert (await row(db, message)).status == "sent"


async def test_backoff_grows_and_is_capped_then_the_message_fails(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, make_worker: WorkerFactory) -> None:
    [member] = await add_people(db, clock, teams_double, 1)
    message = await put(db, clock, "k", person=member.aad_object_id, text="hello")
    teams_double.fail_next(503, times=10)
    worker = make_worker(max_attempts=4, backoff_base_seconds=1.0, backoff_cap_seconds=3.0)
    delays = []
    for _ in range(4):
        await worker.run_until_idle()
        current = await row(db, message)
        if current.retry_at is not None and current.status == "pending":
            delays.append((current.retry_at - clock.now()).total_seconds())
        later(clock, 10)

    final = await row(db, message)
    assert (final.status, final.attempts, final.last_status, final.last_error) == (
        "failed", 4, 503, "ServiceUnavailable")
    assert len(delays) == 3
    assert 0.5 <= delays[0] <= 1.0 and 1.0 <= delays[1] <= 2.0 and 1.5 <= delays[2] <= 3.0  # capped at 3
    assert [a[1] for a in await attempts(db, message)] == [503] * 4
    assert (await person(db, member.aad_object_id)).undeliverable_code is None


async def test_500_is_not_retried(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, make_worker: WorkerFactory) -> None:
    [member] = await add_people(db, clock, teams_double, 1)
    message = await put(db, clock, "k", person=member.aad_object_id, text="hello")
    teams_double.fail_next(500)

    await make_worker().run_until_idle()
    later(clock, 600)
    await make_worker().run_until_idle()

    failed = await row(db, message)
    assert (failed.status, failed.attempts, failed.last_status) == ("failed", 1, 500)
    assert len(teams_double.requests) == 1


async def test_the_message_at_fault_fails_and_the_person_stays_reachable(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, make_worker: WorkerFactory) -> None:
    [member] = await add_people(db, clock, teams_double, 1)
    bad = await put(db, clock, "bad", person=member.aad_object_id, text="bad", batch="announcement-7")
    huge = await put(db, clock, "huge", person=member.aad_object_id, card=card("x" * 110_000),
                     batch="announcement-7")
    fine = await put(db, clock, "fine", person=member.aad_object_id, text="fine", batch="announcement-7")
    teams_double.fail_next(400, code="BadArgument")

    await make_worker().run_until_idle()

    assert [(await row(db, i)).status for i in (bad, huge, fine)] == ["failed", "failed", "sent"]
    assert (await person(db, member.aad_object_id)).undeliverable_code is None
    async with db.transaction() as session:
        failures = await outbox.batch_failures(session, "announcement-7")
        progress = await outbox.batch_progress(session, "announcement-7")
    assert [(f.id, f.status, f.last_status, f.last_error) for f in failures] == [
        (bad, "failed", 400, "BadArgument"), (huge, "failed", 413, "MessageSizeTooBig")]
    assert failures[0].person_id == member.aad_object_id and failures[0].key == "bad"
    assert progress == {"failed": 2, "sent": 1}


@pytest.mark.parametrize(("status", "code"), [
    (403, "ConversationBlockedByUser"),
    (403, "BotNotInConversationRoster"),
    (403, "BotDisabledByAdmin"),
    (403, "ForbiddenOperationException"),
    (403, "MessageWritesBlocked"),
    (404, "ConversationNotFound"),
])
async def test_an_unreachable_person_is_marked_and_their_later_messages_are_skipped(
        status: int, code: str, db: Database, clock: FixedClock, teams_double: TeamsDouble,
        make_worker: WorkerFactory) -> None:
    gone, other = make_member(300), make_member(301)
    for member in (gone, other):
        await add_person(db, clock, member, teams_double.url, teams=teams_double)
    teams_double.block(chat_id(gone), status, code)
    first = await put(db, clock, "first", person=gone.aad_object_id, text="one")
    second = await put(db, clock, "second", person=gone.aad_object_id, text="two")
    worker = make_worker()

    await worker.run_until_idle()
    later(clock, 60)
    third = await put(db, clock, "third", person=gone.aad_object_id, text="three")
    await put(db, clock, "other", person=other.aad_object_id, text="for someone else")
    await worker.run_until_idle()

    for message in (first, second, third):
        skipped = await row(db, message)
        assert (skipped.status, skipped.last_error) == ("undeliverable", code)
    assert (await row(db, first)).last_status == status
    assert await attempts(db, second) == []  # skipped without asking Teams again
    marked = await person(db, gone.aad_object_id)
    assert marked.undeliverable_code == code and marked.undeliverable_since is not None
    assert [r.status for r in teams_double.requests if r.conversation_id == chat_id(gone)] == [status]
    assert texts(teams_double, chat_id(other)) == ["for someone else"]


async def test_an_unlisted_403_fails_the_message_but_not_the_person(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, make_worker: WorkerFactory) -> None:
    [member] = await add_people(db, clock, teams_double, 1)
    message = await put(db, clock, "k", person=member.aad_object_id, text="x")
    await put(db, clock, "k2", person=member.aad_object_id, text="y")
    teams_double.fail_next(403, code="SomethingNew")

    await make_worker().run_until_idle()

    assert ((await row(db, message)).status, (await row(db, message)).last_error) == ("failed", "SomethingNew")
    assert (await person(db, member.aad_object_id)).undeliverable_code is None
    assert texts(teams_double, chat_id(member)) == ["y"]


async def test_a_blocked_person_without_a_chat_is_refused_at_creation(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, make_worker: WorkerFactory) -> None:
    [member] = await add_people(db, clock, teams_double, 1, with_chat=False)
    teams_double.block(member.aad_object_id)
    message = await put(db, clock, "k", person=member.aad_object_id, text="x")

    await make_worker().run_until_idle()

    assert (await row(db, message)).status == "undeliverable"
    assert await attempts(db, message) == [("create", 403, "ConversationBlockedByUser")]
    assert (await person(db, member.aad_object_id)).undeliverable_code == "ConversationBlockedByUser"


async def test_someone_with_no_way_to_reach_them_is_undeliverable_until_they_write(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, make_worker: WorkerFactory) -> None:
    member = make_member(310)
    await add_person(db, clock, member, "", with_chat=False)  # no service URL known yet
    message = await put(db, clock, "k", person=member.aad_object_id, text="x")
    unknown = await put(db, clock, "k2", person="11111111-1111-4111-8111-111111111111", text="x")

    await make_worker().run_until_idle()

    assert ((await row(db, message)).status, (await row(db, message)).last_error) == (
        "undeliverable", "NoConversationReference")
    assert (await row(db, unknown)).status == "undeliverable"
    assert (await person(db, member.aad_object_id)).undeliverable_code == "NoConversationReference"
    assert teams_double.requests == []


async def test_rearming_sends_what_was_skipped_in_order(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, make_worker: WorkerFactory) -> None:
    [member] = await add_people(db, clock, teams_double, 1)
    teams_double.block(chat_id(member))
    for n in range(3):
        await put(db, clock, f"m{n}", person=member.aad_object_id, text=f"message {n}")
    worker = make_worker()
    await worker.run_until_idle()
    assert texts(teams_double, chat_id(member)) == []

    teams_double.unblock(chat_id(member))
    async with db.transaction() as session:  # what the handler's re-arm hook does when they write again
        from storage.repositories.people import Contact, PeopleRepository

        await PeopleRepository(session).upsert_seen(
            Contact(conversation_id=chat_id(member), kind="personal", service_url=teams_double.url,
                    tenant_id="", bot_id="", person_id=member.aad_object_id, teams_user_id=member.teams_user_id),
            clock.now())
        assert await outbox.rearm(session, member.aad_object_id, clock.now()) == 3
    await worker.run_until_idle()

    assert texts(teams_double, chat_id(member)) == ["message 0", "message 1", "message 2"]


async def test_a_channel_that_removed_the_bot_is_marked_uninstalled(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, make_worker: WorkerFactory) -> None:
    from storage.models import ConversationRef

    async with db.transaction() as session:
        session.add(ConversationRef(conversation_id="19:general@thread.tacv2", kind="channel",
                                    service_url=teams_double.url, tenant_id="", bot_id="28:test-bot",
                                    installed=True, updated_at=clock.now()))
    teams_double.block("19:general@thread.tacv2", 403, "BotNotInConversationRoster")
    message = await put(db, clock, "k", channel="19:general@thread.tacv2", text="announcement")

    await make_worker().run_until_idle()

    assert (await row(db, message)).status == "undeliverable"
    async with db.transaction() as session:
        from storage.repositories.people import ConversationRepository

        assert await ConversationRepository(session).channels() == []
    # The conversation id went over the wire percent-encoded and arrived intact.
    assert teams_double.requests[0].conversation_id == "19:general@thread.tacv2"


async def test_timeouts_are_retried(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, make_worker: WorkerFactory) -> None:
    [member] = await add_people(db, clock, teams_double, 1)
    message = await put(db, clock, "k", person=member.aad_object_id, text="slow")
    teams_double.latency(1000)
    worker = make_worker(timeout_seconds=0.2)

    await worker.run_until_idle()
    waiting = await row(db, message)
    assert (waiting.status, waiting.last_status, waiting.last_error) == ("pending", None, "Timeout")

    teams_double.latency(0)
    later(clock, 1)
    await worker.run_until_idle()
    assert (await row(db, message)).status == "sent"
    assert [(a[1], a[2]) for a in await attempts(db, message)] == [(None, "Timeout"), (201, None)]


async def test_connection_errors_are_retried(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, make_worker: WorkerFactory) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/uk/"
    member = make_member(320)
    await add_person(db, clock, member, closed)
    message = await put(db, clock, "k", person=member.aad_object_id, text="x")

    await make_worker().run_until_idle()

    waiting = await row(db, message)
    assert (waiting.status, waiting.attempts, waiting.last_error) == ("pending", 1, "ConnectionError")


async def test_an_update_of_an_undeliverable_original_is_undeliverable_too(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, make_worker: WorkerFactory) -> None:
    from storage.models import ConversationRef

    async with db.transaction() as session:
        session.add(ConversationRef(conversation_id="19:team@thread.tacv2", kind="channel",
                                    service_url=teams_double.url, tenant_id="", bot_id="28:test-bot",
                                    installed=True, updated_at=clock.now()))
    teams_double.block("19:team@thread.tacv2", 403, "BotNotInConversationRoster")
    original = await put(db, clock, "post", channel="19:team@thread.tacv2", card=card("x"))
    change = await put(db, clock, "post-change", channel="19:team@thread.tacv2", card=card("y"), updates=original)

    await make_worker().run_until_idle()

    assert (await row(db, original)).last_error == "BotNotInConversationRoster"
    update = await row(db, change)
    assert (update.status, update.last_error, update.attempts) == ("undeliverable", "OriginalUndeliverable", 0)
    assert len(teams_double.requests) == 1
