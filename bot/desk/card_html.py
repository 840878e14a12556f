"""The chat's own cards as desk pages: a facilitator's card (the new-session form and its preview, a session's
change and cancel cards, who is coming, marking who came, and every answer to a press) is built by the same
function the chat calls, and this module reads it into plain HTML parts for the template `_card.html`. So the
desk's forms have the chat's fields, labels, hints and messages ("Please fix: …") word for word, and its buttons
the chat's rules (which session gets Publish, Change or Mark who came is decided by the card): nothing is
written twice.

Each of the card's buttons becomes the desk's address for its action (`ROUTES`): a link for one that only shows
something, a form POST (with the CSRF token) for one that changes something, and a submit button of the page's
form for one that sends the card's inputs. The new-session journey's buttons (`journey_submit`) post to the
journey's page with its answers kept in hidden fields; its Cancel is a link back to the sessions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.desk.site import PREFIX
from vocabulary.actions.people import SHOW_HELP
from vocabulary.actions.sessions import (
    SESSION_ATTENDANCE,
    SESSION_ATTENDANCE_SAVE,
    SESSION_CANCEL,
    SESSION_CANCEL_START,
    SESSION_CHANGE,
    SESSION_CHANGE_START,
    SESSION_PUBLISH,
    SESSION_ROSTER,
    SESSION_ROSTER_CSV,
    SESSIONS_LIST,
)

SESSIONS_PAGE = f"{PREFIX}/sessions"
NEW_SESSION_PAGE = f"{PREFIX}/sessions/new"
_ONE = f"{PREFIX}/sessions/{{session_id}}"

Method = Literal["get", "post", "download"]

# The desk's address for each card action of the facilitators' cards (bot/desk/sessions_pages.py serves them).
# A button whose action is not here is left out.
ROUTES: dict[str, tuple[Method, str]] = {
    SHOW_HELP.name: ("get", f"{PREFIX}/home"),  # the person's page lists the chat's commands, as Help does
    SESSIONS_LIST.name: ("get", SESSIONS_PAGE),
    SESSION_PUBLISH.name: ("post", f"{_ONE}/publish"),
    SESSION_CHANGE_START.name: ("get", f"{_ONE}/change"),
    SESSION_CHANGE.name: ("post", f"{_ONE}/change"),
    SESSION_CANCEL_START.name: ("get", f"{_ONE}/cancel"),
    SESSION_CANCEL.name: ("post", f"{_ONE}/cancel"),
    SESSION_ROSTER.name: ("get", f"{_ONE}/roster"),
    SESSION_ROSTER_CSV.name: ("download", f"{_ONE}/roster.csv"),
    SESSION_ATTENDANCE.name: ("get", f"{_ONE}/attendance"),
    SESSION_ATTENDANCE_SAVE.name: ("post", f"{_ONE}/attendance"),
}


def route_path(template: str) -> str:
    """The aiohttp route of a ROUTES address, inside the desk's sub-application."""
    return template.removeprefix(PREFIX).replace("{session_id}", r"{session_id:\d{1,10}}")


@dataclass(frozen=True)
class DeskText:
    kind: Literal["h1", "h2", "p", "note", "strong", "error"]
    text: str


@dataclass(frozen=True)
class DeskFacts:
    rows: tuple[tuple[str, str], ...]
    kind: str = "facts"


@dataclass(frozen=True)
class DeskChoice:
    html_id: str
    value: str
    label: str
    checked: bool


@dataclass
class DeskInput:
    """One of the card's inputs as an HTML control, with the hints and the message written under it."""

    name: str
    html_id: str
    kind: str  # text, url, number, date, time, radio, checkbox
    label: str
    value: str
    required: bool
    choices: tuple[DeskChoice, ...] = ()
    placeholder: str | None = None
    maxlength: int | None = None
    min: str | None = None
    max: str | None = None
    hints: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def described_by(self) -> str:
        ids = [f"{self.html_id}-hint-{index}" for index in range(len(self.hints))]
        if self.error:
            ids.append(f"{self.html_id}-error")
        return " ".join(ids)


@dataclass(frozen=True)
class DeskButton:
    label: str
    method: Literal["get", "post", "download", "submit"]
    href: str
    hidden: tuple[tuple[str, str], ...] = ()
    style: str = "plain"  # primary, danger or plain
    name: str | None = None  # a journey button's name and value (nav)
    value: str | None = None


@dataclass(frozen=True)
class DeskForm:
    action: str
    hidden: tuple[tuple[str, str], ...]
    buttons: tuple[DeskButton, ...]


@dataclass(frozen=True)
class DeskCard:
    title: str
    blocks: tuple[DeskText | DeskFacts | DeskInput, ...]
    form: DeskForm | None
    buttons: tuple[DeskButton, ...]


@dataclass(frozen=True)
class Journey:
    """The new-session journey's page: where its buttons post, and its answers so far (kept in hidden fields
    when the card itself has no inputs, as the preview)."""

    action: str
    answers: Mapping[str, str] = field(default_factory=dict)


_INPUT_KINDS = {"Input.Text": "text", "Input.Number": "number", "Input.Date": "date", "Input.Time": "time"}
_STYLES = {"positive": "primary", "destructive": "danger"}


