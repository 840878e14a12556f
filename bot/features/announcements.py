"""Announcements (issue 8, design §4): the facilitator's `announce` journey, the author's progress card with
"Stop sending", "Stop announcements" and "Turn announcements back on" for everyone, and the background tick that
starts scheduled announcements and keeps progress cards up to date.

Facilitator actions are checked by the command router and the action registry (refusals are audited there);
"Stop sending" also checks, in the service, that the presser wrote the announcement or is an admin.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.features import Wiring
from bot.features.announcement_changes import register_changes
from bot.jobs import Leader, TickJob
from bot.services.announcements import AnnouncementService
from bot.turns import Turn
from cards.announcements import (
    AnnouncementView,
    ProgressView,
    announcement_card,
    announcements_resumed_card,
    announcements_stopped_card,
    progress_card,
    withdrawn_card,
)
from cards.basics import notice
from dialogs.announce import AnnounceDialog, start_announce
from vocabulary.actions.announcements import (
    START_ANNOUNCEMENT,
    STOP_SENDING_ANNOUNCEMENT,
    TURN_OFF_ANNOUNCEMENTS,
    TURN_ON_ANNOUNCEMENTS,
    AnnouncementRef,
)
from vocabulary.catalogue import NoPayload
from vocabulary.words import Role

ANNOUNCEMENTS = web.AppKey("announcements", AnnouncementService)
# How often scheduled announcements are started and progress cards brought up to date.
TICK_SECONDS = 3.0

PRIVATE_ONLY = "Let's do this in our private chat, so only you see it. Message me there and type \"announce\"."
NOT_YOURS = ("Only the facilitator who sent this announcement, or an admin, can stop it. Nothing was changed.")
GONE = "That announcement can't be found, so nothing was changed."
STOPPED_TEXT = "Sending stopped. Messages that had not gone yet are cancelled. Your progress card shows the rest."
ALREADY_TEXT = "This announcement has already finished, so there was nothing to stop."
WHO_ARE_YOU = "Please message me from your work Microsoft Teams account."


class AnnouncementCards:
    """The service's AnnouncementMessages, drawn with cards/announcements.py."""

    def announcement(self, view: AnnouncementView, *, to_people: bool) -> dict[str, Any]:
        return announcement_card(view, to_people=to_people)

    def withdrawn(self, *, to_people: bool) -> dict[str, Any]:
        return withdrawn_card(to_people=to_people)

    def progress(self, progress: ProgressView) -> dict[str, Any]:
        return progress_card(progress)


class AnnouncementsFeature:
    def __init__(self, service: AnnouncementService) -> None:
        self.service = service

    async def announce(self, turn: Turn) -> None:
        if not turn.is_personal:
            await turn.reply_text(PRIVATE_ONLY)
            return
        await start_announce(turn.dialogs)

    async def announce_action(self, turn: Turn, _: NoPayload) -> None:
        await self.announce(turn)

    # -- Stop sending (the author's progress card) ---------------------------------------------------------------

    async def stop_execute(self, turn: Turn, payload: AnnouncementRef) -> dict[str, Any] | str:
        result = await self.service.stop(turn.person_id, payload.announcement_id)
        if result.outcome == "not_yours":
            return NOT_YOURS
        if result.progress is None:
            return GONE
        return progress_card(result.progress)

    async def stop_submit(self, turn: Turn, payload: AnnouncementRef) -> None:
        # Clients without Universal Actions: the card itself is updated through the outbox.
        result = await self.service.stop(turn.person_id, payload.announcement_id)
        text = {"stopped": STOPPED_TEXT, "already": ALREADY_TEXT, "not_yours": NOT_YOURS}.get(result.outcome, GONE)
        await turn.reply_text(text)

    # -- Stop announcements / Turn announcements back on ---------------------------------------------------------

    async def stop_announcements(self, turn: Turn) -> None:
        if not turn.person_id:
            await turn.reply_card(notice("Sorry, I can't tell who you are", WHO_ARE_YOU))
            return
        await self.service.stop_announcements(turn.person_id)
        await turn.reply_card(announcements_stopped_card())

    async def resume_announcements(self, turn: Turn) -> None:
        if not turn.person_id:
            await turn.reply_card(notice("Sorry, I can't tell who you are", WHO_ARE_YOU))
            return
        await self.service.resume_announcements(turn.person_id)
        await turn.reply_card(announcements_resumed_card())

    async def stop_announcements_action(self, turn: Turn, _: NoPayload) -> None:
        await self.stop_announcements(turn)

    async def resume_announcements_action(self, turn: Turn, _: NoPayload) -> None:
        await self.resume_announcements(turn)


def register(wiring: Wiring) -> None:
    core = wiring.core
    settings = core.settings
    service = AnnouncementService(core.database, core.clock, core.audit, core.roles, AnnouncementCards(),
                                  quiet_start=settings.quiet_hours_start, quiet_end=settings.quiet_hours_end)
    feature = AnnouncementsFeature(service)
    wiring.app[ANNOUNCEMENTS] = service
    wiring.dialogs.add(AnnounceDialog(service))

    commands = wiring.commands
    commands.add("announce", ["announce", "new announcement", "send an announcement", "send announcement",
                              "make an announcement"], feature.announce, Role.FACILITATOR)
    commands.add("stop_announcements", ["stop announcements", "no more announcements", "turn off announcements",
                                        "turn announcements off"], feature.stop_announcements)
    commands.add("resume_announcements", ["start announcements", "resume announcements", "turn on announcements",
                                          "turn announcements on", "turn announcements back on"],
                 feature.resume_announcements)

    actions = wiring.actions
    actions.on_submit(START_ANNOUNCEMENT, feature.announce_action)
    actions.on_execute(STOP_SENDING_ANNOUNCEMENT, feature.stop_execute)
    actions.on_submit(STOP_SENDING_ANNOUNCEMENT, feature.stop_submit)
    actions.on_submit(TURN_OFF_ANNOUNCEMENTS, feature.stop_announcements_action)
    # "Your details" (the colleague journey) links this action so people can turn announcements back on.
    actions.on_submit(TURN_ON_ANNOUNCEMENTS, feature.resume_announcements_action)

    register_changes(wiring, service)  # edit and withdraw after sending (issue 24)

    core.hooks.person_erased.append(service.on_person_erased)

    # Every process may tick: each announcement is handled under its row lock and every message has its key.
    wiring.jobs.append(TickJob("announcements", service.tick, TICK_SECONDS, Leader.DATABASE))
