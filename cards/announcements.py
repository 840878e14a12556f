"""Announcement cards (design §4 Announcements, §5, §9): the facilitator's four journey cards (write, choose who,
check, send), the announcement itself, the author's progress card, and the "Stop announcements" replies.

Pure functions: view data in, card JSON out. Journey cards carry {"journey", "step", "nav"} so an old card
changes nothing. The progress card changes in place, so its button is Action.Execute with a Submit fallback.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cards.common import (
    BACK,
    CANCEL,
    HELP,
    Card,
    card,
    execute,
    facts,
    field_error,
    fix_count,
    heading,
    input_label,
    journey_submit,
    open_url,
    para,
    submit,
)
from vocabulary.actions.announcements import (
    ASK_ANNOUNCEMENT_RECALL,
    OPEN_ANNOUNCEMENT_EDIT,
    START_ANNOUNCEMENT,
    STOP_SENDING_ANNOUNCEMENT,
    TURN_OFF_ANNOUNCEMENTS,
    TURN_ON_ANNOUNCEMENTS,
)
from vocabulary.actions.people import SHOW_HELP
from vocabulary.uk_time import uk_clock, uk_day_at, uk_short
from vocabulary.words import (
    ANNOUNCEMENT_SPACES,
    AnnouncementChangeKind,
    AnnouncementStatus,
    AudienceSessionPeople,
    Phase,
    VolunteerSpace,
)

NEXT = "Next"
PREVIEW = "Preview"
SEND_NOW = "Send now"
SCHEDULE = "Schedule it"
STOP_SENDING = "Stop sending"
STOP_ANNOUNCEMENTS = "Stop announcements"
RESUME_ANNOUNCEMENTS = "Turn announcements back on"
SEND_ANOTHER = "Send another announcement"
EDIT_ANNOUNCEMENT = "Edit announcement"
WITHDRAW_ANNOUNCEMENT = "Withdraw announcement"
WITHDRAWN_TEXT = "This announcement was withdrawn by its author."

# The journey's own buttons carry this with the journey's run and step: no registered action, only the dialog
# reads them (vocabulary/actions/announcements.py declares the card actions).
JOURNEY_ACTION = "announce_journey"
ROUNDING_NOTE = ("Numbers are rounded to the nearest 5. Numbers from 1 to 7 show as 'fewer than 8'. "
                 "This protects people's privacy.")
BAR_STEPS = 10
SOME_UNDELIVERED = "Some could not be delivered."
SMALL_NOTE = "It went to fewer than 8 people, so this card shows no numbers. This protects people's privacy."


# -- view data -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AnnouncementView:
    """What an announcement says: the author's draft (bot.services.announcements.check_draft) and each copy."""

    title: str
    body: str
    link_url: str | None = None
    link_title: str | None = None
    updated_at: datetime | None = None  # when its author last edited it after sending


@dataclass(frozen=True)
class ChannelOption:
    ref_id: int  # the channel's conversation reference
    label: str  # "Team › Channel"


@dataclass(frozen=True)
class SessionOption:
    session_id: int
    title: str
    starts_at: datetime


@dataclass(frozen=True)
class AudienceOrganisationOption:
    organisation_id: int
    name: str


@dataclass(frozen=True)
class AudienceView:
    """What the audience card offers (bot.services.announcements.AnnouncementService.options): the only ids a
    choice may name."""

    channels: tuple[ChannelOption, ...]
    sessions: tuple[SessionOption, ...]
    organisations: tuple[AudienceOrganisationOption, ...] = ()


@dataclass(frozen=True)
class AudienceSummary:
    """The chosen audience as the author may see it (AnnouncementService.preview): people rounded (design §5)."""

    channels: tuple[str, ...]  # labels of the chosen channels
    people: str | None  # rounded text, e.g. "25" or "fewer than 8"; None when no people were chosen
    people_is_zero: bool
    spaces: tuple[VolunteerSpace, ...]
    phases: tuple[Phase, ...]
    sessions: tuple[str, ...]  # titles
    organisations: tuple[str, ...] = ()  # names
    session_people: AudienceSessionPeople = AudienceSessionPeople.BOOKED


@dataclass(frozen=True)
class ConfirmView:
    announcement: AnnouncementView
    audience: AudienceSummary
    send_now: bool
    at: datetime  # when the author wants it to start
    quiet: bool  # `at` is in quiet hours
    quiet_end: datetime | None
    quiet_hours: str  # e.g. "20:00 to 08:00"


