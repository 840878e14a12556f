"""The facilitator's `announce` journey (design §4 Announcements): write → choose who gets it → check it (the
card as people will see it, the audience rounded per §5) and choose when → confirm, with quiet hours.

One step per card, each with Back and Cancel. The journey's state is a JSON-like dict in the dialog state, so it
survives a restart and the current card can always be drawn again from it. Every card names the run of the
journey and its step, so an old card changes nothing. The facilitator role is checked again at every press
(a refusal is audited), and the service checks everything again when the announcement is stored.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, ValidationError

from bot.services.announcements import AnnouncementService, AudienceChoice, When, check_draft
from bot.turns import TurnIO, card_activity, person_id_of, plain_text, text_activity
from cards.announcements import (
    AnnouncementView,
    ConfirmView,
    audience_card,
    compose_card,
    confirm_card,
    created_text,
    journey_stopped,
    preview_card,
)
from cards.common import CONTACT_EMAIL
from dialogs.engine import ComponentDialog, Dialog, DialogContext, DialogInstance, DialogTurnResult
from dialogs.typed_words import CANCEL_WORDS, words

log = logging.getLogger(__name__)

DIALOG_ID = "announce"
FLOW_ID = "announce.flow"
STEPS = ("compose", "audience", "preview", "confirm")

STALE = "That card is from an earlier announcement, so nothing was changed. Please use the latest card."
STALE_STEP = "That card is for an earlier step, so nothing was changed. Please use the card below."
USE_THE_CARD = ("You're writing an announcement. Fill in the card and press its button, or type \"cancel\" to "
                "stop. Nothing is sent until you press Send.")
SAMPLE_TEXT = ("That button is only in the preview, so nothing was changed. People who get the announcement can "
               "press it to stop getting announcements.")
REFUSED = ("Only facilitators can send announcements. If you think you should be one, contact "
           f"{CONTACT_EMAIL}. Nothing was sent.")
QUIET_STARTED = "Quiet hours have started since you checked. Please choose when to send it."
TIME_AGAIN = "Please choose when to send it again."
AUDIENCE_AGAIN = "Something in who gets it has changed. Please choose again."
_ENVELOPE = frozenset({"action", "journey", "step", "nav", "quiet"})


class _Inputs(BaseModel):
    # Strings only, bounded: the service says kindly when text is too long; this stops huge payloads.
    model_config = ConfigDict(extra="forbid", str_max_length=5000, frozen=True)


class ComposeInputs(_Inputs):
    title: str = ""
    body: str = ""
    link_url: str = ""
    link_title: str = ""


class AudienceInputs(_Inputs):
    channels: str = ""
    spaces: str = ""
    phases: str = ""
    sessions: str = ""
    organisations: str = ""
    session_people: str = ""


class WhenInputs(_Inputs):
    when: str = "now"
    date: str = ""
    time: str = ""


def _list(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def _draft(state: dict[str, Any]) -> AnnouncementView:
    form = state["form"]
    draft, _ = check_draft(form.get("title", ""), form.get("body", ""), form.get("link_url", ""),
                           form.get("link_title", ""))
    assert draft is not None, "the journey only moves on from a valid draft"
    return draft


def _when(state: dict[str, Any]) -> When:
    raw = state.get("when") or {}
    return When(raw.get("mode", "now"), raw.get("date", ""), raw.get("time", ""))


class AnnounceFlow(Dialog):
    """Options: none. The dialog state holds {"journey": {...}}; see `_new_state`."""

    def __init__(self, service: AnnouncementService) -> None:
        super().__init__(FLOW_ID)
        self._service = service

    @property
    def quiet_hours(self) -> str:
        return f"{self._service.quiet_start:%H:%M} to {self._service.quiet_end:%H:%M}"

    async def begin_dialog(self, dialog_context: DialogContext, options: object = None) -> DialogTurnResult:
        state = {"journey": uuid.uuid4().hex, "author": person_id_of(dialog_context.context.activity),
                 "at": "compose", "form": {}, "audience": {}, "choice": None, "when": {"mode": "now"}, "errors": {}}
        dialog_context.active_state["journey"] = state
        await self._show(dialog_context.context, state)
        return Dialog.end_of_turn

    async def reprompt_dialog(self, context: TurnIO, instance: DialogInstance) -> None:
        await self._show(context, cast(dict[str, Any], instance.state["journey"]))

    async def continue_dialog(self, dialog_context: DialogContext) -> DialogTurnResult:
        context = dialog_context.context
        if context.activity.type != "message":
            return Dialog.end_of_turn
        state: dict[str, Any] = dialog_context.active_state["journey"]
        value = context.activity.value
        if not isinstance(value, dict):
            if words(plain_text(context.activity)) in CANCEL_WORDS:
                await context.send_activity(card_activity(journey_stopped()))
                return await dialog_context.end_dialog()
            await context.send_activity(text_activity(USE_THE_CARD))
            return Dialog.end_of_turn
        if value.get("journey") != state["journey"] or person_id_of(context.activity) != state["author"]:
            await context.send_activity(text_activity(STALE))
            return Dialog.end_of_turn
        if value.get("step") != state["at"]:
            await context.send_activity(text_activity(STALE_STEP))
            await self._show(context, state)
            return Dialog.end_of_turn
        nav = value.get("nav")
        if nav == "cancel":
            await context.send_activity(card_activity(journey_stopped()))
            return await dialog_context.end_dialog()
        if nav == "sample":
            await context.send_activity(text_activity(SAMPLE_TEXT))
            return Dialog.end_of_turn
        if not await self._service.may_announce(state["author"]):
            await context.send_activity(text_activity(REFUSED))
            return await dialog_context.end_dialog()
        if nav == "back":
            state["errors"] = {}
            state["at"] = STEPS[max(0, STEPS.index(state["at"]) - 1)]
            await self._show(context, state)
            return Dialog.end_of_turn
        inputs = {key: item for key, item in value.items() if key not in _ENVELOPE}
        try:
            if state["at"] == "compose" and nav == "next":
                await self._compose(context, state, ComposeInputs.model_validate(inputs))
            elif state["at"] == "audience" and nav == "next":
                await self._audience(context, state, AudienceInputs.model_validate(inputs))
            elif state["at"] == "preview" and nav == "next":
                await self._preview(context, state, WhenInputs.model_validate(inputs))
            elif state["at"] == "confirm" and nav == "send":
                quiet = value.get("quiet")
                if await self._send(context, state, quiet if isinstance(quiet, str) else None):
                    return await dialog_context.end_dialog()
            else:
                await context.send_activity(text_activity(STALE_STEP))
                await self._show(context, state)
        except ValidationError as exc:
            log.info("refused an announce card at step %s: %d problems", state["at"], exc.error_count())
            await context.send_activity(text_activity(STALE_STEP))
            await self._show(context, state)
        return Dialog.end_of_turn

    # -- steps ---------------------------------------------------------------------------------------------------

    async def _compose(self, context: TurnIO, state: dict[str, Any], inputs: ComposeInputs) -> None:
        state["form"] = inputs.model_dump()
        _, errors = check_draft(inputs.title, inputs.body, inputs.link_url, inputs.link_title)
        if errors:
            # Input names only in the log: the text itself is the author's.
            log.info("announcement draft needs fixing: %s", ",".join(sorted(errors)))
        state["errors"] = errors
        state["at"] = "compose" if errors else "audience"
        await self._show(context, state)

    async def _audience(self, context: TurnIO, state: dict[str, Any], inputs: AudienceInputs) -> None:
        state["audience"] = {name: _list(getattr(inputs, name)) for name in ("channels", "spaces", "phases",
                                                                              "sessions", "organisations",
                                                                              "session_people")}
        choice, errors = await self._service.check_audience(inputs.channels, inputs.spaces, inputs.phases,
                                                            inputs.sessions, inputs.organisations,
                                                            inputs.session_people)
        state["errors"] = errors
        if choice is not None:
            state["choice"] = choice.to_json()
            state["at"] = "preview"
        await self._show(context, state)

    async def _preview(self, context: TurnIO, state: dict[str, Any], inputs: WhenInputs) -> None:
        state["when"] = {"mode": inputs.when, "date": inputs.date, "time": inputs.time}
        timing, errors = self._service.timing(_when(state))
        state["errors"] = errors
        if timing is not None:
            state["at"] = "confirm"
        await self._show(context, state)

    async def _send(self, context: TurnIO, state: dict[str, Any], quiet: str | None) -> bool:
        """True when the journey is over."""
        choice = AudienceChoice.from_json(state["choice"])
        created = await self._service.create(state["author"], _draft(state), choice, _when(state), quiet)
        if created.outcome == "refused":
            await context.send_activity(text_activity(REFUSED))
            return True
        if created.outcome == "done" and created.send_at is not None and created.timing is not None:
            await context.send_activity(text_activity(created_text(
                created.timing.now, created.send_at, created.send_at > created.timing.at)))
            return True
        if created.outcome == "quiet":
            await context.send_activity(text_activity(QUIET_STARTED))
        elif created.outcome == "time":
            state.update(at="preview", errors=created.errors)
            await context.send_activity(text_activity(TIME_AGAIN))
        else:
            state.update(at="audience", errors=created.errors)
            await context.send_activity(text_activity(AUDIENCE_AGAIN))
        await self._show(context, state)
        return False

    # -- cards ---------------------------------------------------------------------------------------------------

    async def _show(self, context: TurnIO, state: dict[str, Any]) -> None:
        journey, at, errors = state["journey"], state["at"], state.get("errors") or {}
        if at == "compose":
            card = compose_card(journey, state["form"], errors)
        elif at == "audience":
            card = audience_card(journey, await self._service.options(), state["audience"], errors)
        else:
            choice = AudienceChoice.from_json(state["choice"])
            summary = await self._service.preview(choice)
            timing = self._service.timing(_when(state))[0] if at == "confirm" else None
            if at == "confirm" and timing is not None:
                card = confirm_card(journey, ConfirmView(
                    announcement=_draft(state), audience=summary, send_now=timing.now, at=timing.at,
                    quiet=timing.quiet, quiet_end=timing.quiet_end, quiet_hours=self.quiet_hours))
            else:
                if at == "confirm":
                    # The chosen time passed while the card waited: choose again.
                    state["at"] = "preview"
                    state["errors"] = self._service.timing(_when(state))[1]
                card = preview_card(journey, _draft(state), summary, state["when"],
                                    state.get("errors") or {}, quiet_hours=self.quiet_hours)
        await context.send_activity(card_activity(card))


class AnnounceDialog(ComponentDialog):
    def __init__(self, service: AnnouncementService) -> None:
        super().__init__(DIALOG_ID)
        self.add_dialog(AnnounceFlow(service))
        self.initial_dialog_id = FLOW_ID


async def start_announce(dialogs: DialogContext) -> None:
    """Start a new announcement, leaving any other journey in this chat."""
    if dialogs.active_dialog is not None:
        await dialogs.cancel_all_dialogs()
    await dialogs.begin_dialog(DIALOG_ID)
