"""The facilitator's new-session journey (design §4 Sessions): form → preview → publish or save as draft.

One card holds the whole form, because facilitators fill it in often and know what they want. When an answer
needs fixing, the card comes back with every answer kept and a message under each one to fix (design §9).
The prompts here are small on purpose: a form needs server checks that look at the database (co-facilitators
are looked up by e-mail), and its answers must survive an error, so the shared one-question prompt does not
fit. Each card names the run of the journey and its step, so an old card changes nothing.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from bot.services.sessions import SessionForm, SessionService
from bot.services.suppression import Shown
from bot.turns import TurnIO, card_activity, person_id_of, plain_text, text_activity
from cards.common import Card
from cards.sessions import created_card, journey_stopped, preview_card, session_form
from dialogs.card_dialog import CardDialog
from dialogs.engine import (
    ComponentDialog,
    Dialog,
    DialogContext,
    DialogTurnResult,
    DialogTurnStatus,
    WaterfallDialog,
    WaterfallStepContext,
)
from dialogs.typed_words import CANCEL_WORDS, words

log = logging.getLogger(__name__)

DIALOG_ID = "new_session"
FORM_ID = "new_session.form"
PREVIEW_ID = "new_session.preview"
FLOW_ID = "new_session.flow"

STALE = "That card is from an earlier new session, so nothing was changed. Please use the latest card."
FIX_FIRST = "Something in the form needs fixing first."
ONLY_FACILITATORS = "Only facilitators can create sessions. Nothing was saved."
NOTHING_SAVED = "Nothing was saved."
USE_THE_CARD = ("You're creating a session. Fill in the card and press Preview, or type \"cancel\" to stop. "
                "Nothing is sent until you publish.")
# This feature's commands; typed during the journey they leave it and run (bot/features/sessions.py).
NEW_SESSION_PHRASES = ["new session", "create session", "add session"]
SESSIONS_PHRASES = ["sessions", "manage sessions", "list sessions"]
_LEAVE_WORDS = frozenset(NEW_SESSION_PHRASES + SESSIONS_PHRASES)


async def _end(dialog_context: DialogContext | WaterfallStepContext,
               result: dict[str, Any] | None = None) -> DialogTurnResult:
    outcome: DialogTurnResult = await dialog_context.end_dialog(result)
    return outcome


async def _begin(dialog_context: DialogContext | WaterfallStepContext, dialog_id: str,
                 options: dict[str, Any]) -> DialogTurnResult:
    outcome: DialogTurnResult = await dialog_context.begin_dialog(dialog_id, options)
    return outcome


async def _restart(step: WaterfallStepContext) -> DialogTurnResult:
    """Back to the form with every answer kept."""
    outcome: DialogTurnResult = await step.replace_dialog(FLOW_ID, {
        "journey": step.values["journey"], "form": step.values["form"], "mentions": step.values["mentions"]})
    return outcome


def saved_card(title: str, *, published: bool, invited: Shown | None) -> Card:
    """The session is saved: as a draft, or published with how many were invited (rounded, design §5)."""
    return created_card(title, published=published, invited=invited.text if invited else None,
                        invited_is_zero=invited is not None and invited.value == 0)


class _CardStep(CardDialog):
    """Shows one card and waits for a press of it. Typed "cancel" stops; other typing gets a hint."""

    steps: tuple[str, ...] = ()  # the steps named by the cards this dialog shows

    def __init__(self, dialog_id: str, service: SessionService) -> None:
        super().__init__(dialog_id)
        self._service = service

    async def on_message(self, dialog_context: DialogContext, options: dict[str, Any]) -> DialogTurnResult:
        context = dialog_context.context
        value = context.activity.value
        if not isinstance(value, dict):
            if words(plain_text(context.activity)) in CANCEL_WORDS:
                return await _end(dialog_context, {"nav": "cancel"})
            await context.send_activity(text_activity(USE_THE_CARD))
            return Dialog.end_of_turn
        if value.get("journey") != options["journey"] or value.get("step") not in self.steps:
            await context.send_activity(text_activity(STALE))
            return Dialog.end_of_turn
        return await self.on_press(dialog_context, options, value)

    async def on_press(self, dialog_context: DialogContext, options: dict[str, Any],
                       value: dict[str, Any]) -> DialogTurnResult:
        raise NotImplementedError


class FormStep(_CardStep):
    """Options: {"journey", "form": {field: text}, "errors": {field: text}, "mentions": [person ids]}."""

    steps = ("form",)

    async def show(self, context: TurnIO, options: dict[str, Any]) -> None:
        await context.send_activity(card_activity(session_form(options["journey"], options["form"],
                                                               options.get("errors") or {})))

    async def on_press(self, dialog_context: DialogContext, options: dict[str, Any],
                       value: dict[str, Any]) -> DialogTurnResult:
        if value.get("nav") == "cancel":
            return await _end(dialog_context, {"nav": "cancel"})
        form = SessionForm.from_dict(value)
        checked = await self._service.check(person_id_of(dialog_context.context.activity), form,
                                            extra_facilitators=options.get("mentions") or [])
        if not checked.ok:
            # Field names only in the log: the answers themselves may be personal (e-mails).
            log.info("new session form needs fixing: %s", ",".join(sorted(checked.errors)))
            options = {**options, "form": form.to_dict(), "errors": checked.errors}
            dialog_context.active_state["options"] = options
            await self.show(dialog_context.context, options)
            return Dialog.end_of_turn
        return await _end(dialog_context, {"nav": "next", "form": form.to_dict()})


class PreviewStep(_CardStep):
    """Options: {"journey", "form", "mentions"}. Ends with nav publish | draft | back | cancel, and the form as
    it was previewed. When the preview no longer holds (time passed while it waited), it shows the form with
    what to fix, and that card's Preview leads on from here."""

    steps = ("preview", "form")

    async def show(self, context: TurnIO, options: dict[str, Any]) -> None:
        checked = await self._service.check(person_id_of(context.activity),
                                            SessionForm.from_dict(options["form"]),
                                            extra_facilitators=options.get("mentions") or [])
        if checked.draft is None:
            # Time passed while the card waited, or a co-facilitator lost their role: back to the form.
            await context.send_activity(text_activity(FIX_FIRST))
            await context.send_activity(card_activity(session_form(options["journey"], options["form"],
                                                                   checked.errors)))
            return
        preview = await self._service.preview(checked.draft)
        await context.send_activity(card_activity(preview_card(options["journey"], preview)))

    async def on_press(self, dialog_context: DialogContext, options: dict[str, Any],
                       value: dict[str, Any]) -> DialogTurnResult:
        nav = value.get("nav")
        if value.get("step") == "form" and nav == "next":
            options = {**options, "form": SessionForm.from_dict(value).to_dict()}
            dialog_context.active_state["options"] = options
            await self.show(dialog_context.context, options)
            return Dialog.end_of_turn
        if nav not in ("publish", "draft", "back", "cancel"):
            await dialog_context.context.send_activity(text_activity(STALE))
            return Dialog.end_of_turn
        return await _end(dialog_context, {"nav": nav, "form": options["form"]})


