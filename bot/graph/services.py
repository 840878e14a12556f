"""The Graph objects an app uses, built once by the app factory when GRAPH_ENABLED is on (bot/app.py, which
closes them with the app) from what they need: settings, the database, the clock and the domain hooks. The
features that use Graph (the graph feature, delivery for proactive install and the activity feed, roles,
attendance) take them from `Wiring.graph`."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from bot.clock import Clock
from bot.graph.calendar import CalendarClient
from bot.graph.calendar_sync import CalendarSync
from bot.graph.client import GraphClient
from bot.graph.directory import DirectoryUser, resolve_user_by_email
from bot.graph.group_roles import GroupRoleSource
from bot.graph.install import AppInstaller
from bot.graph.meeting_attendance import MeetingAttendance
from bot.graph.tokens import ClientCredentialsTokenSource, TokenSource, authority_of
from bot.hooks import DomainHooks
from bot.loopback import is_loopback_http
from bot.settings import Settings, SettingsError
from storage.db import Database
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


def build_token_source(settings: Settings, clock: Clock) -> TokenSource:
    """The bot's own Entra app credentials (MICROSOFT_APP_*) are reused for Graph: one app registration. msal for
    Microsoft's authority; a plain client-credentials POST for a test double on a loopback address (see
    bot/graph/tokens.py)."""
    if not settings.microsoft_app_id:
        raise SettingsError("Setting GRAPH_ENABLED: Graph needs MICROSOFT_APP_ID and its credentials")
    authority = authority_of(settings)
    if is_loopback_http(authority):
        secret = settings.microsoft_app_password.get_secret_value() if settings.microsoft_app_password else ""
        return ClientCredentialsTokenSource(authority, settings.microsoft_app_id, secret, clock)
    if not authority.startswith("https://"):
        raise SettingsError("Setting GRAPH_AUTHORITY_URL: use an https:// address")
    from bot.graph.msal_tokens import MsalTokenSource  # msal is imported only when it is used

    return MsalTokenSource.from_settings(settings, authority)


def build_graph(settings: Settings, database: Database, clock: Clock, hooks: DomainHooks,
                tokens: TokenSource | None = None) -> GraphServices:
    client = GraphClient(settings.graph_base_url, tokens or build_token_source(settings, clock))
    calendar = CalendarClient(client, settings.graph_organiser_mailbox)
    return GraphServices(
        client=client,
        calendar=calendar,
        sync=CalendarSync(database, calendar, clock, hooks, organiser_mailbox=settings.graph_organiser_mailbox),
        installer=AppInstaller(client, settings.teams_app_id, catalog_app_id=settings.graph_teams_catalog_app_id,
                               home_tenant_id=settings.microsoft_app_tenant_id),
        group_roles=GroupRoleSource(client, clock, {Role.FACILITATOR.value: settings.facilitator_group_ids,
                                                    Role.ADMIN.value: settings.admin_group_ids}),
        meetings=MeetingAttendance(client, settings.graph_organiser_mailbox),
    )
