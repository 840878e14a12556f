"""Express interest (design §4): consent → space → communities (minoritised space only) → organisation →
phases → adjustments contact → review → confirm. One question per card, each with Back and Cancel.

The same dialog changes one answer for "Your details" (mode "change": that question, then the review).

How it runs: a two-step waterfall, `ask_question` then `take_answer`, that replaces itself with the updated
journey state after every answer. The state is a plain dict (JSON-like), kept in the dialog state in the
database, so a journey survives a restart and Back, Change and skipping communities are one rule each
(`_next_step`, `_previous_step`) instead of branches spread over many waterfall steps."""

from __future__ import annotations

import logging
import uuid
from typing import Any, cast

from bot.services.notices import NoticeService
from bot.services.volunteers import InvalidAnswers, VolunteerService
from bot.turns import TurnIO, card_activity, person_id_of, text_activity
from cards.basics import welcome
from cards.signup import details_card, not_signed_up_card, signed_up_text, single_spaces
from dialogs.card_prompt import CardPrompt, Interrupt, PromptResult
from dialogs.engine import (
    ComponentDialog,
    DialogContext,
    DialogSet,
    DialogTurnResult,
    WaterfallDialog,
    WaterfallStepContext,
)
from dialogs.signup_questions import QUESTIONS, journey_answers
from vocabulary.words import Community, Phase, VolunteerSpace

log = logging.getLogger(__name__)

DIALOG_ID = "express_interest"
_LOOP = "express_interest.loop"
SIGNUP_STEPS = ("consent", "space", "communities", "organisation", "phases", "adjustments", "review")

CANCELLED_TEXT = "You've stopped the sign-up. Nothing was saved. Type \"express interest\" to start again."
NOT_CHANGED_TEXT = "Nothing was changed. Here are your details."
AT_START_TEXT = "You're back at the start. Nothing was saved."
ALREADY_TEXT = "You're already signed up. Here are your details."
SAVED_TEXT = "Your changes are saved."
CARRY_ON_TEXT = "You're part way through signing up. Here's where you were."


def _spaces(space: str | None) -> list[str]:
    """The codes of the one or two spaces a space answer stands for."""
    return [single.value for single in single_spaces(VolunteerSpace.parse(space))]


async def send_details(context: TurnIO, volunteers: VolunteerService, person_id: str,
                       text: str | None = None) -> bool:
    """Send "Your details" (after `text`, if given). False, with the "not signed up" card, when there are none."""
    details = await volunteers.details(person_id)
    if details is None:
        await context.send_activity(card_activity(not_signed_up_card()))
        return False
    if text:
        await context.send_activity(text_activity(text))
    await context.send_activity(card_activity(details_card(details)))
    return True