def _hidden(data: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple((str(key), str(value)) for key, value in data.items() if key not in ("action", "session_id"))


def button_of(action: Mapping[str, Any], *, with_inputs: bool = False) -> DeskButton | None:
    """The desk's button for one of a card's actions; None for one the desk has no page for. `with_inputs`: it
    sends the page form's inputs (a submit button of that form)."""
    style = _STYLES.get(str(action.get("style")), "plain")
    title = str(action.get("title", ""))
    if action.get("type") == "Action.OpenUrl":
        return DeskButton(title, "get", str(action["url"]), style=style)
    data = action.get("data")
    if action.get("type") != "Action.Submit" or not isinstance(data, dict):
        return None
    if "journey" in data:
        if data.get("nav") == "cancel":
            return DeskButton(title, "get", SESSIONS_PAGE, style=style)
        return DeskButton(title, "submit", "", style=style, name="nav", value=str(data.get("nav")))
    route = ROUTES.get(str(data.get("action")))
    if route is None:
        return None
    method, template = route
    href = template.format(session_id=data.get("session_id", ""))
    if with_inputs and method == "post":
        return DeskButton(title, "submit", href, _hidden(data), style)
    return DeskButton(title, method, href, _hidden(data), style)


def buttons_of(actions: Iterable[Mapping[str, Any]]) -> tuple[DeskButton, ...]:
    return tuple(button for button in (button_of(action) for action in actions) if button is not None)


def _text(block: Mapping[str, Any], first_heading: bool) -> DeskText:
    text = str(block.get("text", ""))
    if block.get("style") == "heading":
        return DeskText("h1" if first_heading else "h2", text)
    if block.get("size") == "Medium" and block.get("weight") == "Bolder":
        return DeskText("h2", text)
    if block.get("color") == "Attention":
        return DeskText("error", text)
    if block.get("isSubtle"):
        return DeskText("note", text)
    if block.get("weight") == "Bolder":
        return DeskText("strong", text)
    return DeskText("p", text)


def _input(block: Mapping[str, Any]) -> DeskInput:
    name = str(block["id"])
    html_id = f"f-{name}"
    value = block.get("value", "")
    value = "" if value is None else str(value)
    label = str(block.get("label", name))
    required = bool(block.get("isRequired"))
    if block["type"] == "Input.ChoiceSet":
        multi = bool(block.get("isMultiSelect"))
        chosen = set(value.split(",")) if multi else {value}
        choices = tuple(DeskChoice(f"{html_id}-{index}", str(choice["value"]), str(choice["title"]),
                                   str(choice["value"]) in chosen)
                        for index, choice in enumerate(block.get("choices", []), start=1))
        return DeskInput(name, html_id, "checkbox" if multi else "radio", label, value, required, choices)
    kind = _INPUT_KINDS.get(str(block["type"]), "text")
    if kind == "text" and block.get("style") == "Url":
        kind = "url"
    return DeskInput(name, html_id, kind, label, value, required, placeholder=block.get("placeholder"),
                     maxlength=block.get("maxLength"),
                     min=None if block.get("min") is None else str(block["min"]),
                     max=None if block.get("max") is None else str(block["max"]))


def _flatten(body: Sequence[Mapping[str, Any]]) -> Iterable[Mapping[str, Any]]:
    for block in body:
        if block.get("type") in ("Container", "Column"):
            yield from _flatten(block.get("items", []))
        elif block.get("type") == "ColumnSet":
            yield from _flatten(block.get("columns", []))
        else:
            yield block


def desk_card(card: Mapping[str, Any], *, journey: Journey | None = None,
              leave_out: Iterable[str] = ()) -> DeskCard:
    """The card as the desk's page parts. A subtle sentence right under an input is its hint, and "Please fix"
    under it is its message (both read out with the input). `leave_out`: sentences that are true in the chat
    only (e.g. how Teams saves a file)."""
    skipped = set(leave_out)
    blocks: list[DeskText | DeskFacts | DeskInput] = []
    set_buttons: list[Mapping[str, Any]] = []
    last_input: DeskInput | None = None
    seen_heading = False
    for block in _flatten(card.get("body", [])):
        kind = block.get("type")
        if kind == "TextBlock":
            text = _text(block, not seen_heading)
            seen_heading = seen_heading or text.kind == "h1"
            if text.text in skipped:
                continue
            if last_input is not None and text.kind == "error" and last_input.error is None:
                last_input.error = text.text
                continue
            if last_input is not None and text.kind == "note" and last_input.error is None:
                last_input.hints.append(text.text)
                continue
            last_input = None
            blocks.append(text)
        elif kind == "FactSet":
            last_input = None
            blocks.append(DeskFacts(tuple((str(fact["title"]), str(fact["value"])) for fact in block["facts"])))
        elif isinstance(kind, str) and kind.startswith("Input."):
            last_input = _input(block)
            blocks.append(last_input)
        elif kind == "ActionSet":
            set_buttons += block.get("actions", [])
    actions = [*set_buttons, *card.get("actions", [])]
    has_inputs = any(isinstance(block, DeskInput) for block in blocks)
    in_form: list[DeskButton] = []
    outside: list[DeskButton] = []
    hidden: tuple[tuple[str, str], ...] = ()
    form_action = journey.action if journey is not None else ""
    for action in actions:
        sends_inputs = (has_inputs or journey is not None) and action.get("associatedInputs") != "none"
        button = button_of(action, with_inputs=sends_inputs)
        if button is None:
            continue
        if button.method == "submit":
            if not in_form and journey is None:
                form_action, hidden = button.href, button.hidden
            in_form.append(button)
        else:
            outside.append(button)
    if journey is not None and not has_inputs:
        hidden = tuple((name, value) for name, value in journey.answers.items())
    form = DeskForm(form_action, hidden, tuple(in_form)) if in_form or has_inputs else None
    title = next((block.text for block in blocks if isinstance(block, DeskText) and block.kind == "h1"), "")
    return DeskCard(title, tuple(blocks), form, tuple(outside))
