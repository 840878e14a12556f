"""Builds the Graph objects once per app, for whichever feature asks first (the graph feature, the delivery
feature for proactive install), and closes them with the app. None when GRAPH_ENABLED is off."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from bot.core import Core
from bot.graph.calendar import CalendarClient
from bot.graph.calendar_sync import CalendarSync
from bot.graph.client import GraphClient
from bot.graph.directory import DirectoryUser, resolve_user_by_email
from bot.graph.group_roles import GroupRoleSource
from bot.graph.install import AppInstaller
from bot.graph.meeting_attendance import MeetingAttendance
from bot.graph.tokens import TokenSource, build_token_source
from vocabulary.words import Role


@dataclass
class GraphServices:
    client: GraphClient
    calendar: CalendarClient
    sync: CalendarSync
    installer: AppInstaller
    group_roles: GroupRoleSource
    meetings: MeetingAttendance  # who came to a session's Teams meeting (issue 24)

    async def resolve_user_by_email(self, email: str) -> DirectoryUser | None:
        """Anyone in the tenant by e-mail (id, name, mail), e.g. to give them a role. Needs User.Read.All."""
        return await resolve_user_by_email(self.client, email)

    async def close(self, _app: web.Application | None = None) -> None:
        await self.client.close()


GRAPH = web.AppKey("graph", GraphServices)


def build_graph(core: Core, tokens: TokenSource | None = None) -> GraphServices:
    settings = core.settings
    client = GraphClient(settings.graph_base_url, tokens or build_token_source(settings, core.clock))
    calendar = CalendarClient(client, settings.graph_organiser_mailbox)
    return GraphServices(
        client=client,
        calendar=calendar,
        sync=CalendarSync(core.database, calendar, core.clock, core.hooks,
                          organiser_mailbox=settings.graph_organiser_mailbox),
        installer=AppInstaller(client, settings.teams_app_id, catalog_app_id=settings.graph_teams_catalog_app_id,
                               home_tenant_id=settings.microsoft_app_tenant_id),
        group_roles=GroupRoleSource(client, core.clock, {Role.FACILITATOR.value: settings.facilitator_group_ids,
                                                         Role.ADMIN.value: settings.admin_group_ids}),
        meetings=MeetingAttendance(client, settings.graph_organiser_mailbox),
    )


def get_graph(app: web.Application, core: Core, tokens: TokenSource | None = None) -> GraphServices | None:
    """The app's Graph services, built on first call (from a feature's register()); None when Graph is off."""
    if not core.settings.graph_enabled:
        return None
    if GRAPH not in app:
        services = build_graph(core, tokens)
        app[GRAPH] = services
        app.on_cleanup.append(services.close)
    return app[GRAPH]
