"""Sessions and invitations (design §4): create, preview, publish, change, cancel; invite the right people;
take replies with exact seats and a waiting list. No botbuilder here.

Seats: every change of a session's seats (a reply, a withdrawal, a change of capacity) happens while the
session's row is locked, so 200 people pressing Accept at once queue up and exactly `capacity` of them get a
seat. PostgreSQL: SELECT … FOR NO KEY UPDATE (it still lets other transactions insert invitations that point
at the session). SQLite: every transaction holds the write lock from BEGIN (storage/db.py).

Messages: every proactive message goes through the outbox in the transaction of the change, with a key that
names its cause and recipient, so each cause reaches a person once. The cards themselves are drawn by a
`SessionMessages` the feature passes in, because services return view data and never build cards.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import UK, Clock
from bot.delivery.outbox import Message, Recipient, cancel, enqueue
from bot.graph.calendar_sync import JobKind, enqueue_calendar_job
from bot.services import reminders
from bot.services.counts import SessionFigures
from bot.services.eligibility import COMMUNITIES, PHASES, SPACES, Answers, Criteria, answers_match
from bot.services.roles import Audit, Role, satisfies
from bot.services.suppression import SessionCounts, Shown, session_counts, shown
from bot.services.uk_time import TimeProblem, parse_date, parse_time, time_problem_text, uk_to_utc
from storage.db import Database
from storage.models import Invitation, OutboxMessage, Person, TrainingSession, Volunteer
from storage.repositories.people import PeopleRepository
from storage.repositories.roles import RoleRepository
from storage.repositories.sessions import (
    InvitationRepository,
    RosterEntry,
    SessionRepository,
    session_communities,
)

log = logging.getLogger(__name__)

MAX_TITLE = 120
MAX_CAPACITY = 1000
MAX_LENGTH = timedelta(hours=8)
MAX_LINK = 1000
TEAMS_HOST = "teams.microsoft.com"
# Meeting links Teams makes: the classic "meetup-join" link and the newer short "meet" link.
TEAMS_PATHS = ("/l/meetup-join/", "/meet/")
_EMAILS = re.compile(r"[\s,;]+")
# Finished sessions stay in the facilitators' list this long, so they can mark who came.
RECENT_DAYS = 30


def is_teams_meeting_link(url: str) -> bool:
    if len(url) > MAX_LINK or any(ch.isspace() for ch in url):
        return False
    parts = urlsplit(url)
    return (parts.scheme == "https" and parts.hostname == TEAMS_HOST and parts.port is None
            and not parts.username and any(parts.path.startswith(path) for path in TEAMS_PATHS)
            and len(parts.path) > max(len(path) for path in TEAMS_PATHS if parts.path.startswith(path)))


# -- forms ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SessionForm:
    """What a facilitator typed, as the card sends it (strings). Nothing here is trusted."""

    title: str = ""
    phase: str = ""
    space: str = ""
    communities: str = ""  # comma-separated community codes
    date: str = ""  # YYYY-MM-DD (Input.Date)
    start: str = ""  # HH:MM (Input.Time), UK time
    end: str = ""
    join_url: str = ""
    capacity: str = ""
    co_facilitators: str = ""  # e-mails, separated by commas, semicolons or spaces

    def to_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionForm:
        values = {name: data.get(name) for name in cls.__dataclass_fields__}
        return cls(**{name: value.strip() if isinstance(value, str) else "" for name, value in values.items()})


@dataclass(frozen=True)
class SessionDraft:
    """A checked form."""

    title: str
    phase: str
    space: str
    communities: frozenset[str]
    starts_at: datetime
    ends_at: datetime
    join_url: str | None
    capacity: int
    co_facilitator_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Checked:
    draft: SessionDraft | None
    errors: dict[str, str]  # field name -> what to fix

    @property
    def ok(self) -> bool:
        return self.draft is not None and not self.errors


@dataclass(frozen=True)
class Preview:
    draft: SessionDraft
    invited: Shown  # rounded (§5)
    filtered: bool
    co_facilitators: tuple[str, ...]  # names (or e-mails) of the co-facilitators, for the facilitator only
    # No link given and Graph is configured: publishing asks Teams to make the meeting (design §8).
    teams_makes_link: bool = False


# -- what cards show -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class InvitationState:
    """One person's invitation as they see it. Seat figures are exact (§5)."""

    session_id: int
    title: str
    phase: str
    starts_at: datetime
    ends_at: datetime
    seats_left: int
    status: str  # invited | accepted | waiting | declined
    position: int | None  # waiting-list position
    join_url: str | None
    cancelled: bool
    closed: bool  # the session has started: replies are closed
    refresh_user_id: str | None = None  # the person's Teams user id, for the card's refresh
    note: str | None = None  # a one-off message for this answer ("Nothing changed: ...")


@dataclass(frozen=True)
class ReplyResult:
    outcome: str  # done | unchanged | closed | cancelled | not_invited
    state: InvitationState | None


@dataclass(frozen=True)
class SessionInfo:
    """A session as its facilitators see it."""

    session_id: int
    title: str
    phase: str
    space: str
    communities: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime
    join_url: str | None
    capacity: int
    status: str  # draft | published | cancelled
    change_no: int
    seats_left: int
    counts: SessionCounts | None  # None for drafts
    started: bool
    ended: bool = False
    # People with a place marked as came / did not come. Exact, like the seat figures (design §5).
    attended: int = 0
    absent: int = 0


@dataclass(frozen=True)
class Roster:
    session: SessionInfo
    entries: tuple[RosterEntry, ...]


