"""Cards to edit or withdraw an announcement after it was delivered (issue 24, design §4 Announcements, §9).

Pure functions: view data in, card JSON out. Each button carries the announcement id (and, for an edit, the
revision the author started from), so the server checks everything again on every press and an old card
changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cards.announcements import WITHDRAW_ANNOUNCEMENT, WITHDRAWN_TEXT, AnnouncementView, announcement_card
from cards.common import (
    BACK,
    CANCEL,
    Card,
    card,
    facts,
    field_error,
    fix_count,
    heading,
    input_label,
    no_inputs,
    para,
    submit,
)
from vocabulary.actions.announcements import (
    CANCEL_ANNOUNCEMENT_CHANGE,
    CHECK_ANNOUNCEMENT_EDIT,
    OPEN_ANNOUNCEMENT_EDIT,
    SEND_ANNOUNCEMENT_EDIT,
    SEND_ANNOUNCEMENT_RECALL,
)

NEXT = "Next"
UPDATE = "Update the announcement"


@dataclass(frozen=True)
class EditView:
    """A delivered announcement as its author (or an admin) may edit it (bot.services.announcements
    AnnouncementService.changeable): what it says, and the revision the edit started from, so an edit made
    meanwhile is not overwritten."""

    announcement_id: int
    revision: int  # the revision the edit started from
    title: str
    body: str
    link_url: str | None = None  # the link button, which stays as it is
    link_title: str | None = None


def edit_card(view: EditView, errors: dict[str, str]) -> Card:
    body: list[dict[str, Any]] = [
        heading("Edit your announcement"),
        para("Change the title or the message. There are 2 short steps: edit it, then check it."),
        para("The copies people got change where they are, marked \"Updated\" with the time. People don't get a "
             "new message."),
        *fix_count(errors),
        {"type": "Input.Text", "id": "title", "label": input_label("Title", True), "value": view.title,
         "isRequired": True, "errorMessage": "Give the announcement a title.", "maxLength": 100},
        *field_error(errors, "title"),
        {"type": "Input.Text", "id": "body", "label": input_label("Message", True), "value": view.body,
         "isMultiline": True, "isRequired": True, "errorMessage": "Write the message.", "maxLength": 2000},
        para("Up to 2,000 characters. Keep it short and plain.", subtle=True),
        *field_error(errors, "body"),
    ]
    if view.link_url and view.link_title:
        body.append(para(f"The button \"{view.link_title}\" stays as it is.", subtle=True))
    ids: dict[str, Any] = {"announcement_id": view.announcement_id, "revision": view.revision}
    return card(body, [submit(NEXT, CHECK_ANNOUNCEMENT_EDIT, style="positive", **ids),
                       _cancel(view.announcement_id)])


def edit_check_card(view: EditView, sample: AnnouncementView) -> Card:
    """The edited announcement as people will see it (its buttons left out: they do nothing here)."""
    shown = announcement_card(sample, to_people=True)
    carried: dict[str, Any] = {"announcement_id": view.announcement_id, "revision": view.revision,
                               "title": view.title, "body": view.body}
    # Set in the data, not as keywords: submit() takes the button's own title as `title`.
    update = submit(UPDATE, SEND_ANNOUNCEMENT_EDIT, style="positive")
    back = submit(BACK, OPEN_ANNOUNCEMENT_EDIT)
    for button in (update, back):
        button["data"].update(carried)
    back = no_inputs(back)
    return card([
        heading("Check your changes"),
        para("This is how people will see it:"),
        {"type": "Container", "style": "emphasis", "items": list(shown["body"])},
        para("Every copy that was delivered changes where it is. Nothing is sent to anyone new."),
    ], [update, back, _cancel(view.announcement_id)])


def recall_card(announcement_id: int, title: str) -> Card:
    return card([
        heading("Withdraw this announcement?"),
        facts([("Title", title)]),
        para(f"Every copy that was delivered is replaced by a short note: \"{WITHDRAWN_TEXT}\""),
        para("People and channels no longer see what it said. You can't undo this.", weight="Bolder"),
    ], [submit(WITHDRAW_ANNOUNCEMENT, SEND_ANNOUNCEMENT_RECALL, style="destructive",
               announcement_id=announcement_id),
        _cancel(announcement_id)])


def _cancel(announcement_id: int) -> dict[str, Any]:
    return no_inputs(submit(CANCEL, CANCEL_ANNOUNCEMENT_CHANGE, announcement_id=announcement_id))


def edit_started_text() -> str:
    return "Thank you. The copies people got are being updated. Your progress card shows how it's going."


def recall_started_text() -> str:
    return "The announcement is being withdrawn. Your progress card shows how it's going."


__all__ = [
    "EditView",
    "edit_card",
    "edit_check_card",
    "edit_started_text",
    "recall_card",
    "recall_started_text",
]
