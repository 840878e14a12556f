"""Every button of every card the bot sends, pressed as Teams would press it, by the person it was sent to.

Starting from every typed command said by a colleague, two facilitators and an admin, the crawler reads each
card that reaches Teams (replies, invitations and other proactive messages, and the cards Action.Execute
answers with), fills its inputs as a person would, and presses each button it has not pressed yet. It checks:
- every button names an action declared in the catalogue (vocabulary/actions) for the way it is pressed (Submit
  or Execute) and registered in the app, and its data fits the declared payload model (a card cannot send what
  its handler refuses);
- no press is answered 5xx and no turn fails (/metrics turn_failures_total);
- every declared action is registered with its declared model, and is on some card the bot sends (no handler
  without a button);
- a press changes no table but those its declaration lists (besides the bookkeeping every turn does);
- a press that changes anything is pressed again from the same state, three times at once (a double press, the
  fastest a person can press): the outcome is the same as one press.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from bot.turn_failures import LOST_RACE
from tests.app_fixtures import cards_in
from tests.live_bot import ACTORS, LiveBot, World
from tests.live_bot import live_bot as live_bot  # the module's served bot
from vocabulary.actions import ALL as DECLARED_ACTIONS
from vocabulary.catalogue import CardAction

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

CONCURRENT_PRESSES = 3
PRESSES_PER_BUTTON_KIND = 2
# Columns whose values differ between two runs of the same press for reasons that are not its effect: ids that
# Teams (the double) hands out in arrival order, a worker's own random id, how long a send took, and outbox keys
# that name the press itself (a resend's key holds the id of the activity Teams sent, and each copy has its own).
VOLATILE_COLUMNS = frozenset({"key", "activity_id", "lease_owner", "lease_until", "duration_ms", "heartbeat_at",
                              "started_at", "card_activity_id", "progress_activity_id"})
VOLATILE_TABLES = frozenset({"delivery_workers"})
# Pressed after everything else: it erases the person who presses it, and with them what the rest would show.
ERASES_THE_PRESSER = frozenset({"withdraw_confirm"})
# Declared and registered only when Graph is on (this bot runs without it): tests/test_activity_feed_e2e.py
# presses them.
ONLY_WITH_GRAPH = frozenset({"feed_on", "feed_off"})
# Written by the delivery engine whenever the outbox sends what a press enqueued.
SENDING_TABLES = frozenset({"outbox_attempts"})


@dataclass
class Press:
    actor: str
    activity: dict[str, Any]
    what: str  # for messages: "submit action", "execute verb", "say text"
    action: CardAction[Any] | None = None  # the declared action a button press names


@dataclass
class CrawlReport:
    pressed: Counter[str] = field(default_factory=Counter)
    seen_submit: set[str] = field(default_factory=set)
    seen_execute: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    races: int = 0


def _own_nodes(value: Any) -> Iterator[dict[str, Any]]:
    """The nodes of one card, not those of the ShowCards it opens (each is a card of its own)."""
    if isinstance(value, dict):
        yield value
        for key, item in value.items():
            if not (value.get("type") == "Action.ShowCard" and key == "card"):
                yield from _own_nodes(item)
    elif isinstance(value, list):
        for item in value:
            yield from _own_nodes(item)


def _buttons(card: dict[str, Any], live: LiveBot,
             inherited: dict[str, Any] | None = None) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Each Submit and Execute button with the inputs Teams sends with it: those of its own card and of the
    cards that opened it (a ShowCard's parents), none with associatedInputs "none"."""
    scope = {**(inherited or {}), **_filled_inputs(card, live)}
    for node in _own_nodes(card):
        if node.get("type") == "Action.ShowCard" and isinstance(node.get("card"), dict):
            yield from _buttons(node["card"], live, scope)
        elif node.get("type") in ("Action.Submit", "Action.Execute"):
            sends_inputs = str(node.get("associatedInputs", "auto")).lower() != "none"
            yield node, scope if sends_inputs else {}


