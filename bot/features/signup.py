"""The colleague journey (issue 5, design §4 and §6): express interest, "Your details", change an answer,
withdraw, "Get a copy of my data", asking for consent again after a new privacy notice, and the private start
of the journey after a press in a team channel."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.delivery.outbox import Message, Recipient, enqueue
from bot.features import Wiring
from bot.turns import Turn, person_id_of, plain_text, text_activity
from cards.basics import notice
from cards.signup import (
    FEED_OFF_TEXT,
    FEED_ON_TEXT,
    KEPT_TEXT,
    WITHDRAWN_TEXT,
    consent_again_card,
    start_card,
    withdraw_card,
)
from dialogs.engine import DialogContext
from dialogs.express_interest import (
    ALREADY_TEXT,
    add_to,
    send_details,
    start_journey,
)
from vocabulary.actions.announcements import TURN_OFF_ANNOUNCEMENTS, TURN_ON_ANNOUNCEMENTS
from vocabulary.actions.people import (
    CHANGE_ANSWER,
    CONSENT_AGAIN,
    EXPRESS_INTEREST,
    EXPRESS_INTEREST_FROM_CHANNEL,
    FEED_OFF,
    FEED_ON,
    MY_DATA,
    MY_DETAILS,
    SHOW_PRIVACY,
    WITHDRAW,
    WITHDRAW_CONFIRM,
    WITHDRAW_KEEP,
    ChangeAnswerPayload,
    ConsentAgainPayload,
)
from vocabulary.catalogue import NoPayload
from vocabulary.words import OutboxPurpose

log = logging.getLogger(__name__)

PRIVATE_MESSAGE_SENT = "I've sent you a private message."
PRIVATE_ONLY = ("For your privacy, I only talk about your details in our private chat. Open a chat with me "
                "and type \"{command}\".")
DATA_INTRO = ("Here is a copy of everything we hold about you, with your consent history. You can copy it from "
              "the box below. Questions: HNY.Inc@nhs.net.")
# Teams counts a message's size in UTF-16 and documents limits from 40 KB: keep each part well under that.
DATA_PART_CHARS = 12_000
# While a new privacy notice waits for an answer, these still work: a person can always read the notice,
# get their data, withdraw or stop announcements without agreeing first (design §6). Names of buttons and of
# typed commands ("privacy", "my_data" and "withdraw" are named as their buttons are; announcements' commands
# are named in bot/features/announcements.py).
OPEN_DURING_CONSENT = frozenset({
    *(action.name for action in (CONSENT_AGAIN, WITHDRAW, WITHDRAW_CONFIRM, WITHDRAW_KEEP, SHOW_PRIVACY, MY_DATA,
                                 TURN_OFF_ANNOUNCEMENTS, TURN_ON_ANNOUNCEMENTS, FEED_OFF)),
    "stop_announcements", "resume_announcements"})
# Typed commands answered in the middle of a question; the question is then asked again.
ANSWERED_MID_JOURNEY = frozenset({"privacy", "my_data", "my_details", "withdraw"})


def data_messages(data: dict[str, Any]) -> list[str]:
    """The export as Markdown code blocks: Teams shows them as monospace text that keeps its layout and can be
    copied. A long export is split on line breaks into several messages."""
    lines = json.dumps(data, indent=2, ensure_ascii=False).splitlines()
    parts: list[list[str]] = [[]]
    size = 0
    for line in lines:
        if size + len(line) > DATA_PART_CHARS and parts[-1]:
            parts.append([])
            size = 0
        parts[-1].append(line)
        size += len(line) + 1
    total = len(parts)
    messages = []
    for number, part in enumerate(parts, start=1):
        heading = f"Part {number} of {total}\n\n" if total > 1 else ""
        messages.append(heading + "```json\n" + "\n".join(part) + "\n```")
    return messages


def register(wiring: Wiring) -> None:
    core = wiring.core
    commands = wiring.commands
    volunteers = core.volunteers

    async def who(turn: Turn) -> str | None:
        if turn.person_id:
            return turn.person_id
        await turn.reply_card(notice("Sorry, I can't tell who you are",
                                     "Please message me from your work Microsoft Teams account."))
        return None

    async def private_only(turn: Turn, command: str) -> bool:
        """Personal data is shown only in the person's own chat with the bot, never in a channel."""
        if turn.is_personal:
            return False
        await turn.reply_text(PRIVATE_ONLY.format(command=command))
        return True

    # -- express interest ----------------------------------------------------------------------------------------

    async def express_interest(turn: Turn) -> None:
        if not turn.is_personal:
            await express_interest_from_channel(turn)
            return
        person_id = await who(turn)
        if person_id is None:
            return
        if await volunteers.is_signed_up(person_id):
            await send_details(turn.context, volunteers, person_id, ALREADY_TEXT)
            return
        await start_journey(turn.dialogs)

    async def express_interest_from_channel(turn: Turn) -> None:
        """The channel intro's button: the journey starts in the person's 1:1 chat, through the outbox. The
        channel sees only a short reply that names nobody."""
        if turn.is_personal:
            await express_interest(turn)
            return
        person_id = await who(turn)
        if person_id is None:
            return
        now = core.clock.now()
        async with core.database.transaction() as session:
            # One start card per person per day, however often the button is pressed.
            await enqueue(session, key=f"signup-start:{person_id}:{now:%Y-%m-%d}",
                          recipient=Recipient.person(person_id), message=Message(card=start_card()),
                          purpose=OutboxPurpose.SIGNUP_START, now=now)
        log.info("sign-up start card queued for person=%s", person_id)
        await turn.reply_text(PRIVATE_MESSAGE_SENT)

    # -- your details ----------------------------------------------------------------------------------------

    async def my_details(turn: Turn) -> None:
        if await private_only(turn, "my details"):
            return
        person_id = await who(turn)
        if person_id:
            await send_details(turn.context, volunteers, person_id)

    async def change_answer(turn: Turn, payload: ChangeAnswerPayload) -> None:
        if await private_only(turn, "my details"):
            return
        person_id = await who(turn)
        if person_id is None:
            return
        if not await volunteers.is_signed_up(person_id):
            await send_details(turn.context, volunteers, person_id)  # says they have not signed up
            return
        await start_journey(turn.dialogs, mode="change", field=payload.field)

    async def my_data(turn: Turn) -> None:
        if await private_only(turn, "my data"):
            return
        person_id = await who(turn)
        if person_id is None:
            return
        data = await volunteers.export(person_id)
        await turn.reply_text(DATA_INTRO)
        for text in data_messages(data):
            await turn.send(text_activity(text, markdown=True))
        log.info("data export sent to person=%s", person_id)

    async def set_feed(turn: Turn, on: bool) -> None:
        """"Also tell me in my Teams activity feed" on or off: the presser's own choice, nobody else's."""
        if await private_only(turn, "my details"):
            return
        person_id = await who(turn)
        if person_id is None:
            return
        if not await volunteers.set_feed(person_id, on):
            await send_details(turn.context, volunteers, person_id)  # says they have not signed up
            return
        await send_details(turn.context, volunteers, person_id, FEED_ON_TEXT if on else FEED_OFF_TEXT)

    async def feed_on(turn: Turn, _: NoPayload) -> None:
        await set_feed(turn, True)

    async def feed_off(turn: Turn, _: NoPayload) -> None:
        await set_feed(turn, False)

    # -- withdrawal ------------------------------------------------------------------------------------------

    async def withdraw(turn: Turn) -> None:
        if await private_only(turn, "withdraw"):
            return
        person_id = await who(turn)
        if person_id is None:
            return
        if not await volunteers.is_signed_up(person_id):
            await turn.reply_card(notice("There's nothing to delete",
                                         "You haven't signed up, so we don't hold any answers from you."))
            return
        await turn.reply_card(withdraw_card())

    async def withdraw_confirm(turn: Turn, _: NoPayload) -> None:
        if await private_only(turn, "withdraw"):
            return
        person_id = await who(turn)
        if person_id is None:
            return
        if not await volunteers.withdraw(person_id):
            await turn.reply_card(notice("There's nothing to delete",
                                         "We don't hold any answers from you, so nothing was changed."))
            return
        # The erasure removed this chat's dialog state; the end of the turn must not write it back.
        if turn.memory is not None:
            turn.memory.forget()
        await turn.reply_text(WITHDRAWN_TEXT)

    async def withdraw_keep(turn: Turn, _: NoPayload) -> None:
        await turn.reply_text(KEPT_TEXT)

    # -- consent again ---------------------------------------------------------------------------------------

    async def consent_gate(turn: Turn) -> bool:
        """A volunteer who agreed to an older privacy notice is asked again before anything else."""
        if not turn.person_id or not turn.is_personal:
            return False
        value = turn.activity.value
        if isinstance(value, dict):
            action = value.get("action")
            if "journey" not in value and isinstance(action, str) and action in OPEN_DURING_CONSENT:
                return False
        else:
            command = commands.match(plain_text(turn.activity))
            if command is not None and command.name in OPEN_DURING_CONSENT:
                return False
        current = await volunteers.consent_needed(turn.person_id)
        if current is None:
            return False
        await turn.reply_card(consent_again_card(current.text, current.version))
        return True

    async def consent_again(turn: Turn, payload: ConsentAgainPayload) -> None:
        person_id = await who(turn)
        if person_id is None:
            return
        current = await volunteers.consent_needed(person_id)
        if current is None:
            await turn.reply_text("Thank you. There's nothing more to agree to.")
            return
        if payload.agree != "true" or payload.version != current.version:
            await turn.reply_text("To carry on, tick \"I agree\" and press Continue. If you'd rather not, press "
                                  "Withdraw.")
            await turn.reply_card(consent_again_card(current.text, current.version))
            return
        await volunteers.consent_again(person_id, current.version)
        await turn.reply_text("Thank you. Your permission is saved. I'll message you here when there's a "
                              "session for you.")

    async def interrupt(dialogs: DialogContext, text: str) -> bool:
        command = commands.match(text)
        if command is None or command.name not in ANSWERED_MID_JOURNEY:
            return False
        person_id = person_id_of(dialogs.context.activity)
        await command.handler(Turn(context=dialogs.context, core=core, dialogs=dialogs, person_id=person_id))
        return True

    def action(handler: Callable[[Turn], Awaitable[None]]) -> Callable[[Turn, NoPayload], Awaitable[None]]:
        """A button that does the same as its typed command."""
        async def run(turn: Turn, _: NoPayload) -> None:
            await handler(turn)
        return run

    add_to(wiring.dialogs, volunteers, core.notices, interrupt)
    commands.add("express_interest", ["express interest", "sign up", "sign me up", "signup", "take part"],
                 express_interest)
    commands.add("my_details", ["my details", "my answers", "change my answers", "change my details"], my_details)
    commands.add("my_data", ["my data", "copy of my data", "get my data", "download my data"], my_data)
    commands.add("withdraw", ["withdraw", "delete my answers", "delete my data", "delete my details"], withdraw)
    wiring.actions.on_submit(EXPRESS_INTEREST, action(express_interest))
    wiring.actions.on_submit(EXPRESS_INTEREST_FROM_CHANNEL, action(express_interest_from_channel))
    wiring.actions.on_submit(MY_DETAILS, action(my_details))
    wiring.actions.on_submit(MY_DATA, action(my_data))
    wiring.actions.on_submit(CHANGE_ANSWER, change_answer)
    if core.settings.graph_enabled:  # only then does "Your details" offer the activity feed
        wiring.actions.on_submit(FEED_ON, feed_on)
        wiring.actions.on_submit(FEED_OFF, feed_off)
    wiring.actions.on_submit(WITHDRAW, action(withdraw))
    wiring.actions.on_submit(WITHDRAW_CONFIRM, withdraw_confirm)
    wiring.actions.on_submit(WITHDRAW_KEEP, withdraw_keep)
    wiring.actions.on_submit(CONSENT_AGAIN, consent_again)
    wiring.bot.gates.append(consent_gate)
    wiring.bot.is_signed_up = volunteers.is_signed_up
    wiring.startup.append(volunteers.seed_organisations)
    # Erasures a restored database lacks are re-applied from the erasure log by the programme feature
    # (bot/services/retention.py): the database itself cannot remember what happened after its backup.
