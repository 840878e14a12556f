"""Card actions of sign-up and people (bot/features/signup.py, bot/features/basics.py): help, the privacy notice,
express interest, "Your details" and changing an answer, "Get a copy of my data", the activity-feed choice,
withdrawal and consent again. Buttons that run a typed command ("help", "my details", ...) are declared here too.

`changes` names the tables a press may change besides the bookkeeping every turn does (people, conversation
refs, dialog state, the audit log). A withdrawal erases the person (their outbox messages go with their
delivery attempts): the other features' erasure hooks free their seats (invitations, outbox, calendar jobs),
drop them as a facilitator and forget them as an author."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from vocabulary.catalogue import ActionPayload, CardAction, NoPayload, tables

# The sign-up questions "Your details" offers to change (dialogs/signup_questions.py asks them).
ChangeableAnswer = Literal["space", "communities", "organisation", "phases", "adjustments"]


class ChangeAnswerPayload(ActionPayload):
    field: ChangeableAnswer


class ConsentAgainPayload(ActionPayload):
    """Agreeing to a newer privacy notice: the version shown, and the "I agree" toggle."""

    version: int = Field(ge=1, le=10_000)
    agree: Literal["true", "false"] = "false"


SHOW_HELP = CardAction("help", NoPayload)
SHOW_PRIVACY = CardAction("privacy", NoPayload)
# Starts the journey in the person's chat; pressed in a channel it queues the private start card instead.
EXPRESS_INTEREST = CardAction("express_interest", NoPayload, changes=tables("outbox"))
EXPRESS_INTEREST_FROM_CHANNEL = CardAction("express_interest_from_channel", NoPayload, changes=tables("outbox"))
MY_DETAILS = CardAction("my_details", NoPayload)
MY_DATA = CardAction("my_data", NoPayload)
CHANGE_ANSWER = CardAction("change_answer", ChangeAnswerPayload)  # starts the journey at that question
# "Also tell me in my Teams activity feed" (registered only when Graph is on); off withdraws unsent notifications.
FEED_ON = CardAction("feed_on", NoPayload, changes=tables("volunteers"))
FEED_OFF = CardAction("feed_off", NoPayload, changes=tables("volunteers", "outbox"))
WITHDRAW = CardAction("withdraw", NoPayload)  # asks "Delete your answers?"
WITHDRAW_CONFIRM = CardAction("withdraw_confirm", NoPayload, changes=tables(
    "volunteers", "consent_records", "erasures", "outbox", "outbox_attempts", "invitations", "session_facilitators",
    "graph_jobs", "announcements"))
WITHDRAW_KEEP = CardAction("withdraw_keep", NoPayload)
# Renewed consent makes them invitable again: the sessions feature invites them, or withdraws what no longer fits.
CONSENT_AGAIN = CardAction("consent_again", ConsentAgainPayload, changes=tables(
    "volunteers", "consent_records", "invitations", "outbox"))

PEOPLE_ACTIONS: tuple[CardAction[Any], ...] = (
    SHOW_HELP, SHOW_PRIVACY, EXPRESS_INTEREST, EXPRESS_INTEREST_FROM_CHANNEL, MY_DETAILS, MY_DATA, CHANGE_ANSWER,
    FEED_ON, FEED_OFF, WITHDRAW, WITHDRAW_CONFIRM, WITHDRAW_KEEP, CONSENT_AGAIN,
)
