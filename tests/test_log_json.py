"""LOG_FORMAT=json (issue 23 item 5, design §6): one JSON object per event holding the call's template and the
allow-listed fields only; a person's id only as a keyed HMAC; and a whole journey through /api/messages, logged at
DEBUG by every logger, leaves no name, e-mail, Entra id or typed text in the lines."""

from __future__ import annotations

import ast
import hashlib
import hmac
import io
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.log_format import (
    FIELD_TYPES,
    LOG_FORMAT,
    WITHHELD,
    JsonFormatter,
    SafeFormatter,
    TextFormatter,
    formatter_for,
    person_hmac,
)
from bot.settings import Settings, SettingsError, load_settings
from storage.models import Person
from tests.app_fixtures import BotHarness, all_text, card_text, cards_in, deliver_due
from tests.doubles.fixtures import DEFAULT_MEMBER
from tests.doubles.teams import Member, make_member
from tests.signup_helpers import answer, bot, last_card, organisation_id, step_of
from tests.test_announcements_helpers import WORKER_CONFIG, add_volunteers, announce, personal_chat, tick
from tests.test_sessions_e2e import envelope, form, only_card
from tests.test_sessions_helpers import press_execute
from vocabulary.actions.sessions import INVITATION_ACCEPT
from vocabulary.words import Role

__all__ = ["bot"]  # the fixture, imported for pytest

ROOT = Path(__file__).resolve().parent.parent
KEY = b"k" * 32
TOP_LEVEL = {"time", "level", "logger", "event", "exception"}


def record(msg: object, *args: object, name: str = "bot.test", exc_info: Any = None,
           **extra: object) -> logging.LogRecord:
    return logging.getLogger(name).makeRecord(name, logging.INFO, __file__, 1, msg, args, exc_info, extra=extra)


def json_line(made: logging.LogRecord, key: bytes = KEY) -> dict[str, Any]:
    line = JsonFormatter(key).format(made)
    assert "\n" not in line
    parsed: dict[str, Any] = json.loads(line)
    return parsed


# -- the formatter -------------------------------------------------------------------------------------------------

def test_a_line_holds_the_template_and_the_allowed_fields_of_their_type_only() -> None:
    line = json_line(record("sign-up for %s from %s", "Priya Shah", "priya.shah@nhs.test",
                            session_id=12, count=3, code="ConversationNotFound", duration_ms=4.25,
                            outcome=Role.FACILITATOR,
                            full_name="Priya Shah", email="priya.shah@nhs.test", text="I use a wheelchair"))
    assert line["event"] == "sign-up for %s from %s"
    assert line["logger"] == "bot.test" and line["level"] == "INFO"
    assert line["time"].endswith("+00:00") and "T" in line["time"]
    assert {key: line[key] for key in line if key not in TOP_LEVEL} == {
        "outcome": "facilitator", "code": "ConversationNotFound", "count": 3, "session_id": 12, "duration_ms": 4.25}
    assert "Priya" not in json.dumps(line) and "wheelchair" not in json.dumps(line)


@pytest.mark.parametrize(("field", "value"), [
    ("count", "7"), ("count", True), ("count", 2.5), ("session_id", None), ("duration_ms", "fast"),
    ("code", "Priya Shah"), ("code", "priya.shah@nhs.test"), ("action", "free text, typed"), ("outcome", ""),
    ("job", "x" * 81), ("code", "line\nbreak"), ("error", 404), ("person", 12345),
])
def test_a_field_whose_value_is_not_of_its_type_is_dropped(field: str, value: object) -> None:
    assert field in FIELD_TYPES
    line = json_line(record("event", **{field: value}))
    assert field not in line


def test_a_positional_argument_never_reaches_the_line_even_when_it_looks_like_a_field() -> None:
    line = json_line(record("reply from %(person)s", {"person": "Priya Shah"}))
    assert line["event"] == "reply from %(person)s" and "person" not in line and "Priya" not in json.dumps(line)


