"""Roles from Entra groups (design §2): transitive members of FACILITATOR_GROUP_IDS are facilitators, of
ADMIN_GROUP_IDS admins. They add to the roles stored in the database (RoleService consults this source too);
they are never written to it, so removing someone from the group takes their role away within the cache time.

Membership is cached per role for `ttl`. When Graph fails, the last good answer is kept for at most `max_stale`
(so a Graph outage does not lock facilitators out mid-session), after which group roles grant nothing until
Graph answers again; database roles keep working throughout.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.graph.client import GraphClient
from bot.graph.directory import transitive_user_ids
from bot.graph.errors import GraphError

log = logging.getLogger(__name__)


@dataclass
class _Membership:
    members: frozenset[str]
    fetched_at: datetime


class GroupRoleSource:
    def __init__(self, client: GraphClient, clock: Clock, groups_by_role: dict[str, list[str]], *,
                 ttl: timedelta = timedelta(minutes=5), max_stale: timedelta = timedelta(minutes=30),
                 retry_after_failure: timedelta = timedelta(seconds=30)) -> None:
        self._client = client
        self._clock = clock
        self._groups = {role: [g.lower() for g in groups] for role, groups in groups_by_role.items() if groups}
        self._ttl = ttl
        self._max_stale = max_stale
        self._retry_after_failure = retry_after_failure
        self._cache: dict[str, _Membership] = {}
        self._next_try: dict[str, datetime] = {}
        self._locks = {role: asyncio.Lock() for role in self._groups}
        self.last_error: str | None = None

    @property
    def configured(self) -> bool:
        return bool(self._groups)

    async def roles_of(self, person_id: str) -> set[str]:
        person_id = person_id.lower()
        held: set[str] = set()
        for role in self._groups:
            if person_id in await self.members(role):
                held.add(role)
        return held

    async def members(self, role: str) -> frozenset[str]:
        """Entra object ids holding `role` through a group (empty if no group is configured for it)."""
        if role not in self._groups:
            return frozenset()
        async with self._locks[role]:  # one refresh per role at a time; the others wait and reuse it
            now = self._clock.now()
            cached = self._cache.get(role)
            if cached and now - cached.fetched_at < self._ttl:
                return cached.members
            if now < self._next_try.get(role, now):
                return self._fallback(role, now)
            try:
                members: set[str] = set()
                for group_id in self._groups[role]:
                    members |= await transitive_user_ids(self._client, group_id)
            except GraphError as exc:
                self.last_error = str(exc)
                self._next_try[role] = now + self._retry_after_failure
                log.warning("group roles: %s membership not refreshed (%s)", role, exc)
                return self._fallback(role, now)
            self.last_error = None
            self._cache[role] = _Membership(frozenset(members), now)
            log.info("group roles: %s membership refreshed (%d ids)", role, len(members))
            return self._cache[role].members

    def _fallback(self, role: str, now: datetime) -> frozenset[str]:
        cached = self._cache.get(role)
        if cached and now - cached.fetched_at < self._max_stale:
            return cached.members
        return frozenset()
