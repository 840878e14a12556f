"""Cards for running the programme (design §4): settings (admins), organisations, privacy notice versions,
the adjustments follow-up list (facilitators), and the admins' warning before personal data is deleted.

Each card has at most one form in its body; other forms sit in their own Action.ShowCard, whose Submit sends
only its own inputs, and plain buttons send none (associatedInputs "none")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from cards.common import BACK, HELP, PRIVACY, Card, card, facts, heading, no_inputs, para, submit
from cards.roles import person_label
from vocabulary.actions.people import SHOW_HELP, SHOW_PRIVACY
from vocabulary.actions.programme import (
    ADD_ORGANISATION,
    MARK_CONTACTED,
    NOTICE_MAX_CHARS,
    ORGANISATION_NAME_MAX,
    PUBLISH_NOTICE,
    RENAME_ORGANISATION,
    RESTORE_ORGANISATION,
    RETIRE_ORGANISATION,
    SAVE_PROGRAMME,
    SHOW_ADJUSTMENTS,
    SHOW_NOTICES,
    SHOW_ORGANISATIONS,
    SHOW_PROGRAMME,
)
from vocabulary.uk_time import uk_day, uk_short
from vocabulary.words import Phase

# Keeps the adjustments card well under Teams' 80 KB (design §9).
MAX_WAITING_ROWS = 50
MAX_CONTACTED_ROWS = 20

RUNNING = "Running the programme"
SAVE = "Save"
# Button words the chat card and the desk's Programme page share.
ADD = "Add"
RENAME = "Rename"
RETIRE = "Retire"
BRING_BACK = "Bring back"
PUBLISH = "Publish"


def _subheading(text: str) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, "size": "Medium", "weight": "Bolder",
            "spacing": "Large"}


def _status(status: str | None) -> list[dict[str, Any]]:
    return [para(status, weight="Bolder")] if status else []


def _show_card(title: str, body: list[dict[str, Any]], actions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "Action.ShowCard", "title": title,
            "card": {"type": "AdaptiveCard", "body": body, "actions": actions}}


def _choice_set(input_id: str, label: str, choices: list[tuple[str, str]], *, error: str,
                value: str | None = None, expanded: bool = False) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "Input.ChoiceSet", "id": input_id, "label": label, "isRequired": True, "errorMessage": error,
        "style": "expanded" if expanded else "compact", "wrap": True,
        "choices": [{"title": title, "value": key} for key, title in choices],
    }
    if value is not None:
        element["value"] = value
    return element


# -- programme settings (admins) ------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgrammeSettingsView:
    """The programme's settings as the admins' card shows them (bot.services.programme.ProgrammeService.view)."""

    phase: Phase
    end_date: date | None
    deletion_date: date | None
    retention_days: int
    notice_version: int | None
    notice_published_at: datetime | None


PROGRAMME_INTRO = "Only admins can see and change these settings. Every change is written to the audit log."
PHASE_LABEL = "Current phase (required)"
END_DATE_LABEL = "Programme end date, UK (optional)"


def programme_facts(view: ProgrammeSettingsView) -> list[tuple[str, str]]:
    """The settings as the card and the desk's Programme page list them."""
    notice = (f"Version {view.notice_version}, published {uk_short(view.notice_published_at)}"
              if view.notice_version is not None and view.notice_published_at else "None published yet")
    return [
        ("Current phase", view.phase.label),
        ("Programme end date", uk_day(view.end_date) if view.end_date else "Not set"),
        ("Personal data deleted on", uk_day(view.deletion_date) if view.deletion_date
         else "Not planned: set an end date first"),
        ("Privacy notice", notice),
    ]


def retention_note(view: ProgrammeSettingsView) -> str:
    return (f"We delete everyone's personal data {view.retention_days} days after the programme end date. "
            "Admins get a message 14 days and 1 day before. Leave the date empty if it is not decided yet.")


