"""Directory look-ups and roles from Entra groups: resolve by e-mail, transitive members with paging, the
membership cache (clock-driven), and RoleService adding group roles to database roles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import FixedClock
from bot.graph.client import GraphClient
from bot.graph.directory import DirectoryUser, resolve_user_by_email, transitive_user_ids
from bot.graph.group_roles import GroupRoleSource
from bot.services.roles import Audit, RoleService
from storage.db import Database
from storage.models import AuditEntry
from storage.repositories.roles import AuditRepository, RoleRepository
from tests.doubles.graph import GraphDouble
from tests.graph_fixtures import client
from vocabulary.words import Role

__all__ = ["client"]  # the fixture, used here by name

START = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
ADA = "11111111-0000-4000-8000-000000000001"
GUEST = "11111111-0000-4000-8000-000000000002"
BEN = "11111111-0000-4000-8000-000000000003"
CHI = "11111111-0000-4000-8000-000000000004"
FACILITATORS = "22222222-0000-4000-8000-00000000000f"
NESTED = "22222222-0000-4000-8000-00000000000e"
ADMINS = "22222222-0000-4000-8000-00000000000a"


@pytest.fixture
async def graph() -> AsyncIterator[GraphDouble]:
    async with GraphDouble(page_size=2) as double:
        double.add_user(ADA, "Ada Example", "ada@hny.test")
        # A guest from a partner organisation: their principal name is not their e-mail.
        double.add_user(GUEST, "Gus Guest", "gus@partner.test", upn="gus_partner.test#EXT#@hny.onmicrosoft.com")
        double.add_user(BEN, "Ben Example", "ben@hny.test")
        double.add_group(FACILITATORS, users=[ADA, GUEST], groups=[NESTED], devices=["device-1"])
        double.add_group(NESTED, users=[BEN, ADA])
        double.add_group(ADMINS, users=[CHI])
        yield double


async def test_resolve_user_by_email_finds_members_and_guests(client: GraphClient, graph: GraphDouble) -> None:
    assert await resolve_user_by_email(client, "Ada@HNY.test") == DirectoryUser(ADA, "Ada Example", "ada@hny.test")
    assert await resolve_user_by_email(client, "gus@partner.test") == DirectoryUser(GUEST, "Gus Guest",
                                                                                    "gus@partner.test")
    assert graph.graph_requests("GET", "/users")[-1].query["$filter"] == "mail eq 'gus@partner.test'"
    assert await resolve_user_by_email(client, "nobody@hny.test") is None
    assert await resolve_user_by_email(client, "o'brien@hny.test") is None  # quotes are escaped, not injected
    assert graph.graph_requests("GET", "/users")[-1].query["$filter"] == "mail eq 'o''brien@hny.test'"
    assert await resolve_user_by_email(client, "not-an-address") is None
    assert await resolve_user_by_email(client, "../groups/x@y") is None


async def test_transitive_members_are_people_of_nested_groups_across_pages(client: GraphClient,
                                                                          graph: GraphDouble) -> None:
    assert await transitive_user_ids(client, FACILITATORS) == {ADA, GUEST, BEN}
    assert len(graph.graph_requests("GET", "transitiveMembers")) == 3  # 5 members (a group, a device) by 2


async def test_group_roles_are_cached_and_refreshed(client: GraphClient, graph: GraphDouble) -> None:
    clock = FixedClock(START)
    source = GroupRoleSource(client, clock, {"facilitator": [FACILITATORS], "admin": [ADMINS]},
                             ttl=timedelta(minutes=5))
    assert await source.roles_of(BEN) == {"facilitator"}
    assert await source.roles_of(CHI.upper()) == {"admin"}  # ids compare case-insensitively
    assert await source.roles_of("someone-else") == set()
    calls = len(graph.requests)
    await source.roles_of(ADA)
    assert len(graph.requests) == calls  # from the cache

    graph.add_group(NESTED, users=[ADA])  # Ben leaves the nested group
    clock.advance(timedelta(minutes=4))
    assert await source.roles_of(BEN) == {"facilitator"}  # still cached
    clock.advance(timedelta(minutes=2))
    assert await source.roles_of(BEN) == set()  # refreshed after the cache time


async def test_group_roles_survive_a_short_graph_outage_then_fail_closed(client: GraphClient,
                                                                        graph: GraphDouble) -> None:
    clock = FixedClock(START)
    source = GroupRoleSource(client, clock, {"facilitator": [FACILITATORS]}, ttl=timedelta(minutes=5),
                             max_stale=timedelta(minutes=30), retry_after_failure=timedelta(seconds=30))
    assert await source.roles_of(ADA) == {"facilitator"}
    graph.fail(403, times=100, path_contains="transitiveMembers")
    clock.advance(timedelta(minutes=6))
    assert await source.roles_of(ADA) == {"facilitator"}  # stale but recent: kept
    assert source.last_error is not None and "403" in source.last_error
    requests = len(graph.requests)
    assert await source.roles_of(ADA) == {"facilitator"}
    assert len(graph.requests) == requests  # no hammering: waits before trying Graph again
    clock.advance(timedelta(minutes=30))
    assert await source.roles_of(ADA) == set()  # too old: group roles grant nothing until Graph answers


async def test_a_graph_failure_before_any_answer_grants_nothing(client: GraphClient, graph: GraphDouble) -> None:
    graph.fail(503, times=100)
    source = GroupRoleSource(client, FixedClock(START), {"admin": [ADMINS]})
    assert await source.roles_of(CHI) == set()


async def test_role_service_adds_group_roles_to_database_roles(db: Database, client: GraphClient) -> None:
    clock = FixedClock(START)
    roles = RoleService(db, clock, Audit(clock))
    async with db.transaction() as session:
        await RoleRepository(session).grant(CHI, Role.FACILITATOR.value, "test", START)

    # Without a group source (Graph off) only stored roles count.
    assert await roles.roles_of(BEN) == set()
    assert not await roles.require(BEN, Role.FACILITATOR, "session.create")

    roles.add_source(GroupRoleSource(client, clock, {"facilitator": [FACILITATORS], "admin": [ADMINS]}))
    assert await roles.roles_of(BEN) == {"facilitator"}
    assert await roles.roles_of(CHI) == {"facilitator", "admin"}
    assert await roles.require(BEN, Role.FACILITATOR, "session.create")
    assert not await roles.require(BEN, Role.ADMIN, "counts.view")
    assert await roles.require(CHI, Role.ADMIN, "counts.view")
    async with db.transaction() as session:
        refused = [(e.actor_id, e.action, e.outcome) for e in await AuditRepository(session).all()
                   if isinstance(e, AuditEntry)]
    assert refused == [(BEN, "session.create", "refused"), (BEN, "counts.view", "refused")]
