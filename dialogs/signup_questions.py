"""The sign-up questions: the answer model of each card, how typed text maps to an answer, and the kind
messages that say how to fix an answer (content guide). Used by the express-interest dialog."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal, get_args

from pydantic import Field, field_validator, model_validator

from cards.common import Card
from cards.signup import (
    Frame,
    SignUpAnswers,
    adjustments_card,
    communities_card,
    consent_card,
    organisation_card,
    phases_card,
    review_card,
    space_card,
)
from dialogs.card_prompt import Answer, Question
from vocabulary.actions.people import ChangeableAnswer
from vocabulary.words import RATHER_NOT_SAY, Community, Phase, VolunteerSpace

CHANGEABLE: frozenset[str] = frozenset(get_args(ChangeableAnswer))
_NUMBERS = re.compile(r"\d+")


def _split(value: object) -> object:
    """Adaptive Cards send a multi-select as "a,b"; typed answers arrive as lists."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class ConsentAnswer(Answer):
    agree: Literal["true"]


class SpaceAnswer(Answer):
    space: VolunteerSpace


class CommunitiesAnswer(Answer):
    communities: tuple[Community | Literal["rather_not_say"], ...] = Field(default=(), max_length=5)  # RATHER_NOT_SAY

    @field_validator("communities", mode="before")
    @classmethod
    def _split_codes(cls, value: object) -> object:
        return _split(value)

    @model_validator(mode="after")
    def _rather_not_say_alone(self) -> CommunitiesAnswer:
        if RATHER_NOT_SAY in self.communities and len(set(self.communities)) > 1:
            raise ValueError("You chose \"I'd rather not say\" and a community. Please choose one or the other.")
        return self


class OrganisationAnswer(Answer):
    organisation: int = Field(ge=1, le=10**9)


class PhasesAnswer(Answer):
    phases: tuple[Phase, ...] = Field(min_length=1, max_length=2)

    @field_validator("phases", mode="before")
    @classmethod
    def _split_codes(cls, value: object) -> object:
        return _split(value)


class AdjustmentsAnswer(Answer):
    adjustments: Literal["yes", "no", ""] = ""


class ReviewAnswer(Answer):
    pass


# -- typed answers ---------------------------------------------------------------------------------------------

_YES = frozenset({"yes", "y", "yes please", "please", "ok", "okay", "i agree", "agree", "i consent", "yes i agree"})
_NO = frozenset({"no", "n", "no thanks", "no thank you", "i don't agree", "i do not agree", "nope"})


def consent_from_text(said: str, view: dict[str, Any]) -> dict[str, Any] | None:
    if said in _YES:
        return {"agree": "true"}
    if said in _NO:
        return {"agree": "false"}
    return None


def space_from_text(said: str, view: dict[str, Any]) -> dict[str, Any] | None:
    numbers = set(_NUMBERS.findall(said))
    minoritised = "minoriti" in said or "1" in numbers
    ally = "ally" in said or "allies" in said or "2" in numbers
    if "both" in said or "3" in numbers or (minoritised and ally):
        return {"space": VolunteerSpace.BOTH}
    if minoritised:
        return {"space": VolunteerSpace.MINORITISED}
    if ally:
        return {"space": VolunteerSpace.ALLY}
    return None


_COMMUNITY_WORDS = (("ethnic", Community.ETHNICITY), ("cultur", Community.ETHNICITY),
                    ("disab", Community.DISABILITY), ("health", Community.DISABILITY),
                    ("long term", Community.DISABILITY), ("neuro", Community.NEURODIVERGENT),
                    ("lgbt", Community.LGBTQ), ("rather not", RATHER_NOT_SAY), ("prefer not", RATHER_NOT_SAY),
                    ("not say", RATHER_NOT_SAY))
# The numbers of the card's choices, in its order: the communities, then "I'd rather not say".
_COMMUNITY_NUMBERS = {str(number): code for number, code in enumerate([*Community, RATHER_NOT_SAY], start=1)}


def communities_from_text(said: str, view: dict[str, Any]) -> dict[str, Any] | None:
    if said in ("none", "skip", "no", "nothing", "pass"):
        return {"communities": [RATHER_NOT_SAY]}
    found: list[str] = []
    for number in _NUMBERS.findall(said):
        if number not in _COMMUNITY_NUMBERS:
            return None
        found.append(_COMMUNITY_NUMBERS[number])
    for fragment, code in _COMMUNITY_WORDS:
        if fragment in said and code not in found:
            found.append(code)
    return {"communities": found} if found else None


def organisation_from_text(said: str, view: dict[str, Any]) -> dict[str, Any] | None:
    options: list[tuple[int, str]] = [(int(i), str(name)) for i, name in view["args"]["options"]]
    if said.isdigit():
        index = int(said)
        return {"organisation": options[index - 1][0]} if 1 <= index <= len(options) else None
    if said in ("another", "other", "another organisation", "other organisation", "none of these"):
        matches = [i for i, name in options if name.lower().startswith("another")]
    else:
        matches = [i for i, name in options if said in " ".join(name.lower().replace("-", " ").split())]
    return {"organisation": matches[0]} if len(matches) == 1 else None