def _filled_inputs(card: dict[str, Any], live: LiveBot) -> dict[str, Any]:
    """What a person would enter: the first choice, toggles on, a date next week, a meeting link."""
    values: dict[str, Any] = {}
    for node in _own_nodes(card):
        kind, name = str(node.get("type", "")), node.get("id")
        if not kind.startswith("Input.") or not isinstance(name, str):
            continue
        if kind == "Input.ChoiceSet":
            choices = node.get("choices") or []
            values[name] = node.get("value") or (choices[0]["value"] if choices else "")
        elif kind == "Input.Toggle":
            values[name] = node.get("valueOn", "true")
        elif kind == "Input.Date":
            values[name] = node.get("value") or (live.clock.now() + timedelta(days=10)).date().isoformat()
        elif kind == "Input.Time":
            values[name] = node.get("value") or ("12:00" if "end" in name else "10:00")
        elif kind == "Input.Number":
            values[name] = node.get("value") or "2"
        elif "url" in name or "link" in name:
            values[name] = node.get("value") or "https://teams.microsoft.com/l/meetup-join/19%3ameeting_x/0"
        elif "email" in name or "co_facilitators" in name:
            values[name] = node.get("value") or ""
        else:  # a person changing a form types something new
            values[name] = f"{node['value']} (changed)" if node.get("value") else "A short text for the test"
    return values


def _button_key(actor: str, button: dict[str, Any]) -> tuple[Any, ...]:
    """Buttons alike for the crawl: the same action by the same person; a journey's buttons by anyone (each
    question is the same for everyone, and journeys are what most presses would otherwise be spent on)."""
    data = button.get("data") if isinstance(button.get("data"), dict) else {}
    if "journey" in data:
        return "anyone", data.get("action"), data.get("step"), data.get("nav"), data.get("field")
    route = button.get("verb") or data.get("action")
    return actor, button["type"], route, data.get("field"), tuple(sorted(data))


