"""How log lines are written (LOG_FORMAT, design §6, docs/privacy.md "Application logs").

text (local runs): one line per event, every control character in a message or its values escaped, so text that
came from outside (an id, a header) can never start a new line in the log or hide part of one.

json (the container image): one JSON object per line with the time (UTC), level, logger, the event (the log
call's message *template*, never the formatted message: its arguments may hold free text) and only the fields
named in `Fields`, each of its declared type. Nothing else reaches the line, by construction: positional
arguments, other `extra=` keys, a field of the wrong type and an exception's message (it can echo input) are never
read. A person's id is written only as a keyed HMAC (LOG_ID_KEY), because a plain hash of an Entra id can be
reversed by hashing every id in the directory. A log call passes its fields as `extra=Fields(session_id=...)`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import traceback
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Literal, TypedDict, get_args, get_type_hints

# C0, DEL, C1 and the two Unicode line separators: all end or hide a line in some log viewer.
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    return CONTROL_CHARACTERS.sub(lambda match: f"\\x{ord(match.group()):02x}"
                                  if ord(match.group()) < 0x100 else f"\\u{ord(match.group()):04x}", text)


class Fields(TypedDict, total=False):
    """Every field a log line may carry, with its type: the one list (JSON and text lines both read it).
    A `str` field is a word (letters, digits, `_ . : -`, at most 80, no spaces, no @), or an Enum member whose
    value is one, so neither a sentence nor an e-mail address fits; `person` and `actor` are Entra ids, written
    only as their HMAC. None is allowed everywhere and writes nothing, so a call never has to leave a field out."""

    action: str | None  # what was done, e.g. announcement.create, a job's or a card action's name
    outcome: str | None  # e.g. done, refused, sent, failed
    code: str | None  # an error code (ours or the Bot Connector's / Graph's)
    error: str | None  # an exception's type name (never its message)
    job: str | None  # a background job's name
    kind: str | None  # a sort of thing: an activity type, an outbox purpose, a Graph job kind
    worker: str | None  # a delivery worker's id (host:pid:random)
    status: int | None  # an HTTP status
    count: int | None
    attempt: int | None
    session_id: int | None
    announcement_id: int | None
    outbox_id: int | None
    change_no: int | None
    revision: int | None
    version: int | None
    duration_ms: float | None
    seconds: float | None  # a wait or a pause
    person: str | None  # Entra id of the person concerned: HMAC only
    actor: str | None  # Entra id of who did it: HMAC only


PERSON_FIELDS = frozenset({"person", "actor"})
FIELD_TYPES: dict[str, type] = {name: next(kind for kind in get_args(hint) if kind is not type(None))
                                for name, hint in get_type_hints(Fields).items()}
WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,79}")
# Loggers whose message templates are ours (string literals, tests/test_log_json.py checks every call).
OWN_LOGGERS = ("bot", "cards", "dialogs", "storage", "vocabulary", "bench")
WITHHELD = "(message withheld: not a template)"
HMAC_HEX_CHARACTERS = 32  # 128 bits of HMAC-SHA256: enough to tell people apart, short enough to read


def person_hmac(key: bytes, person_id: str) -> str:
    """The keyed HMAC written for a person's id; the same id gives the same value under one key, so an operator
    with the key (and nobody without it) can find one person's lines."""
    return hmac.new(key, person_id.lower().encode("utf-8"), hashlib.sha256).hexdigest()[:HMAC_HEX_CHARACTERS]


def _checked(name: str, value: object) -> object | None:
    """The value as written if it has the field's type, else None (the field is dropped)."""
    wanted = FIELD_TYPES[name]
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):  # a bool is an int to Python, never one of these fields
        return None
    if wanted is int:
        return value if isinstance(value, int) else None
    if wanted is float:
        return round(float(value), 3) if isinstance(value, int | float) else None
    if isinstance(value, str) and (name in PERSON_FIELDS or WORD.fullmatch(value)):
        return str(value)
    return None


