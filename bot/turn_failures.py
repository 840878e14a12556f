"""The turn-error handler both Teams SDK edges use: log with the stack (ids only), count, answer kindly."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter

from bot.activity import IncomingActivity, OutgoingActivity, card_activity, person_id_of
from bot.conversation_state import StateConflict
from bot.log_format import Fields
from cards.basics import notice, something_went_wrong

log = logging.getLogger(__name__)

# The kind counted for a turn that lost a race to another turn of the same chat (answered kindly, not a fault).
LOST_RACE = "lost_race"

Send = Callable[[OutgoingActivity], Awaitable[object]]


class TurnFailures:
    """Counts every failed turn in /metrics (`turn_failures_total` by kind: the error's type, or lost_race), so an
    operator sees failures that people met without reading the logs."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._counter = Counter("turn_failures", "Turns that ended in an error, by kind", ["kind"],
                                registry=registry)

    async def on_turn_error(self, activity: IncomingActivity, send: Send, error: Exception) -> None:
        """The journey is kept: a lost concurrency race means the other turn already did the work."""
        if isinstance(error, StateConflict):
            self._counter.labels(LOST_RACE).inc()
            log.info("turn lost a state race", extra=Fields(kind=activity.type))
            await send(card_activity(notice(
                "That was already done",
                "That was already done. You can carry on from the latest card.")))
            return
        self._counter.labels(type(error).__name__).inc()
        log.error("turn failed", exc_info=error, extra=Fields(kind=activity.type, error=type(error).__name__,
                                                              person=person_id_of(activity) or None))
        if activity.type in ("message", "invoke"):
            try:
                await send(card_activity(something_went_wrong()))
            except Exception as exc:  # Teams did not take the apology either: the log line above says it all
                log.warning("could not tell the person a turn failed: %s", type(exc).__name__)