def programme_card(view: ProgrammeSettingsView, status: str | None = None) -> Card:
    body: list[dict[str, Any]] = [
        *_status(status),
        heading(RUNNING),
        para(PROGRAMME_INTRO),
        facts(programme_facts(view)),
        _choice_set("phase", PHASE_LABEL, [(phase.value, phase.label) for phase in Phase],
                    value=view.phase.value, expanded=True,
                    error="Choose the phase the programme is in now."),
        {"type": "Input.Date", "id": "end_date", "label": END_DATE_LABEL,
         "value": view.end_date.isoformat() if view.end_date else ""},
        para(retention_note(view), subtle=True),
    ]
    return card(body, [
        submit(SAVE, SAVE_PROGRAMME, style="positive"),
        no_inputs(submit("Organisations", SHOW_ORGANISATIONS)),
        no_inputs(submit("Privacy notice versions", SHOW_NOTICES)),
        no_inputs(submit("Adjustments list", SHOW_ADJUSTMENTS)),
        no_inputs(submit(HELP, SHOW_HELP)),
    ])


DELETION_SOON = "Personal data will be deleted soon"
SET_END_DATE = "Set end date"


def deletion_soon_text(*, end_date: date, deletion_date: date, days_left: int) -> str:
    """What the end date would do, said before it is saved (the card below and the desk's Programme page)."""
    when = ("in the next daily run" if days_left <= 0 else
            "tomorrow" if days_left == 1 else f"in {days_left} days, on {uk_day(deletion_date)}")
    return (f"With the end date {uk_day(end_date)}, I will delete the personal data of everyone who has used "
            f"this bot {when}. This includes their answers, names, e-mails and session places. It cannot be "
            "undone.")


def end_date_confirm_card(*, phase: Phase, end_date: date, deletion_date: date, days_left: int) -> Card:
    """Asked before saving an end date whose deletion date is less than 14 days away, or already past."""
    return card([
        heading(DELETION_SOON),
        para(deletion_soon_text(end_date=end_date, deletion_date=deletion_date, days_left=days_left)),
        para("Press \"Set end date\" if that is right. Otherwise, press Back and choose a later date."),
    ], [
        submit(SET_END_DATE, SAVE_PROGRAMME, style="destructive", phase=phase.value,
               end_date=end_date.isoformat(), confirmed="true"),
        submit(BACK, SHOW_PROGRAMME),
    ])


# -- organisations (admins) -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OrganisationLine:
    """One organisation of the whole list, retired ones too (bot.services.programme.ProgrammeService.organisations)."""

    id: int
    name: str
    retired: bool


ORGANISATIONS_INTRO = ("People choose one of these when they sign up. A retired organisation stays on the sign-ups "
                       "that have it, but new people can't choose it.")
ORGANISATION_NAME_LABEL = "Name of the organisation (required)"
NEW_NAME_LABEL = "New name (required)"


def organisations_card(rows: list[OrganisationLine], status: str | None = None) -> Card:
    active = [row for row in rows if not row.retired]
    retired = [row for row in rows if row.retired]
    body: list[dict[str, Any]] = [
        *_status(status),
        heading("Organisations"),
        para(ORGANISATIONS_INTRO),
        _subheading("Offered at sign-up"),
        *([para(f"{number}. {row.name}") for number, row in enumerate(active, start=1)] or [para("None.")]),
        _subheading("Retired"),
        *([para(row.name) for row in retired] or [para("None.")]),
    ]
    all_choices = [(str(row.id), row.name + (" (retired)" if row.retired else "")) for row in rows]
    actions: list[dict[str, Any]] = [
        _show_card("Add an organisation", [
            {"type": "Input.Text", "id": "add_name", "label": ORGANISATION_NAME_LABEL,
             "isRequired": True, "maxLength": ORGANISATION_NAME_MAX,
             "errorMessage": "Type the organisation's name."},
        ], [submit(ADD, ADD_ORGANISATION, style="positive")]),
    ]
    if rows:
        actions.append(_show_card(RENAME, [
            _choice_set("rename_id", "Organisation to rename (required)", all_choices,
                        error="Choose the organisation to rename."),
            {"type": "Input.Text", "id": "rename_name", "label": NEW_NAME_LABEL, "isRequired": True,
             "maxLength": ORGANISATION_NAME_MAX, "errorMessage": "Type the new name."},
        ], [submit(RENAME, RENAME_ORGANISATION, style="positive")]))
    if active:
        actions.append(_show_card(RETIRE, [
            _choice_set("retire_id", "Organisation to retire (required)",
                        [(str(row.id), row.name) for row in active], error="Choose the organisation to retire."),
        ], [submit(RETIRE, RETIRE_ORGANISATION)]))
    if retired:
        actions.append(_show_card("Bring one back", [
            _choice_set("restore_id", "Organisation to offer again (required)",
                        [(str(row.id), row.name) for row in retired], error="Choose the organisation."),
        ], [submit(BRING_BACK, RESTORE_ORGANISATION, style="positive")]))
    actions.append(submit(BACK, SHOW_PROGRAMME))
    return card(body, actions)


