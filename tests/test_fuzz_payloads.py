"""Fuzzing every way in: each registered card action, Action.Execute verb and typed command, read from the live
registries of the app (no list kept here), sent over the real HTTP path with signed tokens, with payloads that
hypothesis makes: missing and extra fields, wrong types, huge and unicode text, nested shapes, ids out of range
and other people's, stale journeys; by a colleague, a facilitator who does not own the session, its owner and an
admin. Each press must be answered without a 5xx and without a failed turn; a press that is invalid (its payload
does not fit the action's model) or refused (the presser lacks the role, or does not manage the session) must
change no table but the bookkeeping ones every turn may touch.

CI runs a fixed seed and FUZZ_EXAMPLES examples per target, split between the two Teams SDKs (each its own seed,
so the halves differ); `pytest --fuzz-long` runs many more on each."""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, get_args, get_origin

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from bot.app import WIRING, create_app
from bot.settings import Settings
from tests.app_fixtures import SDKS
from tests.live_bot import ACTORS, ROLES_OF, LiveBot, World
from tests.live_bot import live_bot as live_bot  # the module's served bot
from vocabulary.words import Role

FUZZ_EXAMPLES = 12
FUZZ_EXAMPLES_LONG = 300
MISSING = object()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per target, taken from the registries of an app built as the bot builds itself."""
    if "target" not in metafunc.fixturenames:
        return
    wiring = create_app(Settings(_env_file=None))[WIRING]  # type: ignore[call-arg]
    targets = ([("submit", spec.name) for spec in wiring.actions.submit_specs()]
               + [("execute", spec.name) for spec in wiring.actions.execute_specs()]
               + [("say", command.name) for command in wiring.commands.all()]
               + [("journey", "stale journey"), ("value", "any JSON")])
    metafunc.parametrize("target", targets, ids=[f"{kind}-{name}" for kind, name in targets])


@pytest.fixture(scope="module")
def world(live_bot: LiveBot) -> World:
    return live_bot.run(live_bot.build_world())


@pytest.fixture(scope="module")
def examples(request: pytest.FixtureRequest) -> int:
    if request.config.getoption("--fuzz-long"):
        return FUZZ_EXAMPLES_LONG
    return max(1, FUZZ_EXAMPLES // len(SDKS))


# -- values -----------------------------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12)
HUGE_TEXT = st.sampled_from(["x" * 100_000, "é" * 3000, "\u202e\u0000\r\nforged log line", "🙂" * 600,
                             "<at>someone</at> " * 200, "=HYPERLINK(\"https://example.invalid\")"])
# Out of the database's range first: hypothesis tries the first values of a list most.
OUT_OF_RANGE = [2**31, 2**63 - 1, 10**30, -(2**63)]
EDGE_INTS = st.sampled_from([*OUT_OF_RANGE, 0, -1, 2**31 - 1, 1, 2, 3])


def _ids(world: World) -> st.SearchStrategy[int]:
    return st.sampled_from([world.session_id, world.other_session_id, *world.organisation_ids, 1, 2, 3, 4]) | EDGE_INTS


PEOPLE = st.sampled_from([member.aad_object_id for member in ACTORS.values()]
                         + ["00000000-0000-0000-0000-000000000000", "not-a-guid", ""])
TEXTS = st.sampled_from(["", "x", "admin", "facilitator", "colleague", "true", "false", "yes", "no", "both",
                         "minoritised", "ally", "open", "codesign", "train_the_trainer", "lgbtq", "rather_not_say",
                         "2026-12-10", "10:00", "12:00", "10/12/2026", "https://teams.microsoft.com/l/meetup-join/x",
                         "volunteer300@hny.test", "now", "later", "wait", "confirm"])


def _plausible(annotation: Any, world: World) -> st.SearchStrategy[Any]:
    """Values of the field's own type, including valid ones, from the field's annotation."""
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _plausible(get_args(annotation)[0], world)
    if origin is Literal:
        return st.sampled_from(get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return st.one_of([_plausible(arg, world) for arg in get_args(annotation)])
    if origin in (list, tuple, set, frozenset):
        inner = get_args(annotation)[0] if get_args(annotation) else str
        return st.lists(_plausible(inner, world), max_size=3)
    if annotation is bool:
        return st.booleans() | st.sampled_from(["true", "false"])
    if annotation is int:
        return _ids(world) | st.integers(min_value=0, max_value=50)
    if annotation is type(None):
        return st.none()
    return TEXTS | PEOPLE | st.text(max_size=30)


def _payload(model: type[BaseModel], world: World) -> st.SearchStrategy[dict[str, Any]]:
    fields = {name: info for name, info in model.model_fields.items() if name != "action"}

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        # Mostly a payload of the right shape with one field wrong, the likeliest to reach deep code.
        mode = draw(st.sampled_from(["one_bad", "one_bad", "plausible", "wild"]))
        bad = draw(st.sampled_from(sorted(fields))) if fields else None
        payload: dict[str, Any] = {}
        for name, info in fields.items():
            if mode == "wild":
                value = draw(st.one_of(st.just(MISSING), _plausible(info.annotation, world),
                                       PEOPLE if "person" in name else _ids(world), JSON, HUGE_TEXT))
            elif mode == "one_bad" and name == bad:
                value = draw(EDGE_INTS | HUGE_TEXT | JSON | st.just(MISSING) | PEOPLE)
            else:
                value = draw(_plausible(info.annotation, world))
            if value is not MISSING:
                payload[name] = value
        if draw(st.integers(0, 4)) == 0:  # now and then, fields the card never sends
            payload.update(draw(st.dictionaries(st.sampled_from(["person_id", "role", "admin", "granted", "zz"]),
                                                JSON, max_size=2)))
        if draw(st.integers(0, 9)) == 0:  # and a routing field of the wrong shape
            payload[draw(st.sampled_from(["action", "journey", "step", "nav", "field"]))] = draw(
                st.lists(st.text(max_size=5), max_size=2) | st.dictionaries(st.text(max_size=5), JSON, max_size=2)
                | st.integers() | st.none())
        return payload

    return build()


# -- expectations ----------------------------------------------------------------------------------------------

def _fits(model: type[BaseModel], payload: dict[str, Any]) -> bool:
    try:
        model.model_validate(payload)
    except ValidationError:
        return False
    return True


def _refused(role: Role | None, actor: str, payload: dict[str, Any], world: World) -> bool:
    if role is not None and role not in ROLES_OF[actor]:
        return True
    # A facilitator manages only their own sessions (admins all of them).
    return role is Role.FACILITATOR and actor == "other_facilitator" and payload.get("session_id") == world.session_id


NOTHING: frozenset[str] = frozenset()
# Written by the delivery engine whenever the outbox sends what a press enqueued; and every worker's heartbeat.
SENDING_TABLES = frozenset({"outbox_attempts", "delivery_workers"})


def _press(live: LiveBot, activity: dict[str, Any], may_change: frozenset[str] | None, what: str) -> None:
    """Press, and check that no table changed but `may_change` (None: not checked, e.g. a typed command)."""
    async def go() -> tuple[int, Any, Any, Any, dict[str, float], dict[str, float]]:
        failures = live.failed_turns()
        # Presses run one after another and nothing else writes: the last press's "after" is this one's "before".
        before = (live.last_digest or await live.digest()) if may_change is not None else None
        status, body = await live.post(activity)
        after = await live.digest() if may_change is not None else None
        live.last_digest = after
        return status, body, before, after, failures, live.failed_turns()

    status, _, before, after, failures_before, failures_after = live.run(go())
    assert status < 500, f"{what}: answered {status}"
    assert failures_after == failures_before, f"{what}: the turn failed ({failures_after})"
    if may_change is not None:
        assert before is not None and after is not None
        changed = sorted(name for name in before if before[name] != after[name] and name not in may_change)
        if may_change:
            assert changed == [], f"{what}: changed {changed}, which its declaration does not list"
        else:
            assert changed == [], f"{what}: a refused or invalid press changed {changed}"


def _declared(changes: frozenset[str]) -> frozenset[str]:
    """What a valid, permitted press of an action may change: what it declares, and the sending of what it
    enqueued. Kept non-empty, so that "nothing" stays the check for refused and invalid presses."""
    return changes | SENDING_TABLES


ACTOR_NAMES = st.sampled_from(sorted(ACTORS))
FUZZ_SETTINGS = dict(derandomize=False, deadline=None, database=None, print_blob=False,
                     suppress_health_check=list(HealthCheck))
# A fixed seed per SDK: repeatable runs, and the two SDKs' halves of the CI examples are different examples.
SDK_SEEDS = {"agents": 20261207, "botbuilder": 4171}


def test_no_payload_fails_a_turn_or_changes_what_it_must_not(live_bot: LiveBot, world: World, examples: int,
                                                               target: tuple[str, str]) -> None:
    kind, name = target
    wiring = live_bot.wiring
    submit = {spec.name: spec for spec in wiring.actions.submit_specs()}
    execute = {spec.name: spec for spec in wiring.actions.execute_specs()}
    commands = {command.name: command for command in wiring.commands.all()}

    @seed(SDK_SEEDS[live_bot.sdk])
    @settings(max_examples=examples, **FUZZ_SETTINGS)  # type: ignore[arg-type]
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        actor = data.draw(ACTOR_NAMES, "actor")
        if kind == "submit":
            spec = submit[name]
            payload = {"action": name, **data.draw(_payload(spec.model, world), "payload")}
            if payload["action"] != name or any(key in payload for key in ("journey", "step", "nav")):
                _press(live_bot, live_bot.submit(actor, payload), NOTHING, f"{actor} {payload!r:.300}")
                return
            invalid = not _fits(spec.model, payload)
            _press(live_bot, live_bot.submit(actor, payload),
                   NOTHING if invalid or _refused(spec.role, actor, payload, world) else _declared(spec.changes),
                   f"{actor} {payload!r:.300}")
        elif kind == "execute":
            spec = execute[name]
            payload = data.draw(_payload(spec.model, world) | JSON, "data")
            invalid = not isinstance(payload, dict) or not _fits(spec.model, {**payload, "action": name})
            refused = isinstance(payload, dict) and _refused(spec.role, actor, payload, world)
            _press(live_bot, live_bot.execute(actor, name, payload),
                   NOTHING if invalid or refused else _declared(spec.changes),
                   f"{actor} execute {name} {payload!r:.300}")
        elif kind == "say":
            command = commands[name]
            words = " ".join(command.phrases[0])
            said = data.draw(st.sampled_from([words, words.upper(), f"please {words} now"])
                             | st.builds(lambda extra: f"{words} {extra}", st.text(max_size=300)) | HUGE_TEXT,
                             "text")
            refused = command.role is not None and command.role not in ROLES_OF[actor] and said.startswith(words)
            _press(live_bot, live_bot.say(actor, said), NOTHING if refused else None, f"{actor} says {said!r:.200}")
        elif kind == "journey":
            value = data.draw(st.fixed_dictionaries(
                {"journey": st.text(max_size=40) | JSON, "step": TEXTS | JSON, "nav": TEXTS | JSON},
                optional={"field": TEXTS | JSON, "space": TEXTS, "agree": TEXTS}), "value")
            _press(live_bot, live_bot.submit(actor, value), NOTHING, f"{actor} journey {value!r:.300}")
        else:
            value = data.draw(JSON | HUGE_TEXT, "value")
            _press(live_bot, live_bot.submit(actor, value), NOTHING, f"{actor} value {value!r:.300}")

    run()


def _shaped(annotation: Any, world: World) -> Any:
    """One valid-looking value of the field's type, so that only the field under test is wrong."""
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _shaped(get_args(annotation)[0], world)
    if origin is Literal:
        return get_args(annotation)[0]
    if origin in (typing.Union, types.UnionType):
        return _shaped(get_args(annotation)[0], world)
    if origin in (list, tuple, set, frozenset):
        return []
    return {bool: True, int: world.session_id}.get(annotation, "x")