@dataclass(frozen=True)
class RosterFile:
    """The roster as a CSV file, for a facilitator to download."""

    session_id: int
    name: str
    content: bytes


# Spreadsheets run a cell that starts with one of these as a formula (CSV injection, OWASP), including the
# full-width forms some spreadsheets also accept.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def csv_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: a leading apostrophe stops a formula from running."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def roster_csv(entries: Sequence[RosterEntry]) -> bytes:
    """Status, waiting position, name and e-mail of each person (never communities). UTF-8 with a byte order
    mark, so spreadsheets read names with accents correctly."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["Status", "Waiting list position", "Name", "E-mail"])
    for entry in entries:
        writer.writerow([csv_cell(value) for value in (
            "Accepted" if entry.status == "accepted" else "Waiting",
            str(entry.position) if entry.position is not None else "", entry.display_name or "", entry.email or "")])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


@dataclass(frozen=True)
class ActionResult:
    """The outcome of a facilitator action."""

    outcome: str  # done | refused | not_found | errors | stale | too_small | closed | unchanged
    session: SessionInfo | None = None
    errors: dict[str, str] = field(default_factory=dict)
    invited: Shown | None = None
    detail: str | None = None


class SessionMessages(Protocol):
    """Draws the cards the outbox sends. The feature implements it with cards/invitation.py."""

    def invitation(self, state: InvitationState) -> dict[str, Any]: ...

    def promoted(self, state: InvitationState) -> dict[str, Any]: ...

    def changed(self, state: InvitationState, *, time_changed: bool, link_changed: bool) -> dict[str, Any]: ...

    def cancelled(self, state: InvitationState) -> dict[str, Any]: ...

    def no_longer_matching(self, state: InvitationState) -> dict[str, Any]: ...


# -- the service ---------------------------------------------------------------------------------------------

class SessionService:
    def __init__(self, database: Database, clock: Clock, audit: Audit, messages: SessionMessages, *,
                 calendar: bool = False) -> None:
        """`calendar`: Microsoft Graph is configured (design §8), so a session published without a join link
        gets a Teams meeting made for it, and accepted people are added to its calendar event (attendees
        hidden). The jobs are written in the same transaction as the change; bot/graph/calendar_sync.py
        carries them out later."""
        self._database = database
        self._clock = clock
        self._audit = audit
        self._messages = messages
        self._calendar = calendar

    # .. checking forms ........................................................................................

    async def check(self, actor_id: str, form: SessionForm, *, extra_facilitators: Sequence[str] = ()) -> Checked:
        """Check a new-session form. `extra_facilitators`: ids of people @mentioned as co-facilitators."""
        errors: dict[str, str] = {}
        title = " ".join(form.title.split())
        if not title:
            errors["title"] = "Give the session a title."
        elif len(title) > MAX_TITLE:
            errors["title"] = f"Use a shorter title: {MAX_TITLE} characters at most."
        if form.phase not in PHASES:
            errors["phase"] = "Choose a phase."
        if form.space not in SPACES:
            errors["space"] = "Choose who the session is for."
        communities = frozenset(part for part in form.communities.split(",") if part)
        if not communities <= set(COMMUNITIES):
            errors["communities"] = "Choose communities from the list, or none."
        elif communities and form.space == "ally":
            errors["communities"] = ("Communities are part of the minoritised space. Choose 'Minoritised "
                                     "colleagues' or 'Open to both', or clear the communities.")
        starts_at, ends_at = self._check_times(form, errors)
        capacity = self._check_capacity(form.capacity, errors)
        join_url = self._check_link(form.join_url, errors)
        co_ids = await self._check_co_facilitators(actor_id, form.co_facilitators, extra_facilitators, errors)
        if errors or starts_at is None or ends_at is None or capacity is None:
            return Checked(None, errors)
        return Checked(SessionDraft(title, form.phase, form.space, communities, starts_at, ends_at, join_url,
                                    capacity, co_ids), {})

    def _check_times(self, form: SessionForm, errors: dict[str, str]) -> tuple[datetime | None, datetime | None]:
        day = parse_date(form.date)
        start = parse_time(form.start)
        end = parse_time(form.end)
        if day is None:
            errors["date"] = "Choose the date of the session."
        if start is None:
            errors["start"] = "Give the start time, like 14:00."
        if end is None:
            errors["end"] = "Give the end time, like 15:30."
        if day is None or start is None or end is None:
            return None, None
        starts_at = ends_at = None
        try:
            starts_at = uk_to_utc(day, start)
        except TimeProblem as problem:
            errors["start"] = time_problem_text(problem)
        try:
            ends_at = uk_to_utc(day, end)
        except TimeProblem as problem:
            errors["end"] = time_problem_text(problem)
        if starts_at is None or ends_at is None:
            return None, None
        if starts_at <= self._clock.now():
            errors["date"] = "This time has already passed. Choose a date and time in the future."
            return None, None
        if ends_at <= starts_at:
            errors["end"] = "The end time must be after the start time, on the same day."
            return None, None
        if ends_at - starts_at > MAX_LENGTH:
            errors["end"] = "A session can last 8 hours at most."
            return None, None
        return starts_at, ends_at

    @staticmethod
    def _check_capacity(text: str, errors: dict[str, str]) -> int | None:
        if not text.isdigit() or not 1 <= int(text) <= MAX_CAPACITY:
            errors["capacity"] = f"Give the number of places as a whole number from 1 to {MAX_CAPACITY}."
            return None
        return int(text)

    @staticmethod
    def _check_link(text: str, errors: dict[str, str]) -> str | None:
        if not text:
            return None
        if not is_teams_meeting_link(text):
            errors["join_url"] = ("Paste the Teams meeting link. It starts with "
                                  "https://teams.microsoft.com/l/meetup-join/. Or leave it empty for now.")
            return None
        return text

    async def _check_co_facilitators(self, actor_id: str, emails_text: str, extra_ids: Sequence[str],
                                     errors: dict[str, str]) -> tuple[str, ...]:
        emails = [email.lower() for email in _EMAILS.split(emails_text) if email]
        found: list[str] = []
        unknown: list[str] = []
        not_facilitators: list[str] = []
        async with self._database.transaction() as session:
            people = PeopleRepository(session)
            roles = RoleRepository(session)
            for email in emails[:20]:
                person = await people.by_email(email) if "@" in email else None
                if person is None:
                    unknown.append(email)
                elif not satisfies(await roles.roles_of(person.id), Role.FACILITATOR):
                    not_facilitators.append(email)
                elif person.id not in found:
                    found.append(person.id)
            for person_id in extra_ids:
                if person_id not in found and satisfies(await roles.roles_of(person_id), Role.FACILITATOR):
                    found.append(person_id)
        if len(emails) > 20:
            errors["co_facilitators"] = "Add 20 co-facilitators at most."
        elif unknown:
            errors["co_facilitators"] = (f"I don't know {', '.join(unknown)} yet. Check the e-mail, or ask them to "
                                         "send me a message first.")
        elif not_facilitators:
            errors["co_facilitators"] = (f"{', '.join(not_facilitators)} is not a facilitator yet. An admin can "
                                         "make them one.")
        return tuple(person_id for person_id in found if person_id != actor_id)

    async def people_by_teams_ids(self, teams_user_ids: Sequence[str]) -> list[str]:
        """Person ids of the people with these Teams user ids (e.g. @mentions) whom we have met."""
        if not teams_user_ids:
            return []
        async with self._database.transaction() as session:
            result = await session.execute(select(Person.id).where(Person.teams_user_id.in_(list(teams_user_ids))))
            return sorted(set(result.scalars()))

    async def names_of(self, person_ids: Sequence[str]) -> tuple[str, ...]:
        async with self._database.transaction() as session:
            people = PeopleRepository(session)
            names = []
            for person_id in person_ids:
                person = await people.get(person_id)
                names.append((person.display_name or person.email or "A facilitator") if person else "A facilitator")
        return tuple(names)

    async def preview(self, draft: SessionDraft) -> Preview:
        async with self._database.transaction() as session:
            repository = SessionRepository(session)
            version = await repository.latest_notice_version()
            raw = 0 if version is None else await repository.count_eligible(
                space=draft.space, phase=draft.phase, communities=sorted(draft.communities),
                notice_version=version)
        return Preview(draft, shown(raw), bool(draft.communities), await self.names_of(draft.co_facilitator_ids),
                       teams_makes_link=self._calendar and draft.join_url is None)

    # .. creating and publishing ..............................................................................

    async def create(self, actor_id: str, draft: SessionDraft, *, publish: bool) -> ActionResult:
        now = self._clock.now()
        if draft.starts_at <= now:
            return ActionResult("closed", detail="This time has already passed. Choose a date and time in the "
                                                 "future.")
        async with self._database.transaction() as session:
            # Checked again here: the role may have been taken away while the form was open.
            if not satisfies(await RoleRepository(session).roles_of(actor_id), Role.FACILITATOR):
                await self._audit.record(session, actor_id, "session.create", None, "refused")
                return ActionResult("refused")
            row = await SessionRepository(session).add(TrainingSession(
                title=draft.title, phase=draft.phase, space=draft.space,
                filter_ethnicity="ethnicity" in draft.communities,
                filter_disability="disability" in draft.communities,
                filter_neurodivergent="neurodivergent" in draft.communities,
                filter_lgbtq="lgbtq" in draft.communities,
                starts_at=draft.starts_at, ends_at=draft.ends_at, join_url=draft.join_url,
                capacity=draft.capacity, status="draft", change_no=0, next_waiting_seq=1,
                created_by=actor_id, created_at=now, updated_at=now, published_at=None, cancelled_at=None,
                time_set_at=now))
            repository = SessionRepository(session)
            await repository.add_facilitator(row.id, actor_id, actor_id, now)
            for person_id in draft.co_facilitator_ids:
                await repository.add_facilitator(row.id, person_id, actor_id, now)
                await self._audit.record(session, actor_id, "session.co_facilitator.add", str(row.id))
            await self._audit.record(session, actor_id, "session.create", str(row.id))
            invited = None
            if publish:
                invited = shown(await self._publish(session, row, actor_id, now))
            info = await self._info(session, row, now)
        log.info("session created: session=%d published=%s", row.id, publish)
        return ActionResult("done", session=info, invited=invited)

    async def publish(self, actor_id: str, session_id: int) -> ActionResult:
        now = self._clock.now()
        async with self._database.transaction() as session:
            row = await self._managed(session, actor_id, session_id, "session.publish", lock=True)
            if isinstance(row, ActionResult):
                return row
            if row.status != "draft":
                return ActionResult("unchanged", session=await self._info(session, row, now))
            if row.starts_at <= now:
                return ActionResult("closed", session=await self._info(session, row, now))
            invited = shown(await self._publish(session, row, actor_id, now))
            info = await self._info(session, row, now)
        log.info("session published: session=%d", session_id)
        return ActionResult("done", session=info, invited=invited)

    async def _publish(self, session: AsyncSession, row: TrainingSession, actor_id: str, now: datetime) -> int:
        row.status = "published"
        row.published_at = now
        row.updated_at = now
        await session.flush()
        await self._audit.record(session, actor_id, "session.publish", str(row.id))
        if row.join_url is None:
            await self._calendar_job(session, "create", row, now, author_id=actor_id)
        return await self._invite_eligible(session, row, now)

    async def _calendar_job(self, session: AsyncSession, kind: JobKind, row: TrainingSession, now: datetime, *,
                            person_id: str | None = None, author_id: str | None = None) -> None:
        if not self._calendar:
            return
        await enqueue_calendar_job(session, kind, row.id, person_id, now=now, start_at=row.starts_at,
                                   end_at=row.ends_at, author_id=author_id or row.created_by)

    async def on_calendar_ready(self, session: AsyncSession, session_id: int, join_url: str) -> None:
        """Graph made the session's Teams meeting: its link becomes the join link, unless a facilitator gave
        one meanwhile, and people who accepted or are waiting are told as for any new link."""
        now = self._clock.now()
        row = await SessionRepository(session).lock(session_id)
        if row is None or row.join_url or row.status != "published" or row.starts_at <= now \
                or not is_teams_meeting_link(join_url):
            return
        row.join_url = join_url
        row.change_no += 1
        row.updated_at = now
        await session.flush()
        await self._tell_about_change(session, row, now, time_changed=False, link_changed=True)
        log.info("session has its Teams meeting: session=%d", session_id)

    async def _invite_eligible(self, session: AsyncSession, row: TrainingSession, now: datetime, *,
                               person_id: str | None = None) -> int:
        """Invite every eligible person not yet invited; returns how many were invited now."""
        repository = SessionRepository(session)
        version = await repository.latest_notice_version()
        if version is None:
            return 0
        invitations = InvitationRepository(session)
        already = await invitations.invited_ids(row.id) if person_id is None else set()
        seats_left = max(0, row.capacity - await invitations.count_status(row.id, "accepted"))
        done = 0
        for candidate in await repository.eligible_people(row, version, person_id=person_id):
            if candidate in already:
                continue
            invitation = await invitations.add_if_missing(row.id, candidate, now)
            if invitation is None:
                continue
            person = await session.get(Person, candidate)
            state = self._state_of(row, invitation, seats_left=seats_left, position=None, now=now,
                                   refresh_user_id=person.teams_user_id if person else None)
            invitation.card_outbox_id = await enqueue(
                session, key=f"invite:{row.id}:{candidate}", recipient=Recipient.person(candidate),
                message=Message(card=self._messages.invitation(state)), purpose="invitation", now=now,
                batch=f"session:{row.id}", author_id=row.created_by)
            done += 1
        await session.flush()
        return done

    # .. the hooks other features call .......................................................................

    async def on_volunteer_changed(self, session: AsyncSession, person_id: str) -> None:
        """A sign-up, changed answers or renewed consent: invite them to upcoming published sessions.
        Runs in the colleague journey's transaction. Existing invitations are kept as they are."""
        now = self._clock.now()
        invited = 0
        for row in await SessionRepository(session).upcoming_published(now):
            invited += await self._invite_eligible(session, row, now, person_id=person_id)
        if invited:
            log.info("invited a volunteer to upcoming sessions: person=%s sessions=%d", person_id, invited)

    async def withdraw_unmatched(self, session: AsyncSession, person_id: str) -> None:
        """Changed answers that no longer match an upcoming published session: an invitation the person has
        not accepted (no reply, waiting or declined) is withdrawn. Its card is closed in place with a kind line
        and the invitation is deleted, so "my sessions", the figures and the roster forget it. An accepted
        place is kept, and the person is told once that nothing changes for their booking. Runs in the
        colleague journey's transaction; consent is not looked at (a new privacy notice withdraws nothing)."""
        volunteer = await session.get(Volunteer, person_id)
        if volunteer is None:
            return
        answers = Answers(
            consent_version=volunteer.consent_version, space_minoritised=volunteer.space_minoritised,
            space_ally=volunteer.space_ally, phase_codesign=volunteer.phase_codesign,
            phase_train_the_trainer=volunteer.phase_train_the_trainer,
            communities=frozenset(name for name in COMMUNITIES if getattr(volunteer, f"community_{name}")))
        now = self._clock.now()
        repository = SessionRepository(session)
        invitations = InvitationRepository(session)
        # In session id order, as every other path that locks several sessions.
        for session_id in [item.session_id for item in await invitations.of_person(person_id)]:
            row = await repository.get(session_id)
            if row is None or row.status != "published" or row.starts_at <= now or answers_match(
                    Criteria(row.space, row.phase, frozenset(session_communities(row))), answers):
                continue
            row = await repository.lock(session_id)  # a press of Accept at this moment waits, or went first
            invitation = await invitations.get(session_id, person_id)
            if row is None or invitation is None:
                continue
            state = await self._state(session, row, invitation, now)
            card = self._messages.no_longer_matching(state)
            if invitation.status == "accepted":
                await enqueue(session, key=f"place-kept:{row.id}:{person_id}", recipient=Recipient.person(
                    person_id), message=Message(card=card), purpose="place-kept", now=now,
                    batch=f"session:{row.id}")
                continue
            original = (await session.get(OutboxMessage, invitation.card_outbox_id)
                        if invitation.card_outbox_id is not None else None)
            if original is not None and original.status == "pending":
                await cancel(session, [original.key], now)  # never sent: there is no card to close
            elif original is not None:
                await enqueue(session, key=f"invite-withdrawn:{original.id}", recipient=Recipient.person(
                    person_id), message=Message(card=card), purpose="invitation-update", now=now,
                    updates=original.id, batch=f"session:{row.id}")
            # Matching again later is a new cause: the keys of this invitation's messages step aside, so a new
            # invitation (and its replies, updates and reminders) reaches the person again.
            suffix = f"#withdrawn{invitation.card_outbox_id or invitation.id}"
            await session.execute(
                update(OutboxMessage).where(
                    OutboxMessage.person_id == person_id,
                    or_(OutboxMessage.key.endswith(f":{row.id}:{person_id}", autoescape=True),
                        OutboxMessage.key.contains(f":{row.id}:{person_id}:", autoescape=True)))
                .values(key=OutboxMessage.key + suffix))
            await session.delete(invitation)
            await session.flush()
            await self._audit.record(session, person_id, "invitation.withdraw", str(row.id))
            log.info("invitation withdrawn, answers no longer match: session=%d person=%s", row.id, person_id)

    async def on_rearmed(self, person_id: str) -> None:
        """Someone Teams could not reach came back: invite them to what they missed."""
        async with self._database.transaction() as session:
            await self.on_volunteer_changed(session, person_id)

    async def on_person_erased(self, session: AsyncSession, person_id: str) -> None:
        """A withdrawal: free their seats (the next waiting person is promoted and told), then delete their
        invitations. Runs in the withdrawal's transaction, before their other rows are deleted."""
        now = self._clock.now()
        invitations = InvitationRepository(session)
        repository = SessionRepository(session)
        # Lock sessions in id order, so two withdrawals never wait for each other in a circle.
        for invitation in sorted(await invitations.of_person(person_id), key=lambda item: item.session_id):
            row = await repository.lock(invitation.session_id)
            held_seat = invitation.status == "accepted"
            if row is not None and held_seat:
                # Before the person's e-mail is erased later in this transaction (calendar_sync reads it now).
                await self._calendar_job(session, "remove_attendee", row, now, person_id=person_id)
                await reminders.cancel_pending(session, row.id, row.starts_at, now, person_id=person_id)
            await session.delete(invitation)
            await session.flush()
            if row is not None and held_seat and row.status == "published" and row.starts_at > now:
                await self._fill_seats(session, row, now)
        await invitations.delete_of_person(person_id)
        await repository.remove_facilitator_everywhere(person_id)

    # .. replies ..............................................................................................

    async def reply(self, person_id: str, session_id: int, answer: str, *, update_card: bool = False) -> ReplyResult:
        """Accept or decline for the person who pressed (never a person named in a payload).

        `update_card`: also update the invitation card in place through the outbox (an Action.Submit reply;
        an Action.Execute reply is answered with the new card, which Teams puts in place itself)."""
        if answer not in ("accept", "decline"):
            raise ValueError(f"unknown answer {answer!r}")
        now = self._clock.now()
        async with self._database.transaction() as session:
            row = await SessionRepository(session).lock(session_id)
            invitations = InvitationRepository(session)
            invitation = await invitations.get(session_id, person_id) if row is not None and person_id else None
            if row is None or invitation is None:
                return ReplyResult("not_invited", None)
            outcome = "done"
            if row.status == "cancelled":
                outcome = "cancelled"
            elif row.starts_at <= now:
                outcome = "closed"
            elif answer == "accept":
                outcome = await self._accept(session, row, invitation, now)
            else:
                outcome = await self._decline(session, row, invitation, now)
            state = await self._state(session, row, invitation, now)
            if outcome == "done" and update_card:
                await self._update_card(session, invitation, state, now)
        if outcome == "done":
            log.info("invitation reply: session=%d person=%s answer=%s status=%s", session_id, person_id, answer,
                     state.status)
        return ReplyResult(outcome, state)

    async def _accept(self, session: AsyncSession, row: TrainingSession, invitation: Invitation,
                      now: datetime) -> str:
        if invitation.status in ("accepted", "waiting"):
            return "unchanged"
        accepted = await InvitationRepository(session).count_status(row.id, "accepted")
        if accepted < row.capacity:
            invitation.status = "accepted"
            invitation.waiting_seq = None
            invitation.seated_at = now
            await self._calendar_job(session, "add_attendee", row, now, person_id=invitation.person_id)
        else:
            invitation.status = "waiting"
            invitation.waiting_seq = row.next_waiting_seq
            row.next_waiting_seq += 1
        invitation.rev += 1
        invitation.replied_at = now
        await session.flush()
        return "done"

    async def _decline(self, session: AsyncSession, row: TrainingSession, invitation: Invitation,
                       now: datetime) -> str:
        if invitation.status == "declined":
            return "unchanged"
        held_seat = invitation.status == "accepted"
        invitation.status = "declined"
        invitation.waiting_seq = None
        invitation.rev += 1
        invitation.replied_at = now
        await session.flush()
        if held_seat:
            await self._calendar_job(session, "remove_attendee", row, now, person_id=invitation.person_id)
            await reminders.cancel_pending(session, row.id, row.starts_at, now, person_id=invitation.person_id)
            await self._fill_seats(session, row, now)
        return "done"

    async def _fill_seats(self, session: AsyncSession, row: TrainingSession, now: datetime) -> int:
        """Promote waiting people, first come first served, while there are free seats. The session row must
        be locked. Each promoted person is told, and their invitation card is updated in place."""
        invitations = InvitationRepository(session)
        free = row.capacity - await invitations.count_status(row.id, "accepted")
        promoted = 0
        while free > 0:
            invitation = await invitations.first_waiting(row.id)
            if invitation is None:
                break
            invitation.status = "accepted"
            invitation.waiting_seq = None
            invitation.seated_at = now
            invitation.rev += 1
            await session.flush()
            free -= 1
            promoted += 1
            await self._calendar_job(session, "add_attendee", row, now, person_id=invitation.person_id)
            state = await self._state(session, row, invitation, now)
            await enqueue(session, key=f"promoted:{row.id}:{invitation.person_id}:{invitation.rev}",
                          recipient=Recipient.person(invitation.person_id),
                          message=Message(card=self._messages.promoted(state)), purpose="promotion", now=now,
                          batch=f"session:{row.id}")
            await self._update_card(session, invitation, state, now)
            log.info("promoted from the waiting list: session=%d person=%s", row.id, invitation.person_id)
        return promoted

    async def _update_card(self, session: AsyncSession, invitation: Invitation, state: InvitationState,
                           now: datetime) -> None:
        """Replace the person's invitation card in place (the outbox sends an update of that message)."""
        if invitation.card_outbox_id is None:
            return
        await enqueue(session, key=f"invite-card:{invitation.session_id}:{invitation.person_id}:{invitation.rev}",
                      recipient=Recipient.person(invitation.person_id),
                      message=Message(card=self._messages.invitation(state)), purpose="invitation-update",
                      now=now, updates=invitation.card_outbox_id, batch=f"session:{invitation.session_id}")

    async def invitation(self, person_id: str, session_id: int, *, note: str | None = None) -> InvitationState | None:
        """The person's own invitation as it is now (a card refresh), or None if they were not invited."""
        now = self._clock.now()
        async with self._database.transaction() as session:
            row = await SessionRepository(session).get(session_id)
            invitation = await InvitationRepository(session).get(session_id, person_id) if row and person_id else None
            if row is None or invitation is None:
                return None
            state = await self._state(session, row, invitation, now)
        return replace(state, note=note) if note else state

    async def my_sessions(self, person_id: str) -> list[InvitationState]:
        """The person's invitations to upcoming published sessions, soonest first ("my sessions")."""
        now = self._clock.now()
        async with self._database.transaction() as session:
            repository = SessionRepository(session)
            states = []
            for invitation in await InvitationRepository(session).of_person(person_id):
                row = await repository.get(invitation.session_id)
                if row is not None and row.status == "published" and row.starts_at > now:
                    states.append(await self._state(session, row, invitation, now))
        return sorted(states, key=lambda state: (state.starts_at, state.session_id))

    async def resend(self, person_id: str, session_id: int, limit_per_hour: int, request_id: str) -> str:
        """Send the person's invitation card again through the outbox ("I can't find my invitation"). The new
        message becomes the card that later changes update. Returns done | limit | not_invited | closed.

        `request_id` names this request (the edge uses the id of the press Teams sent): each press is its own
        resend, within `limit_per_hour` for the person, and the same press delivered twice sends one card."""
        now = self._clock.now()
        key = f"resend:{session_id}:{person_id}:{hashlib.sha256(request_id.encode()).hexdigest()[:24]}"
        async with self._database.transaction() as session:
            row = await SessionRepository(session).lock(session_id)
            invitations = InvitationRepository(session)
            invitation = await invitations.get(session_id, person_id) if row is not None else None
            if row is None or invitation is None:
                return "not_invited"
            if row.status != "published" or row.starts_at <= now:
                return "closed"
            if await SessionRepository(session).outbox_keys(key):
                return "done"  # this very request was taken already
            if await invitations.resends_since(person_id, now - timedelta(hours=1)) >= limit_per_hour:
                await self._audit.record(session, person_id, "invitation.resend", str(session_id), "refused")
                return "limit"
            invitation.rev += 1
            state = await self._state(session, row, invitation, now)
            invitation.card_outbox_id = await enqueue(
                session, key=key, recipient=Recipient.person(person_id),
                message=Message(card=self._messages.invitation(state)), purpose="invitation", now=now,
                batch=f"session:{session_id}")
            await self._audit.record(session, person_id, "invitation.resend", str(session_id))
        log.info("invitation sent again: session=%d person=%s", session_id, person_id)
        return "done"

    # .. facilitator views and changes ........................................................................

    async def list_for(self, actor_id: str) -> list[SessionInfo]:
        """Sessions the person manages (admins: all): those not yet ended, soonest first, then those that
        ended in the last RECENT_DAYS days, latest first (to mark who came)."""
        now = self._clock.now()
        async with self._database.transaction() as session:
            is_admin = Role.ADMIN in await RoleRepository(session).roles_of(actor_id)
            rows = await SessionRepository(session).managed_by(None if is_admin else actor_id,
                                                               now - timedelta(days=RECENT_DAYS))
            figures = await InvitationRepository(session).counts([row.id for row in rows])
            infos = [self._info_from(row, figures[row.id], now) for row in rows]
            await self._audit.record(session, actor_id, "session.list")
        coming = [info for info in infos if not info.ended]
        finished = sorted((info for info in infos if info.ended), key=lambda info: info.starts_at, reverse=True)
        return coming + finished

    async def info(self, actor_id: str, session_id: int, action: str) -> ActionResult:
        """One managed session, for a change or cancel card; audited under `action`."""
        async with self._database.transaction() as session:
            row = await self._managed(session, actor_id, session_id, action)
            if isinstance(row, ActionResult):
                return row
            await self._audit.record(session, actor_id, action, str(session_id))
            return ActionResult("done", session=await self._info(session, row, self._clock.now()))

    async def roster(self, actor_id: str, session_id: int) -> Roster | ActionResult:
        """Names and e-mails of accepted and waiting people (never communities)."""
        async with self._database.transaction() as session:
            row = await self._managed(session, actor_id, session_id, "session.roster")
            if isinstance(row, ActionResult):
                return row
            entries = await InvitationRepository(session).roster(session_id)
            await self._audit.record(session, actor_id, "session.roster", str(session_id))
            return Roster(await self._info(session, row, self._clock.now()), tuple(entries))

    async def roster_file(self, actor_id: str, session_id: int, action: str) -> RosterFile | ActionResult:
        """The roster as CSV, checked like the roster itself and audited under `action` (offering the file,
        then making it when the facilitator says where to save it)."""
        async with self._database.transaction() as session:
            row = await self._managed(session, actor_id, session_id, action)
            if isinstance(row, ActionResult):
                return row
            entries = await InvitationRepository(session).roster(session_id)
            await self._audit.record(session, actor_id, action, str(session_id))
        day = row.starts_at.astimezone(UK).strftime("%Y-%m-%d")
        return RosterFile(session_id, f"hny-inc-session-{session_id}-{day}.csv", roster_csv(entries))

    async def change(self, actor_id: str, session_id: int, seen_change_no: int, form: SessionForm) -> ActionResult:
        """Change time, link, capacity or add co-facilitators. Accepted and waiting people are told about a new
        time or link, and every invitation card is updated. The form holds date, start, end, join_url,
        capacity and co_facilitators."""
        now = self._clock.now()
        errors: dict[str, str] = {}
        starts_at, ends_at = self._check_times(form, errors)
        capacity = self._check_capacity(form.capacity, errors)
        join_url = self._check_link(form.join_url, errors)
        co_ids = await self._check_co_facilitators(actor_id, form.co_facilitators, (), errors)
        async with self._database.transaction() as session:
            row = await self._managed(session, actor_id, session_id, "session.change", lock=True)
            if isinstance(row, ActionResult):
                return row
            info = await self._info(session, row, now)
            if row.status == "cancelled" or row.starts_at <= now:
                await self._audit.record(session, actor_id, "session.change", str(session_id), "refused")
                return ActionResult("closed", session=info)
            if row.change_no != seen_change_no:
                return ActionResult("stale", session=info)
            if errors or starts_at is None or ends_at is None or capacity is None:
                return ActionResult("errors", session=info, errors=errors)
            accepted = await InvitationRepository(session).count_status(row.id, "accepted")
            if capacity < accepted:
                return ActionResult("too_small", session=info, errors={"capacity": (
                    f"{accepted} people have already accepted, so the session needs at least {accepted} places. "
                    "You can't make it smaller than that. If you need fewer people, talk to them first.")})
            time_changed = (starts_at, ends_at) != (row.starts_at, row.ends_at)
            link_changed = join_url != row.join_url
            capacity_changed = capacity != row.capacity
            repository = SessionRepository(session)
            added = [person_id for person_id in co_ids if await repository.add_facilitator(
                row.id, person_id, actor_id, now)]
            if not (time_changed or link_changed or capacity_changed or added):
                return ActionResult("unchanged", session=info)
            if time_changed:
                # Reminders name the start time: those for the old time that have not gone yet never will.
                await reminders.cancel_pending(session, row.id, row.starts_at, now)
                row.time_set_at = now
            row.starts_at, row.ends_at, row.join_url, row.capacity = starts_at, ends_at, join_url, capacity
            row.change_no += 1
            row.updated_at = now
            await session.flush()
            for _ in added:
                await self._audit.record(session, actor_id, "session.co_facilitator.add", str(row.id))
            await self._audit.record(session, actor_id, "session.change", str(row.id))
            if row.status == "published":
                if capacity_changed:
                    await self._fill_seats(session, row, now)
                if time_changed:
                    await self._calendar_job(session, "update_time", row, now, author_id=actor_id)
                if time_changed or link_changed:
                    await self._tell_about_change(session, row, now, time_changed=time_changed,
                                                  link_changed=link_changed)
            info = await self._info(session, row, now)
        log.info("session changed: session=%d change=%d", session_id, info.change_no)
        return ActionResult("done", session=info)

    async def _tell_about_change(self, session: AsyncSession, row: TrainingSession, now: datetime, *,
                                 time_changed: bool, link_changed: bool) -> None:
        invitations = InvitationRepository(session)
        for invitation in await invitations.with_status(row.id, ("invited", "accepted", "waiting", "declined")):
            invitation.rev += 1
            state = await self._state(session, row, invitation, now)
            if invitation.status in ("accepted", "waiting"):
                await enqueue(session, key=f"session-change:{row.id}:{row.change_no}:{invitation.person_id}",
                              recipient=Recipient.person(invitation.person_id),
                              message=Message(card=self._messages.changed(
                                  state, time_changed=time_changed, link_changed=link_changed)),
                              purpose="session-change", now=now, batch=f"session:{row.id}")
            await self._update_card(session, invitation, state, now)
        await session.flush()

    async def cancel(self, actor_id: str, session_id: int, seen_change_no: int | None = None) -> ActionResult:
        """Cancel: accepted and waiting people are told, and every invitation card is closed.
        `seen_change_no`: the session's change number on the confirm card; a newer one means it is stale."""
        now = self._clock.now()
        async with self._database.transaction() as session:
            row = await self._managed(session, actor_id, session_id, "session.cancel", lock=True)
            if isinstance(row, ActionResult):
                return row
            if row.status == "cancelled":
                return ActionResult("unchanged", session=await self._info(session, row, now))
            if row.starts_at <= now:
                await self._audit.record(session, actor_id, "session.cancel", str(session_id), "refused")
                return ActionResult("closed", session=await self._info(session, row, now))
            if seen_change_no is not None and seen_change_no != row.change_no:
                return ActionResult("stale", session=await self._info(session, row, now))
            was_published = row.status == "published"
            row.status = "cancelled"
            row.cancelled_at = now
            row.updated_at = now
            row.change_no += 1
            await session.flush()
            await self._audit.record(session, actor_id, "session.cancel", str(row.id))
            if was_published:
                await self._calendar_job(session, "cancel", row, now, author_id=actor_id)
                await reminders.cancel_pending(session, row.id, row.starts_at, now)
                for invitation in await InvitationRepository(session).with_status(
                        row.id, ("invited", "accepted", "waiting", "declined")):
                    invitation.rev += 1
                    state = await self._state(session, row, invitation, now)
                    if invitation.status in ("accepted", "waiting"):
                        await enqueue(session, key=f"session-cancel:{row.id}:{invitation.person_id}",
                                      recipient=Recipient.person(invitation.person_id),
                                      message=Message(card=self._messages.cancelled(state)),
                                      purpose="session-cancel", now=now, batch=f"session:{row.id}")
                    await self._update_card(session, invitation, state, now)
                await session.flush()
            info = await self._info(session, row, now)
        log.info("session cancelled: session=%d", session_id)
        return ActionResult("done", session=info)

    # .. helpers ..............................................................................................

    async def _managed(self, session: AsyncSession, actor_id: str, session_id: int, action: str, *,
                       lock: bool = False) -> TrainingSession | ActionResult:
        """The session, if the actor manages it (a facilitator of it, or an admin); else a refusal, audited."""
        repository = SessionRepository(session)
        row = await (repository.lock(session_id) if lock else repository.get(session_id))
        if row is None:
            await self._audit.record(session, actor_id, action, str(session_id), "refused")
            return ActionResult("not_found")
        if not await repository.is_manager(session_id, actor_id) and \
                Role.ADMIN not in await RoleRepository(session).roles_of(actor_id):
            await self._audit.record(session, actor_id, action, str(session_id), "refused")
            return ActionResult("refused")
        return row

    async def _info(self, session: AsyncSession, row: TrainingSession, now: datetime) -> SessionInfo:
        figures = await InvitationRepository(session).counts([row.id])
        return self._info_from(row, figures[row.id], now)

    @staticmethod
    def _info_from(row: TrainingSession, figures: Any, now: datetime) -> SessionInfo:
        counts = None if row.status == "draft" else session_counts(
            invited=figures.invited, accepted=figures.accepted, waiting=figures.waiting,
            declined=figures.declined, no_reply=figures.no_reply)
        return SessionInfo(
            session_id=row.id, title=row.title, phase=row.phase, space=row.space,
            communities=session_communities(row), starts_at=row.starts_at, ends_at=row.ends_at,
            join_url=row.join_url, capacity=row.capacity, status=row.status, change_no=row.change_no,
            seats_left=max(0, row.capacity - figures.accepted), counts=counts, started=row.starts_at <= now,
            ended=row.ends_at <= now, attended=figures.attended, absent=figures.absent)

    async def _state(self, session: AsyncSession, row: TrainingSession, invitation: Invitation,
                     now: datetime) -> InvitationState:
        invitations = InvitationRepository(session)
        seats_left = max(0, row.capacity - await invitations.count_status(row.id, "accepted"))
        position = await invitations.waiting_position(invitation)
        person = await session.get(Person, invitation.person_id)
        return self._state_of(row, invitation, seats_left=seats_left, position=position, now=now,
                              refresh_user_id=person.teams_user_id if person else None)

    @staticmethod
    def _state_of(row: TrainingSession, invitation: Invitation, *, seats_left: int, position: int | None,
                  now: datetime, refresh_user_id: str | None) -> InvitationState:
        return InvitationState(
            session_id=row.id, title=row.title, phase=row.phase, starts_at=row.starts_at, ends_at=row.ends_at,
            seats_left=seats_left, status=invitation.status, position=position, join_url=row.join_url,
            cancelled=row.status == "cancelled", closed=row.starts_at <= now, refresh_user_id=refresh_user_id)


# -- counts (design §4 "Counts") -----------------------------------------------------------------------------

async def session_figures(session: AsyncSession, now: datetime) -> Sequence[SessionFigures]:
    """Raw figures of every published session starting after `now`, for the admins' counts snapshot
    (listed in bot.services.counts.SESSION_FIGURES_PROVIDERS). Counts rounds what it shows (design §5)."""
    rows = await SessionRepository(session).upcoming_published(now)
    figures = await InvitationRepository(session).counts([row.id for row in rows])
    return [SessionFigures(title=row.title, starts_at=row.starts_at, invited=figures[row.id].invited,
                           accepted=figures[row.id].accepted, declined=figures[row.id].declined,
                           waiting=figures[row.id].waiting, no_reply=figures[row.id].no_reply)
            for row in rows]
