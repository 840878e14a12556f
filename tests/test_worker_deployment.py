"""One web instance with RUN_WORKER=false plus one `python -m bot worker` on the same database (issue 20, item 5),
on SQLite and PostgreSQL: the web instance alone runs no background job, so neither a due reminder nor a due
announcement goes; with the worker beside it (run in-process through the code `python -m bot worker` runs) both
reach the Teams double, once each."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta

from bot.__main__ import build_parser
from bot.cli.worker import build_worker_app, run_jobs
from bot.clock import FixedClock
from bot.delivery.tokens import StaticTokenProvider
from bot.features.delivery import DELIVERY
from tests.app_fixtures import BotHarness, bot_settings, served
from tests.doubles.issuer import TokenIssuer
from tests.doubles.teams import TeamsDouble, make_member
from tests.test_announcements_helpers import AUTHOR, add_volunteers, announce, announcement_cards, announcements
from tests.test_reminders_e2e import reminders_in_chat
from tests.test_reminders_support import booked_session
from tests.test_sessions_helpers import outbox
from vocabulary.words import Role

# The names of the background jobs' tasks (bot/jobs.py): delivery, reminders, announcements, retention.
JOB_TASKS = ("delivery-worker-", "reminders-tick", "announcements-tick", "retention", "operational_retention-tick")


def running_job_tasks() -> list[str]:
    return sorted(task.get_name() for task in asyncio.all_tasks() if task.get_name().startswith(JOB_TASKS))


@asynccontextmanager
async def web_instance(db_url: str, issuer: TokenIssuer, teams: TeamsDouble,
                       clock: FixedClock) -> AsyncIterator[BotHarness]:
    """A web instance as deployed beside a worker: RUN_WORKER=false."""
    async with served(db_url, issuer, clock, run_worker=False) as (app, http, server):
        yield BotHarness(server=server, http=http, issuer=issuer, teams=teams, clock=clock, app=app)


@asynccontextmanager
async def worker_process(db_url: str, issuer: TokenIssuer, clock: FixedClock) -> AsyncIterator[None]:
    """`python -m bot worker` in this process: its parser, its app objects and its job loop (the same settings
    as the web instance, RUN_WORKER=false included: the worker runs every job whatever RUN_WORKER says)."""
    args = build_parser().parse_args(["worker", "--static-token", "test-token", "--poll-seconds", "0.02",
                                      "--heartbeat-seconds", "0.1"])
    app = build_worker_app(bot_settings(db_url, issuer, run_worker=False), args, clock=clock,
                           outbound=StaticTokenProvider())
    runtime = app[DELIVERY]
    runtime.config = replace(runtime.config, probe_seconds=0.05)
    stopping = asyncio.Event()
    task = asyncio.create_task(run_jobs(app, stopping))
    try:
        yield
    finally:
        stopping.set()
        assert await asyncio.wait_for(task, 30) == 0  # stopped cleanly, no job failed


async def test_web_with_run_worker_false_plus_one_worker_sends_reminders_and_announcements(
        db_url: str, token_issuer: TokenIssuer, teams_double: TeamsDouble, clock: FixedClock) -> None:
    teams_double.set_limits(per_conversation=False, global_per_second=None)
    booked = make_member(7300)
    async with web_instance(db_url, token_issuer, teams_double, clock) as web:
        _, starts_at = await booked_session(web, [booked])
        await web.core.roles.grant("test", AUTHOR.aad_object_id, Role.FACILITATOR)
        [reader] = await add_volunteers(web, 1, first=7310)

    # A day before the session: its reminder is due. An announcement to send now is confirmed.
    clock.set(starts_at - timedelta(hours=23))
    async with web_instance(db_url, token_issuer, teams_double, clock) as web:
        await announce(web, spaces="minoritised")
        # The web instance alone: started with a reminder due and an announcement waiting, it runs no background
        # job (a job runner would have started their tasks before the server answered), so nothing is enqueued.
        assert running_job_tasks() == []
        assert await outbox(web, "reminder:") == []
        assert [row.status for row in await announcements(web)] == ["scheduled"]
        assert reminders_in_chat(teams_double, booked) == [] and announcement_cards(web, reader) == []

        # The worker beside it, on the same database: the reminder and the announcement go.
        async with worker_process(db_url, token_issuer, clock):
            # Every job runs in the worker (the check above would have seen them).
            await teams_double.wait_for(lambda: {name.split("-")[0] for name in running_job_tasks()} == {
                "delivery", "reminders", "announcements", "retention", "operational_retention"}, timeout=10)
            await teams_double.wait_for(lambda: len(reminders_in_chat(teams_double, booked)) == 1
                                        and len(announcement_cards(web, reader)) == 1, timeout=20)
        assert running_job_tasks() == []  # the worker stopped its jobs; the web instance still runs none

        [message] = await outbox(web, "reminder:")
        assert message.status == "sent"
        [row] = await announcements(web)
        assert row.status != "scheduled"
    assert len(reminders_in_chat(teams_double, booked)) == 1
    assert teams_double.duplicates() == {}