class Crawler:
    def __init__(self, live: LiveBot, world: World) -> None:
        self.live = live
        self.world = world
        self.report = CrawlReport()
        self.queue: deque[Press] = deque()
        self.last: list[Press] = []
        self.last_dump: dict[str, Any] | None = None
        self.keys: Counter[tuple[Any, ...]] = Counter()
        self.declared = {action.name: action for action in DECLARED_ACTIONS}
        self.submit_handled = {spec.name for spec in live.wiring.actions.submit_specs()}
        self.execute_handled = {spec.name for spec in live.wiring.actions.execute_specs()}

    def _actor_of(self, conversation_id: str) -> str | None:
        teams = self.live.h.teams
        for name, member in ACTORS.items():
            if conversation_id in (f"a:personal-{member.aad_object_id}", teams.conversation_for(member.teams_user_id),
                                   teams.conversation_for(member.aad_object_id)):
                return name
        return None

    def _check_button(self, button: dict[str, Any], filled: dict[str, Any]) -> CardAction[Any] | None:
        """The button's data with the card's inputs, as Teams sends them, against its declaration."""
        data = {**(button.get("data") if isinstance(button.get("data"), dict) else {}), **filled}
        if button["type"] == "Action.Execute":
            name, seen, handled, what = str(button.get("verb")), self.report.seen_execute, self.execute_handled, \
                "Action.Execute"
        elif "journey" in data:
            return None  # a journey's own buttons are read by its dialog
        else:
            name, seen, handled, what = str(data.get("action")), self.report.seen_submit, self.submit_handled, \
                "button"
        seen.add(name)
        action = self.declared.get(name)
        if action is None:
            self.report.problems.append(f"a card's {what} names {name}, which vocabulary/actions does not declare")
            return None
        if (action.executes if what == "Action.Execute" else action.submits) is False:
            self.report.problems.append(f"a card's {what} names {name}, declared as {action.press.value} only")
        if name not in handled:
            self.report.problems.append(f"a card's {what} names {name}, which has no handler")
        candidate = {**data, "action": name}
        try:
            action.model.model_validate(candidate)
        except ValidationError as exc:
            self.report.problems.append(f"a {name} button's data does not fit its payload: "
                                        f"{exc.errors()[0]['loc']} {exc.errors()[0]['type']}")
        return action

    def enqueue_cards(self, actor: str, cards: list[dict[str, Any]]) -> None:
        for card in cards:
            for button, filled in _buttons(card, self.live):
                action = self._check_button(button, filled)
                key = _button_key(actor, button)
                if self.keys[key] >= PRESSES_PER_BUTTON_KIND:
                    continue
                self.keys[key] += 1
                data = dict(button.get("data") or {})
                if button["type"] == "Action.Execute":
                    activity = self.live.execute(actor, button["verb"], {**data, **filled})
                    self.queue.append(Press(actor, activity, f"execute {button['verb']}", action))
                else:
                    activity = self.live.submit(actor, {**data, **filled})
                    press = Press(actor, activity, f"submit {data.get('action') or data.get('step')}", action)
                    (self.last if data.get("action") in ERASES_THE_PRESSER else self.queue).append(press)

    async def press(self, press: Press) -> None:
        live = self.live
        failures = live.failed_turns()
        # Presses run one after another: the dump after the last one is the state before this one.
        before_dump = self.last_dump or await live.dump()
        seen = len(live.h.teams.requests)
        status, body = await live.post(press.activity)
        await live.deliver()
        self.report.pressed[press.what] += 1
        if status >= 500:
            self.report.problems.append(f"{press.actor}: {press.what} answered {status}")
        if live.failed_turns() != failures:
            self.report.problems.append(f"{press.actor}: {press.what} failed its turn ({live.failed_turns()})")
        after_once = await live.dump()
        self.last_dump = after_once
        once = _comparable(live.outcome(after_once, volatile=VOLATILE_COLUMNS))
        before = _comparable(live.outcome(before_dump, volatile=VOLATILE_COLUMNS))
        if press.action is not None:
            allowed = press.action.changes | (SENDING_TABLES if "outbox" in press.action.changes else frozenset())
            undeclared = sorted(name for name in once if once[name] != before.get(name) and name not in allowed)
            if undeclared:
                self.report.problems.append(f"{press.actor}: {press.what} changed {undeclared}, which its "
                                            "declaration does not list")
        if once != before and press.activity.get("text") is None:
            await self._press_together(press, before_dump, after_once, once)
        self._collect(press.actor, seen, body)

    async def _press_together(self, press: Press, before_dump: dict[str, Any], after_once: dict[str, Any],
                              once: Any) -> None:
        """The same press from the same state, several at once: one effect, and no turn fails."""
        live = self.live
        await live.restore(before_dump)
        failures = live.failed_turns()
        copies = [{**press.activity, "id": uuid.uuid4().hex} for _ in range(CONCURRENT_PRESSES)]
        answers = await asyncio.gather(*(live.post(copy) for copy in copies))
        await live.deliver()
        self.report.races += 1
        together = _comparable(live.outcome(await live.dump(), volatile=VOLATILE_COLUMNS))
        new_failures = {kind: count - failures.get(kind, 0) for kind, count in live.failed_turns().items()
                        if kind != LOST_RACE and count != failures.get(kind, 0)}
        if any(status >= 500 for status, _ in answers) or new_failures:
            self.report.problems.append(f"{press.actor}: {press.what} pressed {CONCURRENT_PRESSES} times at once: "
                                        f"{[status for status, _ in answers]} {new_failures}")
        if together != once:
            tables = sorted(name for name in once if once[name] != together.get(name))
            self.report.problems.append(f"{press.actor}: {press.what} pressed {CONCURRENT_PRESSES} times at once "
                                        f"did not have the effect of one press, in {tables}: "
                                        f"{_first_difference(once, together, tables)}")
        await live.restore(after_once)

    def _collect(self, actor: str, seen: int, body: Any) -> None:
        """Cards that reached Teams since request number `seen`: sent, or updated in place (PUT)."""
        for request in self.live.h.teams.requests[seen:]:
            if request.route not in ("send", "reply", "update") or request.status >= 300 or \
                    not isinstance(request.body, dict):
                continue
            recipient = self._actor_of(request.conversation_id or "") or actor
            self.enqueue_cards(recipient, cards_in([request.body]))
        if isinstance(body, dict) and isinstance(body.get("value"), dict) and body.get("type", "").endswith(
                "card.adaptive"):
            self.enqueue_cards(actor, [body["value"]])

    async def run(self, commands: list[tuple[str, str]], limit: int) -> CrawlReport:
        """Each command in turn, with every button it leads to, then "cancel" so that a journey it opened does
        not take the next command as an answer. The invitations the world's sessions sent come first."""
        self._collect("colleague", 0, None)
        for actor, said in commands:
            self.queue.append(Press(actor, self.live.say(actor, said), f"say {said}"))
            while self.queue and sum(self.report.pressed.values()) < limit:
                await self.press(self.queue.popleft())
            for name in ACTORS:
                await self.live.post(self.live.say(name, "cancel"))
            self.last_dump = None  # "cancel" may have written
        for press in self.last:
            await self.press(press)
        return self.report


