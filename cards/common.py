"""Shared pieces of every card (design §9): version 1.5, wrapped text, verbs in the same order everywhere."""

from __future__ import annotations

from typing import Any

from vocabulary.catalogue import CardAction

Card = dict[str, Any]
CONTACT_EMAIL = "HNY.Inc@nhs.net"

# Button words, the same everywhere (content guide): primary first, then Back, then Cancel.
BACK = "Back"
CANCEL = "Cancel"
HELP = "Help"
PRIVACY = "Privacy notice"


def card(body: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None, *,
         speak: str | None = None) -> Card:
    result: Card = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": body,
    }
    if actions:
        result["actions"] = actions
    if speak:
        result["speak"] = speak
    return result


def heading(text: str) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, "size": "Large", "weight": "Bolder",
            "style": "heading"}


def para(text: str, *, subtle: bool = False, weight: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "TextBlock", "text": text, "wrap": True}
    if subtle:
        block["isSubtle"] = True
    if weight:
        block["weight"] = weight
    return block


def facts(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return {"type": "FactSet", "facts": [{"title": title, "value": value} for title, value in pairs]}


def submit(title: str, action: CardAction[Any], *, style: str | None = None, **data: Any) -> dict[str, Any]:
    """An Action.Submit for a declared action (vocabulary/actions): arrives as a message whose value is
    `{"action": action.name, **data}`; `data` is checked against the payload its handler takes."""
    result: dict[str, Any] = {"type": "Action.Submit", "title": title, "data": action.data(**data)}
    if style:
        result["style"] = style
    return result


def journey_submit(title: str, journey: str, step: str, nav: str, *, style: str | None = None,
                   inputs: bool = True, **data: Any) -> dict[str, Any]:
    """A button of a journey's card: the journey's dialog reads it (the run of the journey, its step and where to
    go next), not the action registry, so an old card changes nothing. `inputs=False` for Back and Cancel, which
    must work with a required answer still empty."""
    result: dict[str, Any] = {"type": "Action.Submit", "title": title,
                              "data": {**data, "journey": journey, "step": step, "nav": nav}}
    if style:
        result["style"] = style
    return result if inputs else no_inputs(result)


def no_inputs(action: dict[str, Any]) -> dict[str, Any]:
    """A button that sends none of its card's inputs: Teams sends them all with every button unless told not to,
    and the action behind this one would refuse them (or be held back by a required one)."""
    return {**action, "associatedInputs": "none"}


def execute(title: str, action: CardAction[Any], *, style: str | None = None, **data: Any) -> dict[str, Any]:
    """An Action.Execute (Universal Actions) for a declared action whose card is updated in place; Teams sends it
    as an invoke."""
    result: dict[str, Any] = {"type": "Action.Execute", "title": title, "verb": action.name,
                              "data": action.data(**data)}
    if style:
        result["style"] = style
    return result


def open_url(title: str, url: str) -> dict[str, Any]:
    return {"type": "Action.OpenUrl", "title": title, "url": url}


def attachment(content: Card) -> dict[str, Any]:
    return {"contentType": "application/vnd.microsoft.card.adaptive", "content": content}


# -- forms: every input says whether it is required, and every problem is said in words (design §9) ----------

def input_label(name: str, required: bool) -> str:
    return f"{name} ({'required' if required else 'optional'})"


def field_error(errors: dict[str, str], name: str) -> list[dict[str, Any]]:
    """What to fix under the input `name`, if anything."""
    if name not in errors:
        return []
    # Words, not only colour, say what is wrong (design §9).
    return [{"type": "TextBlock", "text": f"Please fix: {errors[name]}", "wrap": True, "color": "Attention",
             "spacing": "None"}]


def fix_count(errors: dict[str, str]) -> list[dict[str, Any]]:
    """At the top of a form sent back: how many answers to fix."""
    if not errors:
        return []
    count = len(errors)
    return [para(f"Please fix {count} answer{'s' if count != 1 else ''} below.", weight="Bolder")]
