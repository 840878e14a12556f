"""Edit or withdraw an announcement after it was delivered (issue 24), from the buttons on the author's final
report: "Edit announcement" (edit → check → update every delivered copy in place) and "Withdraw announcement"
(confirm → every delivered copy is replaced by a short note).

Each press is checked twice on the server: the action registry asks for the facilitator role (admins have it
too), and the service checks that the presser wrote the announcement or is an admin, that sending has finished
and that it was not withdrawn (refusals are audited). Nothing is kept between presses: the cards carry the
announcement id, the revision the edit started from and the typed text, and everything is checked again.
"""

from __future__ import annotations

from dataclasses import replace

from bot.features import Wiring
from bot.services.announcements import AnnouncementService, check_draft
from bot.turns import Turn
from cards.announcement_changes import (
    EditView,
    edit_card,
    edit_check_card,
    edit_started_text,
    recall_card,
    recall_started_text,
)
from cards.announcements import AnnouncementView
from vocabulary.actions.announcements import (
    ASK_ANNOUNCEMENT_RECALL,
    CANCEL_ANNOUNCEMENT_CHANGE,
    CHECK_ANNOUNCEMENT_EDIT,
    OPEN_ANNOUNCEMENT_EDIT,
    SEND_ANNOUNCEMENT_EDIT,
    SEND_ANNOUNCEMENT_RECALL,
    AnnouncementEditDraft,
    AnnouncementEditOpen,
    AnnouncementRef,
)

REFUSALS: dict[str, str] = {
    "missing": "That announcement can't be found, so nothing was changed.",
    "not_yours": "Only the facilitator who sent this announcement, or an admin, can edit or withdraw it. Nothing "
                 "was changed.",
    "recalled": "This announcement was withdrawn, so it can't be changed any more.",
    "sending": "This announcement is still being sent. You can edit or withdraw it when sending has finished. "
               "To finish sooner, press Stop sending on your progress card.",
    "nothing": "No copy of this announcement was delivered, so there is nothing to change.",
    "changed": "This announcement was changed after you started, so nothing was changed. Here it is as it is now.",
}
UNCHANGED = "That's the same as before, so nothing was changed."
CANCELLED = "Nothing was changed. Your announcement stays as it is."


def _typed(current: EditView, title: str | None = None, body: str | None = None,
           revision: int | None = None) -> EditView:
    """The edit card as the author left it: what they typed over what it says now."""
    return replace(current, revision=current.revision if revision is None else revision,
                   title=current.title if title is None else title, body=current.body if body is None else body)


class AnnouncementChangesFeature:
    def __init__(self, service: AnnouncementService) -> None:
        self.service = service

    async def _current(self, turn: Turn, announcement_id: int, action: str) -> EditView | None:
        current = await self.service.changeable(turn.person_id, announcement_id, action)
        if isinstance(current, str):
            await turn.reply_text(REFUSALS[current])
            return None
        return current

    async def edit_open(self, turn: Turn, payload: AnnouncementEditOpen) -> None:
        current = await self._current(turn, payload.announcement_id, "announcement.edit")
        if current is not None:
            await turn.reply_card(edit_card(_typed(current, payload.title, payload.body, payload.revision), {}))

    async def edit_check(self, turn: Turn, payload: AnnouncementEditDraft) -> None:
        current = await self._current(turn, payload.announcement_id, "announcement.edit")
        if current is None:
            return
        if current.revision != payload.revision:
            await turn.reply_text(REFUSALS["changed"])
            await turn.reply_card(edit_card(current, {}))
            return
        draft, errors = check_draft(payload.title, payload.body, "", "")
        view = _typed(current, payload.title, payload.body)
        if draft is None:
            await turn.reply_card(edit_card(view, errors))
            return
        if (draft.title, draft.body) == (current.title, current.body):
            await turn.reply_text(UNCHANGED)
            await turn.reply_card(edit_card(view, {}))
            return
        sample = AnnouncementView(draft.title, draft.body, current.link_url, current.link_title,
                                  updated_at=turn.core.clock.now())
        await turn.reply_card(edit_check_card(_typed(current, draft.title, draft.body), sample))

    async def edit_send(self, turn: Turn, payload: AnnouncementEditDraft) -> None:
        result = await self.service.edit(turn.person_id, payload.announcement_id, payload.revision, payload.title,
                                         payload.body)
        if result.outcome == "done":
            await turn.reply_text(edit_started_text())
        elif result.outcome == "unchanged":
            await turn.reply_text(UNCHANGED)
        elif result.outcome == "invalid":
            current = await self._current(turn, payload.announcement_id, "announcement.edit")
            if current is not None:
                await turn.reply_card(edit_card(_typed(current, payload.title, payload.body, payload.revision),
                                                result.errors))
        else:
            await turn.reply_text(REFUSALS[result.outcome])
            if result.outcome == "changed":
                current = await self._current(turn, payload.announcement_id, "announcement.edit")
                if current is not None:
                    await turn.reply_card(edit_card(current, {}))

    async def recall_open(self, turn: Turn, payload: AnnouncementRef) -> None:
        current = await self._current(turn, payload.announcement_id, "announcement.recall")
        if current is not None:
            await turn.reply_card(recall_card(current.announcement_id, current.title))

    async def recall_send(self, turn: Turn, payload: AnnouncementRef) -> None:
        result = await self.service.recall(turn.person_id, payload.announcement_id)
        if result.outcome == "done":
            await turn.reply_text(recall_started_text())
        else:
            await turn.reply_text(REFUSALS.get(result.outcome, REFUSALS["missing"]))

    async def cancel(self, turn: Turn, _: AnnouncementRef) -> None:
        await turn.reply_text(CANCELLED)


def register_changes(wiring: Wiring, service: AnnouncementService) -> None:
    """Called by bot.features.announcements, which owns the service."""
    feature = AnnouncementChangesFeature(service)
    actions = wiring.actions
    actions.on_submit(OPEN_ANNOUNCEMENT_EDIT, feature.edit_open)
    actions.on_submit(CHECK_ANNOUNCEMENT_EDIT, feature.edit_check)
    actions.on_submit(SEND_ANNOUNCEMENT_EDIT, feature.edit_send)
    actions.on_submit(ASK_ANNOUNCEMENT_RECALL, feature.recall_open)
    actions.on_submit(SEND_ANNOUNCEMENT_RECALL, feature.recall_send)
    actions.on_submit(CANCEL_ANNOUNCEMENT_CHANGE, feature.cancel)
