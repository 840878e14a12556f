"""Typed Graph failures. They carry an operation name, the HTTP status and Graph's error code only: never a
URL (an e-mail can be part of one), a request or a response body (names, addresses)."""

from __future__ import annotations


class GraphError(Exception):
    """A Graph call failed. `retryable` says whether the same call may succeed later."""

    retryable = False

    def __init__(self, op: str, status: int | None, code: str | None = None, *,
                 retry_after: float | None = None) -> None:
        self.op = op
        self.status = status
        self.code = code
        self.retry_after = retry_after
        super().__init__(f"graph {op}: HTTP {status if status is not None else '-'} {code or ''}".rstrip())


class GraphBadRequest(GraphError):
    """400 and other 4xx not listed below: our request is wrong; retrying will not help."""


class GraphAuthError(GraphError):
    """401, or no token could be obtained: the bot's credentials or consent. Retry once fixed."""

    retryable = True


class GraphForbidden(GraphError):
    """403: a missing permission or admin consent, or a policy (e.g. the app is blocked for the user)."""


class GraphNotFound(GraphError):
    """404: the user, group, event or installation does not exist (or is not visible to the app)."""


class GraphConflict(GraphError):
    """409: e.g. the app is already installed for the user."""


class GraphThrottled(GraphError):
    """429 after the client's own bounded retries; `retry_after` says when Graph wants us back."""

    retryable = True


class GraphUnavailable(GraphError):
    """5xx, a timeout or a broken connection after the client's own retries."""

    retryable = True


class TokenError(GraphAuthError):
    """The identity platform refused to issue a token (`code` is its error, e.g. invalid_client)."""


def error_for(op: str, status: int, code: str | None, retry_after: float | None = None) -> GraphError:
    kinds: dict[int, type[GraphError]] = {401: GraphAuthError, 403: GraphForbidden, 404: GraphNotFound,
                                          409: GraphConflict, 429: GraphThrottled}
    kind = kinds.get(status) or (GraphUnavailable if status >= 500 else GraphBadRequest)
    return kind(op, status, code, retry_after=retry_after)