def phases_from_text(said: str, view: dict[str, Any]) -> dict[str, Any] | None:
    numbers = set(_NUMBERS.findall(said))
    codesign = "co design" in said or "codesign" in said or "design" in said or "1" in numbers
    trainer = "train" in said or "2" in numbers
    if "both" in said or (codesign and trainer):
        return {"phases": [Phase.CODESIGN, Phase.TRAIN_THE_TRAINER]}
    if codesign:
        return {"phases": [Phase.CODESIGN]}
    if trainer:
        return {"phases": [Phase.TRAIN_THE_TRAINER]}
    return None


def adjustments_from_text(said: str, view: dict[str, Any]) -> dict[str, Any] | None:
    if said in _YES or said.startswith("yes"):
        return {"adjustments": "yes"}
    if said in _NO or said.startswith("no"):
        return {"adjustments": "no"}
    return None


_CHANGE_WORDS = (("space", "space"), ("communit", "communities"), ("organi", "organisation"),
                 ("phase", "phases"), ("part", "phases"), ("adjust", "adjustments"))


def review_from_text(said: str, view: dict[str, Any]) -> dict[str, Any] | None:
    if said in ("confirm", "yes", "ok", "okay", "done", "submit", "save", "sign me up", "confirm my answers"):
        return {}
    if said.startswith(("change", "edit")):
        for fragment, field_name in _CHANGE_WORDS:
            if fragment in said:
                return {"nav": "change", "field": field_name}
    return None


def _frame(journey: str, step: str, view: dict[str, Any]) -> Frame:
    return Frame(journey=journey, step=step, ack=view.get("ack"), changing=bool(view.get("changing")),
                 number=view.get("number"), total=view.get("total"))


def _organisation_check(answer: OrganisationAnswer, view: dict[str, Any]) -> str | None:
    offered = {int(i) for i, _ in view["args"]["options"]}
    if answer.organisation not in offered:
        return "Please choose an organisation from the list, or \"Another organisation\"."
    return None


def _question(step: str, model: type[Answer], draw: Callable[..., Card],
              from_text: Callable[[str, dict[str, Any]], dict[str, Any] | None], not_understood: str,
              **options: Any) -> Question[Any]:
    """A sign-up question whose card is `draw(frame, **view["args"])`, the frame naming this step."""
    return Question(step=step, model=model, from_text=from_text, not_understood=not_understood,
                    render=lambda journey, view: draw(_frame(journey, step, view), **view["args"]), **options)


def journey_answers(*, space: str | None, communities: list[str], organisation: int | None, phases: list[str],
                    adjustments: bool | None) -> SignUpAnswers:
    """The journey's answers, kept as codes in its state, in the programme's words ("I'd rather not say" and an
    unknown code are no community)."""
    return SignUpAnswers(
        space=VolunteerSpace.parse(space),
        communities=frozenset(c for c in map(Community.parse, communities) if c is not None),
        organisation_id=int(organisation or 0),
        phases=frozenset(p for p in map(Phase.parse, phases) if p is not None),
        adjustments_contact=bool(adjustments),
    )


def _review(frame: Frame, *, spaces: list[str], communities: list[str] | None, organisation: str | None,
            phases: list[str], adjustments: bool | None) -> Card:
    """The review card from its view data (the spaces' codes, the organisation's name)."""
    space = VolunteerSpace.of_flags(VolunteerSpace.MINORITISED in spaces, VolunteerSpace.ALLY in spaces)
    answers = journey_answers(space=space, communities=communities or [], organisation=None, phases=phases,
                              adjustments=adjustments)
    return review_card(frame, answers, organisation)


QUESTIONS: tuple[Question[Any], ...] = (
    _question(
        "consent", ConsentAnswer, consent_card, consent_from_text,
        "To sign up, we need your permission to store your answers. Tick \"I agree\" and press Next, or type "
        "\"I agree\". If you'd rather not, press Cancel.",
    ),
    _question(
        "space", SpaceAnswer, space_card, space_from_text,
        "Please choose a space: minoritised colleague, active ally, or both. You can also type 1, 2 or 3.",
    ),
    _question(
        "communities", CommunitiesAnswer, communities_card, communities_from_text,
        "Please choose any communities from the list, or \"I'd rather not say\". You can also type their "
        "numbers, like \"1, 4\".",
    ),
    _question(
        "organisation", OrganisationAnswer, organisation_card, organisation_from_text,
        "Please choose your organisation from the list, or \"Another organisation\". You can also type its "
        "number.",
        check=_organisation_check,
    ),
    _question(
        "phases", PhasesAnswer, phases_card, phases_from_text,
        "Please choose at least one part of the programme: co-design, train the trainer, or both.",
    ),
    _question(
        "adjustments", AdjustmentsAnswer, adjustments_card, adjustments_from_text,
        "Please answer yes or no. You can also press Next to skip this question.",
    ),
    _question(
        "review", ReviewAnswer, _review, review_from_text,
        "Please press Confirm to save your answers, or Change to change one. You can also type \"confirm\".",
        changeable=CHANGEABLE,
    ),
)
