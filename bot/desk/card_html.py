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
from vocabulary.actions.announcements import START_ANNOUNCEMENT, STOP_SENDING_ANNOUNCEMENT
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
ANNOUNCEMENTS_PAGE = f"{PREFIX}/announcements"
NEW_ANNOUNCEMENT_PAGE = f"{PREFIX}/announcements/new"
ONE_ANNOUNCEMENT = f"{PREFIX}/announcements/{{announcement_id}}"
# The record ids a button's data may put in its address (and so not in its hidden fields).
_ADDRESS_IDS = ("session_id", "announcement_id")

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
    # The announcements' cards (bot/desk/announcements_pages.py serves them).
    START_ANNOUNCEMENT.name: ("get", NEW_ANNOUNCEMENT_PAGE),
    STOP_SENDING_ANNOUNCEMENT.name: ("post", f"{ONE_ANNOUNCEMENT}/stop"),
}


def route_path(template: str) -> str:
    """The aiohttp route of a ROUTES address, inside the desk's sub-application."""
    path = template.removeprefix(PREFIX)
    for name in _ADDRESS_IDS:
        path = path.replace(f"{{{name}}}", f"{{{name}:\\d{{1,10}}}}")
    return path


@dataclass(frozen=True)
class DeskText:
    kind: Literal["h1", "h2", "h3", "h4", "p", "note", "strong", "error"]
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
    kind: str  # text, textarea, url, number, date, time, radio, checkbox
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
    method: Literal["get", "post", "download", "submit", "sample"]  # sample: shown, does nothing (a preview)
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
class DeskSample:
    """A card shown inside another as people will see it (the emphasis container of the announcement's check
    card): its buttons are shown and do nothing."""

    card: DeskCard
    kind: str = "sample"


@dataclass(frozen=True)
class DeskCard:
    title: str
    blocks: tuple[DeskText | DeskFacts | DeskInput | DeskSample, ...]
    form: DeskForm | None
    buttons: tuple[DeskButton, ...]


@dataclass(frozen=True)
class Journey:
    """A journey's page (a new session, a new announcement): where its buttons post, its answers so far (kept
    in hidden fields, except those the card itself asks again), and where its Cancel goes."""

    action: str
    answers: Mapping[str, str] = field(default_factory=dict)
    cancel: str = SESSIONS_PAGE


_INPUT_KINDS = {"Input.Text": "text", "Input.Number": "number", "Input.Date": "date", "Input.Time": "time"}
_STYLES = {"positive": "primary", "destructive": "danger"}