# -- privacy notice versions (admins) -------------------------------------------------------------------


@dataclass(frozen=True)
class NoticeVersionLine:
    """One published privacy notice version (bot.services.programme.ProgrammeService.notices)."""

    version: int
    sha256: str
    published_at: datetime
    chars: int


NOTICES_INTRO = ("People see the newest version. When you publish a new one, everyone who signed up is asked to "
                 "agree again. Until they do, we don't invite them to sessions or count them as active.")
NOTICE_TEXT_LABEL = "Full text of the new privacy notice (required)"
ASK_NOW_TEXT = "Also send every volunteer a message now asking them to agree"
UNDERSTOOD_TEXT = "I understand that everyone who signed up will be asked to agree again"


def notice_facts(lines: list[NoticeVersionLine]) -> list[tuple[str, str]]:
    """Every published version, newest first."""
    return [(f"Version {line.version}", f"Published {uk_short(line.published_at)}. {line.chars:,} characters. "
             f"Fingerprint {line.sha256[:12]}.") for line in reversed(lines)]


def notices_card(lines: list[NoticeVersionLine], current_text: str, status: str | None = None) -> Card:
    body: list[dict[str, Any]] = [
        *_status(status),
        heading("Privacy notice versions"),
        para(NOTICES_INTRO),
    ]
    if lines:
        body.append(facts(notice_facts(lines)))
    else:
        body.append(para("No version is published yet."))
    body.append(para("You can also add a version as a file in the bot's code (bot/content/privacy_notice_vN.md, "
                     "with the next number). It is published when the bot restarts.", subtle=True))
    publish = _show_card("Publish a new version", [
        para("Change the text below. Leave a blank line between paragraphs. The data protection officer should "
             "approve the text first."),
        {"type": "Input.Text", "id": "notice_text", "isMultiline": True, "isRequired": True,
         "maxLength": NOTICE_MAX_CHARS, "value": current_text,
         "label": NOTICE_TEXT_LABEL,
         "errorMessage": "Type or paste the full text of the new privacy notice."},
        {"type": "Input.Toggle", "id": "ask_now", "title": ASK_NOW_TEXT, "label": "Message volunteers now (optional)",
         "valueOn": "true", "valueOff": "false", "value": "true", "wrap": True},
        {"type": "Input.Toggle", "id": "understood", "title": UNDERSTOOD_TEXT,
         "label": "Check before publishing (required)", "valueOn": "true", "valueOff": "false", "value": "false",
         "wrap": True, "isRequired": True,
         "errorMessage": "Tick the box to show you understand what publishing does."},
    ], [submit(PUBLISH, PUBLISH_NOTICE, style="positive")])
    return card(body, [publish, no_inputs(submit(PRIVACY, SHOW_PRIVACY)), no_inputs(submit(BACK, SHOW_PROGRAMME))])


# -- adjustments follow-up (facilitators) ---------------------------------------------------------------