class NewSessionDialog(ComponentDialog):
    """Begin with options {"mentions": [person ids of @mentioned co-facilitators]} (optional)."""

    def __init__(self, service: SessionService) -> None:
        super().__init__(DIALOG_ID)
        self._service = service
        self.add_dialog(FormStep(FORM_ID, service))
        self.add_dialog(PreviewStep(PREVIEW_ID, service))
        self.add_dialog(WaterfallDialog(FLOW_ID, [self._ask_form, self._ask_preview, self._finish]))
        self.initial_dialog_id = FLOW_ID

    async def continue_dialog(self, dialog_context: DialogContext) -> DialogTurnResult:
        activity = dialog_context.context.activity
        if activity.type == "message" and not isinstance(activity.value, dict) and \
                words(plain_text(activity)) in _LEAVE_WORDS:
            # "new session" again, or "sessions": leave this journey (nothing was saved) and let the
            # command run, as if no journey was open.
            await dialog_context.end_dialog()
            return DialogTurnResult(DialogTurnStatus.EMPTY)
        outcome: DialogTurnResult = await super().continue_dialog(dialog_context)
        return outcome

    async def _ask_form(self, step: WaterfallStepContext) -> DialogTurnResult:
        options = step.options if isinstance(step.options, dict) else {}
        journey = options.get("journey") or uuid.uuid4().hex
        step.values["journey"] = journey
        step.values["mentions"] = list(options.get("mentions") or [])
        return await _begin(step, FORM_ID, {"journey": journey, "form": options.get("form") or {},
                                                 "errors": {}, "mentions": step.values["mentions"]})

    async def _ask_preview(self, step: WaterfallStepContext) -> DialogTurnResult:
        result = step.result if isinstance(step.result, dict) else {"nav": "cancel"}
        if result.get("nav") != "next":
            await step.context.send_activity(card_activity(journey_stopped()))
            return await _end(step)
        step.values["form"] = result["form"]
        return await _begin(step, PREVIEW_ID, {"journey": step.values["journey"], "form": result["form"],
                                                    "mentions": step.values["mentions"]})

    async def _finish(self, step: WaterfallStepContext) -> DialogTurnResult:
        result = step.result if isinstance(step.result, dict) else {"nav": "cancel"}
        nav = result.get("nav")
        step.values["form"] = result.get("form") or step.values["form"]
        if nav == "back":
            return await _restart(step)
        if nav not in ("publish", "draft"):
            await step.context.send_activity(card_activity(journey_stopped()))
            return await _end(step)
        actor = person_id_of(step.context.activity)
        form, mentions = step.values["form"], step.values["mentions"]
        assert isinstance(form, dict) and isinstance(mentions, list)
        checked = await self._service.check(actor, SessionForm.from_dict(form), extra_facilitators=mentions)
        if checked.draft is None:
            await step.context.send_activity(text_activity(FIX_FIRST))
            return await _restart(step)
        outcome = await self._service.create(actor, checked.draft, publish=nav == "publish")
        if outcome.outcome == "refused":
            await step.context.send_activity(text_activity(ONLY_FACILITATORS))
            return await _end(step)
        if outcome.session is None:
            await step.context.send_activity(text_activity(outcome.detail or NOTHING_SAVED))
            return await _restart(step)
        await step.context.send_activity(card_activity(saved_card(outcome.session.title, published=nav == "publish",
                                                                  invited=outcome.invited)))
        return await _end(step)
