"""Announcements (design §4): facilitators write one, choose channels and/or volunteers, preview it with the
audience size rounded (§5), and send it now or at a UK time, never starting in quiet hours unless they confirm.
No botbuilder here.

How it goes out: confirming stores the announcement and queues the author's progress card. A background tick
starts each announcement when its time comes (choosing the people then, so later sign-ups and "Stop
announcements" count), queues one outbox message per recipient in one transaction (batch
"announcement:<id>", key naming announcement and recipient, so a restart never sends twice; the people's
messages in one INSERT … SELECT, however many they are), and then updates the progress card in place whenever
what it shows changes, until the final report. A tick that finds nothing new to show writes nothing.

The service returns the cards' own view data (cards/announcements.py, cards/announcement_changes.py); the cards
themselves are drawn by an `AnnouncementMessages` the feature passes in.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import Any, Literal, Protocol

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.delivery.outbox import Message, Recipient, batch_progress, cancel, enqueue, enqueue_to_people
from bot.services.links import is_https_link
from bot.services.roles import Audit, RoleService, satisfies
from bot.services.suppression import Shown, shown
from bot.services.uk_time import (
    TimeProblem,
    in_quiet_hours,
    parse_date,
    parse_time,
    quiet_hours_end,
    time_problem_text,
    uk_instant,
)
from cards.announcement_changes import EditView
from cards.announcements import (
    AnnouncementView,
    AudienceOrganisationOption,
    AudienceSummary,
    AudienceView,
    ChangeProgressView,
    ChannelOption,
    ProgressView,
    SessionOption,
)
from storage.db import Database
from storage.models import Announcement
from storage.models.announcements import AnnouncementChange
from storage.repositories.announcements import ANNOUNCEMENT_PURPOSE, AnnouncementRepository, audience
from vocabulary.words import (
    ANNOUNCEMENT_SPACES,
    AnnouncementChangeKind,
    AnnouncementStatus,
    AudienceSessionPeople,
    OutboxStatus,
    Phase,
    Role,
    VolunteerSpace,
)

log = logging.getLogger(__name__)

MAX_TITLE = 100
MAX_BODY = 2000
MAX_LINK_TITLE = 40
DEFAULT_LINK_TITLE = "Find out more"
MAX_AHEAD = timedelta(days=90)
# A chosen time this far in the past is taken as "now" (the card took a moment to fill in).
GRACE = timedelta(minutes=2)
SESSIONS_LISTED = 20
SESSIONS_SINCE = timedelta(days=14)
PROGRESS_PURPOSE = "announcement-progress"
# In-place updates of delivered copies (issue 24): not "announcement", so "Stop announcements" never withdraws
# a correction or a recall of a copy the person already has.
EDIT_PURPOSE = "announcement-edit"
RECALL_PURPOSE = "announcement-recall"
CANCEL_CHUNK = 500

TOO_FEW = ("Fewer than 8 people match this. A message to so few people, chosen by their organisation or by who "
           "came to a session, could show who they are, so I can't send it. Please choose more organisations or "
           "sessions, or fewer limits.")


def batch_of(announcement_id: int) -> str:
    return f"announcement:{announcement_id}"


def change_batch_of(change_id: int) -> str:
    return f"announcement-change:{change_id}"


# -- what the author writes ----------------------------------------------------------------------------------------

def check_draft(title: str, body: str, link_url: str,
                link_title: str) -> tuple[AnnouncementView | None, dict[str, str]]:
    """Check what the author typed. Errors say how to fix each answer, by input name."""
    title, body, link_url, link_title = title.strip(), body.strip(), link_url.strip(), link_title.strip()
    errors: dict[str, str] = {}
    if not title:
        errors["title"] = "Give the announcement a title."
    elif len(title) > MAX_TITLE:
        errors["title"] = f"Make the title shorter: at most {MAX_TITLE} characters."
    if not body:
        errors["body"] = "Write the message."
    elif len(body) > MAX_BODY:
        errors["body"] = f"Make the message shorter: at most {MAX_BODY} characters. It has {len(body)}."
    if link_url and not is_https_link(link_url):
        errors["link_url"] = "Give a web address that starts with https://, like https://www.nhs.uk."
    if link_title and not link_url:
        errors["link_url"] = "Give the web address for the button, or leave the button text empty."
    if len(link_title) > MAX_LINK_TITLE:
        errors["link_title"] = f"Make the button text shorter: at most {MAX_LINK_TITLE} characters."
    if errors:
        return None, errors
    return AnnouncementView(title, body, link_url or None,
                            (link_title or DEFAULT_LINK_TITLE) if link_url else None), {}


def written(row: Announcement) -> AnnouncementView:
    """What a stored announcement says now."""
    return AnnouncementView(row.title, row.body, row.link_url, row.link_title)


# -- who it is for -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AudienceChoice:
    """Channels by conversation reference id; volunteers by space and phase; a session's people (invited, booked
    or attended); and organisations, which narrow the volunteers chosen, or alone choose everyone from them."""

    channels: tuple[int, ...] = ()
    spaces: tuple[VolunteerSpace, ...] = ()
    phases: tuple[Phase, ...] = ()
    sessions: tuple[int, ...] = ()
    organisations: tuple[int, ...] = ()
    session_people: AudienceSessionPeople = AudienceSessionPeople.BOOKED

    @property
    def chooses_people(self) -> bool:
        return bool(self.spaces or self.phases or self.sessions or self.organisations)

    @property
    def empty(self) -> bool:
        return not self.channels and not self.chooses_people

    @property
    def narrowed(self) -> bool:
        """Chosen by organisation or by who came: 1 to 7 such people could be told apart, so it is refused."""
        return bool(self.organisations) or (bool(self.sessions)
                                            and self.session_people == AudienceSessionPeople.ATTENDED)

    def to_json(self) -> dict[str, Any]:
        return {"channels": list(self.channels), "spaces": [space.value for space in self.spaces],
                "phases": [phase.value for phase in self.phases], "sessions": list(self.sessions),
                "organisations": list(self.organisations), "session_people": self.session_people.value}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AudienceChoice:
        # Announcements stored before issue 24 have neither organisations nor session_people: booked, as then.
        return cls(tuple(int(x) for x in data.get("channels", [])),
                   tuple(VolunteerSpace(str(x)) for x in data.get("spaces", [])),
                   tuple(Phase(str(x)) for x in data.get("phases", [])),
                   tuple(int(x) for x in data.get("sessions", [])),
                   tuple(int(x) for x in data.get("organisations", [])),
                   AudienceSessionPeople(str(data.get("session_people") or AudienceSessionPeople.BOOKED.value)))

    def people(self) -> Select[str] | None:
        """The person-id query of this choice (built by the repository: services write no SQL)."""
        return audience(self.spaces, self.phases, self.sessions, organisations=self.organisations,
                        session_people=self.session_people)


def channel_label(team_name: str | None, channel_name: str | None) -> str:
    # Teams gives the General channel no name.
    return f"{team_name or 'Team (name not known)'} › {channel_name or 'General'}"


def _split(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def _ids(raw: str) -> list[int] | None:
    parts = _split(raw)
    if not all(part.isdigit() and len(part) <= 9 for part in parts):
        return None
    return sorted({int(part) for part in parts})


def _words(raw: str, allowed: tuple[VolunteerSpace, ...] | tuple[Phase, ...]) -> list[str] | None:
    """The chosen values, each once and sorted, if every one is allowed."""
    chosen = sorted(set(_split(raw)))
    return chosen if set(chosen) <= {word.value for word in allowed} else None


# -- when ----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class When:
    """The author's choice as the card sends it: "now", or "later" with a UK date and time."""

    mode: str = "now"
    date: str = ""
    time: str = ""

    def to_json(self) -> dict[str, str]:
        return {"mode": self.mode, "date": self.date, "time": self.time}