@dataclass(frozen=True)
class ChangeProgressView:
    """How far an edit or a recall of the delivered copies has got, shown like sending (design §5): tens of
    per cent, and exact numbers only of copies that could not be changed; for fewer than 8 copies neither."""

    kind: AnnouncementChangeKind
    percent: int = 0  # dealt with, in tens, rounded down
    changed_percent: int = 0
    not_changed: int = 0  # the copy could not be updated (the person blocked the app, Teams refused)
    finished: bool = False
    small: bool = False  # fewer than 8 copies: no percentage and no figure, only "done" or "some could not be"


@dataclass(frozen=True)
class ProgressView:
    """What the author's progress card shows (bot.services.announcements.progress_of). Percentages in tens;
    exact numbers only of messages that could not be delivered (design §5)."""

    announcement_id: int
    title: str
    state: AnnouncementStatus
    send_at: datetime
    waits_for_quiet_hours: bool
    percent: int  # how much has been dealt with, in tens, rounded down
    delivered_percent: int
    stopped_percent: int  # not sent because the author stopped it
    unreachable: int  # the person or channel cannot be reached (blocked, removed the app)
    failed: int  # the message itself was refused, or retries ran out
    finished: bool
    nobody: bool  # there was no one to send it to
    due: bool  # a scheduled one whose time has come: it starts in a moment
    can_stop: bool
    # Issue 24: the latest edit or recall of the delivered copies (None: there was none), shown like sending,
    # whether it was withdrawn, and whether to offer "Edit announcement" and "Withdraw announcement" (it has
    # finished, something was delivered, no change is on its way).
    change: ChangeProgressView | None = None
    recalled: bool = False
    can_change: bool = False
    # It goes to fewer than 8 people (design §5): no percentage and no figure at all, only "sent" or "some could
    # not be delivered".
    small: bool = False

    @property
    def undelivered(self) -> int:
        return self.unreachable + self.failed


# -- small helpers -------------------------------------------------------------------------------------------------

def _journey_button(title: str, journey: str, step: str, nav: str, *, style: str | None = None,
                    inputs: bool = True, **data: Any) -> dict[str, Any]:
    return journey_submit(title, journey, step, nav, style=style, inputs=inputs, action=JOURNEY_ACTION, **data)


def _session_label(session: SessionOption) -> str:
    """e.g. "Co-design day (Thu 26 Nov, 10:00)"."""
    return f"{session.title} ({uk_short(session.starts_at, year=False, zone_note=False)})"


def _back_cancel(journey: str, step: str) -> list[dict[str, Any]]:
    return [_journey_button(BACK, journey, step, "back", inputs=False),
            _journey_button(CANCEL, journey, step, "cancel", inputs=False)]


def _multi(input_id: str, label: str, options: list[tuple[str, str]], chosen: list[str]) -> dict[str, Any]:
    return {"type": "Input.ChoiceSet", "id": input_id, "label": input_label(label, False), "isMultiSelect": True,
            "style": "expanded", "wrap": True, "value": ",".join(chosen),
            "choices": [{"title": title, "value": value} for value, title in options]}


def _people_text(summary: AudienceSummary) -> str | None:
    if summary.people is None:
        return None
    if summary.people_is_zero:
        return "No volunteers match this yet."
    return f"{summary.people} people"


def _who_rows(summary: AudienceSummary) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    if summary.channels:
        rows.append(("Channels", "; ".join(summary.channels)))
    if summary.spaces:
        rows.append(("Volunteers in", " and ".join(space.label for space in summary.spaces)))
    if summary.phases:
        rows.append(("Interested in", " or ".join(phase.label for phase in summary.phases)))
    if summary.sessions:
        rows.append((summary.session_people.label, "; ".join(summary.sessions)))
    if summary.organisations:
        rows.append(("From", "; ".join(summary.organisations)))
    people = _people_text(summary)
    if people:
        rows.append(("People", people))
    return rows


# -- the announcement itself ---------------------------------------------------------------------------------------

