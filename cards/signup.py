"""Cards of the colleague journey (design §4, §9): the sign-up questions, review, "Your details", withdrawal,
asking for consent again, and the private start card sent after a press in a team channel.

Pure functions: view data in, Adaptive Card 1.5 JSON out. Journey cards carry `journey` (the id of one run of
the dialog) and `step` in every button's data, so the bot can tell a stale card from the current one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cards.announcements import RESUME_ANNOUNCEMENTS, STOP_ANNOUNCEMENTS
from cards.basics import EXPRESS_INTEREST_TITLE
from cards.common import (
    BACK,
    CANCEL,
    CONTACT_EMAIL,
    HELP,
    PRIVACY,
    Card,
    card,
    heading,
    journey_submit,
    no_inputs,
    para,
    submit,
)
from vocabulary.actions.announcements import TURN_OFF_ANNOUNCEMENTS, TURN_ON_ANNOUNCEMENTS
from vocabulary.actions.people import (
    CHANGE_ANSWER,
    CONSENT_AGAIN,
    EXPRESS_INTEREST,
    FEED_OFF,
    FEED_ON,
    MY_DATA,
    SHOW_HELP,
    SHOW_PRIVACY,
    WITHDRAW,
    WITHDRAW_CONFIRM,
    WITHDRAW_KEEP,
)
from vocabulary.uk_time import uk_date
from vocabulary.words import RATHER_NOT_SAY, RATHER_NOT_SAY_LABEL, Community, Phase, VolunteerSpace

# Allies are not asked about communities (design §4), so the start says both lengths.
START_TEXT = ("There are 5 short questions. If you join the space for minoritised colleagues, there is 1 more. "
              "It takes about 2 minutes. You can go back or stop at any time.")
NEXT = "Next"
CONFIRM = "Confirm"
CHANGE = "Change"
DELETE_MY_ANSWERS = "Delete my answers"
KEEP_MY_DETAILS = "Keep my details"
GET_MY_DATA = "Get a copy of my data"
WITHDRAW_TITLE = "Withdraw"
CONTINUE = "Continue"
# "Your details": also tell the person in their Teams activity feed (issue 24), when Graph is on.
FEED_ON_TITLE = "Also tell me in my Teams activity feed"
FEED_OFF_TITLE = "Stop telling me in my activity feed"
FEED_ON_TEXT = ("Done. I'll also tell you about your invitations and reminders in your Teams activity feed. "
                "They still come here too.")
FEED_OFF_TEXT = "Done. I won't use your Teams activity feed. Your invitations and reminders still come here."

ADJUSTMENT_CHOICES = (("yes", "Yes, please contact me"), ("no", "No, thank you"))

CONSENT_PARAGRAPHS = (
    "To invite you to the right sessions, we need to store your answers. Some of them, like your ethnicity, "
    "health, disability or sexual orientation, are special category data under UK data protection law, so we "
    "need your clear permission.",
    "We use your answers only to invite you to sessions and to count sign-ups in a way that never identifies "
    "anyone.",
    "You can see, change or delete your answers at any time by typing \"my details\".",
)
CONSENT_LABEL = "I agree that HNY Inc. can store my answers to invite me to sessions (required)"


@dataclass(frozen=True)
class Frame:
    """What every journey card needs: which run and step it belongs to, and what to say first."""

    journey: str
    step: str
    ack: str | None = None  # confirms the answer just given (design §9: a confirmation after each submit)
    changing: bool = False  # reached from "Your details" or the review's Change: no question numbers
    # "Question 3 of 5": this question's place among the ones this person is asked, given their answers so far
    # (allies skip communities). None: not numbered.
    number: int | None = None
    total: int | None = None


@dataclass(frozen=True)
class SignUpAnswers:
    """A volunteer's answers in the programme's words: what sign-up stores (bot/services/volunteers.py checks
    them), what the review and "Your details" show. Communities are asked in the minoritised space only."""

    space: VolunteerSpace | None = None
    communities: frozenset[Community] = frozenset()  # none chosen: "I'd rather not say"
    organisation_id: int = 0
    phases: frozenset[Phase] = frozenset()
    adjustments_contact: bool = False

    @property
    def communities_asked(self) -> bool:
        return self.space is not None and self.space.flags[0]


@dataclass(frozen=True)
class DetailsView:
    """Everything stored about a volunteer: "Your details", and where changing one answer starts."""

    answers: SignUpAnswers
    organisation_name: str | None
    display_name: str | None
    email: str | None
    consent_version: int
    consented_at: datetime | None  # when they last agreed; None: when they signed up
    signed_up_at: datetime
    announcements_on: bool = True
    feed_on: bool | None = None  # "Also tell me in my Teams activity feed"; None: not offered (Graph is off)


def single_spaces(space: VolunteerSpace | None) -> tuple[VolunteerSpace, ...]:
    """The one or two spaces a choice stands for: "both" is the minoritised colleagues' and the allies'."""
    if space is None:
        return ()
    minoritised, ally = space.flags
    return ((VolunteerSpace.MINORITISED,) if minoritised else ()) + ((VolunteerSpace.ALLY,) if ally else ())


# -- building blocks -------------------------------------------------------------------------------------------


def journey_button(title: str, frame: Frame, nav: str, *, style: str | None = None, validate: bool = False,
                   **data: Any) -> dict[str, Any]:
    """A button of a sign-up journey card. Only the primary button sends (and checks) the inputs, so Back and
    Cancel always work, even with a required answer still empty."""
    return journey_submit(title, frame.journey, frame.step, nav, style=style, inputs=validate, **data)


def _buttons(frame: Frame, primary: str = NEXT) -> list[dict[str, Any]]:
    # The same words in the same order on every card: primary, then Back, then Cancel.
    return [journey_button(primary, frame, "next", style="positive", validate=True),
            journey_button(BACK, frame, "back"),
            journey_button(CANCEL, frame, "cancel")]


def _question_heading(frame: Frame, title: str) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = []
    if frame.ack:
        body.append(para(frame.ack, weight="Bolder"))
    numbered = _numbered(frame)
    body.append(heading(f"{numbered}: {title}" if numbered else title))
    return body


def _numbered(frame: Frame) -> str | None:
    if frame.changing or frame.number is None or frame.total is None:
        return None
    return f"Question {frame.number} of {frame.total}"


def choice_set(input_id: str, label: str, choices: tuple[tuple[str, str], ...] | list[tuple[str, str]], *,
               required: bool, error: str | None = None, value: str | None = None,
               multi: bool = False) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "Input.ChoiceSet",
        "id": input_id,
        "label": label,
        "style": "expanded",
        "isMultiSelect": multi,
        "wrap": True,
        "isRequired": required,
        "choices": [{"title": title, "value": code} for code, title in choices],
    }
    if required:
        block["errorMessage"] = error or "Choose an answer."
    if value:
        block["value"] = value
    return block


def _typing_hint(example: str) -> dict[str, Any]:
    return para(f"You can also type your answer, for example {example}.", subtle=True)


# -- the questions ---------------------------------------------------------------------------------------------


def consent_card(frame: Frame, notice_text: str, notice_version: int, *, agreed: bool = False) -> Card:
    body = _question_heading(frame, "Your permission")
    if not frame.changing and not frame.ack:
        body.append(para(START_TEXT))
    body += [para(text) for text in CONSENT_PARAGRAPHS]
    body.append(_notice_action_set(notice_text, notice_version))
    body.append({
        "type": "Input.Toggle",
        "id": "agree",
        "label": CONSENT_LABEL,
        "title": "I agree",
        "valueOn": "true",
        "valueOff": "false",
        # Unticked unless the person ticked it earlier in this same sign-up (design §6, WCAG 3.3.7).
        "value": "true" if agreed else "false",
        "wrap": True,
        "isRequired": True,
        "errorMessage": "To sign up, tick \"I agree\". If you'd rather not, press Cancel.",
    })
    numbered = _numbered(frame)
    return card(body, _buttons(frame), speak=f"{numbered}. Your permission." if numbered else "Your permission.")


def _notice_action_set(notice_text: str, version: int) -> dict[str, Any]:
    """The full notice, shown in place so the person does not lose their place in the journey."""
    paragraphs = [para(text) for text in notice_text.strip().split("\n\n") if text.strip()]
    paragraphs.append(para(f"Privacy notice version {version}. Questions: {CONTACT_EMAIL}.", subtle=True))
    return {"type": "ActionSet", "actions": [{
        "type": "Action.ShowCard", "title": "Read the full privacy notice",
        "card": card(paragraphs),
    }]}


def space_card(frame: Frame, chosen: str | None = None) -> Card:
    body = _question_heading(frame, "Your space")
    body += [
        para("Which space would you like to join? You can choose both."),
        para("**Minoritised colleague**: for colleagues who are ethnically minoritised or from a culturally "
             "diverse background, disabled or living with a long-term health condition, neurodivergent, or LGBT+."),
        para("**Active ally**: for colleagues who want to learn and act as allies."),
        para("Most sessions are for one space, so everyone has a safe place to talk."),
        choice_set("space", "Your space (required)", [(space.value, space.choice_label) for space in VolunteerSpace],
                   required=True, value=chosen,
                   error="Choose a space: minoritised colleague, active ally, or both."),
        _typing_hint("\"ally\" or \"2\""),
    ]
    return card(body, _buttons(frame))


def communities_card(frame: Frame, chosen: list[str] | tuple[str, ...] = ()) -> Card:
    body = _question_heading(frame, "Communities")
    body += [
        para("Which of these describe you? Choose any that apply. This is optional: it helps us invite you to "
             "sessions that fit, and we only ever count these answers in a way that never identifies anyone."),
        choice_set("communities", "Communities you identify with (optional)",
                   [*((community.value, community.label) for community in Community),
                    (RATHER_NOT_SAY, RATHER_NOT_SAY_LABEL)],
                   required=False, value=",".join(chosen) or None, multi=True),
        _typing_hint("\"1, 4\" or \"rather not say\""),
    ]
    return card(body, _buttons(frame))


def organisation_card(frame: Frame, options: list[tuple[int, str]] | tuple[tuple[int, str], ...],
                      chosen: int | None = None) -> Card:
    body = _question_heading(frame, "Your organisation")
    body += [
        para("Which organisation do you work for? We use this to count sign-ups across the partnership."),
        choice_set("organisation", "Your organisation (required)", [(str(i), name) for i, name in options],
                   required=True, value=str(chosen) if chosen else None,
                   error="Choose your organisation, or \"Another organisation\"."),
        _typing_hint("its number, or part of its name"),
    ]
    return card(body, _buttons(frame))


def phases_card(frame: Frame, chosen: list[str] | tuple[str, ...] = ()) -> Card:
    body = _question_heading(frame, "What you'd like to do")
    body += [
        para("Which parts of the programme interest you? You can choose both."),
        choice_set("phases", "Parts of the programme (required)",
                   [(phase.value, phase.choice_label) for phase in Phase], required=True, multi=True,
                   value=",".join(chosen) or None, error="Choose at least one part of the programme."),
        _typing_hint("\"co-design\" or \"both\""),
    ]
    return card(body, _buttons(frame))


def adjustments_card(frame: Frame, chosen: bool | None = None) -> Card:
    body = _question_heading(frame, "Adjustments")
    value = None if chosen is None else ("yes" if chosen else "no")
    body += [
        para("Would you like a facilitator to contact you about any adjustments that would help you take part? "
             "You don't need to tell us anything now."),
        choice_set("adjustments", "Contact me about adjustments (optional)", ADJUSTMENT_CHOICES, required=False,
                   value=value),
        _typing_hint("\"yes\" or \"no\""),
    ]
    return card(body, _buttons(frame))


# -- review and details ----------------------------------------------------------------------------------------


def summary_rows(answers: SignUpAnswers, organisation: str | None) -> list[tuple[str, str, str]]:
    """(field, title, answer in words) for every answer the person gave."""
    spaces = [space.choice_label for space in single_spaces(answers.space)]
    rows = [("space", "Your space", " and ".join(spaces) or "Not chosen")]
    if answers.communities_asked:
        communities = [community.label for community in Community if community in answers.communities]
        rows.append(("communities", "Communities", ", ".join(communities) or "You chose not to say"))
    rows.append(("organisation", "Organisation", organisation or "Not chosen"))
    phases = [phase.label for phase in Phase if phase in answers.phases]
    rows.append(("phases", "Parts of the programme", " and ".join(phases) or "Not chosen"))
    adjustments = "Yes, please contact me" if answers.adjustments_contact else "No"
    rows.append(("adjustments", "Contact about adjustments", adjustments))
    return rows


def _answer_row(title: str, answer: str, button: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "ColumnSet",
        "separator": True,
        "columns": [
            {"type": "Column", "width": "stretch", "items": [
                para(title, weight="Bolder"), para(answer)]},
            {"type": "Column", "width": "auto", "verticalContentAlignment": "Center", "items": [
                {"type": "ActionSet", "actions": [button]}]},
        ],
    }


def review_card(frame: Frame, answers: SignUpAnswers, organisation: str | None) -> Card:
    body: list[dict[str, Any]] = []
    if frame.ack:
        body.append(para(frame.ack, weight="Bolder"))
    body += [heading("Check your answers"), para("Please check your answers. You can change any of them.")]
    for field_name, title, answer in summary_rows(answers, organisation):
        button = journey_button(CHANGE, frame, "change", field=field_name)
        button["tooltip"] = f"Change: {title}"
        body.append(_answer_row(title, answer, button))
    body.append(para("You gave permission to store your answers. You can delete them at any time by typing "
                     "\"withdraw\".", subtle=True))
    return card(body, _buttons(frame, CONFIRM))


def details_card(view: DetailsView) -> Card:
    body: list[dict[str, Any]] = [heading("Your details"), para("This is everything you've told us.")]
    about = []
    if view.display_name:
        about.append(("Name (from Teams)", view.display_name))
    if view.email:
        about.append(("Email (from Teams)", view.email))
    if about:
        body.append({"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in about]})
    for field_name, title, answer in summary_rows(view.answers, view.organisation_name):
        button = submit(CHANGE, CHANGE_ANSWER, field=field_name)
        button["tooltip"] = f"Change: {title}"
        body.append(_answer_row(title, answer, button))
    # The same buttons as on every announcement, so turning them off or on again is found in one place too.
    if view.announcements_on:
        announcements = ("On. You get announcements from HNY Inc., as well as your invitations and reminders.",
                         submit(STOP_ANNOUNCEMENTS, TURN_OFF_ANNOUNCEMENTS))
    else:
        announcements = ("Off. You still get your session invitations and reminders.",
                         submit(RESUME_ANNOUNCEMENTS, TURN_ON_ANNOUNCEMENTS))
    body.append(_answer_row("Announcements", *announcements))
    if view.feed_on is not None:
        if view.feed_on:
            feed = ("On. Your invitations and reminders come here in our chat and in your Teams activity feed.",
                    submit(FEED_OFF_TITLE, FEED_OFF))
        else:
            feed = ("Off. Your invitations and reminders come here in our chat.", submit(FEED_ON_TITLE, FEED_ON))
        body.append(_answer_row("Teams activity feed", *feed))
    agreed = uk_date(view.consented_at) if view.consented_at else "when you signed up"
    body.append(para(f"You agreed to privacy notice version {view.consent_version} on {agreed}. "
                     "To delete your answers, press Withdraw.", subtle=True))
    return card(body, [submit(GET_MY_DATA, MY_DATA), submit(WITHDRAW_TITLE, WITHDRAW),
                       submit(PRIVACY, SHOW_PRIVACY)])


def signed_up_text() -> str:
    return "Thank you, you're signed up. I'll message you here when there's a session for you."


def not_signed_up_card() -> Card:
    return card([heading("You haven't signed up yet"),
                 para("We don't hold any answers from you. Would you like to take part?")],
                [submit(EXPRESS_INTEREST_TITLE, EXPRESS_INTEREST, style="positive"), submit(HELP, SHOW_HELP)])


# -- withdrawal, consent again, and the start card -------------------------------------------------------------


def withdraw_card() -> Card:
    return card([
        heading("Delete your answers?"),
        para("This will delete your answers and cancel any session places you have. We keep only a record that "
             "you gave and then withdrew permission, as the law requires. You can sign up again at any time."),
    ], [submit(DELETE_MY_ANSWERS, WITHDRAW_CONFIRM, style="destructive"),
        submit(KEEP_MY_DETAILS, WITHDRAW_KEEP)])


WITHDRAWN_TEXT = "Your answers have been deleted. Thank you for your interest in HNY Inc."
KEPT_TEXT = "Your details are kept. Nothing was changed."


def consent_again_card(notice_text: str, notice_version: int) -> Card:
    return card([
        heading("Our privacy notice has changed"),
        para("We've updated how we explain what we keep and why. Please read it and tell us if you still agree. "
             "Until you do, we won't use your answers to invite you to sessions."),
        *[para(text) for text in CONSENT_PARAGRAPHS],
        _notice_action_set(notice_text, notice_version),
        {
            "type": "Input.Toggle", "id": "agree", "label": CONSENT_LABEL, "title": "I agree",
            "valueOn": "true", "valueOff": "false", "value": "false", "wrap": True, "isRequired": True,
            "errorMessage": "To carry on, tick \"I agree\". If you'd rather not, press Withdraw.",
        },
    ], [submit(CONTINUE, CONSENT_AGAIN, style="positive", version=notice_version),
        no_inputs(submit(WITHDRAW_TITLE, WITHDRAW))])


def start_card() -> Card:
    """Sent privately after someone pressed "Express interest" in a team channel: its button starts the journey."""
    return card([
        heading("Take part in HNY Inc."),
        para("Thank you for your interest. We're co-designing allyship and advocacy training across Humber and "
             "North Yorkshire, with minoritised colleagues and active allies."),
        para(START_TEXT),
    ], [submit(EXPRESS_INTEREST_TITLE, EXPRESS_INTEREST, style="positive"), submit(PRIVACY, SHOW_PRIVACY)])