@dataclass(frozen=True)
class Timing:
    at: datetime  # when the author wants it to start (UTC)
    now: bool  # "send now"
    quiet: bool  # `at` is in quiet hours
    quiet_end: datetime | None  # when quiet hours end, if `at` is in them


# -- progress ------------------------------------------------------------------------------------------------------

def about_percent(part: int, total: int) -> int:
    """A whole ten per cent, so watching the card cannot count the audience (design §5): 0 only when none,
    100 only when all."""
    if total <= 0 or part <= 0:
        return 0
    if part >= total:
        return 100
    return min(90, max(10, int(10 * part / total + 0.5) * 10))  # half up, not to even


def change_progress_of(change: AnnouncementChange, counts: dict[str, int]) -> ChangeProgressView:
    total = change.recipients
    dealt = max(0, total - still_to_go(counts))
    small = shown(total).suppressed
    return ChangeProgressView(
        kind=AnnouncementChangeKind(change.kind),
        percent=0 if small else (100 if not total else dealt * 10 // total * 10),
        changed_percent=0 if small else about_percent(counts.get(OutboxStatus.SENT, 0), total),
        not_changed=counts.get(OutboxStatus.UNDELIVERABLE, 0) + counts.get(OutboxStatus.FAILED, 0),
        finished=change.finished_at is not None,
        small=small)


def change_signature(change: ChangeProgressView) -> str:
    return f"{change.kind}|{change.percent}|{change.changed_percent}|{change.not_changed}|{int(change.finished)}"


def progress_signature(progress: ProgressView) -> str:
    """Everything the progress card shows that can change (kept on the row, so an update is queued only when the
    card would look different)."""
    if progress.small:
        # Only the words: an update at every step would let the author count the people.
        nothing_sent = progress.percent == 0 and not progress.delivered_percent
        return (f"small|{progress.state}|{progress.send_at.isoformat()}|{int(nothing_sent)}|"
                f"{int(progress.undelivered > 0)}|{int(progress.stopped_percent > 0)}|{int(progress.finished)}|"
                f"{int(progress.nobody)}|{int(progress.due)}{_changes_signature(progress)}")
    return (f"{progress.state}|{progress.send_at.isoformat()}|{progress.percent}|{progress.delivered_percent}|"
            f"{progress.stopped_percent}|{progress.unreachable}|{progress.failed}|{int(progress.finished)}|"
            f"{int(progress.nobody)}|{int(progress.due)}{_changes_signature(progress)}")


def _changes_signature(progress: ProgressView) -> str:
    if progress.change is None and not progress.can_change:
        return ""  # as before issue 24, so cards shown then are not sent again
    change = change_signature(progress.change) if progress.change is not None else "-"
    return f"|{change}|{int(progress.recalled)}|{int(progress.can_change)}"


def still_to_go(counts: dict[str, int]) -> int:
    """Messages of a batch not dealt with yet: waiting, or on their way."""
    return counts.get(OutboxStatus.PENDING, 0) + counts.get(OutboxStatus.SENDING, 0)


def few_people(row: Announcement) -> bool:
    """The volunteers it goes to number fewer than 8 (they would read "fewer than 8", design §5). Channels are
    not people: the author chose them by name. Counted as its messages less the channels chosen, so a channel
    removed since can only make it read as fewer, never as more."""
    choice = AudienceChoice.from_json(json.loads(row.audience))
    if not choice.chooses_people:
        return False
    people = row.recipients - len(choice.channels)
    return people <= 0 or shown(people).suppressed


def progress_of(row: Announcement, counts: dict[str, int], now: datetime,
                change: ChangeProgressView | None = None) -> ProgressView:
    """What the author's progress card shows. Percentages in tens; exact numbers only of messages that could
    not be delivered (design §5). It may be stopped while it has not finished; it may be edited or withdrawn
    once it has, something was delivered and no other change is on its way (issue 24)."""
    total = row.recipients
    dealt = max(0, total - still_to_go(counts))
    status = AnnouncementStatus(row.status)
    started = status in (AnnouncementStatus.SENDING, AnnouncementStatus.DONE) or (
        status == AnnouncementStatus.STOPPED and row.started_at is not None)
    percent = (100 if row.finished_at else 0) if not total else (dealt * 10 // total) * 10
    finished = row.finished_at is not None
    return ProgressView(
        announcement_id=row.id,
        title=row.title,
        state=status,
        send_at=row.send_at,
        waits_for_quiet_hours=row.send_at > row.requested_at,
        percent=percent if started else 0,
        delivered_percent=about_percent(counts.get(OutboxStatus.SENT, 0), total),
        stopped_percent=about_percent(counts.get(OutboxStatus.CANCELLED, 0), total),
        unreachable=counts.get(OutboxStatus.UNDELIVERABLE, 0),
        failed=counts.get(OutboxStatus.FAILED, 0),
        finished=finished,
        nobody=finished and started and total == 0,
        due=row.send_at <= now,
        can_stop=not finished and status in (AnnouncementStatus.SCHEDULED, AnnouncementStatus.SENDING),
        change=change,
        recalled=row.recalled_at is not None,
        can_change=(finished and row.recalled_at is None and counts.get(OutboxStatus.SENT, 0) > 0
                    and (change is None or change.finished)),
        small=few_people(row),
    )


# -- results -------------------------------------------------------------------------------------------------------

class AnnouncementMessages(Protocol):
    """Draws the cards (the feature implements it with cards/announcements.py)."""

    def announcement(self, view: AnnouncementView, *, to_people: bool) -> dict[str, Any]: ...

    def withdrawn(self, *, to_people: bool) -> dict[str, Any]:
        """What replaces every delivered copy of a recalled announcement."""
        ...

    def progress(self, progress: ProgressView) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Created:
    outcome: Literal["done", "refused", "time", "audience", "quiet"]
    announcement_id: int | None = None
    send_at: datetime | None = None
    timing: Timing | None = None
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Stopped:
    outcome: Literal["stopped", "already", "missing", "not_yours"]
    progress: ProgressView | None = None


# Why a delivered announcement cannot be edited or withdrawn now (issue 24).
ChangeRefusal = Literal["missing", "not_yours", "recalled", "sending", "nothing", "changed"]


@dataclass(frozen=True)
class Changed:
    outcome: Literal["done", "unchanged", "invalid"] | ChangeRefusal
    errors: dict[str, str] = field(default_factory=dict)


class AnnouncementService:
    def __init__(self, database: Database, clock: Clock, audit: Audit, roles: RoleService,
                 messages: AnnouncementMessages, *, quiet_start: time, quiet_end: time) -> None:
        self._database = database
        self._clock = clock
        self._audit = audit
        self._roles = roles
        self._messages = messages
        self.quiet_start = quiet_start
        self.quiet_end = quiet_end

    # -- the journey ---------------------------------------------------------------------------------------------

    async def may_announce(self, person_id: str, action: str = "announce") -> bool:
        """Checked at every step of the journey: a role taken away half-way stops it (refusals are audited)."""
        return await self._roles.require(person_id, Role.FACILITATOR, action)

    async def options(self) -> AudienceView:
        """What the audience card offers now: the only channels, sessions and organisations a choice may name."""
        since = self._clock.now() - SESSIONS_SINCE
        async with self._database.read() as session:
            repo = AnnouncementRepository(session)
            channels = await repo.channels()
            sessions = await repo.sessions(since, SESSIONS_LISTED)
            organisations = await repo.organisations()
        # Sorted by the label people read (databases order a missing channel name differently).
        labelled = sorted((ChannelOption(c.ref_id, channel_label(c.team_name, c.channel_name)) for c in channels),
                          key=lambda option: (option.label.casefold(), option.ref_id))
        return AudienceView(
            tuple(labelled),
            tuple(SessionOption(s.session_id, s.title, s.starts_at) for s in sessions),
            tuple(AudienceOrganisationOption(o.organisation_id, o.name) for o in organisations))

    async def check_audience(self, channels: str, spaces: str, phases: str, sessions: str, organisations: str = "",
                             session_people: str = AudienceSessionPeople.BOOKED.value,
                             ) -> tuple[AudienceChoice | None, dict[str, str]]:
        """Check the audience card's answers against what may be chosen now (never trust a card's ids). An
        audience narrowed by organisation or by who came to a session that holds 1 to 7 people is refused: it
        could single them out (audiences by space alone, and session invitations, are not narrowed)."""
        options = await self.options()
        errors: dict[str, str] = {}
        channel_ids = _ids(channels)
        if channel_ids is None or not set(channel_ids) <= {c.ref_id for c in options.channels}:
            errors["channels"] = "One of those channels can't be used any more. Choose again from the list."
        session_ids = _ids(sessions)
        if session_ids is None or not set(session_ids) <= {s.session_id for s in options.sessions}:
            errors["sessions"] = "One of those sessions can't be chosen any more. Choose again from the list."
        chosen_spaces = _words(spaces, ANNOUNCEMENT_SPACES)
        if chosen_spaces is None:
            errors["spaces"] = "Choose a space from the list."
        chosen_phases = _words(phases, tuple(Phase))
        if chosen_phases is None:
            errors["phases"] = "Choose a phase from the list."
        organisation_ids = _ids(organisations)
        if organisation_ids is None or not set(organisation_ids) <= {o.organisation_id for o in options.organisations}:
            errors["organisations"] = "One of those organisations can't be chosen any more. Choose again from the list."
        which = AudienceSessionPeople.parse(session_people.strip() or AudienceSessionPeople.BOOKED.value)
        if which is None:
            errors["session_people"] = "Choose who from the sessions should get it."
        if errors or which is None:
            return None, errors
        choice = AudienceChoice(tuple(channel_ids or ()), tuple(map(VolunteerSpace, chosen_spaces or ())),
                                tuple(map(Phase, chosen_phases or ())), tuple(session_ids or ()),
                                tuple(organisation_ids or ()), which)
        if choice.empty:
            return None, {"audience": "Choose at least one channel, or the volunteers who should get it."}
        if choice.narrowed and (await self._people(choice)).suppressed:
            return None, {"audience": TOO_FEW}
        return choice, {}

    async def _people(self, choice: AudienceChoice) -> Shown:
        """How many people the choice holds now, as it may be shown (design §5, the one suppression function)."""
        async with self._database.read() as session:
            return shown(await AnnouncementRepository(session).count_people(
                spaces=choice.spaces, phases=choice.phases, session_ids=choice.sessions,
                organisations=choice.organisations, session_people=choice.session_people))

    async def preview(self, choice: AudienceChoice) -> AudienceSummary:
        """The audience as the author may see it: channel names, and people rounded (design §5)."""
        options = await self.options()
        labels = {c.ref_id: c.label for c in options.channels}
        titles = {s.session_id: s.title for s in options.sessions}
        names = {o.organisation_id: o.name for o in options.organisations}
        people = await self._people(choice) if choice.chooses_people else None
        return AudienceSummary(
            channels=tuple(labels[ref] for ref in choice.channels if ref in labels),
            people=people.text if people is not None else None,
            people_is_zero=people is not None and people.value == 0,
            spaces=choice.spaces, phases=choice.phases,
            sessions=tuple(titles[s] for s in choice.sessions if s in titles),
            organisations=tuple(names[o] for o in choice.organisations if o in names),
            session_people=choice.session_people)

    def timing(self, when: When) -> tuple[Timing | None, dict[str, str]]:
        now = self._clock.now()
        if when.mode == "now":
            at = now
        elif when.mode == "later":
            day, at_time = parse_date(when.date), parse_time(when.time)
            errors = {}
            if day is None:
                errors["date"] = "Choose the date to send it."
            if at_time is None:
                errors["time"] = "Give the time to send it, like 09:30."
            if day is None or at_time is None:
                return None, errors
            instant = uk_instant(day, at_time)
            if instant is None:
                return None, {"time": time_problem_text(TimeProblem("gap", day, at_time), name_the_day=False)}
            if instant < now - GRACE:
                return None, {"time": "That time has passed. Choose a time from now on, or send it now."}
            if instant > now + MAX_AHEAD:
                return None, {"date": "Choose a date in the next 90 days."}
            at = max(instant, now)
        else:
            return None, {"when": "Choose when to send it: now, or at a time you choose."}
        quiet = in_quiet_hours(at, self.quiet_start, self.quiet_end)
        return Timing(at, when.mode == "now", quiet, quiet_hours_end(at, self.quiet_end) if quiet else None), {}

    async def create(self, actor: str, draft: AnnouncementView, choice: AudienceChoice, when: When,
                     quiet_choice: str | None) -> Created:
        """Store the announcement to start at its time (or when quiet hours end, unless the author confirmed
        sending in them), audited, with the author's progress card queued. `quiet_choice`: "wait" or "confirm"
        once the author has seen that the time is in quiet hours; None otherwise."""
        if not await self.may_announce(actor, "announcement.create"):
            return Created("refused")
        timing, errors = self.timing(when)
        if timing is None:
            return Created("time", errors=errors)
        checked, errors = await self.check_audience(
            ",".join(map(str, choice.channels)), ",".join(space.value for space in choice.spaces),
            ",".join(phase.value for phase in choice.phases), ",".join(map(str, choice.sessions)),
            ",".join(map(str, choice.organisations)), choice.session_people.value)
        if checked is None:
            return Created("audience", errors=errors)
        if timing.quiet and quiet_choice not in ("wait", "confirm"):
            # Quiet hours began while the author was on the confirm card: ask them.
            return Created("quiet", timing=timing)
        confirmed = timing.quiet and quiet_choice == "confirm"
        send_at = timing.quiet_end if timing.quiet and not confirmed and timing.quiet_end else timing.at
        now = self._clock.now()
        async with self._database.transaction() as session:
            row = await AnnouncementRepository(session).add(Announcement(
                author_person_id=actor, title=draft.title, body=draft.body, link_url=draft.link_url,
                link_title=draft.link_title, audience=json.dumps(checked.to_json()),
                status=AnnouncementStatus.SCHEDULED.value,
                requested_at=timing.at, send_at=send_at, quiet_hours_confirmed=confirmed, created_at=now,
                started_at=None, stopped_at=None, finished_at=None, recipients=0, progress_outbox_id=None,
                progress_updates=0, progress_shown=None))
            await self._audit.record(session, actor, "announcement.create", str(row.id))
            await self._audit.record(session, actor, "announcement.send", str(row.id))
            await self._show_progress(session, row, now)
        log.info("announcement %d created by person=%s, starts %s", row.id, actor, send_at.isoformat())
        return Created("done", row.id, send_at, timing)

    # -- the author's controls -----------------------------------------------------------------------------------

    async def stop(self, actor: str, announcement_id: int) -> Stopped:
        """Stop sending: what has not gone yet is cancelled; what has gone stays. Only the author or an admin."""
        held = await self._roles.roles_of(actor)
        now = self._clock.now()
        async with self._database.transaction() as session:
            repo = AnnouncementRepository(session)
            row = await repo.get(announcement_id, lock=True)
            if row is None:
                return Stopped("missing")
            if row.author_person_id != actor and not satisfies(held, Role.ADMIN):
                await self._audit.record(session, actor, "announcement.stop", str(row.id), outcome="refused")
                return Stopped("not_yours")
            if (row.status not in (AnnouncementStatus.SCHEDULED, AnnouncementStatus.SENDING)
                    or row.finished_at is not None):
                return Stopped("already", await self._progress_now(session, row, now))
            keys = await repo.pending_keys(batch=batch_of(row.id))
            for start in range(0, len(keys), CANCEL_CHUNK):
                await cancel(session, keys[start:start + CANCEL_CHUNK], now)
            if row.status == AnnouncementStatus.SCHEDULED:
                row.finished_at = now  # nothing was queued
            row.status = AnnouncementStatus.STOPPED.value
            row.stopped_at = now
            await self._audit.record(session, actor, "announcement.stop", str(row.id))
            progress = await self._track(session, row, now)
        log.info("announcement %d stopped by person=%s", announcement_id, actor)
        return Stopped("stopped", progress)

    async def progress(self, announcement_id: int) -> ProgressView | None:
        async with self._database.read() as session:
            row = await AnnouncementRepository(session).get(announcement_id)
            if row is None:
                return None
            return await self._progress_now(session, row, self._clock.now())

    # -- edit and recall after sending (issue 24) ----------------------------------------------------------------

    async def changeable(self, actor: str, announcement_id: int, action: str) -> EditView | ChangeRefusal:
        """The announcement as `actor` may edit or withdraw it now, or why not, checked on every press: only its
        author or an admin (a refusal is audited), once sending has finished and while it has not been
        withdrawn."""
        held = await self._roles.roles_of(actor)
        async with self._database.read() as session:
            repo = AnnouncementRepository(session)
            row = await repo.get(announcement_id)
            refusal = await self._change_refusal(repo, row, actor, held)
        if refusal == "not_yours":
            async with self._database.transaction() as session:
                await self._audit.record(session, actor, action, str(announcement_id), outcome="refused")
        if refusal is not None or row is None:
            return refusal or "missing"
        return EditView(row.id, row.revision, row.title, row.body, row.link_url, row.link_title)

    async def _change_refusal(self, repo: AnnouncementRepository, row: Announcement | None, actor: str,
                              held: set[str]) -> ChangeRefusal | None:
        if row is None:
            return "missing"
        if row.author_person_id != actor and not satisfies(held, Role.ADMIN):
            return "not_yours"
        if row.recalled_at is not None:
            return "recalled"
        if row.finished_at is None:
            return "sending"
        if not await repo.delivered_copies(batch_of(row.id)):
            return "nothing"
        return None

    async def _to_change(self, session: AsyncSession, announcement_id: int, actor: str, held: set[str],
                         action: str) -> Announcement | ChangeRefusal:
        """The announcement, locked, if `actor` may edit or withdraw it now; else why not (a refusal of
        someone else's announcement is audited)."""
        repo = AnnouncementRepository(session)
        row = await repo.get(announcement_id, lock=True)
        refusal = await self._change_refusal(repo, row, actor, held)
        if refusal == "not_yours":
            await self._audit.record(session, actor, action, str(announcement_id), outcome="refused")
        if refusal is not None or row is None:
            return refusal or "missing"
        return row

    async def edit(self, actor: str, announcement_id: int, revision: int, title: str, body: str) -> Changed:
        """Change the title or text of a delivered announcement: every delivered copy is updated in place
        through the outbox and says "Updated" with the time. `revision` is the one the edit card started
        from: an edit made meanwhile (by the author or an admin) is not overwritten."""
        draft, errors = check_draft(title, body, "", "")
        if draft is None:
            return Changed("invalid", errors)
        held = await self._roles.roles_of(actor)
        now = self._clock.now()
        async with self._database.transaction() as session:
            row = await self._to_change(session, announcement_id, actor, held, "announcement.edit")
            if isinstance(row, str):
                return Changed(row)
            if row.revision != revision:
                return Changed("changed")
            if (draft.title, draft.body) == (row.title, row.body):
                return Changed("unchanged")
            row.title, row.body = draft.title, draft.body
            row.revision += 1
            row.edited_at = now
            kept = replace(written(row), updated_at=now)
            await self._change_copies(session, row, AnnouncementChangeKind.EDIT, now,
                                      to_people=self._messages.announcement(kept, to_people=True),
                                      to_channels=self._messages.announcement(kept, to_people=False))
            await self._audit.record(session, actor, "announcement.edit", str(row.id))
        log.info("announcement %d edited by person=%s (revision %d)", announcement_id, actor, revision + 1)
        return Changed("done")

    async def recall(self, actor: str, announcement_id: int) -> Changed:
        """Withdraw a delivered announcement: every delivered copy is replaced in place by a short note that
        its author withdrew it. Pressing twice has one effect."""
        held = await self._roles.roles_of(actor)
        now = self._clock.now()
        async with self._database.transaction() as session:
            row = await self._to_change(session, announcement_id, actor, held, "announcement.recall")
            if isinstance(row, str):
                return Changed(row)
            row.recalled_at = now
            await self._change_copies(session, row, AnnouncementChangeKind.RECALL, now,
                                      to_people=self._messages.withdrawn(to_people=True),
                                      to_channels=self._messages.withdrawn(to_people=False))
            await self._audit.record(session, actor, "announcement.recall", str(row.id))
        log.info("announcement %d withdrawn by person=%s", announcement_id, actor)
        return Changed("done")

    async def _change_copies(self, session: AsyncSession, row: Announcement, kind: AnnouncementChangeKind,
                             now: datetime, *,
                             to_people: dict[str, Any], to_channels: dict[str, Any]) -> None:
        """Queue the in-place update of every delivered copy and show it on the author's progress card."""
        repo = AnnouncementRepository(session)
        change = await repo.add_change(AnnouncementChange(
            announcement_id=row.id, kind=kind.value, revision=row.revision, created_at=now, recipients=0,
            finished_at=None))
        batch = change_batch_of(change.id)
        await repo.enqueue_copy_updates(
            batch=batch_of(row.id), change_batch=batch,
            purpose=EDIT_PURPOSE if kind == AnnouncementChangeKind.EDIT else RECALL_PURPOSE,
            person_payload=Message(card=to_people).to_json(), channel_payload=Message(card=to_channels).to_json(),
            author_id=row.author_person_id, now=now)
        counts = await batch_progress(session, batch)
        change.recipients = sum(counts.values())
        if not change.recipients:  # every copy went away meanwhile (erased people)
            change.finished_at = now
        await self._show_progress(session, row, now)

    async def _change_progress(self, session: AsyncSession, row: Announcement) -> ChangeProgressView | None:
        change = await AnnouncementRepository(session).latest_change(row.id)
        if change is None:
            return None
        return change_progress_of(change, await batch_progress(session, change_batch_of(change.id)))

    async def _progress_now(self, session: AsyncSession, row: Announcement, now: datetime,
                            counts: dict[str, int] | None = None) -> ProgressView:
        if counts is None:
            counts = await batch_progress(session, batch_of(row.id))
        return progress_of(row, counts, now, await self._change_progress(session, row))

    async def _report_change(self, change_id: int, announcement_id: int) -> None:
        """Finish an edit or recall when every copy has been dealt with, and bring the author's card up to date."""
        now = self._clock.now()
        async with self._database.transaction() as session:
            repo = AnnouncementRepository(session)
            row = await repo.get(announcement_id, lock=True)  # the same lock as every other change to it
            change = await session.get(AnnouncementChange, change_id)
            if row is None or change is None or change.finished_at is not None:
                return
            if not still_to_go(await batch_progress(session, change_batch_of(change.id))):
                change.finished_at = now
            await self._show_progress(session, row, now)

    # -- people who stop announcements ---------------------------------------------------------------------------

    async def stop_announcements(self, person_id: str) -> None:
        """No more announcements to this person; invitations and reminders still come. Any announcement
        message to them that has not gone yet is withdrawn."""
        now = self._clock.now()
        async with self._database.transaction() as session:
            repo = AnnouncementRepository(session)
            await repo.set_stopped(person_id, True)
            await cancel(session, await repo.pending_keys(person_id=person_id), now)
        log.info("person=%s stopped announcements", person_id)

    async def resume_announcements(self, person_id: str) -> None:
        async with self._database.transaction() as session:
            await AnnouncementRepository(session).set_stopped(person_id, False)
        log.info("person=%s turned announcements back on", person_id)

    async def announcements_stopped(self, person_id: str) -> bool:
        async with self._database.read() as session:
            return await AnnouncementRepository(session).is_stopped(person_id)

    async def on_person_erased(self, session: AsyncSession, person_id: str) -> None:
        """DomainHooks.person_erased: forget who wrote announcements (their progress cards are deleted)."""
        await AnnouncementRepository(session).forget_author(person_id)

    # -- the background tick -------------------------------------------------------------------------------------

    async def tick(self) -> None:
        """Start announcements whose time has come, and bring progress cards up to date. Safe to run on several
        instances at once: each announcement is handled under its row lock, and every message has its key."""
        now = self._clock.now()
        async with self._database.read() as session:
            repo = AnnouncementRepository(session)
            due = await repo.due(now)
            # Only those whose card would change (or that have finished) take a write transaction: on SQLite
            # every write transaction waits for the one write lock the delivery worker and every turn need too.
            changed = [row.id for row in await repo.in_flight()
                       if self._report_due(row, await batch_progress(session, batch_of(row.id)), now)]
            # Edits and recalls on their way: the same rule, only those whose card would change.
            changing = [(change.id, change.announcement_id) for change in await repo.open_changes()
                        if await self._change_report_due(session, change, now)]
        for announcement_id in due:
            await self._start(announcement_id)
        for announcement_id in changed:
            await self._report(announcement_id)
        for change_id, announcement_id in changing:
            await self._report_change(change_id, announcement_id)

    @staticmethod
    def _report_due(row: Announcement, counts: dict[str, int], now: datetime) -> bool:
        """Would `_track` change anything: finish the announcement, or update its author's card."""
        if not still_to_go(counts):
            return True
        return (row.author_person_id is not None
                and progress_signature(progress_of(row, counts, now)) != row.progress_shown)

    async def _change_report_due(self, session: AsyncSession, change: AnnouncementChange, now: datetime) -> bool:
        if not still_to_go(await batch_progress(session, change_batch_of(change.id))):
            return True
        row = await AnnouncementRepository(session).get(change.announcement_id)
        if row is None or row.author_person_id is None:
            return False
        return progress_signature(await self._progress_now(session, row, now)) != row.progress_shown

    async def _start(self, announcement_id: int) -> None:
        now = self._clock.now()
        async with self._database.transaction() as session:
            repo = AnnouncementRepository(session)
            row = await repo.get(announcement_id, lock=True)
            if row is None or row.status != AnnouncementStatus.SCHEDULED or row.send_at > now:
                return
            if not row.quiet_hours_confirmed and in_quiet_hours(now, self.quiet_start, self.quiet_end):
                # Late (the bot was down, or its time was moved): still nothing starts in quiet hours.
                row.send_at = quiet_hours_end(now, self.quiet_end)
                await self._show_progress(session, row, now)
                log.info("announcement %d waits for the end of quiet hours", row.id)
                return
            choice = AudienceChoice.from_json(json.loads(row.audience))
            draft = written(row)
            batch = batch_of(row.id)
            if choice.channels:
                channels = {c.ref_id: c for c in await repo.channels()}
                card = Message(card=self._messages.announcement(draft, to_people=False))
                for ref_id in choice.channels:
                    channel = channels.get(ref_id)
                    if channel is None:  # the bot was removed from it since
                        continue
                    await enqueue(session, key=f"{batch}:channel:{ref_id}",
                                  recipient=Recipient.channel(channel.conversation_id), message=card,
                                  purpose=ANNOUNCEMENT_PURPOSE, now=now, batch=batch, author_id=row.author_person_id)
            people = choice.people() if choice.chooses_people else None
            if people is not None and choice.narrowed and shown(await repo.count_people(
                    spaces=choice.spaces, phases=choice.phases, session_ids=choice.sessions,
                    organisations=choice.organisations, session_people=choice.session_people)).suppressed:
                # Fewer than 8 are left of an audience by organisation or attendance (people withdrew since it
                # was checked): still nobody is singled out. Channels get it as chosen.
                log.info("announcement %d: its narrowed audience fell below 8, so no people get it", row.id)
                people = None
            if people is not None:
                card = Message(card=self._messages.announcement(draft, to_people=True))
                await enqueue_to_people(session, people, key_prefix=f"{batch}:person:", message=card,
                                        purpose=ANNOUNCEMENT_PURPOSE, now=now, batch=batch,
                                        author_id=row.author_person_id)
            counts = await batch_progress(session, batch)
            row.recipients = sum(counts.values())
            row.status = AnnouncementStatus.SENDING.value
            row.started_at = now
            if not row.recipients:
                row.status = AnnouncementStatus.DONE.value
                row.finished_at = now
            await self._show_progress(session, row, now, counts)
        log.info("announcement %d started", announcement_id)

    async def _report(self, announcement_id: int) -> None:
        now = self._clock.now()
        async with self._database.transaction() as session:
            row = await AnnouncementRepository(session).get(announcement_id, lock=True)
            if row is None or row.finished_at is not None:
                return
            progress = await self._track(session, row, now)
        if progress.finished:
            log.info("announcement %d finished", announcement_id)

    async def _track(self, session: AsyncSession, row: Announcement, now: datetime) -> ProgressView:
        """Finish the announcement when nothing of it is still to go, then show its progress."""
        counts = await batch_progress(session, batch_of(row.id))
        if (row.finished_at is None and row.status in (AnnouncementStatus.SENDING, AnnouncementStatus.STOPPED)
                and not still_to_go(counts)):
            row.finished_at = now
            if row.status == AnnouncementStatus.SENDING:
                row.status = AnnouncementStatus.DONE.value
        return await self._show_progress(session, row, now, counts)

    async def _show_progress(self, session: AsyncSession, row: Announcement, now: datetime,
                             counts: dict[str, int] | None = None) -> ProgressView:
        """Queue the progress card the first time, then an in-place update whenever what it shows changes."""
        progress = await self._progress_now(session, row, now, counts)
        if row.author_person_id is None:
            return progress  # the author's data was erased
        signature = progress_signature(progress)
        if row.progress_outbox_id is not None and signature == row.progress_shown:
            return progress
        message = Message(card=self._messages.progress(progress))
        author = Recipient.person(row.author_person_id)
        if row.progress_outbox_id is None:
            row.progress_outbox_id = await enqueue(
                session, key=f"announcement-progress:{row.id}:0", recipient=author, message=message,
                purpose=PROGRESS_PURPOSE, now=now)
        else:
            row.progress_updates += 1
            await enqueue(session, key=f"announcement-progress:{row.id}:{row.progress_updates}", recipient=author,
                          message=message, purpose=PROGRESS_PURPOSE, now=now, updates=row.progress_outbox_id)
        row.progress_shown = signature
        return progress