@dataclass(frozen=True)
class AdjustmentLine:
    """Someone who asked for an adjustments conversation: only who they are and whether they were contacted
    (bot.services.programme.ProgrammeService.adjustments)."""

    person_id: str
    display_name: str | None
    email: str | None
    signed_up_at: datetime
    contacted_at: datetime | None = None
    contacted_by: str | None = None  # the facilitator's id
    contacted_by_name: str | None = None

    @property
    def label(self) -> str:
        """Their name and e-mail, or their id when we never learnt them."""
        return person_label(self.person_id, self.display_name, self.email)


def _adjustment(line: AdjustmentLine) -> dict[str, Any]:
    if line.contacted_at is None:
        note = f"Asked on {uk_short(line.signed_up_at)}. Not contacted yet."
        button = submit(f"Mark {line.label} as contacted", MARK_CONTACTED, person_id=line.person_id,
                        contacted="true")
    else:
        by = line.contacted_by_name or line.contacted_by or "a facilitator"
        note = f"Contacted. Marked on {uk_short(line.contacted_at)} by {by}."
        button = submit(f"Mark {line.label} as not contacted", MARK_CONTACTED, person_id=line.person_id,
                        contacted="false")
    return {"type": "Container", "separator": True, "items": [
        para(line.label, weight="Bolder"), para(note, subtle=True),
        {"type": "ActionSet", "actions": [button]},
    ]}


def adjustments_card(lines: list[AdjustmentLine], status: str | None = None) -> Card:
    waiting = [line for line in lines if line.contacted_at is None]
    contacted = [line for line in lines if line.contacted_at is not None]
    body: list[dict[str, Any]] = [
        *_status(status),
        heading("Adjustments conversations"),
        para("These people asked for a facilitator to contact them about adjustments that would help them take "
             "part. Please contact them by e-mail or in a Teams chat, then mark them as contacted."),
        para("We don't store anything about the adjustment itself. Please don't write it down here or in "
             "a chat with me.", subtle=True),
        _subheading("Waiting to be contacted"),
    ]
    body += [_adjustment(line) for line in waiting[:MAX_WAITING_ROWS]] or [para("No one is waiting.")]
    if len(waiting) > MAX_WAITING_ROWS:
        body.append(para(f"{len(waiting) - MAX_WAITING_ROWS} more are waiting. Mark these first to see them.",
                         subtle=True))
    body.append(_subheading("Contacted"))
    body += [_adjustment(line) for line in contacted[:MAX_CONTACTED_ROWS]] or [para("No one yet.")]
    if len(contacted) > MAX_CONTACTED_ROWS:
        body.append(para(f"The latest {MAX_CONTACTED_ROWS} are shown.", subtle=True))
    body.append(para("People who have not yet agreed to the latest privacy notice are not shown until they do.",
                     subtle=True))
    return card(body, [submit("Refresh", SHOW_ADJUSTMENTS), submit(HELP, SHOW_HELP)])


# -- retention warning (admins, proactive) --------------------------------------------------------------


def retention_warning_card(*, days_left: int, deletion_date: date, end_date: date, retention_days: int) -> Card:
    when = "tomorrow" if days_left == 1 else f"in {days_left} days"
    return card([
        heading(f"Personal data will be deleted {when}"),
        para(f"On {uk_day(deletion_date)}, I will delete the personal data of everyone who has used this bot. "
             "This includes their answers, names, e-mails and session places."),
        para(f"This is {retention_days} days after the programme end date, {uk_day(end_date)}. We keep only the "
             "consent records and the audit log. They hold no names or e-mails."),
        para("To keep the data longer, set a later programme end date. Type \"programme\", or press the button."),
    ], [submit(RUNNING, SHOW_PROGRAMME, style="positive"), submit(HELP, SHOW_HELP)])


__all__ = [
    "AdjustmentLine",
    "NoticeVersionLine",
    "OrganisationLine",
    "ProgrammeSettingsView",
    "adjustments_card",
    "end_date_confirm_card",
    "notices_card",
    "organisations_card",
    "programme_card",
    "retention_warning_card",
]
