"""Edit or withdraw an announcement after it was delivered (issue 24), from the buttons on the author's final
report: "Edit announcement" (edit → check → update every delivered copy in place) and "Withdraw announcement"
(confirm → every delivered copy is replaced by a short note).

Each press is checked twice on the server: the action registry asks for the facilitator role (admins have it
too), and the service checks that the presser wrote the announcement or is an admin, that sending has finished
and that it was not withdrawn (refusals are audited). Nothing is kept between presses: the cards carry the
announcement id, the revision the edit started from and the typed text, and everything is checked again.
"""

from __future__ import annotations

from bot.actions import ActionPayload, RecordCount, RecordId
from bot.features import Wiring
from bot.services.announcements import AnnouncementService, Changeable, check_draft
from bot.turns import Turn
from cards.announcement_changes import (
    ACTION_CHANGE_CANCEL,
    ACTION_EDIT,
    ACTION_EDIT_CHECK,
    ACTION_EDIT_SEND,
    ACTION_RECALL,
    ACTION_RECALL_SEND,
    EditView,
    edit_card,
    edit_check_card,
    edit_started_text,
    recall_card,
    recall_started_text,
)
from cards.announcements import AnnouncementView
from vocabulary.words import Role

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


class ChangeRef(ActionPayload):
    announcement_id: RecordId


class EditOpen(ActionPayload):
    """"Edit announcement" on the final report; "Back" on the check card carries what was typed."""

    announcement_id: RecordId
    revision: RecordCount | None = None
    title: str | None = None
    body: str | None = None


class EditDraft(ActionPayload):
    announcement_id: RecordId
    revision: RecordCount
    title: str = ""
    body: str = ""


def _view(current: Changeable, title: str | None = None, body: str | None = None,
          revision: int | None = None) -> EditView:
    return EditView(current.announcement_id, current.revision if revision is None else revision,
                    current.title if title is None else title, current.body if body is None else body,
                    current.link_title if current.link_url else None)


class AnnouncementChangesFeature:
    def __init__(self, service: AnnouncementService) -> None:
        self.service = service

    async def _current(self, turn: Turn, announcement_id: int, action: str) -> Changeable | None:
        current = await self.service.changeable(turn.person_id, announcement_id, action)
        if current.outcome != "ok":
            await turn.reply_text(REFUSALS[current.outcome])
            return None
        return current

    async def edit_open(self, turn: Turn, payload: EditOpen) -> None:
        current = await self._current(turn, payload.announcement_id, "announcement.edit")
        if current is not None:
            await turn.reply_card(edit_card(_view(current, payload.title, payload.body, payload.revision), {}))

    async def edit_check(self, turn: Turn, payload: EditDraft) -> None:
        current = await self._current(turn, payload.announcement_id, "announcement.edit")
        if current is None:
            return
        if current.revision != payload.revision:
            await turn.reply_text(REFUSALS["changed"])
            await turn.reply_card(edit_card(_view(current), {}))
            return
        draft, errors = check_draft(payload.title, payload.body, "", "")
        view = _view(current, payload.title, payload.body)
        if draft is None:
            await turn.reply_card(edit_card(view, errors))
            return
        if (draft.title, draft.body) == (current.title, current.body):
            await turn.reply_text(UNCHANGED)
            await turn.reply_card(edit_card(view, {}))
            return
        sample = AnnouncementView(draft.title, draft.body, current.link_url, current.link_title,
                                  updated_at=turn.core.clock.now())
        await turn.reply_card(edit_check_card(_view(current, draft.title, draft.body), sample))

    async def edit_send(self, turn: Turn, payload: EditDraft) -> None:
        result = await self.service.edit(turn.person_id, payload.announcement_id, payload.revision, payload.title,
                                         payload.body)
        if result.outcome == "done":
            await turn.reply_text(edit_started_text())
        elif result.outcome == "unchanged":
            await turn.reply_text(UNCHANGED)
        elif result.outcome == "invalid":
            current = await self._current(turn, payload.announcement_id, "announcement.edit")
            if current is not None:
                await turn.reply_card(edit_card(_view(current, payload.title, payload.body, payload.revision),
                                                result.errors))
        else:
            await turn.reply_text(REFUSALS[result.outcome])
            if result.outcome == "changed":
                current = await self._current(turn, payload.announcement_id, "announcement.edit")
                if current is not None:
                    await turn.reply_card(edit_card(_view(current), {}))

    async def recall_open(self, turn: Turn, payload: ChangeRef) -> None:
        current = await self._current(turn, payload.announcement_id, "announcement.recall")
        if current is not None:
            await turn.reply_card(recall_card(current.announcement_id, current.title))

    async def recall_send(self, turn: Turn, payload: ChangeRef) -> None:
        result = await self.service.recall(turn.person_id, payload.announcement_id)
        if result.outcome == "done":
            await turn.reply_text(recall_started_text())
        else:
            await turn.reply_text(REFUSALS.get(result.outcome, REFUSALS["missing"]))

    async def cancel(self, turn: Turn, _: ChangeRef) -> None:
        await turn.reply_text(CANCELLED)


def register_changes(wiring: Wiring, service: AnnouncementService) -> None:
    """Called by bot.features.announcements, which owns the service."""
    feature = AnnouncementChangesFeature(service)
    actions = wiring.actions
    actions.register(ACTION_EDIT, EditOpen, feature.edit_open, Role.FACILITATOR)
    actions.register(ACTION_EDIT_CHECK, EditDraft, feature.edit_check, Role.FACILITATOR)
    actions.register(ACTION_EDIT_SEND, EditDraft, feature.edit_send, Role.FACILITATOR)
    actions.register(ACTION_RECALL, ChangeRef, feature.recall_open, Role.FACILITATOR)
    actions.register(ACTION_RECALL_SEND, ChangeRef, feature.recall_send, Role.FACILITATOR)
    actions.register(ACTION_CHANGE_CANCEL, ChangeRef, feature.cancel, Role.FACILITATOR)