def test_an_exception_is_its_type_and_frames_never_its_message() -> None:
    def parse_answer() -> None:
        raise ValueError("could not read 'priya.shah@nhs.test, I use a wheelchair'")

    try:
        parse_answer()
    except ValueError:
        line = json_line(record("answer refused", exc_info=sys.exc_info()))
    assert line["exception"]["type"] == "builtins.ValueError"
    frames = line["exception"]["frames"]
    assert [frame["function"] for frame in frames][-1] == "parse_answer"
    assert all(set(frame) == {"file", "line", "function"} and isinstance(frame["line"], int) for frame in frames)
    assert frames[-1]["file"].endswith("test_log_json.py")
    written = json.dumps(line)
    assert "priya" not in written and "wheelchair" not in written and "could not read" not in written


def test_a_person_is_written_only_as_the_keyed_hmac_the_same_for_the_same_id() -> None:
    person = "6f1d2c3b-0a9e-4b8c-9d7e-123456789abc"
    first = json_line(record("volunteer signed up", person=person))
    again = json_line(record("volunteer withdrew", person=person.upper(), actor=person))
    expected = hmac.new(KEY, person.encode(), hashlib.sha256).hexdigest()[:32]
    assert first["person"] == again["person"] == again["actor"] == expected == person_hmac(KEY, person)
    assert person not in json.dumps(first) and person.replace("-", "") not in json.dumps(first)
    # Not a plain hash anyone could compute from the directory, and another key gives another value.
    assert expected != hashlib.sha256(person.encode()).hexdigest()[:32]
    assert json_line(record("volunteer signed up", person=person), key=b"o" * 32)["person"] != expected


def test_without_a_key_each_process_has_its_own_random_one() -> None:
    person = DEFAULT_MEMBER.aad_object_id
    lines = [json.loads(formatter_for("json").format(record("e", person=person))) for _ in range(2)]
    assert lines[0]["person"] != lines[1]["person"]
    assert person not in json.dumps(lines)


def test_another_librarys_formatted_message_is_withheld_and_its_templates_kept() -> None:
    assert json_line(record("SELECT name FROM people WHERE email = 'a@b.test'", name="sqlalchemy.engine"))[
        "event"] == WITHHELD
    assert json_line(record("executing %s", "INSERT ... 'Priya'", name="aiosqlite"))["event"] == "executing %s"
    access = json_line(record('127.0.0.1 "GET /desk/?name=Priya HTTP/1.1" 200 "-" "Mozilla"', name="aiohttp.access",
                              response_status=200, first_request_line="GET /desk/?name=Priya HTTP/1.1"))
    assert access["event"] == "http request" and access["status"] == 200 and "Priya" not in json.dumps(access)
    assert json_line(record(ValueError("Priya Shah")))["event"] == "(ValueError)"


def test_a_line_is_one_line_whatever_it_holds() -> None:
    line = JsonFormatter(KEY).format(record("forged\nline\u2028%s", "x", code="a"))
    assert "\n" not in line and "\u2028" not in line and json.loads(line)["event"] == "forged\nline\u2028%s"


def test_text_lines_are_todays_safe_lines_with_the_fields_after_them() -> None:
    plain = record("refused an activity: %s", "bad\nline")
    assert TextFormatter(LOG_FORMAT, KEY).format(plain) == SafeFormatter(LOG_FORMAT).format(plain)
    assert "bad\\x0aline" in TextFormatter(LOG_FORMAT, KEY).format(plain)
    person = DEFAULT_MEMBER.aad_object_id
    with_fields = TextFormatter("%(message)s", KEY).format(
        record("session published", session_id=4, person=person, full_name="Priya"))
    assert with_fields == f"session published session_id=4 person={person_hmac(KEY, person)}"


def test_fields_lists_each_name_once_with_one_type() -> None:
    assert set(FIELD_TYPES.values()) == {str, int, float}
    assert {"action", "outcome", "status", "count", "session_id", "announcement_id", "outbox_id", "attempt",
            "duration_ms", "code", "job", "person"} <= set(FIELD_TYPES)


LEVELS = {"debug", "info", "warning", "error", "exception", "critical"}


def test_every_log_call_of_ours_passes_a_literal_template() -> None:
    """The event is the call's first argument: a literal, so no value can be formatted into it."""
    offenders = []
    for package in ("bot", "cards", "dialogs", "storage", "vocabulary", "bench"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr in LEVELS):
                    continue
                target = node.func.value
                named = isinstance(target, ast.Name) and target.id.lower() in {"log", "_log", "logger", "_logger"}
                fetched = isinstance(target, ast.Call) and isinstance(target.func, ast.Attribute) \
                    and target.func.attr == "getLogger"
                if not (named or fetched):
                    continue
                first = node.args[0] if node.args else None
                if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, f"log calls whose template is not a string literal: {offenders}"


