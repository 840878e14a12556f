"""Outcome classes of design §7 and teams-facts, as a table: what each Connector answer means."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.delivery.classify import classify, error_codes, safe_code
from bot.retry import retry_after_seconds
from vocabulary.words import DeliveryVerdict

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("status", "codes", "verdict", "code"), [
    (201, [], DeliveryVerdict.SENT, None),
    (200, [], DeliveryVerdict.SENT, None),
    (412, ["PreconditionFailed"], DeliveryVerdict.RETRY, "PreconditionFailed"),
    (429, [], DeliveryVerdict.RETRY, "Http429"),
    (502, ["BadGateway"], DeliveryVerdict.RETRY, "BadGateway"),
    (503, [], DeliveryVerdict.RETRY, "Http503"),
    (504, ["GatewayTimeout"], DeliveryVerdict.RETRY, "GatewayTimeout"),
    (None, [], DeliveryVerdict.RETRY, "NoResponse"),
    (500, ["InternalServerError"], DeliveryVerdict.FAILED, "InternalServerError"),  # Teams: do not retry a 500
    (400, ["BadArgument"], DeliveryVerdict.FAILED, "BadArgument"),
    (413, ["MessageSizeTooBig"], DeliveryVerdict.FAILED, "MessageSizeTooBig"),
    (401, [], DeliveryVerdict.UNAUTHORIZED, "Unauthorized"),
    (403, ["ConversationBlockedByUser"], DeliveryVerdict.UNDELIVERABLE, "ConversationBlockedByUser"),
    (403, ["BotNotInConversationRoster"], DeliveryVerdict.UNDELIVERABLE, "BotNotInConversationRoster"),
    (403, ["BotDisabledByAdmin"], DeliveryVerdict.UNDELIVERABLE, "BotDisabledByAdmin"),
    (403, ["ForbiddenOperationException"], DeliveryVerdict.UNDELIVERABLE, "ForbiddenOperationException"),
    (403, ["Forbidden", "MessageWritesBlocked"], DeliveryVerdict.UNDELIVERABLE, "MessageWritesBlocked"),
    (403, ["Forbidden"], DeliveryVerdict.FAILED, "Forbidden"),  # unlisted: the message fails, the person stays
    (404, ["ConversationNotFound"], DeliveryVerdict.UNDELIVERABLE, "ConversationNotFound"),
    (404, ["ActivityNotFound"], DeliveryVerdict.FAILED, "ActivityNotFound"),
    (409, [], DeliveryVerdict.FAILED, "Http409"),
])
def test_classify(status: int | None, codes: list[str], verdict: DeliveryVerdict, code: str | None) -> None:
    result = classify(status, codes)
    assert (result.verdict, result.code) == (verdict, code)


def test_error_codes_read_nested_sub_codes_and_never_messages() -> None:
    body = {"error": {"code": "Forbidden", "message": "Priya Shah blocked you",
                      "innerHttpError": {"statusCode": 403, "body": {"error": {"subCode": "MessageWritesBlocked"}}}}}
    assert error_codes(body) == ["Forbidden", "MessageWritesBlocked"]
    assert error_codes(None) == [] and error_codes("text") == [] and error_codes([{"code": "X"}]) == ["X"]


def test_codes_are_cleaned_before_they_are_stored_or_logged() -> None:
    assert safe_code("Bad Argument\n<script>" + "x" * 100) == "BadArgumentscript" + "x" * 47


@pytest.mark.parametrize(("value", "seconds"), [
    ("1", 1.0), ("0.5", 0.5), (" 30 ", 30.0), ("-4", 0.0), ("99999", 3600.0),
    ("Thu, 26 Nov 2026 12:00:10 GMT", 10.0), ("Thu, 26 Nov 2026 11:00:00 GMT", 0.0),
    (None, None), ("", None), ("soon", None), ("nan", None),
])
def test_retry_after(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value, NOW) == seconds
