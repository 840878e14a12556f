"""Roles held through Entra groups (design §2, bot/graph/group_roles.py) count in every session check, as they do at
the edge: a group facilitator creates a session and can be its co-facilitator, and a group admin manages anyone's
session, marks who came, and sees every session in the list. Roles come from RoleService, never the table alone."""

from __future__ import annotations

from datetime import timedelta

from bot.services.sessions import SessionForm
from tests.app_fixtures import BotHarness
from tests.doubles.teams import make_member
from tests.test_reminders_support import attendance_of
from tests.test_sessions_helpers import FACILITATOR, add_person, draft, publish, service_of
from vocabulary.words import Role


class GroupRoles:
    """Roles from outside the database, as the Entra group source gives them."""

    def __init__(self, roles: dict[str, set[str]]) -> None:
        self._roles = roles

    async def roles_of(self, person_id: str) -> set[str]:
        return set(self._roles.get(person_id, set()))

    async def members(self, role: str) -> frozenset[str]:
        return frozenset(person for person, roles in self._roles.items() if role in roles)


async def test_facilitators_and_admins_from_entra_groups_are_who_they_are_everywhere(harness: BotHarness) -> None:
    group_facilitator, group_co, group_admin = make_member(4200), make_member(4201), make_member(4202)
    for member in (group_facilitator, group_co, group_admin):
        await add_person(harness, member)
    harness.core.roles.add_source(GroupRoles({
        group_facilitator.aad_object_id: {Role.FACILITATOR.value}, group_co.aad_object_id: {Role.FACILITATOR.value},
        group_admin.aad_object_id: {Role.ADMIN.value}}))
    service = service_of(harness)

    form = SessionForm(title="Allyship basics", phase="codesign", space="open", date="2026-12-10", start="14:00",
                       end="15:30", capacity="10", co_facilitators=group_co.email)
    checked = await service.check(group_facilitator.aad_object_id, form)
    assert checked.ok, checked.errors
    assert checked.draft is not None and checked.draft.co_facilitator_ids == (group_co.aad_object_id,)
    created = await service.create(group_facilitator.aad_object_id, checked.draft, publish=True)
    assert created.outcome == "done" and created.session is not None
    assert (await service.roster(group_co.aad_object_id, created.session.session_id)).session is not None

    # Someone else's session: a group admin sees it, changes nothing by mistake, and may cancel it.
    other = await publish(harness)
    assert other in [info.session_id for info in await service.list_for(group_admin.aad_object_id)]
    assert (await service.info(group_admin.aad_object_id, other, "session.cancel.open")).outcome == "done"
    assert (await service.cancel(group_admin.aad_object_id, other)).outcome == "done"
    assert (await service.cancel(group_facilitator.aad_object_id, created.session.session_id)).outcome == "done"

    # After the start, the group admin may mark who came at a session they do not run.
    held = await service.create(FACILITATOR.aad_object_id, draft(harness, starts_in=timedelta(hours=1)),
                                publish=True)
    assert held.session is not None
    harness.clock.advance(timedelta(hours=2))
    sheet = await attendance_of(harness).sheet(group_admin.aad_object_id, held.session.session_id)
    assert sheet.outcome == "done"