def announcement_card(view: AnnouncementView, *, to_people: bool,
                      stop_button: dict[str, Any] | None = None) -> Card:
    """What people and channels see. People also get "Stop announcements" (the preview passes a harmless
    `stop_button` with the same title)."""
    body: list[dict[str, Any]] = [heading(view.title)]
    if view.updated_at is not None:
        body.append(para(f"Updated on {uk_day_at(view.updated_at)}.", subtle=True))
    body.append(para(view.body))
    actions: list[dict[str, Any]] = []
    if view.link_url:
        actions.append(open_url(view.link_title or "Find out more", view.link_url))
    if to_people:
        body.append(para("An announcement from HNY Inc. You'll still get your session invitations and reminders "
                         "if you stop announcements.", subtle=True))
        actions.append(stop_button or submit(STOP_ANNOUNCEMENTS, TURN_OFF_ANNOUNCEMENTS))
    else:
        body.append(para("An announcement from HNY Inc.", subtle=True))
    return card(body, actions, speak=f"Announcement: {view.title}")


def withdrawn_card(*, to_people: bool) -> Card:
    """What replaces every delivered copy of a withdrawn announcement: nothing of what it said."""
    footer = "An announcement from HNY Inc."
    if to_people:
        footer += " You'll still get your session invitations and reminders."
    return card([heading("Announcement withdrawn"), para(WITHDRAWN_TEXT), para(footer, subtle=True)],
                speak="Announcement withdrawn")


# -- the journey ---------------------------------------------------------------------------------------------------

def compose_card(journey: str, form: dict[str, str], errors: dict[str, str]) -> Card:
    body: list[dict[str, Any]] = [
        heading("New announcement"),
        para("There are 4 short steps: write it, choose who gets it, check it, then send it. Nothing is sent "
             "until you press Send."),
        *fix_count(errors),
        {"type": "Input.Text", "id": "title", "label": input_label("Title", True), "value": form.get("title", ""),
         "isRequired": True, "errorMessage": "Give the announcement a title.", "maxLength": 100},
        *field_error(errors, "title"),
        {"type": "Input.Text", "id": "body", "label": input_label("Message", True), "value": form.get("body", ""),
         "isMultiline": True, "isRequired": True, "errorMessage": "Write the message.", "maxLength": 2000},
        para("Up to 2,000 characters. Keep it short and plain.", subtle=True),
        *field_error(errors, "body"),
        {"type": "Input.Text", "id": "link_url", "label": input_label("Link for a button", False),
         "value": form.get("link_url", ""), "style": "Url", "placeholder": "https://", "maxLength": 1000},
        para("A web address that starts with https://. Leave it empty for no button.", subtle=True),
        *field_error(errors, "link_url"),
        {"type": "Input.Text", "id": "link_title", "label": input_label("Button text", False),
         "value": form.get("link_title", ""), "placeholder": "Find out more", "maxLength": 40},
        *field_error(errors, "link_title"),
    ]
    return card(body, [_journey_button(NEXT, journey, "compose", "next", style="positive"),
                       _journey_button(CANCEL, journey, "compose", "cancel", inputs=False)])


def audience_card(journey: str, view: AudienceView, chosen: dict[str, list[str]], errors: dict[str, str]) -> Card:
    body: list[dict[str, Any]] = [
        heading("Who should get it?"),
        para("Choose channels, volunteers, or both."),
        *fix_count(errors),
        *field_error(errors, "audience"),
    ]
    if view.channels:
        body.append(_multi("channels", "Team channels", [(str(o.ref_id), o.label) for o in view.channels],
                           chosen.get("channels", [])))
    else:
        body.append(para("Team channels: the app isn't in any team yet. Add it to a team to post there."))
    body += [
        *field_error(errors, "channels"),
        _multi("spaces", "Volunteers in these spaces", [(space.value, space.label) for space in ANNOUNCEMENT_SPACES],
               chosen.get("spaces", [])),
        *field_error(errors, "spaces"),
        _multi("phases", "Volunteers interested in these phases", [(phase.value, phase.label) for phase in Phase],
               chosen.get("phases", [])),
        para("If you choose a space and a phase, only volunteers in that space who are interested in that phase "
             "get it.", subtle=True),
        *field_error(errors, "phases"),
    ]
    if view.sessions:
        sessions = [(str(o.session_id), _session_label(o)) for o in view.sessions]
        body.append(_multi("sessions", "People from these sessions", sessions, chosen.get("sessions", [])))
        body += [
            *field_error(errors, "sessions"),
            {"type": "Input.ChoiceSet", "id": "session_people", "label": input_label("Who from those sessions", False),
             "style": "expanded", "wrap": True,
             "value": (chosen.get("session_people") or [AudienceSessionPeople.BOOKED.value])[0],
             "choices": [{"title": which.choice_label, "value": which.value} for which in AudienceSessionPeople]},
            *field_error(errors, "session_people"),
        ]
    else:
        body.append(para("People from a session: there are no sessions to choose from right now."))
        body += field_error(errors, "sessions")
    if view.organisations:
        organisations = _multi("organisations", "Volunteers from these organisations",
                               [(str(o.organisation_id), o.name) for o in view.organisations],
                               chosen.get("organisations", []))
        if len(view.organisations) > 8:
            organisations["style"] = "compact"  # a long list: a drop-down, not a wall of ticks
        body += [organisations,
                 para("If you choose organisations, only volunteers from them get it. To reach everyone from an "
                      "organisation, choose it and nothing else.", subtle=True),
                 *field_error(errors, "organisations")]
    body += [
        para("To protect people's privacy, a message to fewer than 8 people chosen by organisation, or by who "
             "came to a session, can't be sent.", subtle=True),
        para("People who stopped announcements don't get them.", subtle=True),
    ]
    return card(body, [_journey_button(PREVIEW, journey, "audience", "next", style="positive"),
                       *_back_cancel(journey, "audience")])