def _first_difference(once: dict[str, Any], together: dict[str, Any], tables: list[str]) -> str:
    """A row one press left and the presses together did not, and the reverse, so a failure says what moved."""
    name = tables[0]
    only_once = [row for row in once[name] if row not in together.get(name, [])][:1]
    only_together = [row for row in together.get(name, []) if row not in once[name]][:1]
    return f"{name}: after one press {only_once!r:.400} / after {CONCURRENT_PRESSES} {only_together!r:.400}"


def _comparable(outcome: dict[str, list[tuple[Any, ...]]]) -> dict[str, Any]:
    return {name: rows for name, rows in outcome.items() if name not in VOLATILE_TABLES}


@pytest.fixture(scope="module")
def crawl(live_bot: LiveBot) -> CrawlReport:
    world = live_bot.run(live_bot.build_world())
    # Withdrawal last: it erases the colleague, and with them the invitations the other commands show.
    said = sorted((" ".join(command.phrases[0]) for command in live_bot.wiring.commands.all()),
                  key=lambda text: text == "withdraw")
    commands = [(actor, text) for text in said for actor in ACTORS]
    return live_bot.run(Crawler(live_bot, world).run(commands, limit=600), timeout=600)


def test_every_declared_action_has_its_handler_a_button_and_only_its_declared_effects(
        live_bot: LiveBot, crawl: CrawlReport) -> None:
    """One declaration per action (vocabulary/actions), read by the cards, the registry and this test."""
    assert [problem for problem in crawl.problems if "at once" not in problem] == []
    assert sum(crawl.pressed.values()) > 100
    declared = {action.name: action for action in DECLARED_ACTIONS}
    registered = [*live_bot.wiring.actions.submit_specs(), *live_bot.wiring.actions.execute_specs()]
    assert [spec.name for spec in registered if declared.get(spec.name) is not spec.action] == []
    submit = {spec.name for spec in live_bot.wiring.actions.submit_specs()}
    execute = {spec.name for spec in live_bot.wiring.actions.execute_specs()}
    assert sorted(name for name, action in declared.items() if action.submits and name not in submit) == sorted(
        ONLY_WITH_GRAPH)
    assert sorted(name for name, action in declared.items() if action.executes and name not in execute) == []
    assert sorted(submit - crawl.seen_submit) == []
    assert sorted(execute - crawl.seen_execute) == []


def test_presses_that_change_something_have_one_effect_when_pressed_together(crawl: CrawlReport) -> None:
    assert crawl.races > 10
    assert [problem for problem in crawl.problems if "at once" in problem] == []
