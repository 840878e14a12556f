"""The worker against the Bot Connector double, on SQLite and PostgreSQL: payloads, conversations, order,
updates, idempotency and leases. Outcome classes, limits and credentials have their own files."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import OperationalError

from bot.clock import FixedClock
from bot.delivery import outbox
from storage.db import Database
from storage.repositories.outbox import OutboxRepository
from tests.doubles.teams import DEFAULT_TENANT_ID, TeamsDouble, make_member
from tests.test_delivery_support import (
    WorkerFactory,
    add_people,
    add_person,
    attempts,
    card,
    chat_id,
    later,
    make_worker,
    put,
    row,
    rows,
    texts,
)

__all__ = ["make_worker"]


async def test_card_goes_alone_and_text_as_text_and_the_activity_id_is_kept(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, make_worker: WorkerFactory) -> None:
    [member] = await add_people(db, clock, teams_double, 1)
    first = await put(db, clock, "k1", person=member.aad_object_id, card=card("Invitation"))
    second = await put(db, clock, "k2", person=member.aad_object_id, text="Reminder")

    await make_worker().run_until_idle()

    sent = teams_double.sent(chat_id(member))
    assert len(sent) == 2
    assert "text" not in sent[0]
    assert sent[0]["attachments"] == [{"contentType": "application/vnd.microsoft.card.adaptive",
                                       "content": card("Invitation")}]
    assert sent[1]["text"] == "Reminder" and "attachments" not in sent[1]
    message = await row(db, first)
    assert (message.status, message.activity_id, message.sent_conversation_id) == ("sent", sent[0]["id"],
                                                                                   chat_id(member))
    assert message.attempts == 1 and message.last_status == 201 and message.finished_at == clock.now()
    assert await attempts(db, first) == [("send", 201, None)]
    assert (await row(db, second)).status == "sent"
    assert {r.authorization for r in teams_double.requests} == {"Bearer test-token"}


async def test_opens_a_personal_chat_when_there_is_no_reference_and_keeps_it(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, make_worker: WorkerFactory) -> None:
    [member] = await add_people(db, clock, teams_double, 1, with_chat=False)
    first = await put(db, clock, "k1", person=member.aad_object_id, text="one")
    await put(db, clock, "k2", person=member.aad_object_id, text="two")

    await make_worker().run_until_idle()

    conversation = teams_double.conversation_for(member.aad_object_id)
    assert conversation is not None
    assert texts(teams_double, conversation) == ["one", "two"]
    assert [r.route for r in teams_double.requests] == ["create", "send", "send"]
    create = teams_double.requests[0].body
    assert create["members"] == [{"id": member.teams_user_id}]
    assert create["channelData"] == {"tenant": {"id": DEFAULT_TENANT_ID}}
    assert create["bot"] == {"id": "28:test-bot"}
    assert await attempts(db, first) == [("create", 201, None), ("send", 201, None)]
    async with db.transaction() as session:
        from storage.repositories.people import ConversationRepository

        ref = await ConversationRepository(session).personal(member.aad_object_id)
    assert ref is not None and ref.conversation_id == conversation and ref.service_url == teams_double.url


async def test_the_same_key_is_one_message_however_often_it_is_enqueued(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, make_worker: WorkerFactory) -> None:
    [member] = await add_people(db, clock, teams_double, 1)
    ids = {await put(db, clock, "invite:s1:p1", person=member.aad_object_id, text="hello") for _ in range(3)}
    worker = make_worker()
    await worker.run_until_idle()
    ids.add(await put(db, clock, "invite:s1:p1", person=member.aad_object_id, text="hello again"))
    await worker.run_until_idle()

    assert len(ids) == 1
    assert len(await rows(db)) == 1
    assert texts(teams_double, chat_id(member)) == ["hello"]


async def test_each_recipient_gets_messages_in_enqueue_order_while_recipients_go_in_parallel(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, make_worker: WorkerFactory) -> None:
    members = await add_people(db, clock, teams_double, 3)
    for n in range(5):
        for member in members:
            await put(db, clock, f"m{n}:{member.aad_object_id}", person=member.aad_object_id, text=f"message {n}")

    await make_worker().run_until_idle()

    for member in members:
        assert texts(teams_double, chat_id(member)) == [f"message {n}" for n in range(5)]
    # Recipients are interleaved on the wire: one slow chat does not hold the others back.
    first_five = [r.conversation_id for r in teams_double.requests[:3]]
    assert set(first_five) == {chat_id(m) for m in members}


async def test_an_update_waits_for_its_original_and_replaces_it_in_place(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, make_worker: WorkerFactory) -> None:
    [member] = await add_people(db, clock, teams_double, 1)
    original = await put(db, clock, "invite", person=member.aad_object_id, card=card("Invitation"))
    change = await put(db, clock, "change-1", person=member.aad_object_id, card=card("Invitation (moved)"),
                       updates=original)
    after = await put(db, clock, "reminder", person=member.aad_object_id, text="see you soon")
    teams_double.fail_next(503)
    worker = make_worker()

    await worker.run_until_idle()  # the original is refused once; nothing behind it may overtake it
    assert [r.status for r in teams_double.requests] == [503]
    assert [(await row(db, i)).status for i in (original, change, after)] == ["pending"] * 3

    later(clock, 60)
    await worker.run_until_idle()

    sent = teams_double.sent(chat_id(member))
    assert [r.route for r in teams_double.requests] == ["send", "send", "update", "send"]
    activity_id = sent[0]["id"]
    assert teams_double.requests[2].activity_id == activity_id
    current = teams_double.activity(chat_id(member), activity_id)
    assert current is not None and current["attachments"][0]["content"] == card("Invitation (moved)")
    assert texts(teams_double, chat_id(member))[-1] == "see you soon"
    updated = await row(db, change)
    assert (updated.status, updated.activity_id, updated.kind) == ("sent", activity_id, "update")


async def test_an_update_of_a_message_that_failed_fails_too(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, make_worker: WorkerFactory) -> None:
    [member] = await add_people(db, clock, teams_double, 1)
    original = await put(db, clock, "invite", person=member.aad_object_id, card=card("x"))
    change = await put(db, clock, "change", person=member.aad_object_id, card=card("y"), updates=original)
    teams_double.fail_next(400, code="BadArgument")

    await make_worker().run_until_idle()

    assert (await row(db, original)).status == "failed"
    failed = await row(db, change)
    assert (failed.status, failed.last_error) == ("failed", "OriginalNotSent")
    assert [r.route for r in teams_double.requests] == ["send"]


async def test_a_message_scheduled_for_later_waits_and_does_not_hold_back_others(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, make_worker: WorkerFactory) -> None:
    [member] = await add_people(db, clock, teams_double, 1)
    from datetime import timedelta

    reminder = await put(db, clock, "reminder", person=member.aad_object_id, text="tomorrow",
                         due_at=clock.now() + timedelta(hours=1))
    await put(db, clock, "now", person=member.aad_object_id, text="now")
    worker = make_worker()

    await worker.run_until_idle()
    assert texts(teams_double, chat_id(member)) == ["now"]
    assert (await row(db, reminder)).status == "pending"

    later(clock, 3600)
    await worker.run_until_idle()
    assert texts(teams_double, chat_id(member)) == ["now", "tomorrow"]


async def test_cancelled_messages_never_go(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, make_worker: WorkerFactory) -> None:
    [member] = await add_people(db, clock, teams_double, 1)
    await put(db, clock, "reminder:s1", person=member.aad_object_id, text="cancelled session")
    await put(db, clock, "other", person=member.aad_object_id, text="still on")
    async with db.transaction() as session:
        assert await outbox.cancel(session, ["reminder:s1", "unknown"], clock.now()) == 1

    await make_worker().run_until_idle()
    assert texts(teams_double, chat_id(member)) == ["still on"]


async def test_an_expired_lease_is_reclaimed_and_counted(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, make_worker: WorkerFactory) -> None:
    [member] = await add_people(db, clock, teams_double, 1)
    message = await put(db, clock, "k", person=member.aad_object_id, text="after a crash")
    # A worker claims it and dies before sending.
    async with db.transaction() as session:
        from datetime import timedelta

        [claimed] = await OutboxRepository(session).claim(
            owner="dead-worker", now=clock.now(), lease_until=clock.now() + timedelta(seconds=30), limit=10,
            max_attempts=4, skip_locked=db.is_postgres)
    assert claimed.id == message
    worker = make_worker()

    await worker.run_until_idle()
    assert teams_double.requests == []  # the lease still holds

    later(clock, 31)
    await worker.run_until_idle()
    assert texts(teams_double, chat_id(member)) == ["after a crash"]
    assert await attempts(db, message) == [("claim", None, "LeaseExpired"), ("send", 201, None)]
    assert (await row(db, message)).attempts == 2


async def test_a_live_worker_renews_its_leases(db: Database, clock: FixedClock, teams_double: TeamsDouble) -> None:
    [member] = await add_people(db, clock, teams_double, 1)
    await put(db, clock, "k", person=member.aad_object_id, text="held")
    from datetime import timedelta

    async with db.transaction() as session:
        await OutboxRepository(session).claim(owner="live", now=clock.now(),
                                              lease_until=clock.now() + timedelta(seconds=30), limit=10,
                                              max_attempts=4, skip_locked=db.is_postgres)
    later(clock, 25)
    async with db.transaction() as session:
        assert await OutboxRepository(session).renew_leases("live", clock.now() + timedelta(seconds=30)) == 1
    later(clock, 25)  # past the first lease, inside the renewed one
    async with db.transaction() as session:
        assert await OutboxRepository(session).claim(
            owner="other", now=clock.now(), lease_until=clock.now() + timedelta(seconds=30), limit=10,
            max_attempts=4, skip_locked=db.is_postgres) == []


async def test_logs_carry_ids_and_codes_never_content(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, make_worker: WorkerFactory,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    blocked, fine = make_member(500), make_member(501)
    for member in (blocked, fine):
        await add_person(db, clock, member, teams_double.url, teams=teams_double)
    teams_double.block(chat_id(blocked))
    secret = "Priya Shah priya.shah@nhs.test disability"
    await put(db, clock, "a", person=blocked.aad_object_id, card=card(secret))
    await put(db, clock, "b", person=fine.aad_object_id, text=secret)
    teams_double.fail_next(400, code="BadArgument", message=secret, path_contains=chat_id(fine))

    await make_worker().run_until_idle()

    ours = [record for record in caplog.records if record.name.startswith("bot.")]
    assert ours, "the worker logs what it did"
    for record in ours:
        text = record.getMessage()
        for word in ("Priya", "Shah", "priya.shah", "disability"):
            assert word not in text


async def test_a_database_blip_does_not_end_delivery(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, make_worker: WorkerFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    [member] = await add_people(db, clock, teams_double, 1)
    await put(db, clock, "k", person=member.aad_object_id, text="despite it")
    claim = OutboxRepository.claim
    calls = 0

    async def flaky(self: OutboxRepository, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OperationalError("SELECT", {}, Exception("database is locked"))
        return await claim(self, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(OutboxRepository, "claim", flaky)
    worker = make_worker(poll_seconds=0.01)
    worker.start()

    await teams_double.wait_for_sent(1, chat_id(member))
    assert calls >= 2 and worker.status().alive