def preview_card(journey: str, announcement: AnnouncementView, summary: AudienceSummary, when: dict[str, str],
                 errors: dict[str, str], *, quiet_hours: str) -> Card:
    to_people = summary.people is not None
    sample_stop = _journey_button(STOP_ANNOUNCEMENTS, journey, "preview", "sample", inputs=False)
    sample = announcement_card(announcement, to_people=to_people, stop_button=sample_stop)
    shown_as: list[dict[str, Any]] = list(sample["body"])
    if sample.get("actions"):
        shown_as.append({"type": "ActionSet", "actions": sample["actions"]})
    body: list[dict[str, Any]] = [
        heading("Check your announcement"),
        para("This is how people will see it:"),
        {"type": "Container", "style": "emphasis", "items": shown_as},
        {"type": "TextBlock", "text": "Who gets it", "wrap": True, "weight": "Bolder", "size": "Medium",
         "separator": True},
        facts(_who_rows(summary)),
    ]
    if summary.people is not None:
        body.append(para(ROUNDING_NOTE, subtle=True))
    body += [
        {"type": "TextBlock", "text": "When to send it", "wrap": True, "weight": "Bolder", "size": "Medium",
         "separator": True},
        *fix_count(errors),
        {"type": "Input.ChoiceSet", "id": "when", "label": input_label("When", True), "style": "expanded",
         "wrap": True, "isRequired": True, "errorMessage": "Choose when to send it.",
         "value": when.get("mode") or "now",
         "choices": [{"title": "Send now", "value": "now"}, {"title": "Send at a time I choose", "value": "later"}]},
        *field_error(errors, "when"),
        {"type": "Input.Date", "id": "date", "label": input_label("Date, if you choose a time", False),
         "value": when.get("date", "")},
        *field_error(errors, "date"),
        {"type": "Input.Time", "id": "time", "label": input_label("Time, UK time, if you choose a time", False),
         "value": when.get("time", "")},
        *field_error(errors, "time"),
        para(f"Quiet hours are {quiet_hours} (UK time). Nothing starts sending then unless you say so, so people "
             "aren't disturbed at home.", subtle=True),
    ]
    return card(body, [_journey_button(NEXT, journey, "preview", "next", style="positive"),
                       *_back_cancel(journey, "preview")])


def confirm_card(journey: str, view: ConfirmView) -> Card:
    when = "Now" if view.send_now else uk_day_at(view.at)
    body: list[dict[str, Any]] = [
        heading("Ready to send?"),
        facts([("Title", view.announcement.title), *_who_rows(view.audience), ("When", when)]),
    ]
    step = "confirm"
    if view.quiet and view.quiet_end is not None:
        chosen = "Now" if view.send_now else f"{uk_clock(view.at)}"
        body.append(para(f"{chosen} is in quiet hours ({view.quiet_hours}, UK time). We don't start sending then, "
                         "so people aren't disturbed at home.", weight="Bolder"))
        body.append(para(f"I can start at {uk_day_at(view.quiet_end)}, when quiet hours end. Or you can send it "
                         "in quiet hours anyway."))
        anyway = "Send now anyway" if view.send_now else f"Send at {uk_clock(view.at)} anyway"
        actions = [
            _journey_button(f"Send at {uk_clock(view.quiet_end)}", journey, step, "send", style="positive",
                            inputs=False, quiet="wait"),
            _journey_button(anyway, journey, step, "send", inputs=False, quiet="confirm"),
        ]
    else:
        actions = [_journey_button(SEND_NOW if view.send_now else SCHEDULE, journey, step, "send", style="positive",
                                   inputs=False)]
    body.append(para("You'll get a card here that shows how sending is going, with a button to stop it."))
    return card(body, [*actions, *_back_cancel(journey, step)])