def allowed_fields(record: logging.LogRecord, key: bytes) -> dict[str, object]:
    """The record's allow-listed fields, in the list's order; persons as their HMAC."""
    found: dict[str, object] = {}
    for name in FIELD_TYPES:
        if name not in record.__dict__:
            continue
        value = _checked(name, record.__dict__[name])
        if value is None:
            continue
        found[name] = person_hmac(key, str(value)) if name in PERSON_FIELDS else value
    return found


def event_of(record: logging.LogRecord) -> str:
    """The log call's template. Another library's message without arguments may have been formatted before the
    call (aiohttp's access log holds the request line and headers), so only a template with arguments is kept."""
    if record.name == "aiohttp.access":
        return "http request"
    if not isinstance(record.msg, str):
        return f"({type(record.msg).__name__})"
    ours = record.name.split(".")[0] in OWN_LOGGERS
    return record.msg if ours or record.args else WITHHELD


def exception_of(exc_info: Any) -> dict[str, object] | None:
    """The exception's type and the file, line and function of each frame: never its message or locals."""
    if not exc_info or exc_info is True or exc_info[0] is None:
        return None
    kind, _value, trace = exc_info
    frames = [{"file": frame.filename, "line": frame.lineno, "function": frame.name}
              for frame in traceback.extract_tb(trace)]
    return {"type": f"{kind.__module__}.{kind.__qualname__}", "frames": frames}


def _aiohttp_status(record: logging.LogRecord) -> dict[str, object]:
    # aiohttp's access log passes the response status as `extra` (a string or an int, by version).
    status = record.__dict__.get("response_status")
    if isinstance(status, str) and status.isdigit():
        return {"status": int(status)}
    return {"status": status} if isinstance(status, int) and not isinstance(status, bool) else {}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, event, the allow-listed fields, the exception's shape."""

    def __init__(self, id_key: bytes) -> None:
        super().__init__()
        self._key = id_key

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": event_of(record),
        }
        line.update(allowed_fields(record, self._key))
        if record.name == "aiohttp.access":
            line.update(_aiohttp_status(record))
        exception = exception_of(record.exc_info)
        if exception is not None:
            line["exception"] = exception
        # ensure_ascii: every control character and line separator is escaped, so one event is one line.
        return json.dumps(line, ensure_ascii=True, separators=(",", ":"), default=str)


class SafeFormatter(logging.Formatter):
    """The message is escaped after formatting (its values included); a traceback keeps its own line breaks,
    which the formatter adds after the message."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape_controls(super().formatMessage(record))


class TextFormatter(SafeFormatter):
    """SafeFormatter's line, then the allow-listed fields as name=value (persons as their HMAC here too)."""

    def __init__(self, fmt: str, id_key: bytes) -> None:
        super().__init__(fmt)
        self._key = id_key

    def formatMessage(self, record: logging.LogRecord) -> str:
        fields = allowed_fields(record, self._key)
        suffix = "".join(f" {name}={value}" for name, value in fields.items())
        return super().formatMessage(record) + escape_controls(suffix)


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
LogFormat = Literal["json", "text"]


def formatter_for(log_format: LogFormat, id_key: bytes | None = None) -> logging.Formatter:
    # Without LOG_ID_KEY (allowed in local mode and for text only, bot/settings.py): a random key for this process,
    # so one run's lines can be matched to each other but to nobody, and nothing links two runs.
    key = id_key or secrets.token_bytes(32)
    return JsonFormatter(key) if log_format == "json" else TextFormatter(LOG_FORMAT, key)


def configure_logging(level: str, log_format: LogFormat = "text", id_key: bytes | None = None) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(formatter_for(log_format, id_key))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # The Teams SDKs log each reply and token request at INFO, with conversation ids and activity texts in some
    # messages: only their warnings and errors are of use to an operator.
    numeric = logging.getLevelName(level)
    quieter = max(numeric if isinstance(numeric, int) else logging.INFO, logging.WARNING)
    for name in ("microsoft_agents", "botbuilder", "botframework", "msrest", "msal"):
        logging.getLogger(name).setLevel(quieter)
