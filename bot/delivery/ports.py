"""What the delivery worker takes from outside without knowing where it comes from: Graph's proactive install
(for someone the bot has never met) and Graph's activity feed. bot/features/delivery.py wires Graph in;
bot/graph/activity_feed.py answers in these words."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from vocabulary.words import FeedVerdict


@dataclass(frozen=True)
class Installation:
    """What installing the app for someone gave (Graph's proactive install, wired in bot/features/delivery.py):
    their 1:1 chat with the bot, or why not. None of it set: installed, but Graph does not show the chat yet."""

    chat_id: str | None = None
    refused: str | None = None  # a code: the person cannot be reached this way
    error: str | None = None  # a code: the call failed rather than the person
    status: int | None = None  # with `error`, Graph's HTTP status
    retryable: bool = False  # with `error`: the same call may work later (throttled, unavailable, credentials)
    retry_after: float | None = None


# (person id, tenant id or None) -> what installing the app for them gave
Installer = Callable[[str, str | None], Awaitable[Installation]]


@dataclass(frozen=True)
class FeedResult:
    """What became of one Teams activity-feed notification (Graph's `ActivityFeed.send`, wired in
    bot/features/delivery.py). `status` and `code` are Graph's, never a body."""

    verdict: FeedVerdict
    status: int | None = None
    code: str | None = None
    retry_after: float | None = None


# (person id, the outbox payload's "feed" object) -> what became of that notification
FeedSender = Callable[[str, dict[str, Any]], Awaitable[FeedResult]]
FEED_OFF_CODE = "FeedOff"  # a feed message with no feed to send it through (Graph was turned off meanwhile)