def journey_stopped() -> Card:
    return card([heading("Announcement stopped"),
                 para("Nothing was sent. Type \"announce\" to start again.")])


def created_text(send_now: bool, send_at: datetime, waits_for_quiet_hours: bool) -> str:
    if send_now and not waits_for_quiet_hours:
        return "Thank you. Your announcement is on its way. I'll show how it's going in a card below."
    return (f"Thank you. Your announcement will start on {uk_day_at(send_at)}. I'll show how it's going in a "
            "card below. You can stop it there.")


# -- the author's progress card ------------------------------------------------------------------------------------

def progress_bar(percent: int) -> str:
    filled = max(0, min(BAR_STEPS, percent * BAR_STEPS // 100))
    return "▓" * filled + "░" * (BAR_STEPS - filled) + f" {percent}%"


def _about(percent: int) -> str:
    return f"{percent}%" if percent in (0, 100) else f"about {percent}%"


def _undelivered_rows(view: ProgressView) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if view.unreachable:
        rows.append(para(f"{view.unreachable} could not be delivered, because the person or channel can't be "
                         "reached. They may have blocked or removed the app."))
    if view.failed:
        rows.append(para(f"{view.failed} could not be delivered, because Teams refused the message or kept "
                         "failing."))
    return rows


def progress_card(view: ProgressView) -> Card:
    """The author's card, sent once and then updated in place. Percentages in tens, and exact numbers only for
    messages that could not be delivered (design §5)."""
    title = para(view.title, weight="Bolder")
    undelivered = view.undelivered
    body: list[dict[str, Any]]
    stopped = view.state == AnnouncementStatus.STOPPED
    if view.state == AnnouncementStatus.SCHEDULED and not view.finished and view.due:
        body = [heading("Getting ready to send"), title, para("Sending starts in a moment.")]
    elif view.state == AnnouncementStatus.SCHEDULED and not view.finished:
        body = [heading("Announcement scheduled"), title,
                para(f"It will start on {uk_day_at(view.send_at)}.")]
        if view.waits_for_quiet_hours:
            body.append(para("The time you chose is in quiet hours, so it will start when they end."))
    elif not view.finished and view.small:
        body = [heading("Sending your announcement"), title,
                para("It's on its way. This card will say when it has been sent.")]
        if undelivered:
            body.append(para(SOME_UNDELIVERED, weight="Bolder"))
        if stopped:
            body.append(para("You stopped sending. Messages already on their way will finish."))
    elif not view.finished:
        body = [heading("Sending your announcement"), title,
                {"type": "TextBlock", "text": progress_bar(view.percent), "wrap": True, "fontType": "Monospace",
                 "size": "Large"},
                para(f"{view.percent}% done. This card updates as it goes.")]
        if undelivered:
            body.append(para(f"{undelivered} could not be delivered.", weight="Bolder"))
        if stopped:
            body.append(para("You stopped sending. Messages already on their way will finish."))
    elif stopped and view.percent == 0 and not view.delivered_percent:
        body = [heading("You stopped this announcement"), title, para("Nothing was sent.")]
    elif view.nobody:
        body = [heading("Nothing to send"), title,
                para("There was no one to send it to: no channel or volunteer matched when it started.")]
    elif view.small:
        heading_text = "You stopped this announcement" if stopped else "Your announcement has gone"
        body = [heading(heading_text), title, para("Final report:", weight="Bolder"),
                para("It has been sent." if view.delivered_percent else "It could not be sent.")]
        if undelivered and view.delivered_percent:
            body.append(para(f"{SOME_UNDELIVERED} The person or channel may not be reachable, or Teams refused "
                             "the message."))
        if view.stopped_percent:
            body.append(para("Some were not sent, because you stopped it."))
        body.append(para(SMALL_NOTE, subtle=True))
    else:
        heading_text = "You stopped this announcement" if stopped else "Your announcement has gone"
        rows = [("Delivered", _about(view.delivered_percent)),
                ("Could not be delivered", str(undelivered))]
        if view.stopped_percent:
            rows.append(("Not sent, because you stopped it", _about(view.stopped_percent)))
        body = [heading(heading_text), title,
                {"type": "TextBlock", "text": progress_bar(100), "wrap": True, "fontType": "Monospace",
                 "size": "Large"},
                para("Final report:", weight="Bolder"), facts(rows), *_undelivered_rows(view)]
    body += _change_rows(view)
    actions: list[dict[str, Any]] = []
    if view.can_stop:
        body.append(para("Stop sending cancels the messages that have not gone yet. Messages already delivered "
                         "stay.", subtle=True))
        stop = execute(STOP_SENDING, STOP_SENDING_ANNOUNCEMENT, style="destructive",
                       announcement_id=view.announcement_id)
        stop["fallback"] = submit(STOP_SENDING, STOP_SENDING_ANNOUNCEMENT, style="destructive",
                                  announcement_id=view.announcement_id)
        actions.append(stop)
    else:
        if view.can_change:
            actions += [submit(EDIT_ANNOUNCEMENT, OPEN_ANNOUNCEMENT_EDIT, announcement_id=view.announcement_id),
                        submit(WITHDRAW_ANNOUNCEMENT, ASK_ANNOUNCEMENT_RECALL, style="destructive",
                               announcement_id=view.announcement_id)]
        actions.append(submit(SEND_ANOTHER, START_ANNOUNCEMENT))
    return card(body, actions, speak=f"{body[0]['text']}: {view.title}")


def _change_rows(view: ProgressView) -> list[dict[str, Any]]:
    """The latest edit or recall, below the sending report: a bar while it goes, then its own final report.
    Figures as for sending (design §5), and none at all for fewer than 8 copies."""
    change = view.change
    if change is None:
        return []
    edit = change.kind == AnnouncementChangeKind.EDIT
    rows: list[dict[str, Any]] = []
    if not change.finished:
        rows.append({"type": "TextBlock", "text": "Updating the copies people got" if edit else
                     "Withdrawing the copies people got", "wrap": True, "weight": "Bolder", "size": "Medium",
                     "separator": True})
        if not change.small:
            rows += [{"type": "TextBlock", "text": progress_bar(change.percent), "wrap": True,
                      "fontType": "Monospace", "size": "Large"},
                     para(f"{change.percent}% done. This card updates as it goes.")]
        else:
            rows.append(para("This card updates as it goes."))
        return rows
    rows.append({"type": "TextBlock", "text": "Your changes are in place" if edit else "Announcement withdrawn",
                 "wrap": True, "weight": "Bolder", "size": "Medium", "separator": True})
    rows.append(para("The copies people got now show your changes, marked \"Updated\" with the time. Nobody got "
                     "a new message." if edit else
                     "The copies people got now say: \"" + WITHDRAWN_TEXT + "\""))
    if change.small:
        rows.append(para("Some copies could not be changed, because the person or channel can't be reached, or "
                         "Teams refused." if change.not_changed else "Every copy was changed."))
    else:
        rows.append(facts([("Changed", _about(change.changed_percent)),
                           ("Could not be changed", str(change.not_changed))]))
    return rows


# -- people who stop or resume announcements -----------------------------------------------------------------------

def announcements_stopped_card() -> Card:
    return card([
        heading("Announcements stopped"),
        para("You won't get announcements from HNY Inc. any more."),
        para("You'll still get your session invitations and reminders."),
        para("You can turn announcements back on at any time, here or in \"my details\"."),
    ], [submit(RESUME_ANNOUNCEMENTS, TURN_ON_ANNOUNCEMENTS), submit(HELP, SHOW_HELP)])


def announcements_resumed_card() -> Card:
    return card([
        heading("Announcements are back on"),
        para("You'll get announcements from HNY Inc. again, as well as your session invitations and reminders."),
    ], [submit(STOP_ANNOUNCEMENTS, TURN_OFF_ANNOUNCEMENTS), submit(HELP, SHOW_HELP)])
