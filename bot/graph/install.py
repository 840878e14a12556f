"""Proactive install (design §7, §8): reach someone the bot has never talked to by installing the app in their
personal scope through Graph, then reading the id of their 1:1 chat with the bot.

Needs the application permission TeamsAppInstallation.ReadWriteSelfForUser.All (the app can install only
itself) and the manifest's `webApplicationInfo` (already in manifest/manifest.template.json). Graph installs only
apps in the organisation's app catalog (or the Teams Store), and only for users of the bot's own tenant
(members and guests of it). Installing also makes Teams send the bot a conversationUpdate for the new chat,
which the handler stores like any other install.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bot.graph.client import GraphClient, odata_string, segment
from bot.graph.errors import GraphBadRequest, GraphConflict, GraphError, GraphForbidden, GraphNotFound

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InstallResult:
    """`chat_id` is the conversation id to send to (the 1:1 chat, "19:…@unq.gbl.spaces"), or None with either
    `refused` (a Teams-style code: the person cannot be reached this way, do not retry) or `pending` (installed,
    but Graph does not show the installation yet: try again in a minute)."""

    chat_id: str | None
    newly_installed: bool = False
    refused: str | None = None
    pending: bool = False


class AppInstaller:
    def __init__(self, client: GraphClient, manifest_app_id: str, *, catalog_app_id: str = "",
                 home_tenant_id: str = "") -> None:
        """`manifest_app_id` is TEAMS_APP_ID; `catalog_app_id` is the app's id in the org catalog
        (GRAPH_TEAMS_CATALOG_APP_ID), looked up once by the manifest id when empty."""
        self._client = client
        self._manifest_app_id = manifest_app_id
        self._catalog_app_id = catalog_app_id
        self._home_tenant_id = home_tenant_id.lower()
        self._lock = asyncio.Lock()

    async def catalog_id(self) -> str:
        """Needs AppCatalog.Read.All when GRAPH_TEAMS_CATALOG_APP_ID is not set."""
        async with self._lock:
            if not self._catalog_app_id:
                if not self._manifest_app_id:
                    raise GraphError("catalog.find", None, "no_teams_app_id")
                async for app in self._client.items("catalog.find", "/appCatalogs/teamsApps", {
                        "$filter": f"externalId eq {odata_string(self._manifest_app_id)}"}):
                    if isinstance(app.get("id"), str):
                        self._catalog_app_id = app["id"]
                        break
                else:
                    # Not in the org catalog: a Teams Store app keeps its manifest id.
                    self._catalog_app_id = self._manifest_app_id
            return self._catalog_app_id

    async def install_for(self, person_id: str, *, tenant_id: str | None = None) -> InstallResult:
        """Install the app for this Entra user (409 = already installed) and return their chat with the bot.

        Raises GraphError only for what may pass (429, 5xx, timeouts, credentials): retry later."""
        if tenant_id and self._home_tenant_id and tenant_id.lower() != self._home_tenant_id:
            return InstallResult(None, refused="InstallOtherTenant")
        catalog_id = await self.catalog_id()
        user = f"/users/{segment(person_id)}/teamwork/installedApps"
        newly = True
        try:
            await self._client.call("install.create", "POST", user, json={
                "teamsApp@odata.bind": f"{self._client.base_url}/appCatalogs/teamsApps/{catalog_id}"},
                ok=(200, 201))
        except GraphConflict:
            newly = False
        except GraphNotFound:
            return InstallResult(None, refused="InstallUserNotFound")
        except GraphForbidden as exc:
            # Missing consent, or the app is blocked for this user by a Teams app policy.
            log.warning("install: refused for %s (%s)", person_id, exc.code or exc.status)
            return InstallResult(None, refused="InstallForbidden")
        except GraphBadRequest as exc:
            log.warning("install: bad request for %s (%s)", person_id, exc.code or exc.status)
            return InstallResult(None, refused="InstallRefused")
        installation_id = None
        async for item in self._client.items("install.find", user, {
                "$expand": "teamsApp", "$filter": f"teamsApp/id eq {odata_string(catalog_id)}"}):
            if isinstance(item.get("id"), str):
                installation_id = item["id"]
                break
        if installation_id is None:
            log.info("install: %s installed=%s, installation not visible yet", person_id, newly)
            return InstallResult(None, newly_installed=newly, pending=True)
        chat = await self._client.get("install.chat", f"{user}/{segment(installation_id)}/chat", {"$select": "id"})
        chat_id = chat.get("id")
        log.info("install: %s reachable (newly installed: %s)", person_id, newly)
        if not isinstance(chat_id, str):
            return InstallResult(None, newly_installed=newly, pending=True)
        return InstallResult(chat_id, newly_installed=newly)
