"""Activity-feed notifications (issue 24, part 4, groundwork) against the Graph double, which answers as Graph's
`sendActivityNotification` does: the app's manifest declares the activity types (and passes Microsoft's 1.30
schema), a declared notification reaches someone who has the app, and what Graph answers is told in the outbox's
words (sent, retry later, cannot reach this person, the message is at fault)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.graph.activity_feed import (
    ACTIVITY_TYPES,
    SESSION_INVITATION,
    SESSION_REMINDER,
    ActivityFeed,
    FeedNotification,
)
from bot.graph.client import GraphClient
from bot.manifest_build import build_package
from tests.doubles.graph import GraphDouble
from tests.graph_fixtures import client
from tests.test_manifest import make_settings, read_manifest, schema_errors

__all__ = ["client"]

ADA = "77777777-0000-4000-8000-000000000001"
BEN = "77777777-0000-4000-8000-000000000002"
CHAT = "https://teams.microsoft.com/l/chat/0/0?users=28:11111111-2222-3333-4444-555555555555"


def invitation(title: str = "Allyship basics") -> FeedNotification:
    return FeedNotification(SESSION_INVITATION, f"Thursday 10 December, 10:00 to 12:00 (UK time): {title}",
                            {"sessionTitle": title}, CHAT)


@pytest.fixture
def manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    monkeypatch.chdir(tmp_path)
    return read_manifest(build_package(make_settings(), tmp_path / "build"))


@pytest.fixture
async def graph(manifest: dict[str, object]) -> AsyncIterator[GraphDouble]:
    async with GraphDouble() as double:
        double.add_user(ADA, "Ada Example", "ada@hny.test")
        double.add_user(BEN, "Ben Example", "ben@hny.test")
        double.installations[ADA] = "inst-ada"  # Ada has the app; Ben never installed it
        activities = manifest["activities"]
        assert isinstance(activities, dict)
        double.activity_types = {entry["type"] for entry in activities["activityTypes"]}
        yield double


def test_the_manifest_declares_the_types_the_bot_sends_and_passes_the_schema(manifest: dict[str, object]) -> None:
    assert schema_errors(manifest) == []
    activities = manifest["activities"]
    assert isinstance(activities, dict)
    declared = {entry["type"]: (entry["description"], entry["templateText"]) for entry in activities["activityTypes"]}
    assert declared == ACTIVITY_TYPES
    assert set(declared) == {SESSION_INVITATION, SESSION_REMINDER}
    assert "{sessionTitle}" in declared[SESSION_INVITATION][1]  # the template survives the package build
    assert "!" not in str(declared)


async def test_a_declared_notification_reaches_someone_who_has_the_app(graph: GraphDouble,
                                                                        client: GraphClient) -> None:
    outcome = await ActivityFeed(client).send(ADA, invitation())
    assert (outcome.verdict, outcome.status) == ("sent", 204)
    [(user, body)] = graph.notifications
    assert user == ADA
    assert body["activityType"] == "sessionInvitation"
    assert body["templateParameters"] == [{"name": "sessionTitle", "value": "Allyship basics"}]
    assert body["topic"] == {"source": "text", "value": "HNY Inc.", "webUrl": CHAT}
    assert body["previewText"]["content"].endswith("Allyship basics")


async def test_no_app_no_type_or_a_long_throttle_each_have_their_outcome(graph: GraphDouble,
                                                                         client: GraphClient) -> None:
    feed = ActivityFeed(client)
    unreachable = await feed.send(BEN, invitation())
    assert (unreachable.verdict, unreachable.status) == ("unreachable", 403)
    undeclared = await feed.send(ADA, FeedNotification("somethingElse", "x", {}, CHAT))
    assert undeclared.verdict == "failed" and undeclared.code == "UndeclaredActivityType"
    assert not graph.graph_requests("POST", "sendActivityNotification")[1:]  # the undeclared one never left

    long_preview = await feed.send(ADA, invitation("T" * 400))  # cut to Graph's 150 characters, not refused
    assert long_preview.verdict == "sent"
    assert len(graph.notifications[-1][1]["previewText"]["content"]) == 150

    graph.fail(429, times=10, retry_after=600, path_contains="sendActivityNotification")
    throttled = await feed.send(ADA, invitation())
    assert (throttled.verdict, throttled.status, throttled.retry_after) == ("retry", 429, 600.0)
    assert len(graph.notifications) == 1  # only the long one got through