# -- settings and the image ----------------------------------------------------------------------------------------

@pytest.fixture
def no_outside_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)


SERVER = dict(microsoft_app_id="11111111-1111-4111-8111-111111111111", microsoft_app_password="pw",
              microsoft_app_tenant_id="22222222-2222-4222-8222-222222222222", host="0.0.0.0")


@pytest.mark.usefixtures("no_outside_settings")
def test_log_format_is_text_by_default_json_on_request_and_nothing_else() -> None:
    assert load_settings(_env_file=None).log_format == "text"
    assert load_settings(_env_file=None, log_format="JSON").log_format == "json"
    with pytest.raises(SettingsError, match=r"^Setting LOG_FORMAT: .*'json' or 'text'"):
        load_settings(_env_file=None, log_format="xml")


@pytest.mark.usefixtures("no_outside_settings")
def test_json_outside_local_mode_needs_a_long_log_id_key() -> None:
    with pytest.raises(SettingsError, match=r"^Setting LOG_ID_KEY: LOG_ID_KEY is needed with LOG_FORMAT=json"):
        load_settings(_env_file=None, log_format="json", **SERVER)
    with pytest.raises(SettingsError, match=r"^Setting LOG_ID_KEY: use at least 32 characters"):
        load_settings(_env_file=None, log_format="json", log_id_key="short", **SERVER)
    settings = load_settings(_env_file=None, log_format="json", log_id_key="s" * 32, **SERVER)
    assert settings.log_id_key_bytes == b"s" * 32
    assert load_settings(_env_file=None, log_format="text", **SERVER).log_id_key_bytes is None
    assert load_settings(_env_file=None, log_format="json").local  # local mode: a key per process


def test_the_container_image_logs_json() -> None:
    assert "LOG_FORMAT=json" in (ROOT / "Dockerfile").read_text(encoding="utf-8")


# -- a whole journey -----------------------------------------------------------------------------------------------

COLLEAGUE = Member(aad_object_id="7c3e9a51-2b4d-4e8f-a1c6-5d0b9e8f7a21", teams_user_id="29:1qwertyPriyaChat",
                   name="Priya Okonkwo-Lindqvist", email="priya.okonkwo-lindqvist@nhs-trust.test")
TYPED = "my manager Bartholomew knows about my dyslexia"
SESSION_TITLE = "Kestrel allyship circle"
ANNOUNCEMENT_TITLE = "Marmalade harbour walk"
ANNOUNCEMENT_BODY = "Bring waterproof boots for the Spurn Point estuary."


@contextmanager
def json_logs() -> Iterator[list[str]]:
    """Every logger at DEBUG writing JSON lines, as LOG_FORMAT=json LOG_LEVEL=DEBUG would (the most there is)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(KEY))
    root = logging.getLogger()
    loggers = [root, *(item for item in root.manager.loggerDict.values() if isinstance(item, logging.Logger))]
    saved = [(item, item.level, item.disabled) for item in loggers]
    detached = [item for item in loggers if not item.propagate]
    for item in loggers:
        item.setLevel(logging.DEBUG)
        item.disabled = False
    for item in [root, *detached]:
        item.addHandler(handler)
    lines: list[str] = []
    try:
        yield lines
    finally:
        for item in [root, *detached]:
            item.removeHandler(handler)
        for item, level, disabled in saved:
            item.setLevel(level)
            item.disabled = disabled
        lines.extend(stream.getvalue().splitlines())


async def sign_up_typing(harness: BotHarness, member: Member) -> None:
    """The colleague's sign-up by buttons, with free text typed in the middle of it."""
    card = last_card(await harness.say("express interest", member))
    card = last_card(await answer(harness, card, member, agree="true"))
    card = last_card(await answer(harness, card, member, space="both"))
    card = last_card(await answer(harness, card, member, communities="disability"))
    card = last_card(await answer(harness, card, member, organisation=await organisation_id(card, "Navigo")))
    assert step_of(card) == "phases"
    replies = await harness.say(TYPED, member)  # typed, and not an answer to the question: asked again
    assert "Please choose at least one part of the programme" in all_text(replies)
    card = last_card(replies)
    card = last_card(await answer(harness, card, member, phases="codesign"))
    card = last_card(await answer(harness, card, member, adjustments="yes"))
    assert step_of(card) == "review"
    await answer(harness, card, member)