class ExpressInterestDialog(ComponentDialog):
    """Options: {"mode": "signup"} or {"mode": "change", "field": <one of the changeable steps>}."""

    def __init__(self, volunteers: VolunteerService, notices: NoticeService,
                 interrupt: Interrupt | None = None) -> None:
        super().__init__(DIALOG_ID)
        self._volunteers = volunteers
        self._notices = notices
        for question in QUESTIONS:
            self.add_dialog(CardPrompt(question, interrupt))
        self.add_dialog(WaterfallDialog(_LOOP, [self.ask_question, self.take_answer]))
        self.initial_dialog_id = _LOOP

    # -- the loop --------------------------------------------------------------------------------------------

    async def ask_question(self, step: WaterfallStepContext) -> DialogTurnResult:
        state = cast(dict[str, Any], step.options)
        if "journey" not in state:
            started = await self._start(step.context, state)
            if started is None:
                return await step.end_dialog()
            state.update(started)
        view = await self._view(state)
        state["ack"] = None  # said once, on the card that follows the answer
        prompt = {"journey": state["journey"], "view": view}
        return await step.begin_dialog(state["at"], prompt)

    async def take_answer(self, step: WaterfallStepContext) -> DialogTurnResult:
        result = step.result
        state = dict(cast(dict[str, Any], step.options))
        if not isinstance(result, PromptResult):
            return await step.end_dialog()
        if result.nav == "cancel":
            await self._cancelled(step.context, state)
            return await step.end_dialog()
        if result.nav == "back":
            previous = self._previous_step(state)
            if previous is None:
                await step.context.send_activity(text_activity(AT_START_TEXT))
                await step.context.send_activity(card_activity(welcome()))
                return await step.end_dialog()
            self._go(state, previous)
            return await step.replace_dialog(_LOOP, state)
        if result.nav == "change":
            if result.field:
                state.update(at=result.field, editing=True, last_edited=result.field)
            return await step.replace_dialog(_LOOP, state)
        if state["at"] == "review":
            return await self._save(step, state)
        self._apply(state, result.answer)
        self._go(state, self._next_step(state))
        return await step.replace_dialog(_LOOP, state)

    def _go(self, state: dict[str, Any], at: str) -> None:
        state["at"] = at
        if at == "review" and state["mode"] == "signup":
            state["editing"] = False  # back on the usual path: Back from the review goes to the last question

    # -- journey state ---------------------------------------------------------------------------------------

    async def _start(self, context: TurnIO, options: dict[str, Any]) -> dict[str, Any] | None:
        mode = options.get("mode", "signup")
        state: dict[str, Any] = {
            "journey": uuid.uuid4().hex, "mode": mode, "editing": False, "ack": None, "last_edited": None,
            "notice_version": None, "answered": [],
            "answers": {"agree": False, "space": None, "communities": [], "organisation": None, "phases": [],
                        "adjustments": None},
        }
        if mode == "signup":
            state["at"] = "consent"
            return state
        details = await self._volunteers.details(person_id_of(context.activity))
        if details is None:
            await context.send_activity(card_activity(not_signed_up_card()))
            return None
        answers = details.answers
        state["answers"] = {
            "agree": True, "space": answers.space.value if answers.space else None,
            "communities": sorted(community.value for community in answers.communities),
            "organisation": answers.organisation_id or None,
            "phases": sorted(phase.value for phase in answers.phases),
            "adjustments": answers.adjustments_contact,
        }
        state["answered"] = ["space", "organisation", "phases", "adjustments"] + (
            ["communities"] if answers.communities_asked else [])
        state.update(at=options.get("field") or "space", editing=True, last_edited=options.get("field"))
        return state

    def _steps(self, state: dict[str, Any]) -> list[str]:
        steps = [s for s in SIGNUP_STEPS if s != "consent" or state["mode"] == "signup"]
        if VolunteerSpace.MINORITISED not in _spaces(state["answers"]["space"]):
            steps.remove("communities")
        return steps

    def _next_step(self, state: dict[str, Any]) -> str:
        steps = self._steps(state)
        if state["editing"]:
            # Choosing the minoritised space while changing answers asks about communities once.
            if state["at"] == "space" and "communities" in steps and "communities" not in state["answered"]:
                return "communities"
            return "review"
        return steps[steps.index(state["at"]) + 1]

    def _previous_step(self, state: dict[str, Any]) -> str | None:
        at = state["at"]
        if state["editing"] and at != "review":
            return "review"
        if at == "review" and state["mode"] == "change":
            return str(state.get("last_edited") or "space")
        steps = self._steps(state)
        index = steps.index(at) if at in steps else 0
        return steps[index - 1] if index > 0 else None

    def _apply(self, state: dict[str, Any], answer: dict[str, Any]) -> None:
        at, answers = state["at"], state["answers"]
        if at == "consent":
            answers["agree"] = True
            state["ack"] = "Thank you for your permission."
        elif at == "space":
            answers["space"] = answer["space"]
            names = " and ".join(space.choice_label.lower()
                                 for space in single_spaces(VolunteerSpace.parse(answer["space"])))
            state["ack"] = f"Thank you. Your space: {names}."
        elif at == "communities":
            answers["communities"] = list(answer["communities"])
            chosen = [community.label for community in Community if community in answer["communities"]]
            state["ack"] = "Thank you. " + (f"You chose: {'; '.join(chosen)}." if chosen else
                                            "You chose not to say. That's fine.")
        elif at == "organisation":
            answers["organisation"] = answer["organisation"]
            state["ack"] = "Thank you. We've noted your organisation."
        elif at == "phases":
            answers["phases"] = list(answer["phases"])
            state["ack"] = "Thank you. You're interested in " + " and ".join(
                Phase(code).label.lower() for code in answer["phases"]) + "."
        elif at == "adjustments":
            answers["adjustments"] = answer["adjustments"] == "yes"
            state["ack"] = "Thank you. " + ("A facilitator will contact you about adjustments."
                                            if answers["adjustments"] else "We won't contact you about adjustments.")
        if at not in state["answered"]:
            state["answered"] = [*state["answered"], at]

    async def _view(self, state: dict[str, Any]) -> dict[str, Any]:
        """The card's view data for the current question, prefilled with the answers known so far."""
        at, answers = state["at"], state["answers"]
        view: dict[str, Any] = {"ack": state.get("ack"), "changing": state["mode"] == "change" or state["editing"]}
        # Numbered among the questions this person is asked (allies skip communities), as their answers stand.
        questions = [step for step in self._steps(state) if step != "review"]
        if at in questions:
            view.update(number=questions.index(at) + 1, total=len(questions))
        if at == "consent":
            notice = await self._notices.current()
            state["notice_version"] = notice.version
            view["args"] = {"notice_text": notice.text, "notice_version": notice.version,
                            "agreed": bool(answers["agree"])}
        elif at == "space":
            view["args"] = {"chosen": answers["space"]}
        elif at == "communities":
            view["args"] = {"chosen": list(answers["communities"])}
        elif at == "organisation":
            options = await self._volunteers.organisations()
            view["args"] = {"options": [[option.id, option.name] for option in options],
                            "chosen": answers["organisation"]}
        elif at == "phases":
            view["args"] = {"chosen": list(answers["phases"])}
        elif at == "adjustments":
            view["args"] = {"chosen": answers["adjustments"]}
        else:
            organisation = None
            if answers["organisation"]:
                names = {option.id: option.name for option in await self._volunteers.organisations()}
                organisation = names.get(answers["organisation"])
            spaces = _spaces(answers["space"])
            view["args"] = {
                "spaces": spaces,
                "communities": list(answers["communities"]) if VolunteerSpace.MINORITISED in spaces else None,
                "organisation": organisation, "phases": list(answers["phases"]),
                "adjustments": answers["adjustments"],
            }
            view["changing"] = False
        return view

    # -- endings ---------------------------------------------------------------------------------------------

    async def _cancelled(self, context: TurnIO, state: dict[str, Any]) -> None:
        if state["mode"] == "change":
            await send_details(context, self._volunteers, person_id_of(context.activity), NOT_CHANGED_TEXT)
        else:
            await context.send_activity(text_activity(CANCELLED_TEXT))

    async def _save(self, step: WaterfallStepContext, state: dict[str, Any]) -> DialogTurnResult:
        context = step.context
        person_id = person_id_of(context.activity)
        raw = state["answers"]
        answers = journey_answers(space=raw["space"], communities=raw["communities"],
                                  organisation=raw["organisation"], phases=raw["phases"],
                                  adjustments=raw["adjustments"])
        try:
            if state["mode"] == "change":
                if not await self._volunteers.change(person_id, answers):
                    await context.send_activity(card_activity(not_signed_up_card()))
                    return await step.end_dialog()
                await send_details(context, self._volunteers, person_id, SAVED_TEXT)
                return await step.end_dialog()
            created = await self._volunteers.sign_up(person_id, answers, int(state["notice_version"] or 0))
        except InvalidAnswers as problem:
            # Something changed under the journey (an organisation retired, a new notice): ask that question again.
            log.info("sign-up answers refused at save: %s", problem)
            retry = {"organisation": "organisation", "notice": "consent"}.get(str(problem), "review")
            if retry == "consent" and state["mode"] == "change":
                retry = "review"
            await context.send_activity(text_activity(
                "Sorry, one of your answers can't be used any more. Please check it and try again."))
            state.update(at=retry, editing=True)
            return await step.replace_dialog(_LOOP, state)
        if created:
            await context.send_activity(text_activity(signed_up_text()))
            await send_details(context, self._volunteers, person_id)
        else:
            await send_details(context, self._volunteers, person_id, ALREADY_TEXT)
        return await step.end_dialog()


# -- used by the feature module (which must not call botbuilder directly) -----------------------------------------


async def start_journey(dialogs: DialogContext, *, mode: str = "signup", field: str | None = None) -> None:
    """Start the journey, or show the current question again when a sign-up is already under way."""
    active = dialogs.active_dialog
    if active is not None:
        if active.id == DIALOG_ID and mode == "signup":
            await dialogs.context.send_activity(text_activity(CARRY_ON_TEXT))
            await dialogs.reprompt_dialog()
            return
        await dialogs.cancel_all_dialogs()
    await dialogs.begin_dialog(DIALOG_ID, {"mode": mode, "field": field})


def journey_active(dialogs: DialogContext) -> bool:
    active = dialogs.active_dialog
    return active is not None and active.id == DIALOG_ID


def add_to(dialog_set: DialogSet, volunteers: VolunteerService, notices: NoticeService,
           interrupt: Interrupt | None = None) -> None:
    dialog_set.add(ExpressInterestDialog(volunteers, notices, interrupt))