def _hidden(data: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple((str(key), str(value)) for key, value in data.items() if key not in ("action", *_ADDRESS_IDS))


_JOURNEY_KEYS = ("action", "journey", "step", "nav")


def button_of(action: Mapping[str, Any], *, with_inputs: bool = False,
              journey: Journey | None = None) -> DeskButton | None:
    """The desk's button for one of a card's actions; None for one the desk has no page for. `with_inputs`: it
    sends the page form's inputs (a submit button of that form). A journey's button that carries more than
    where to go (the announcement's "Send at 08:00" carries quiet="wait") is a form of its own with the
    journey's answers, as one submit button can send only one name."""
    style = _STYLES.get(str(action.get("style")), "plain")
    title = str(action.get("title", ""))
    if action.get("type") == "Action.OpenUrl":
        return DeskButton(title, "get", str(action["url"]), style=style)
    data = action.get("data")
    # Action.Execute (a card updated in place) carries its action's data as Action.Submit does.
    if action.get("type") not in ("Action.Submit", "Action.Execute") or not isinstance(data, dict):
        return None
    if "journey" in data:
        nav = str(data.get("nav"))
        if nav == "cancel":
            return DeskButton(title, "get", journey.cancel if journey else SESSIONS_PAGE, style=style)
        extra = tuple((str(key), str(value)) for key, value in data.items() if key not in _JOURNEY_KEYS)
        if extra and journey is not None:
            return DeskButton(title, "post", journey.action, (*journey.answers.items(), ("nav", nav), *extra),
                              style)
        return DeskButton(title, "submit", "", style=style, name="nav", value=nav)
    route = ROUTES.get(str(data.get("action")))
    if route is None:
        return None
    method, template = route
    href = template.format(**{name: data.get(name, "") for name in _ADDRESS_IDS})
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
    elif kind == "text" and block.get("isMultiline"):
        kind = "textarea"
    return DeskInput(name, html_id, kind, label, value, required, placeholder=block.get("placeholder"),
                     maxlength=block.get("maxLength"),
                     min=None if block.get("min") is None else str(block["min"]),
                     max=None if block.get("max") is None else str(block["max"]))


def _is_sample(block: Mapping[str, Any]) -> bool:
    return block.get("type") == "Container" and block.get("style") == "emphasis"


def _flatten(body: Sequence[Mapping[str, Any]]) -> Iterable[Mapping[str, Any]]:
    for block in body:
        if _is_sample(block):
            yield block  # a card within the card: read on its own (DeskSample)
        elif block.get("type") in ("Container", "Column"):
            yield from _flatten(block.get("items", []))
        elif block.get("type") == "ColumnSet":
            yield from _flatten(block.get("columns", []))
        else:
            yield block


def _level(text: DeskText, top: int) -> DeskText:
    """A heading moved down under the page's own (`top` 2: the card's first heading is an h2)."""
    if text.kind in ("h1", "h2") and top > 1:
        level = min(4, int(text.kind[1]) + top - 1)
        return DeskText(f"h{level}", text.text)  # type: ignore[arg-type]  # h1 to h4, built from the kinds
    return text


def sample_card(card: Mapping[str, Any], *, top: int = 2) -> DeskCard:
    """A card as the people who get it will see it, inside a page: every button shown, none doing anything."""
    read = desk_card({"body": card.get("body", [])}, top=top)
    actions = [*[action for block in _flatten(card.get("body", [])) if block.get("type") == "ActionSet"
                 for action in block.get("actions", [])], *card.get("actions", [])]
    samples = tuple(DeskButton(str(action.get("title", "")), "sample", "",
                               style=_STYLES.get(str(action.get("style")), "plain")) for action in actions)
    return DeskCard(read.title, read.blocks, None, samples)


def desk_card(card: Mapping[str, Any], *, journey: Journey | None = None,
              leave_out: Iterable[str] = (), top: int = 1) -> DeskCard:
    """The card as the desk's page parts. A subtle sentence right under an input is its hint, and "Please fix"
    under it is its message (both read out with the input). `leave_out`: sentences that are true in the chat
    only (e.g. how Teams saves a file). `top`: the level of the card's first heading (1: it is the page's)."""
    skipped = set(leave_out)
    blocks: list[DeskText | DeskFacts | DeskInput | DeskSample] = []
    set_buttons: list[Mapping[str, Any]] = []
    last_input: DeskInput | None = None
    seen_heading = False
    for block in _flatten(card.get("body", [])):
        kind = block.get("type")
        if _is_sample(block):
            last_input = None
            blocks.append(DeskSample(sample_card({"body": block.get("items", [])}, top=top + 1)))
        elif kind == "TextBlock":
            text = _text(block, not seen_heading)
            seen_heading = seen_heading or text.kind == "h1"
            text = _level(text, top)
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
    inputs = {block.name for block in blocks if isinstance(block, DeskInput)}
    has_inputs = bool(inputs)
    in_form: list[DeskButton] = []
    outside: list[DeskButton] = []
    hidden: tuple[tuple[str, str], ...] = ()
    form_action = journey.action if journey is not None else ""
    for action in actions:
        sends_inputs = (has_inputs or journey is not None) and action.get("associatedInputs") != "none"
        button = button_of(action, with_inputs=sends_inputs, journey=journey)
        if button is None:
            continue
        if button.method == "submit":
            if not in_form and journey is None:
                form_action, hidden = button.href, button.hidden
            in_form.append(button)
        else:
            outside.append(button)
    if journey is not None:
        # The answers of the journey's other steps; the card's own inputs send theirs.
        hidden = tuple((name, value) for name, value in journey.answers.items() if name not in inputs)
    form = DeskForm(form_action, hidden, tuple(in_form)) if in_form or has_inputs else None
    title = next((block.text for block in blocks if isinstance(block, DeskText) and block.kind == f"h{min(top, 4)}"),
                 "")
    return DeskCard(title, tuple(blocks), form, tuple(outside))
