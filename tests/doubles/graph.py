"""A Microsoft Graph and identity platform double: Graph as seen by the bot at the HTTP boundary.

It serves, on one loopback port (plain http, or https with its own CA for msal, which insists on https):
- the identity platform: ``/{tenant}/v2.0/.well-known/openid-configuration`` and the client-credentials token
  endpoint ``/{tenant}/oauth2/v2.0/token`` (checks the client id and secret, issues opaque tokens);
- Graph v1.0 under ``/v1.0``: users (by id or principal name, and ``$filter=mail eq '…'``), group transitive
  members (nested groups flattened, paged with ``@odata.nextLink``), calendar events (create with
  ``transactionId``, get, patch, cancel), the app catalog, and a user's installed apps with their chat;
- online meetings found by join URL (``/users/{organiser id}/onlineMeetings?$filter=JoinWebUrl eq '…'``) and
  their attendance reports and records, paged, as Graph v1.0 shapes them; app-only calls for an organiser
  without an application access policy answer 403, as Graph does;
- activity-feed notifications (``/users/{id}/teamwork/sendActivityNotification``): 204 for a user who has the
  app installed and an activity type the app declares, 403 for someone without the app, 400 otherwise.

Every Graph call needs a token the double issued (401 otherwise). ``fail(...)`` injects faults (429 with a
Retry-After, 503, 403, ...) for matching requests; every request is recorded with its status.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
import re
import ssl
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.doubles.issuer import DEFAULT_APP_ID
from tests.doubles.teams import DEFAULT_TENANT_ID

DEFAULT_SECRET = "test-password"
DEFAULT_MAILBOX = "hny.sessions@hny.test"
DEFAULT_MANIFEST_APP_ID = "00000000-0000-4000-8000-0000000a9915"
DEFAULT_CATALOG_APP_ID = "00000000-0000-4000-8000-00000ca7a109"


@dataclass
class GraphUser:
    id: str
    display_name: str
    mail: str
    upn: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "displayName": self.display_name, "mail": self.mail, "userPrincipalName": self.upn}


@dataclass(frozen=True)
class GraphRequest:
    method: str
    path: str  # decoded, without the /v1.0 prefix for Graph calls
    query: dict[str, str]
    body: Any
    status: int


@dataclass
class _Fault:
    status: int
    code: str
    retry_after: str | None
    method: str | None
    path_contains: str | None
    remaining: int


@dataclass
class _Event:
    id: str
    mailbox: str
    body: dict[str, Any]
    join_url_after_gets: int = 0  # how many GETs before the online meeting shows (Graph fills it in late)
    cancelled: bool = False
    patches: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Meeting:
    id: str
    organiser_id: str
    join_url: str
    # Each report: Graph's meetingAttendanceReport fields, plus "records" (its attendanceRecords).
    reports: list[dict[str, Any]] = field(default_factory=list)


def attendance_record(user_id: str | None, name: str, mail: str, seconds: int = 3000,
                      role: str = "Attendee") -> dict[str, Any]:
    """An attendanceRecord as Graph v1.0 returns it (a guest from outside the tenant has no user id)."""
    return {"id": mail or name, "emailAddress": mail, "totalAttendanceInSeconds": seconds, "role": role,
            "identity": {"id": user_id, "displayName": name, "tenantId": None},
            "attendanceIntervals": [{"joinDateTime": "2026-11-29T10:01:00Z", "leaveDateTime": "2026-11-29T11:51:00Z",
                                     "durationInSeconds": seconds}]}


def _error(status: int, code: str, message: str = "", retry_after: str | None = None) -> web.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else None
    return web.json_response({"error": {"code": code, "message": message or code}}, status=status, headers=headers)


def _filter_value(expression: str, name: str) -> str | None:
    match = re.fullmatch(rf"\s*{re.escape(name)} eq '((?:[^']|'')*)'\s*", expression)
    return match.group(1).replace("''", "'") if match else None


class GraphDouble:
    def __init__(self, *, tenant_id: str = DEFAULT_TENANT_ID, client_id: str = DEFAULT_APP_ID,
                 client_secret: str = DEFAULT_SECRET, page_size: int = 2, tls: bool = False,
                 manifest_app_id: str = DEFAULT_MANIFEST_APP_ID,
                 catalog_app_id: str = DEFAULT_CATALOG_APP_ID) -> None:
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.page_size = page_size
        self.tls = tls
        self.manifest_app_id = manifest_app_id
        self.catalog_app_id = catalog_app_id
        self.users: dict[str, GraphUser] = {}
        self.groups: dict[str, list[tuple[str, str]]] = {}  # group id -> [(kind, id)], kind user|group|device
        self.mailboxes: set[str] = {DEFAULT_MAILBOX}
        self.events: dict[str, _Event] = {}
        self.installations: dict[str, str] = {}  # user id -> installation id
        self.blocked_installs: set[str] = set()
        # A new installation is missing from this many listings (Graph is eventually consistent).
        self.installation_lag = 0
        self._hidden_listings: dict[str, int] = {}
        self.join_url_after_gets = 0
        self.meetings: dict[str, _Meeting] = {}
        # Activity types the app's manifest declares (set by the test from the manifest), and what was sent.
        self.activity_types: set[str] = set()
        self.notifications: list[tuple[str, dict[str, Any]]] = []  # (user id, request body)
        # Organisers (user ids) an application access policy lets this app read online meetings for.
        self.meeting_access: set[str] = set()
        self.requests: list[GraphRequest] = []
        self.token_requests = 0
        self.issued_tokens: list[str] = []
        self._valid_tokens: set[str] = set()
        self._faults: list[_Fault] = []
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._origin = ""
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.ca_file: str | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def start(self) -> GraphDouble:
        app = web.Application()
        app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self._openid)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        app.router.add_route("*", "/v1.0/{tail:.*}", self._graph)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        context = self._tls_context() if self.tls else None
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self._origin = f"{'https' if self.tls else 'http'}://{host}:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> GraphDouble:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def authority(self) -> str:
        return f"{self._origin}/{self.tenant_id}"

    @property
    def base_url(self) -> str:
        return f"{self._origin}/v1.0"

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """Bot settings that point Graph at this double."""
        values: dict[str, Any] = dict(graph_enabled=True, graph_base_url=self.base_url,
                                      graph_authority_url=self.authority, graph_organiser_mailbox=DEFAULT_MAILBOX,
                                      teams_app_id=self.manifest_app_id)
        values.update(overrides)
        return values

    # -- data ------------------------------------------------------------------------------------------------

    def add_user(self, user_id: str, display_name: str, mail: str, *, upn: str | None = None) -> GraphUser:
        user = GraphUser(user_id, display_name, mail, upn or mail)
        self.users[user_id] = user
        return user

    def add_group(self, group_id: str, *, users: Sequence[str] = (), groups: Sequence[str] = (),
                  devices: Sequence[str] = ()) -> None:
        """Members of `groups` count too (transitive); devices are members that are not people."""
        self.groups[group_id] = ([("user", u) for u in users] + [("group", g) for g in groups]
                                 + [("device", d) for d in devices])

    def fail(self, status: int, *, times: int = 1, code: str | None = None, retry_after: float | str | None = None,
             method: str | None = None, path_contains: str | None = None) -> None:
        """The next `times` matching requests answer `status` (before any other check but the token's)."""
        self._faults.append(_Fault(status, code or {429: "TooManyRequests", 503: "ServiceNotAvailable",
                                                     403: "Authorization_RequestDenied"}.get(status, "Failure"),
                                   None if retry_after is None else str(retry_after), method, path_contains, times))

    def accept_token(self, token: str) -> None:
        """Take `token` as one the double issued (a client with a static token skips the token endpoint)."""
        self._valid_tokens.add(token)

    def revoke_tokens(self) -> None:
        """Every token issued so far is refused (401) from now on."""
        self._valid_tokens.clear()

    def graph_requests(self, method: str | None = None, contains: str = "") -> list[GraphRequest]:
        return [r for r in self.requests if (method is None or r.method == method) and contains in r.path]

    def add_meeting(self, organiser_id: str, join_url: str, *reports: list[dict[str, Any]],
                    policy: bool = True) -> _Meeting:
        """An online meeting and its attendance reports (one list of attendance records per report: a meeting
        used twice has two). `policy`: the app may read this organiser's meetings (an application access
        policy was granted)."""
        meeting = _Meeting(f"MSo{next(self._ids):06d}", organiser_id, join_url)
        for records in reports:
            meeting.reports.append({"id": str(uuid.uuid4()), "totalParticipantCount": len(records),
                                    "meetingStartDateTime": "2026-11-29T10:00:00Z",
                                    "meetingEndDateTime": "2026-11-29T12:00:00Z", "records": records})
        self.meetings[meeting.id] = meeting
        if policy:
            self.meeting_access.add(organiser_id)
        return meeting

    def live_events(self) -> list[_Event]:
        return [event for event in self.events.values() if not event.cancelled]

    # -- identity platform -----------------------------------------------------------------------------------

    async def _openid(self, request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        base = f"{self._origin}/{tenant}"
        return web.json_response({
            "issuer": f"{base}/v2.0", "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token", "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_types_supported": ["code"], "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
        })

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        form = await request.post()
        fault = self._take_fault("POST", "/oauth2/v2.0/token", token=True)
        if fault is not None:
            return _error(fault.status, fault.code, retry_after=fault.retry_after)
        if request.match_info["tenant"] != self.tenant_id:
            return web.json_response({"error": "invalid_tenant"}, status=400)
        if form.get("grant_type") != "client_credentials" or form.get("scope") != "https://graph.microsoft.com/.default":
            return web.json_response({"error": "invalid_request"}, status=400)
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return web.json_response({"error": "invalid_client"}, status=401)
        token = f"graph-token-{uuid.uuid4().hex}"
        self._valid_tokens.add(token)
        self.issued_tokens.append(token)
        return web.json_response({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                                  "access_token": token})

    # -- Graph -----------------------------------------------------------------------------------------------

    async def _graph(self, request: web.Request) -> web.Response:
        raw_path = request.rel_url.raw_path.removeprefix("/v1.0")
        segments = [unquote(part) for part in raw_path.strip("/").split("/")]
        path = "/" + "/".join(segments)
        query = {key: values[0] for key, values in parse_qs(urlsplit(str(request.rel_url)).query).items()}
        body: Any = await request.json() if request.can_read_body else None
        response = await self._answer(request, segments, path, query, body)
        self.requests.append(GraphRequest(request.method, path, query, body, response.status))
        return response

    async def _answer(self, request: web.Request, segs: list[str], path: str, query: dict[str, str],
                      body: Any) -> web.Response:
        authorization = request.headers.get("Authorization", "")
        if authorization.removeprefix("Bearer ") not in self._valid_tokens:
            return _error(401, "InvalidAuthenticationToken", "Access token is empty or invalid.")
        fault = self._take_fault(request.method, path)
        if fault is not None:
            return _error(fault.status, fault.code, retry_after=fault.retry_after)
        method = request.method
        match segs:
            case ["users"] if method == "GET":
                mail = _filter_value(query.get("$filter", ""), "mail")
                if mail is None:
                    return _error(400, "Request_UnsupportedQuery")
                found = [u.to_json() for u in self.users.values() if u.mail.lower() == mail.lower()]
                return web.json_response({"value": found})
            case ["users", key] if method == "GET":
                user = self._user(key)
                return web.json_response(user.to_json()) if user else _error(404, "Request_ResourceNotFound")
            case ["groups", group_id, "transitiveMembers"] if method == "GET":
                return self._members(group_id, query)
            case ["appCatalogs", "teamsApps"] if method == "GET":
                external = _filter_value(query.get("$filter", ""), "externalId")
                apps = [{"id": self.catalog_app_id, "externalId": self.manifest_app_id, "displayName": "HNY Inc.",
                         "distributionMethod": "organization"}] if external == self.manifest_app_id else []
                return web.json_response({"value": apps})
            case ["users", mailbox, "events"] if method == "POST":
                return self._create_event(mailbox, body)
            case ["users", mailbox, "events", event_id] if method in ("GET", "PATCH"):
                event = self._event(mailbox, event_id)
                if event is None:
                    return _error(404, "ErrorItemNotFound")
                if method == "PATCH":
                    event.patches.append(body)
                    event.body.update(body)
                    return web.json_response(event.body)
                if event.join_url_after_gets > 0:
                    event.join_url_after_gets -= 1
                    return web.json_response({**event.body, "onlineMeeting": None})
                return web.json_response(event.body)
            case ["users", mailbox, "events", event_id, "cancel"] if method == "POST":
                event = self._event(mailbox, event_id)
                if event is None:
                    return _error(404, "ErrorItemNotFound")
                event.cancelled = True
                return web.Response(status=202)
            case ["users", user_id, "teamwork", "installedApps"] if method == "POST":
                return self._install(user_id, body)
            case ["users", user_id, "teamwork", "installedApps"] if method == "GET":
                return self._installed(user_id, query)
            case ["users", user_id, "teamwork", "sendActivityNotification"] if method == "POST":
                return self._notify(user_id, body)
            case ["users", user_id, "onlineMeetings", *rest] if method == "GET":
                return self._meetings(user_id, rest, query)
            case ["users", user_id, "teamwork", "installedApps", installation_id, "chat"] if method == "GET":
                if self.installations.get(user_id) != installation_id:
                    return _error(404, "NotFound")
                return web.json_response({"id": f"19:{user_id}_{self.catalog_app_id}@unq.gbl.spaces"})
        return _error(400, "BadRequest", "the double does not know this call")

    def _notify(self, user_id: str, body: Any) -> web.Response:
        if user_id not in self.users:
            return _error(404, "NotFound", "user not found")
        if user_id not in self.installations:
            return _error(403, "Forbidden", "The app must be installed for the recipient.")
        if not isinstance(body, dict) or body.get("activityType") not in self.activity_types:
            return _error(400, "BadRequest", "Activity type is not declared in the app manifest.")
        topic = body.get("topic")
        if not isinstance(topic, dict) or topic.get("source") not in ("text", "entityUrl") or (
                topic.get("source") == "text" and not str(topic.get("webUrl", "")).startswith("https://")):
            return _error(400, "BadRequest", "A text topic needs a webUrl.")
        preview = (body.get("previewText") or {}).get("content", "")
        if not isinstance(preview, str) or len(preview) > 150:
            return _error(400, "BadRequest", "previewText is limited to 150 characters.")
        self.notifications.append((user_id, body))
        return web.Response(status=204)

    def _meetings(self, user_id: str, rest: list[str], query: dict[str, str]) -> web.Response:
        if user_id not in self.users:
            return _error(404, "NotFound", "user not found")
        if user_id not in self.meeting_access:
            return _error(403, "Forbidden", "No application access policy found for this app.")
        mine = [m for m in self.meetings.values() if m.organiser_id == user_id]
        match rest:
            case []:
                join_url = _filter_value(query.get("$filter", ""), "JoinWebUrl")
                if join_url is None:
                    return _error(400, "BadRequest", "Filter by JoinWebUrl")
                return web.json_response({"value": [{"id": m.id, "joinWebUrl": m.join_url, "subject": None}
                                                    for m in mine if m.join_url == join_url]})
            case [meeting_id, "attendanceReports"]:
                meeting = next((m for m in mine if m.id == meeting_id), None)
                if meeting is None:
                    return _error(404, "NotFound")
                return web.json_response({"value": [{k: v for k, v in r.items() if k != "records"}
                                                    for r in meeting.reports]})
            case [meeting_id, "attendanceReports", report_id, "attendanceRecords"]:
                meeting = next((m for m in mine if m.id == meeting_id), None)
                report = next((r for r in meeting.reports if r["id"] == report_id), None) if meeting else None
                if report is None:
                    return _error(404, "NotFound")
                records = report["records"]
                start = int(query.get("$skiptoken", "0"))
                page: dict[str, Any] = {"value": records[start:start + self.page_size]}
                if start + self.page_size < len(records):
                    page["@odata.nextLink"] = (f"{self.base_url}/users/{user_id}/onlineMeetings/{meeting_id}/"
                                               f"attendanceReports/{report_id}/attendanceRecords"
                                               f"?$skiptoken={start + self.page_size}")
                return web.json_response(page)
        return _error(400, "BadRequest", "the double does not know this call")

    def _take_fault(self, method: str, path: str, *, token: bool = False) -> _Fault | None:
        """Faults hit Graph calls; the token endpoint only when a fault names it (path_contains="oauth2")."""
        for fault in self._faults:
            if token and fault.path_contains is None:
                continue
            if fault.remaining > 0 and (fault.method is None or fault.method == method) and (
                    fault.path_contains is None or fault.path_contains in path):
                fault.remaining -= 1
                return fault
        return None

    def _user(self, key: str) -> GraphUser | None:
        key = key.lower()
        return next((u for u in self.users.values() if key in (u.id.lower(), u.upn.lower())), None)

    def _members(self, group_id: str, query: dict[str, str]) -> web.Response:
        if group_id not in self.groups:
            return _error(404, "Request_ResourceNotFound")
        flat: list[dict[str, Any]] = []
        seen: set[str] = set()
        pending = [group_id]
        while pending:
            for kind, member_id in self.groups.get(pending.pop(0), []):
                if member_id in seen:
                    continue
                seen.add(member_id)
                flat.append({"@odata.type": f"#microsoft.graph.{kind}", "id": member_id})
                if kind == "group":
                    pending.append(member_id)
        size = min(int(query.get("$top", "100")), self.page_size)
        start = int(query.get("$skiptoken", "0"))
        page: dict[str, Any] = {"value": flat[start:start + size]}
        if start + size < len(flat):
            page["@odata.nextLink"] = (f"{self.base_url}/groups/{group_id}/transitiveMembers"
                                       f"?$select=id&$top={size}&$skiptoken={start + size}")
        return web.json_response(page)

    def _event(self, mailbox: str, event_id: str) -> _Event | None:
        event = self.events.get(event_id)
        if event is None or event.cancelled or event.mailbox != mailbox.lower():
            return None
        return event

    def _create_event(self, mailbox: str, body: dict[str, Any]) -> web.Response:
        if mailbox.lower() not in self.mailboxes:
            return _error(404, "ErrorInvalidUser", "The requested user is invalid.")
        transaction_id = body.get("transactionId")
        for event in self.events.values():
            if transaction_id and event.body.get("transactionId") == transaction_id:
                return web.json_response(event.body, status=201)
        event_id = f"AAMkAD{next(self._ids):06d}"
        stored = {**body, "id": event_id,
                  "onlineMeeting": {"joinUrl": f"https://teams.microsoft.com/l/meetup-join/19%3ameeting_{event_id}"
                                               "%40thread.v2/0"} if body.get("isOnlineMeeting") else None}
        event = _Event(event_id, mailbox.lower(), stored, join_url_after_gets=self.join_url_after_gets)
        self.events[event_id] = event
        if event.join_url_after_gets:
            return web.json_response({**stored, "onlineMeeting": None}, status=201)
        return web.json_response(stored, status=201)

    def _install(self, user_id: str, body: dict[str, Any]) -> web.Response:
        if user_id not in self.users:
            return _error(404, "NotFound", "user not found")
        if user_id in self.blocked_installs:
            return _error(403, "Forbidden", "app blocked by policy")
        bind = str(body.get("teamsApp@odata.bind", ""))
        if bind != f"{self.base_url}/appCatalogs/teamsApps/{self.catalog_app_id}":
            return _error(404, "NotFound", "app not in catalog")
        if user_id in self.installations:
            return _error(409, "Conflict", "App is already installed.")
        self.installations[user_id] = f"inst-{uuid.uuid4().hex[:12]}"
        self._hidden_listings[user_id] = self.installation_lag
        return web.Response(status=201)

    def _installed(self, user_id: str, query: dict[str, str]) -> web.Response:
        expression = query.get("$filter", "")
        wanted = _filter_value(expression, "teamsApp/id")
        external = _filter_value(expression, "teamsApp/externalId")
        installation = self.installations.get(user_id)
        if self._hidden_listings.get(user_id, 0) > 0:
            self._hidden_listings[user_id] -= 1
            installation = None
        matches = installation is not None and (wanted == self.catalog_app_id or external == self.manifest_app_id)
        value = [{"id": installation, "teamsApp": {"id": self.catalog_app_id, "externalId": self.manifest_app_id,
                                                   "displayName": "HNY Inc."}}] if matches else []
        return web.json_response({"value": value})

    # -- TLS -------------------------------------------------------------------------------------------------

    def _tls_context(self) -> ssl.SSLContext:
        """A throwaway CA and a server certificate for 127.0.0.1; `ca_file` is what clients trust."""
        self._tmp = tempfile.TemporaryDirectory(prefix="graph-double-")
        folder = Path(self._tmp.name)
        now = dt.datetime.now(dt.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Graph double test CA")])
        ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
              .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
              .not_valid_after(now + dt.timedelta(days=1))
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                           content_commitment=False, key_encipherment=False, data_encipherment=False,
                                           key_agreement=False, encipher_only=False, decipher_only=False),
                             critical=True)
              .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
              .sign(ca_key, hashes.SHA256()))
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
                .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                               critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        (folder / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (folder / "server.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                              serialization.PrivateFormat.PKCS8,
                                                              serialization.NoEncryption()))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(folder / "server.pem", folder / "server.key")
        self.ca_file = str(folder / "ca.pem")
        return context