def _int_fields(model: type[BaseModel]) -> list[str]:
    def is_int(annotation: Any) -> bool:
        if get_origin(annotation) is typing.Annotated:
            return is_int(get_args(annotation)[0])
        if get_origin(annotation) in (typing.Union, types.UnionType):
            return any(is_int(arg) for arg in get_args(annotation))
        return annotation is int
    return [name for name, info in model.model_fields.items() if is_int(info.annotation)]


def test_every_id_out_of_the_database_range_is_answered_as_out_of_date(live_bot: LiveBot, world: World) -> None:
    """Every whole-number field of every registered payload, at each value past a 32-bit column, pressed by the
    admin (who may do everything): refused like an unknown id, with nothing changed and no query failing."""
    wiring = live_bot.wiring
    presses: list[tuple[str, dict[str, Any]]] = []
    for spec in wiring.actions.submit_specs():
        base = {name: _shaped(info.annotation, world) for name, info in spec.model.model_fields.items()
                if name != "action"}
        for name in _int_fields(spec.model):
            presses += [("submit", {"action": spec.name, **base, name: value}) for value in OUT_OF_RANGE]
    for spec in wiring.actions.execute_specs():
        base = {name: _shaped(info.annotation, world) for name, info in spec.model.model_fields.items()
                if name != "action"}
        for name in _int_fields(spec.model):
            presses += [("execute", {"action": spec.name, **base, name: value}) for value in OUT_OF_RANGE]
    # The attendance card names invitations in its fields' names.
    presses += [("submit", {"action": "session_attendance_save", "session_id": world.session_id, "page": 0,
                            "feedback_url": "", f"mark_{value}": "came"}) for value in OUT_OF_RANGE if value > 0]
    assert len(presses) > 40
    for kind, payload in presses:
        activity = (live_bot.execute("admin", payload["action"], payload) if kind == "execute"
                    else live_bot.submit("admin", payload))
        _press(live_bot, activity, NOTHING, f"{kind} {payload!r:.200}")
