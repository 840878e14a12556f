"""The first cards a person meets: welcome, channel intro, help, privacy, and the kind error cards."""

from __future__ import annotations

from dataclasses import dataclass

from cards.common import CONTACT_EMAIL, HELP, PRIVACY, Card, card, heading, para, submit
from vocabulary.actions.people import (
    EXPRESS_INTEREST,
    EXPRESS_INTEREST_FROM_CHANNEL,
    MY_DETAILS,
    SHOW_HELP,
    SHOW_PRIVACY,
)

EXPRESS_INTEREST_TITLE = "Express interest"


@dataclass(frozen=True)
class HelpView:
    is_facilitator: bool = False
    is_admin: bool = False
    signed_up: bool = False
    not_understood: bool = False


def welcome() -> Card:
    return card(
        [
            heading("Hello, I'm the HNY Inc. volunteers bot."),
            para("We're co-designing allyship and advocacy training across Humber and North Yorkshire, with "
                 "minoritised colleagues and active allies."),
            para("I can sign you up, send you invitations to sessions, and keep you up to date."),
        ],
        [submit(EXPRESS_INTEREST_TITLE, EXPRESS_INTEREST, style="positive"),
         submit(PRIVACY, SHOW_PRIVACY), submit(HELP, SHOW_HELP)],
    )


def channel_intro() -> Card:
    return card(
        [
            heading("HNY Inc. volunteers"),
            para("HNY Inc. is co-designing allyship and advocacy training with colleagues across our "
                 "partnership. Would you like to take part?"),
            para("Press the button and I'll message you privately. Nothing you tell me is shared in this channel."),
        ],
        [submit(EXPRESS_INTEREST_TITLE, EXPRESS_INTEREST_FROM_CHANNEL, style="positive")],
    )


# The help card's commands by role (the desk's home page lists them too): (what to type, what it does).
COLLEAGUE_COMMANDS = [
    ("express interest", "Sign up to take part."),
    ("my details", "See or change your answers."),
    ("my sessions", "See your sessions, or get an invitation again."),
    ("my data", "Get a copy of everything we hold about you."),
    ("stop announcements", "Stop getting announcements. Invitations and reminders still come."),
    ("withdraw", "Delete your answers and leave the programme."),
    ("privacy", "Read how we use your answers."),
]
FACILITATOR_COMMANDS = [
    ("new session", "Create a session."),
    ("sessions", "See and manage your sessions."),
    ("announce", "Send an announcement."),
    ("adjustments", "See who asked to talk about adjustments."),
]
ADMIN_COMMANDS = [
    ("counts", "See sign-up numbers."),
    ("roles", "Manage facilitators and admins."),
    ("audit", "See the audit log."),
    ("programme", "Set the phase, end date, organisations and privacy notice."),
]


def help_card(view: HelpView) -> Card:
    body = []
    if view.not_understood:
        body.append(para("Sorry, I didn't understand that. Here's what I can do."))
    body.append(heading("Help"))
    body.append(para("Type one of these words, or press a button."))
    commands = list(COLLEAGUE_COMMANDS)
    if view.is_facilitator or view.is_admin:
        commands += FACILITATOR_COMMANDS
    if view.is_admin:
        commands += ADMIN_COMMANDS
    body.append({"type": "FactSet", "facts": [{"title": name, "value": text} for name, text in commands]})
    body.append(para(f"Need a person? Email {CONTACT_EMAIL}.", subtle=True))
    primary = submit("My details", MY_DETAILS) if view.signed_up else submit(
        EXPRESS_INTEREST_TITLE, EXPRESS_INTEREST, style="positive")
    return card(body, [primary, submit(PRIVACY, SHOW_PRIVACY)])


def privacy_card(notice_text: str, version: int) -> Card:
    body = [heading("Privacy notice")]
    body += [para(paragraph) for paragraph in notice_text.strip().split("\n\n") if paragraph.strip()]
    body.append(para(f"Privacy notice version {version}. Questions: {CONTACT_EMAIL}.", subtle=True))
    return card(body, [submit(EXPRESS_INTEREST_TITLE, EXPRESS_INTEREST, style="positive"), submit(HELP, SHOW_HELP)])


def something_went_wrong() -> Card:
    return card([
        heading("Sorry, something went wrong"),
        para("Sorry, something went wrong on our side. Your saved answers are safe. Please try again in a "
             f"minute, or contact {CONTACT_EMAIL}."),
    ], [submit(HELP, SHOW_HELP)])


def notice(title: str, text: str) -> Card:
    """A short card for refusals and stale buttons: what happened and where to go next."""
    return card([heading(title), para(text)], [submit(HELP, SHOW_HELP)])
