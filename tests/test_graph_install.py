"""Proactive install: install the app for a person the bot cannot reach yet and read their chat id; 409 means
installed already; people who cannot be reached this way are told apart from failures worth retrying."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.graph.client import GraphClient
from bot.graph.errors import GraphThrottled
from bot.graph.install import AppInstaller, InstallResult
from tests.doubles.graph import DEFAULT_CATALOG_APP_ID, DEFAULT_MANIFEST_APP_ID, GraphDouble
from tests.doubles.teams import DEFAULT_TENANT_ID
from tests.graph_fixtures import client

__all__ = ["client"]  # the fixture, used here by name

ADA = "11111111-0000-4000-8000-000000000001"
BEN = "11111111-0000-4000-8000-000000000002"
CHAT = f"19:{ADA}_{DEFAULT_CATALOG_APP_ID}@unq.gbl.spaces"


@pytest.fixture
async def graph() -> AsyncIterator[GraphDouble]:
    async with GraphDouble() as double:
        double.add_user(ADA, "Ada Example", "ada@hny.test")
        double.add_user(BEN, "Ben Example", "ben@hny.test")
        yield double


def installer(client: GraphClient, catalog_app_id: str = DEFAULT_CATALOG_APP_ID) -> AppInstaller:
    return AppInstaller(client, DEFAULT_MANIFEST_APP_ID, catalog_app_id=catalog_app_id,
                        home_tenant_id=DEFAULT_TENANT_ID)


async def test_installing_returns_the_chat_and_a_second_time_is_a_409(client: GraphClient,
                                                                      graph: GraphDouble) -> None:
    apps = installer(client)
    assert await apps.install_for(ADA, tenant_id=DEFAULT_TENANT_ID) == InstallResult(CHAT, newly_installed=True)
    (post,) = graph.graph_requests("POST", "installedApps")
    assert post.body == {"teamsApp@odata.bind": f"{graph.base_url}/appCatalogs/teamsApps/{DEFAULT_CATALOG_APP_ID}"}
    listing = graph.graph_requests("GET", "installedApps")[0]
    assert listing.query == {"$expand": "teamsApp", "$filter": f"teamsApp/id eq '{DEFAULT_CATALOG_APP_ID}'"}

    assert await apps.install_for(ADA) == InstallResult(CHAT, newly_installed=False)
    assert [r.status for r in graph.graph_requests("POST", "installedApps")] == [201, 409]


async def test_the_catalog_id_is_looked_up_by_the_manifest_id_once(client: GraphClient, graph: GraphDouble) -> None:
    apps = installer(client, catalog_app_id="")
    assert (await apps.install_for(ADA)).chat_id == CHAT
    assert (await apps.install_for(BEN)).chat_id is not None
    (lookup,) = graph.graph_requests("GET", "appCatalogs")
    assert lookup.query["$filter"] == f"externalId eq '{DEFAULT_MANIFEST_APP_ID}'"


async def test_people_who_cannot_be_reached_this_way(client: GraphClient, graph: GraphDouble) -> None:
    apps = installer(client)
    assert await apps.install_for("11111111-0000-4000-8000-00000000dead") == InstallResult(
        None, refused="InstallUserNotFound")
    graph.blocked_installs.add(BEN)
    assert await apps.install_for(BEN) == InstallResult(None, refused="InstallForbidden")
    assert await apps.install_for(ADA, tenant_id="99999999-0000-4000-8000-000000000000") == InstallResult(
        None, refused="InstallOtherTenant")
    assert not graph.graph_requests("POST", ADA)  # another tenant's person: Graph is not even asked


async def test_throttling_is_retried_then_left_to_the_caller(client: GraphClient, graph: GraphDouble) -> None:
    apps = installer(client)
    graph.fail(429, retry_after=1, method="POST")
    assert (await apps.install_for(ADA)).chat_id == CHAT  # retried after one second
    graph.fail(429, times=10, retry_after=1, method="POST")
    with pytest.raises(GraphThrottled):
        await apps.install_for(BEN)


async def test_an_installation_graph_does_not_show_yet_is_pending(client: GraphClient, graph: GraphDouble) -> None:
    apps = installer(client)
    graph.installation_lag = 1
    result = await apps.install_for(ADA)
    assert result.chat_id is None and result.pending and result.newly_installed
    assert (await apps.install_for(ADA)) == InstallResult(CHAT, newly_installed=False)
