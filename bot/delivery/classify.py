"""What a Connector answer means for the message, the recipient and the sender (design §7, teams-facts)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from vocabulary.words import DeliveryVerdict

# Teams' send-proactive-messages page: these make the recipient unreachable.
UNREACHABLE_403 = frozenset({
    "ConversationBlockedByUser",
    "BotNotInConversationRoster",
    "BotDisabledByAdmin",
    "ForbiddenOperationException",
    "MessageWritesBlocked",
})
UNREACHABLE_404 = frozenset({"ConversationNotFound"})
RETRY_STATUSES = frozenset({412, 429, 502, 503, 504})

_SAFE_CODE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class Classified:
    verdict: DeliveryVerdict
    code: str | None  # the Teams error code that decided, safe to store and log


def error_codes(body: Any) -> list[str]:
    """Every error code in Teams' error body, outermost first: `error.code`, then nested codes and sub-codes
    (Teams puts e.g. MessageWritesBlocked in an inner error). Only codes, never messages."""
    codes: list[str] = []

    def walk(node: Any, depth: int) -> None:
        if depth > 6:
            return
        if isinstance(node, dict):
            for name in ("code", "subCode", "subcode"):
                value = node.get(name)
                if isinstance(value, str) and value:
                    codes.append(safe_code(value))
            for value in node.values():
                if isinstance(value, dict | list):
                    walk(value, depth + 1)
        elif isinstance(node, list):
            for item in node[:10]:
                walk(item, depth + 1)

    walk(body, 0)
    return codes


def safe_code(code: str) -> str:
    """An error code as we store and log it: short and plain, so nothing else can ride along."""
    return _SAFE_CODE.sub("", code)[:64]


def classify(status: int | None, codes: list[str]) -> Classified:
    """`status` None means no answer (timeout or connection error)."""
    first = codes[0] if codes else None
    if status is None:
        return Classified(DeliveryVerdict.RETRY, first or "NoResponse")
    if 200 <= status < 300:
        return Classified(DeliveryVerdict.SENT, None)
    if status == 401:
        return Classified(DeliveryVerdict.UNAUTHORIZED, first or "Unauthorized")
    if status in RETRY_STATUSES:
        return Classified(DeliveryVerdict.RETRY, first or f"Http{status}")
    if status == 403:
        reached = next((code for code in codes if code in UNREACHABLE_403), None)
        if reached:
            return Classified(DeliveryVerdict.UNDELIVERABLE, reached)
    if status == 404:
        reached = next((code for code in codes if code in UNREACHABLE_404), None)
        if reached:
            return Classified(DeliveryVerdict.UNDELIVERABLE, reached)
    # 400, 413 and anything else, including 500 (Teams says not to retry it) and unlisted 403/404 codes:
    # this message fails, the person stays reachable.
    return Classified(DeliveryVerdict.FAILED, first or f"Http{status}")
