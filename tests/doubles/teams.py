"""A Bot Connector REST API v3 double: Teams as seen by the bot at the HTTP boundary.

In tests it runs in the test's own event loop (``await double.start()``); for benchmarks it runs as a process:
``python -m tests.doubles.teams --port N [--global-limit 50]`` prints its URL once listening, and
``GET <url>_double/stats`` reports its counters.

It does not verify the bot's tokens (Teams' side of that is not ours to test); it only insists on a Bearer
header, or refuses every token after ``reject_all_tokens(True)``. Conversation ids it never created are
accepted, because tests post inbound activities with made-up conversation ids and the bot replies to them.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import hashlib
import json
import math
import random
import signal
import time
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from itertools import count
from pathlib import Path
from typing import Any

from aiohttp import web

DEFAULT_TENANT_ID = "00000000-0000-4000-8000-0000000000aa"

# Teams' documented per bot, per conversation limits: (requests, window in seconds).
SEND_LIMITS: tuple[tuple[int, float], ...] = ((7, 1.0), (8, 2.0), (60, 30.0), (1800, 3600.0))
MEMBER_LIMITS: tuple[tuple[int, float], ...] = ((14, 1.0), (16, 2.0), (120, 30.0), (3600, 3600.0))
# Teams documents about 100 KB per message.
MAX_MESSAGE_BYTES = 100 * 1024

_SEND_ROUTES = frozenset({"create", "send", "reply"})
_MEMBER_ROUTES = frozenset({"member", "members", "paged_members"})
_WRITE_ROUTES = frozenset({"create", "send", "reply", "update", "delete"})
# Not the Connector: no bearer token, no limits, bodies that are not JSON (an upload session's URL carries its
# own authority, as OneDrive's does).
_UNGATED_ROUTES = frozenset({"stats", "upload"})


@dataclass(frozen=True)
class Upload:
    """A file the bot PUT to an upload URL the double handed out (the file consent flow)."""

    name: str
    content: bytes
    content_range: str | None


@dataclass(frozen=True)
class Member:
    aad_object_id: str
    teams_user_id: str  # '29:…'
    name: str
    email: str
    tenant_id: str = DEFAULT_TENANT_ID
    user_role: str = "user"

    def to_json(self) -> dict[str, Any]:
        """TeamsChannelAccount as the Connector returns it."""
        given, _, surname = self.name.partition(" ")
        return {
            "id": self.teams_user_id,
            "name": self.name,
            "aadObjectId": self.aad_object_id,
            "email": self.email,
            "userPrincipalName": self.email,
            "givenName": given,
            "surname": surname or None,
            "tenantId": self.tenant_id,
            "userRole": self.user_role,
        }


def make_member(index: int, *, tenant_id: str = DEFAULT_TENANT_ID) -> Member:
    """A deterministic member, for tests and benchmarks that need many."""
    return Member(
        aad_object_id=f"00000000-0000-4000-8000-{index:012d}",
        teams_user_id=f"29:1member{index:08d}",
        name=f"Volunteer {index}",
        email=f"volunteer{index}@hny.test",
        tenant_id=tenant_id,
    )


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    route: str | None  # create, send, reply, update, delete, member, members, paged_members, team, channels
    conversation_id: str | None
    activity_id: str | None
    body: Any
    authorization: str | None
    status: int
    at: float  # the double's clock (monotonic by default)


@dataclass(frozen=True)
class Delivered:
    """An activity Teams accepted (send or reply): what the recipient would see."""

    conversation_id: str
    activity_id: str
    body: dict[str, Any]
    reply_to_id: str | None
    at: float


@dataclass
class _FailRule:
    status: int
    code: str
    message: str
    retry_after: float | None
    method: str | None
    path_contains: str | None
    remaining: int


@dataclass
class _Faults:
    p503: float = 0.0
    p502: float = 0.0
    p429: float = 0.0
    p504_delivered: float = 0.0
    retry_after: float = 1.0
    rng: random.Random = field(default_factory=lambda: random.Random(1))


class SlidingWindowLimiter:
    """Several (limit, window) pairs per key over one list of accepted hit times."""

    def __init__(self, limits: Sequence[tuple[int, float]]) -> None:
        self._limits = tuple(limits)
        self._longest = max(window for _, window in self._limits)
        self._hits: dict[str, list[float]] = defaultdict(list)

    def acquire(self, key: str, now: float) -> float | None:
        """Count a hit and return None, or return how long to wait (the hit is not counted)."""
        hits = self._hits[key]
        del hits[: bisect_left(hits, now - self._longest)]
        wait = 0.0
        for limit, window in self._limits:
            inside = len(hits) - bisect_right(hits, now - window)
            if inside >= limit:
                # The hit that must leave the window before one more fits.
                wait = max(wait, hits[len(hits) - limit] + window - now)
        if wait > 0:
            return wait
        hits.append(now)
        return None


def fingerprint(body: dict[str, Any]) -> str:
    """What makes two deliveries 'the same message': the text, or a hash of text and attachments."""
    attachments = body.get("attachments")
    if not attachments:
        return str(body.get("text"))
    blob = json.dumps({"text": body.get("text"), "attachments": attachments}, sort_keys=True)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()[:16]


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _error(status: int, code: str, message: str = "", retry_after: float | None = None) -> web.Response:
    headers = {"Retry-After": _seconds(retry_after)} if retry_after is not None else None
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


async def _json_body(request: web.Request) -> Any:
    # aiohttp caches the body read by the middleware, which has already refused invalid JSON.
    raw = await request.read()
    return json.loads(raw) if raw else None


def _default_code(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.replace(" ", "")
    except ValueError:
        return f"Http{status}"


class TeamsDouble:
    """The Bot Connector as Teams runs it, with switches for its refusals, limits and faults.

    ``clock`` drives the rate-limit windows (inject one to test them without sleeping). ``service_path``: Teams'
    service URLs carry a path and end in a slash (``…/uk/``); so does ours, so a client that joins URLs
    carelessly fails here as it would against Teams.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        global_limit: int | None = 50,
        per_conversation_limits: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        service_path: str = "/uk/",
    ) -> None:
        self._clock = clock
        self._base = "/" + service_path.strip("/") if service_path.strip("/") else ""
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._changed = asyncio.Condition()
        self._ids = count(1_700_000_000_000)

        self._members: dict[str, Member] = {}  # by Teams user id and by AAD object id
        self._teams: dict[str, tuple[str, list[tuple[str, str | None]]]] = {}
        self._personal: dict[str, str] = {}  # member's Teams id -> conversation id
        self._conversation_member: dict[str, str] = {}  # conversation id -> member's Teams id

        self._requests: list[RecordedRequest] = []
        self._delivered: list[Delivered] = []
        self._activities: dict[tuple[str, str], dict[str, Any]] = {}
        self._arrivals: Counter[tuple[str, str]] = Counter()

        self._uploads: list[Upload] = []
        self._fail_rules: list[_FailRule] = []
        self._blocked: dict[str, tuple[int, str, str]] = {}
        self._reject_tokens = False
        self._faults = _Faults()
        self._latency: tuple[float, float] = (0.0, 0.0)
        self._latency_rng = random.Random(2)
        self.set_limits(per_conversation=per_conversation_limits, global_per_second=global_limit)

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def start(self) -> TeamsDouble:
        app = web.Application(middlewares=[self._middleware], client_max_size=8 * 1024 * 1024)
        conv = f"{self._base}/v3/conversations/{{cid}}"
        app.router.add_post(f"{self._base}/v3/conversations", self._create, name="create")
        app.router.add_post(conv + "/activities", self._send, name="send")
        app.router.add_post(conv + "/activities/{aid}", self._reply, name="reply")
        app.router.add_put(conv + "/activities/{aid}", self._update, name="update")
        app.router.add_delete(conv + "/activities/{aid}", self._delete, name="delete")
        app.router.add_get(conv + "/members", self._list_members, name="members")
        app.router.add_get(conv + "/members/{mid}", self._get_member, name="member")
        app.router.add_get(conv + "/pagedmembers", self._paged_members, name="paged_members")
        app.router.add_get(f"{self._base}/v3/teams/{{tid}}", self._team, name="team")
        app.router.add_get(f"{self._base}/v3/teams/{{tid}}/conversations", self._channels, name="channels")
        app.router.add_get(f"{self._base}/_double/stats", self._stats, name="stats")
        app.router.add_put(f"{self._base}/_double/uploads/{{name}}", self._upload, name="upload")
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self._url = f"http://{host}:{port}{self._base}/"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> TeamsDouble:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """The service URL (``http://127.0.0.1:<port>/uk/``): use it as the activity's serviceUrl."""
        if self._url is None:
            raise RuntimeError("TeamsDouble is not started")
        return self._url

    # -- world set-up ----------------------------------------------------------------------------------------

    def add_member(self, member: Member) -> Member:
        """A person known in every conversation."""
        self._members[member.teams_user_id] = member
        self._members[member.aad_object_id] = member
        return member

    def add_team(self, team_id: str, name: str, channels: Iterable[tuple[str, str]] = ()) -> None:
        """A team; its General channel has the team's id and no name, as in Teams."""
        self._teams[team_id] = (name, [(team_id, None), *channels])

    # -- behaviour switches ----------------------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        *,
        code: str | None = None,
        message: str = "",
        retry_after: float | None = None,
        method: str | None = None,
        path_contains: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` matching requests with this status and Teams' error body."""
        self._fail_rules.append(
            _FailRule(
                status,
                code or _default_code(status),
                message,
                retry_after,
                method.upper() if method else None,
                path_contains,
                times,
            )
        )

    def block(self, conversation_or_member_id: str, status: int = 403, code: str = "ConversationBlockedByUser") -> None:
        """Refuse every write to this conversation or person (403 blocked, or 404 ConversationNotFound)."""
        member = self._members.get(conversation_or_member_id)
        keys = [member.teams_user_id, member.aad_object_id] if member else [conversation_or_member_id]
        for key in keys:
            self._blocked[key] = (status, code, "The recipient cannot be reached.")

    def unblock(self, conversation_or_member_id: str) -> None:
        member = self._members.get(conversation_or_member_id)
        for key in [member.teams_user_id, member.aad_object_id] if member else [conversation_or_member_id]:
            self._blocked.pop(key, None)

    def reject_all_tokens(self, reject: bool = True) -> None:
        """Answer 401 to everything, as Teams does when the bot's credentials are wrong."""
        self._reject_tokens = reject

    def set_limits(self, *, per_conversation: bool = True, global_per_second: int | None = 50) -> None:
        """Teams' per-conversation limits on or off, and the per-app global limit (None: off). Resets counts."""
        self._send_limiter = SlidingWindowLimiter(SEND_LIMITS) if per_conversation else None
        self._member_limiter = SlidingWindowLimiter(MEMBER_LIMITS) if per_conversation else None
        self._global_limiter = SlidingWindowLimiter([(global_per_second, 1.0)]) if global_per_second else None

    def faults(
        self,
        *,
        p503: float = 0.0,
        p502: float = 0.0,
        p429: float = 0.0,
        p504_delivered: float = 0.0,
        retry_after: float = 1.0,
        seed: int = 1,
    ) -> None:
        """Random failures with a seed. ``p504_delivered``: a send is delivered but answered 504 (a lost reply:
        the case that makes duplicates). Call with no arguments to switch faults off."""
        self._faults = _Faults(p503, p502, p429, p504_delivered, retry_after, random.Random(seed))

    def latency(self, mean_ms: float, jitter_ms: float = 0.0, *, seed: int = 2) -> None:
        """Delay every answer by mean ± jitter (uniform); for benchmarks."""
        self._latency = (mean_ms / 1000, jitter_ms / 1000)
        self._latency_rng = random.Random(seed)

    def upload_url(self, name: str) -> str:
        """An upload URL as Teams gives in a file consent answer (`uploadInfo.uploadUrl`), served here."""
        return f"{self.url}_double/uploads/{name}"

    # -- what happened ---------------------------------------------------------------------------------------

    @property
    def uploads(self) -> list[Upload]:
        """Files PUT to upload URLs, in arrival order."""
        return list(self._uploads)

    @property
    def requests(self) -> list[RecordedRequest]:
        return list(self._requests)

    def sent(self, conversation_id: str | None = None) -> list[dict[str, Any]]:
        """Bodies of delivered sends and replies, in arrival order, each with the id Teams gave it."""
        return [
            copy.deepcopy(d.body)
            for d in self._delivered
            if conversation_id is None or d.conversation_id == conversation_id
        ]

    @property
    def delivered(self) -> list[Delivered]:
        return list(self._delivered)

    def activity(self, conversation_id: str, activity_id: str) -> dict[str, Any] | None:
        """The current version of an activity (after updates), or None if unknown or deleted."""
        current = self._activities.get((conversation_id, activity_id))
        return copy.deepcopy(current) if current is not None else None

    def conversation_for(self, member_id: str) -> str | None:
        """The personal conversation created with this person (Teams or AAD id), if any."""
        member = self._members.get(member_id)
        return self._personal.get(member.teams_user_id if member else member_id)

    def send_counts(self) -> Counter[str]:
        """Delivered sends and replies per conversation."""
        return Counter(d.conversation_id for d in self._delivered)

    def duplicates(self) -> dict[tuple[str, str], int]:
        """(conversation id, fingerprint) pairs delivered more than once, with their counts."""
        return {key: n for key, n in self._arrivals.items() if n > 1}

    def stats(self) -> dict[str, Any]:
        by_status = Counter(str(r.status) for r in self._requests)
        return {
            "requests": len(self._requests),
            "by_status": dict(sorted(by_status.items())),
            "delivered": len(self._delivered),
            "conversations_created": len(self._personal),
            "conversations_with_deliveries": len(self.send_counts()),
            "duplicate_deliveries": sum(n - 1 for n in self.duplicates().values()),
        }

    def describe(self, last: int = 50) -> str:
        lines = [f"{r.method} {r.path} -> {r.status}" for r in self._requests[-last:]]
        return "\n".join(lines) or "(no requests)"

    # A timeout argument (ASYNC109) because every caller wants one and a clear failure message on expiry.
    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until predicate() holds; it is re-checked after every request the double answers."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(predicate), timeout)
            except TimeoutError:
                raise AssertionError(
                    f"condition not met within {timeout}s; the double received:\n{self.describe()}"
                ) from None

    async def wait_for_sent(
        self,
        n: int,
        conversation_id: str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[dict[str, Any]]:
        """Wait until at least n activities were delivered (to one conversation, if given)."""
        await self.wait_for(lambda: len(self.sent(conversation_id)) >= n, timeout)
        return self.sent(conversation_id)

    # -- request pipeline ------------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        route = request.match_info.route.name
        cid = request.match_info.get("cid")
        aid = request.match_info.get("aid")
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
            response: web.StreamResponse | None = _error(400, "BadSyntax", "Body is not JSON.")
        else:
            response = None
        if route in _UNGATED_ROUTES:
            return await handler(request)

        mean, jitter = self._latency
        if mean or jitter:
            await asyncio.sleep(max(0.0, mean + self._latency_rng.uniform(-jitter, jitter)))

        authorization = request.headers.get("Authorization")
        delivered_then_lost = False
        if response is None:
            response = self._gate(request.method, request.path, route, cid, body, authorization, len(raw))
        if response is None:
            delivered_then_lost = route in {"send", "reply"} and self._draw(self._faults.p504_delivered)
            if route is None:
                response = _error(404, "NotFound", f"No such operation: {request.method} {request.path}")
            else:
                response = await handler(request)
            if delivered_then_lost:
                response = _error(504, "GatewayTimeout", "The upstream service timed out.")

        record = RecordedRequest(
            request.method, request.path, route, cid, aid, body, authorization, response.status, self._clock()
        )
        self._requests.append(record)
        async with self._changed:
            self._changed.notify_all()
        return response

    def _gate(
        self,
        method: str,
        path: str,
        route: str | None,
        cid: str | None,
        body: Any,
        authorization: str | None,
        size: int,
    ) -> web.Response | None:
        """Every refusal Teams might give before doing the work, in the order Teams would give them."""
        has_token = (authorization or "").startswith("Bearer ") and bool((authorization or "")[7:].strip())
        if not has_token or self._reject_tokens:
            return _error(401, "Unauthorized", "Authorization has been denied for this request.")

        for rule in self._fail_rules:
            if (rule.method is None or rule.method == method) and (
                rule.path_contains is None or rule.path_contains in path
            ):
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self._fail_rules.remove(rule)
                return _error(rule.status, rule.code, rule.message, rule.retry_after)

        if route in _WRITE_ROUTES:
            for key in self._recipients(route, cid, body):
                if key in self._blocked:
                    return _error(*self._blocked[key])
        if route in {"send", "reply", "update"} and size > MAX_MESSAGE_BYTES:
            return _error(413, "MessageSizeTooBig", "Message size too big.")

        now = self._clock()
        if self._global_limiter is not None:
            wait = self._global_limiter.acquire("*", now)
            if wait is not None:
                return _error(429, "TooManyRequests", "Global rate limit exceeded.", math.ceil(wait))
        limiter = (
            self._send_limiter if route in _SEND_ROUTES else self._member_limiter if route in _MEMBER_ROUTES else None
        )
        if limiter is not None:
            key = "create:" + "".join(self._recipients(route, cid, body)[:1]) if route == "create" else str(cid)
            wait = limiter.acquire(key, now)
            if wait is not None:
                return _error(429, "TooManyRequests", "Conversation rate limit exceeded.", math.ceil(wait))

        faults = self._faults
        draw = faults.rng.random() if (faults.p503 or faults.p502 or faults.p429) else 1.0
        if draw < faults.p503:
            return _error(503, "ServiceUnavailable", "Service unavailable.")
        if draw < faults.p503 + faults.p502:
            return _error(502, "BadGateway", "Bad gateway.")
        if draw < faults.p503 + faults.p502 + faults.p429:
            return _error(429, "TooManyRequests", "Too many requests.", faults.retry_after)
        return None

    def _draw(self, probability: float) -> bool:
        return probability > 0 and self._faults.rng.random() < probability

    def _recipients(self, route: str | None, cid: str | None, body: Any) -> list[str]:
        """Ids a block may name for this request: the conversation and the person in it."""
        if route == "create":
            members = body.get("members") if isinstance(body, dict) else None
            return [m["id"] for m in members or [] if isinstance(m, dict) and "id" in m]
        keys = [cid] if cid else []
        if cid in self._conversation_member:
            keys.append(self._conversation_member[cid])
        return keys

    # -- operations ------------------------------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        body = body if isinstance(body, dict) else {}
        tenant = ((body.get("channelData") or {}).get("tenant") or {}).get("id") or body.get("tenantId")
        members = self._recipients("create", None, body)
        if not tenant:
            return _error(400, "BadArgument", "Tenant id is required.")
        if not members:
            return _error(400, "BadArgument", "At least one member is required.")
        member = self._members.get(members[0])
        member_id = member.teams_user_id if member else members[0]
        # Teams answers with the same personal conversation each time for the same person.
        cid = self._personal.get(member_id)
        if cid is None:
            cid = f"a:{next(self._ids):x}"
            self._personal[member_id] = cid
            self._conversation_member[cid] = member_id
        return web.json_response({"id": cid}, status=201)

    def _deliver(self, cid: str, body: Any, reply_to: str | None) -> web.Response:
        if not isinstance(body, dict):
            return _error(400, "BadArgument", "An activity is required.")
        aid = str(next(self._ids))
        stored = {**copy.deepcopy(body), "id": aid}
        self._activities[(cid, aid)] = stored
        self._delivered.append(Delivered(cid, aid, copy.deepcopy(stored), reply_to, self._clock()))
        self._arrivals[(cid, fingerprint(body))] += 1
        return web.json_response({"id": aid}, status=201)

    async def _send(self, request: web.Request) -> web.Response:
        return self._deliver(request.match_info["cid"], await _json_body(request), None)

    async def _reply(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        return self._deliver(request.match_info["cid"], body, request.match_info["aid"])

    async def _update(self, request: web.Request) -> web.Response:
        cid, aid = request.match_info["cid"], request.match_info["aid"]
        body = await _json_body(request)
        if not isinstance(body, dict):
            return _error(400, "BadArgument", "An activity is required.")
        self._activities[(cid, aid)] = {**body, "id": aid}
        return web.json_response({"id": aid})

    async def _delete(self, request: web.Request) -> web.Response:
        self._activities.pop((request.match_info["cid"], request.match_info["aid"]), None)
        return web.Response(status=200)

    def _all_members(self) -> list[dict[str, Any]]:
        unique = {m.teams_user_id: m for m in self._members.values()}
        return [m.to_json() for m in unique.values()]

    async def _list_members(self, request: web.Request) -> web.Response:
        return web.json_response(self._all_members())

    async def _get_member(self, request: web.Request) -> web.Response:
        member = self._members.get(request.match_info["mid"])
        if member is None:
            return _error(404, "MemberNotFoundInConversation", "The member was not found in the conversation.")
        return web.json_response(member.to_json())

    async def _paged_members(self, request: web.Request) -> web.Response:
        size = int(request.query.get("pageSize") or 200)
        start = int(request.query.get("continuationToken") or 0)
        everyone = self._all_members()
        page = everyone[start : start + size]
        more = start + size < len(everyone)
        return web.json_response({"continuationToken": str(start + size) if more else None, "members": page})

    async def _team(self, request: web.Request) -> web.Response:
        team_id = request.match_info["tid"]
        if team_id not in self._teams:
            return _error(404, "NotFound", "Team not found.")
        name, channels = self._teams[team_id]
        return web.json_response(
            {
                "id": team_id,
                "name": name,
                "aadGroupId": None,
                "channelCount": len(channels),
                "memberCount": len(self._all_members()),
                "type": "standard",
            }
        )

    async def _channels(self, request: web.Request) -> web.Response:
        team_id = request.match_info["tid"]
        if team_id not in self._teams:
            return _error(404, "NotFound", "Team not found.")
        return web.json_response(
            {"conversations": [{"id": cid, "name": name} for cid, name in self._teams[team_id][1]]}
        )

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _upload(self, request: web.Request) -> web.Response:
        """One PUT of a whole small file, as OneDrive's upload session takes it: Content-Range must say so."""
        content = await request.read()
        content_range = request.headers.get("Content-Range")
        if content_range != f"bytes 0-{len(content) - 1}/{len(content)}":
            return _error(400, "InvalidRange", "Content-Range does not match the body.")
        name = request.match_info["name"]
        self._uploads.append(Upload(name, content, content_range))
        async with self._changed:
            self._changed.notify_all()
        return web.json_response({"id": f"file-{len(self._uploads)}", "name": name, "size": len(content)},
                                 status=201)


async def _serve(args: argparse.Namespace) -> None:
    double = TeamsDouble(
        global_limit=args.global_limit or None, per_conversation_limits=not args.no_limits, port=args.port
    )
    for i in range(args.members):
        double.add_member(make_member(i))
    if args.block_file:
        # Read once before serving: nothing else runs on the loop yet.
        for blocked in Path(args.block_file).read_text(encoding="utf-8").split():  # noqa: ASYNC240
            double.block(blocked)
    double.faults(
        p503=args.p503,
        p502=args.p502,
        p429=args.p429,
        p504_delivered=args.p504_delivered,
        retry_after=args.retry_after,
        seed=args.seed,
    )
    if args.latency_ms or args.jitter_ms:
        double.latency(args.latency_ms, args.jitter_ms)
    await double.start()
    print(double.url, flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    await stopped.wait()
    await double.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Bot Connector REST API double")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--global-limit", type=int, default=50, help="requests/s for the app; 0 = off")
    parser.add_argument("--no-limits", action="store_true", help="switch off per-conversation limits")
    parser.add_argument("--members", type=int, default=0, help="add make_member(0..N-1)")
    parser.add_argument("--p503", type=float, default=0.0)
    parser.add_argument("--p502", type=float, default=0.0)
    parser.add_argument("--p429", type=float, default=0.0)
    parser.add_argument("--p504-delivered", type=float, default=0.0)
    parser.add_argument("--retry-after", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--block-file", help="conversation or member ids, one a line: 403 ConversationBlockedByUser")
    asyncio.run(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