async def publish_session(harness: BotHarness, facilitator: Member) -> int:
    card = only_card(await harness.say("new session", facilitator))
    preview = only_card(await harness.press({**envelope(card, "Preview"), **form(title=SESSION_TITLE)}, facilitator))
    done = only_card(await harness.press(envelope(preview, "Publish"), facilitator))
    assert "Your session is published" in card_text(done)
    await deliver(harness)  # the invitations go out through the outbox
    [invitation] = [card for card in cards_in(harness.teams.sent(personal_chat(COLLEAGUE)))
                    if SESSION_TITLE in card_text(card)]
    session_id: int = invitation["actions"][0]["data"]["session_id"]
    return session_id


async def deliver(harness: BotHarness) -> None:
    config = replace(WORKER_CONFIG, bot_id=f"28:{harness.issuer.app_id}")
    await deliver_due(harness.core.database, harness.clock, config)


async def test_a_whole_journey_logged_as_json_at_debug_holds_no_name_email_id_or_text(bot: BotHarness) -> None:
    facilitator = DEFAULT_MEMBER
    bot.teams.add_member(COLLEAGUE)
    bot.teams.add_member(facilitator)
    await bot.core.roles.grant("test", facilitator.aad_object_id, Role.FACILITATOR)
    others = await add_volunteers(bot, 8, first=300, spaces=("minoritised",))

    with json_logs() as lines:
        await sign_up_typing(bot, COLLEAGUE)
        session_id = await publish_session(bot, facilitator)
        accepted = await press_execute(bot, INVITATION_ACCEPT.name, {"session_id": session_id}, COLLEAGUE)
        assert "You're booked" in card_text(accepted["value"])
        await announce(bot, spaces="minoritised", title=ANNOUNCEMENT_TITLE, body=ANNOUNCEMENT_BODY)
        await tick(bot)
        await deliver(bot)
        await tick(bot)

    # What was said did reach the bot and went out again: the names and e-mails it stores, the texts it sent.
    async with bot.core.database.read() as session:
        stored = (await session.execute(select(Person.display_name, Person.email)
                                        .where(Person.id == COLLEAGUE.aad_object_id))).one()
    assert tuple(stored) == (COLLEAGUE.name, COLLEAGUE.email)
    assert ANNOUNCEMENT_BODY in "\n".join(card_text(card) for card in cards_in(bot.teams.sent(
        personal_chat(COLLEAGUE))))

    parsed = [json.loads(line) for line in lines]
    assert len(parsed) > 100 and {line["logger"].split(".")[0] for line in parsed} >= {"bot", "aiohttp"}
    for line in parsed:
        assert TOP_LEVEL >= {key for key in line if key not in FIELD_TYPES}, line
    # The operator's fields are there: whose sign-up (as the HMAC), which session, which announcement.
    colleague = person_hmac(KEY, COLLEAGUE.aad_object_id)
    events = {(line["event"], line.get("person"), line.get("session_id")) for line in parsed}
    assert ("volunteer signed up", colleague, None) in events
    assert ("session published", None, session_id) in events or ("session created", None, session_id) in events
    assert ("invitation reply", colleague, session_id) in events
    assert any(line["event"] == "announcement started" and isinstance(line.get("announcement_id"), int)
               for line in parsed)

    people = [COLLEAGUE, facilitator, *others]
    secrets = [TYPED, "Bartholomew", "dyslexia", SESSION_TITLE, ANNOUNCEMENT_TITLE, ANNOUNCEMENT_BODY, "Spurn Point"]
    for person in people:
        secrets += [person.name, person.email, person.email.split("@")[0], person.aad_object_id,
                    person.aad_object_id.replace("-", ""), person.teams_user_id]
    secrets += ["Priya", "Okonkwo", "Lindqvist", "nhs-trust"]  # the colleague's name and e-mail, in part
    written = "\n".join(lines)
    hits = {secret: written.lower().count(secret.lower()) for secret in secrets}
    assert {secret: count for secret, count in hits.items() if count} == {}
    assert make_member(300).aad_object_id == others[0].aad_object_id  # the ids looked for are the ids used
