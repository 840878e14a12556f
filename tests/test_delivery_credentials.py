"""The bot's own credentials (design §7): on 401, or when no token can be had, sending stops, every message
stays pending, /healthz says why, and sending resumes once a token is obtained again."""

from __future__ import annotations

from datetime import timedelta

from bot.clock import FixedClock
from bot.delivery.health import delivery_health
from bot.delivery.tokens import StaticTokenProvider
from storage.db import Database
from tests.doubles.teams import TeamsDouble
from tests.test_delivery_support import (
    WorkerFactory,
    add_people,
    attempts,
    chat_id,
    eventually,
    make_worker,
    put,
    rows,
    texts,
)

__all__ = ["make_worker"]

STALE = timedelta(seconds=15)


async def test_401_stops_sending_keeps_everything_pending_and_resumes_with_a_token(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, make_worker: WorkerFactory) -> None:
    members = await add_people(db, clock, teams_double, 5)
    for member in members:
        await put(db, clock, f"k:{member.aad_object_id}", person=member.aad_object_id, text="hello")
    teams_double.reject_all_tokens()
    tokens = StaticTokenProvider()
    worker = make_worker(tokens=tokens, rate_per_second=50.0)

    await worker.run_until_idle()

    assert worker.credentials_problem == "Unauthorized"
    assert {m.status for m in await rows(db)} == {"pending"}
    assert {m.attempts for m in await rows(db)} == {0}  # the bot's fault, not the messages'
    refused = [r for r in teams_double.requests if r.status == 401]
    assert 1 <= len(refused) < 5, "sending stopped after the first refusals instead of trying every message"
    first = (await rows(db))[0].id
    assert (await attempts(db, first))[:1] in ([("send", 401, "Unauthorized")], [])
    health = await delivery_health(db, clock, local=worker, stale_after=STALE)
    assert not health.healthy and health.detail["credentials"] == "refused: Unauthorized"
    assert health.detail["backlog"] == 5

    await worker.run_until_idle()  # still stopped: nothing is tried until a token is obtained again
    assert len(teams_double.requests) == len(refused)

    teams_double.reject_all_tokens(False)
    assert await worker.probe()
    await worker.run_until_idle()

    for member in members:
        assert texts(teams_double, chat_id(member)) == ["hello"]
    assert (await delivery_health(db, clock, local=worker, stale_after=STALE)).detail["credentials"] == "ok"


async def test_refused_credentials_send_nothing_until_a_token_comes(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, make_worker: WorkerFactory) -> None:
    [member] = await add_people(db, clock, teams_double, 1)
    await put(db, clock, "k", person=member.aad_object_id, text="hello")
    tokens = StaticTokenProvider()
    tokens.refuse = True
    worker = make_worker(tokens=tokens)

    await worker.run_until_idle()
    assert teams_double.requests == []
    assert worker.credentials_problem == "TokenRefused"
    assert [m.status for m in await rows(db)] == ["pending"]
    assert not await worker.probe()

    tokens.refuse = False
    assert await worker.probe()
    await worker.run_until_idle()
    assert texts(teams_double, chat_id(member)) == ["hello"]


async def test_the_running_worker_probes_and_resumes_by_itself(
        db: Database, clock: FixedClock, teams_double: TeamsDouble, make_worker: WorkerFactory) -> None:
    [member] = await add_people(db, clock, teams_double, 1)
    teams_double.reject_all_tokens()
    worker = make_worker(probe_seconds=0.05, poll_seconds=0.02)
    worker.start()
    await put(db, clock, "k", person=member.aad_object_id, text="hello")

    await teams_double.wait_for(lambda: any(r.status == 401 for r in teams_double.requests))
    async def reported() -> bool:
        return (await delivery_health(db, clock, local=None, stale_after=STALE)).detail["credentials"] != "ok"

    await eventually(reported)
    from_db = await delivery_health(db, clock, local=None, stale_after=STALE)
    assert not from_db.healthy and from_db.detail["credentials"] == "refused: Unauthorized"
    # It keeps probing, one trial request at a time, and a new token alone does not make it healthy.
    refused = sum(r.status == 401 for r in teams_double.requests)
    await teams_double.wait_for(lambda: sum(r.status == 401 for r in teams_double.requests) >= refused + 2)
    assert all(r.status == 401 for r in teams_double.requests)
    assert not (await delivery_health(db, clock, local=None, stale_after=STALE)).healthy

    teams_double.reject_all_tokens(False)
    await teams_double.wait_for_sent(1, chat_id(member))
    assert texts(teams_double, chat_id(member)) == ["hello"]
