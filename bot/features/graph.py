"""Microsoft Graph (design §8, issue 11), registered only when GRAPH_ENABLED: Entra group roles join the role
checks, the calendar sync runs as a background job (bot/jobs.py), and /healthz reports Graph's credentials.
Other features reach the same objects through `wiring.graph` (built by the app factory)."""

from __future__ import annotations

from bot.features import Wiring
from bot.jobs import Leader, LoopJob

# How often the calendar sync looks for due jobs (CalendarSync.run_forever's default).
CALENDAR_POLL_SECONDS = 5.0


def register(wiring: Wiring) -> None:
    graph = wiring.graph
    if graph is None:
        return
    if graph.group_roles.configured:
        wiring.core.roles.add_source(graph.group_roles)
    wiring.core.hooks.person_erased.append(graph.sync.on_person_erased)

    async def health() -> tuple[str, object, bool]:
        state = graph.sync.health()
        detail: dict[str, object] = {"calendar": state.detail}
        if graph.group_roles.last_error:
            detail["group_roles"] = graph.group_roles.last_error
        # Group roles fall back to database roles when Graph fails, so only the credentials make the bot unhealthy.
        return "graph", detail, state.healthy

    wiring.health_checks.append(health)

    # Every process may run it: a job is claimed by a versioned update with a lease, so two never take the same one.
    wiring.jobs.append(LoopJob("calendar", lambda stop: graph.sync.run_forever(stop, CALENDAR_POLL_SECONDS),
                               CALENDAR_POLL_SECONDS, Leader.DATABASE))
