"""The announcements service (design §4): the author's journey (audience options, checks and preview, the
time, storing it), the author's controls (stop sending, edit and withdraw after sending), people who stop
announcements, and the background tick that starts announcements and keeps progress cards up to date."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import Any, Literal, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.delivery.outbox import Message, Recipient, batch_progress, cancel, enqueue, enqueue_to_people, wake_workers
from bot.log_format import Fields
from bot.services.announcements.audiences import AudienceChoice, channel_label, parse_ids, parse_words
from bot.services.announcements.drafts import Timing, When, check_draft, timing_of, written
from bot.services.announcements.progress import (
    batch_of,
    change_batch_of,
    change_progress_of,
    progress_of,
    progress_signature,
    still_to_go,
)
from bot.services.roles import Audit, RoleService, satisfies
from bot.services.suppression import Shown, shown
from bot.services.uk_time import in_quiet_hours, quiet_hours_end
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
from storage.repositories.announcements import AnnouncementRepository
from vocabulary.words import (
    ANNOUNCEMENT_SPACES,
    AnnouncementChangeKind,
    AnnouncementStatus,
    AudienceSessionPeople,
    AuditOutcome,
    OutboxPurpose,
    Phase,
    Role,
    VolunteerSpace,
)

log = logging.getLogger(__name__)

SESSIONS_LISTED = 20
HISTORY_LISTED = 20  # the desk's history: the latest announcements, newest first
SESSIONS_SINCE = timedelta(days=14)
# In-place updates of delivered copies (issue 24) have purposes of their own, not ANNOUNCEMENT, so "Stop
# announcements" never withdraws a correction or a recall of a copy the person already has.
CANCEL_CHUNK = 500

TOO_FEW = ("Fewer than 8 people match this. A message to so few people, chosen by their organisation or by who "
           "came to a session, could show who they are, so I can't send it. Please choose more organisations or "
           "sessions, or fewer limits.")


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
        channel_ids = parse_ids(channels)
        if channel_ids is None or not set(channel_ids) <= {c.ref_id for c in options.channels}:
            errors["channels"] = "One of those channels can't be used any more. Choose again from the list."
        session_ids = parse_ids(sessions)
        if session_ids is None or not set(session_ids) <= {s.session_id for s in options.sessions}:
            errors["sessions"] = "One of those sessions can't be chosen any more. Choose again from the list."
        chosen_spaces = parse_words(spaces, ANNOUNCEMENT_SPACES)
        if chosen_spaces is None:
            errors["spaces"] = "Choose a space from the list."
        chosen_phases = parse_words(phases, tuple(Phase))
        if chosen_phases is None:
            errors["phases"] = "Choose a phase from the list."
        organisation_ids = parse_ids(organisations)
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
        return timing_of(when, self._clock.now(), self.quiet_start, self.quiet_end)

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
        log.info("announcement created", extra=Fields(announcement_id=row.id, actor=actor))
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
                await self._audit.record(session, actor, "announcement.stop", str(row.id), outcome=AuditOutcome.REFUSED)
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
        log.info("announcement stopped", extra=Fields(announcement_id=announcement_id, actor=actor))
        return Stopped("stopped", progress)

    async def progress(self, announcement_id: int) -> ProgressView | None:
        async with self._database.read() as session:
            row = await AnnouncementRepository(session).get(announcement_id)
            if row is None:
                return None
            return await self._progress_now(session, row, self._clock.now())

    # -- the author's reports, read (the desk's Announcements page, issue 22) -------------------------------------

    async def report_for(self, actor: str, announcement_id: int,
                         action: str) -> ProgressView | Literal["missing", "not_yours"]:
        """The author's progress card of one announcement as `actor` may read it: only its author or an admin,
        the rule of `stop` (a refusal is audited under `action`)."""
        held = await self._roles.roles_of(actor)
        async with self._database.read() as session:
            row = await AnnouncementRepository(session).get(announcement_id)
            if row is not None and (row.author_person_id == actor or satisfies(held, Role.ADMIN)):
                return await self._progress_now(session, row, self._clock.now())
        if row is None:
            return "missing"
        async with self._database.transaction() as session:
            await self._audit.record(session, actor, action, str(announcement_id), outcome=AuditOutcome.REFUSED)
        return "not_yours"

    async def history(self, actor: str, limit: int = HISTORY_LISTED) -> list[ProgressView]:
        """The progress cards (final reports once finished) of the latest announcements `actor` wrote, newest
        first; an admin's are everyone's. Suppressed as the cards are (design §5)."""
        held = await self._roles.roles_of(actor)
        query = select(Announcement).order_by(Announcement.created_at.desc(), Announcement.id.desc()).limit(limit)
        if not satisfies(held, Role.ADMIN):
            query = query.where(Announcement.author_person_id == actor)
        now = self._clock.now()
        async with self._database.read() as session:
            # A read the repository lacks (storage/ belongs to another part of the work): one plain query.
            rows = list((await session.execute(query)).scalars())
            return [await self._progress_now(session, row, now) for row in rows]

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
                await self._audit.record(session, actor, action, str(announcement_id), outcome=AuditOutcome.REFUSED)
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
            await self._audit.record(session, actor, action, str(announcement_id), outcome=AuditOutcome.REFUSED)
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
        log.info("announcement edited", extra=Fields(announcement_id=announcement_id, actor=actor,
                                                     revision=revision + 1))
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
        log.info("announcement withdrawn", extra=Fields(announcement_id=announcement_id, actor=actor))
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
            purpose=(OutboxPurpose.ANNOUNCEMENT_EDIT if kind == AnnouncementChangeKind.EDIT
                     else OutboxPurpose.ANNOUNCEMENT_RECALL),
            person_payload=Message(card=to_people).to_json(), channel_payload=Message(card=to_channels).to_json(),
            author_id=row.author_person_id, now=now)
        await wake_workers(session)  # the repository inserts the rows itself, outside outbox.enqueue
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
        log.info("person stopped announcements", extra=Fields(person=person_id))

    async def resume_announcements(self, person_id: str) -> None:
        async with self._database.transaction() as session:
            await AnnouncementRepository(session).set_stopped(person_id, False)
        log.info("person turned announcements back on", extra=Fields(person=person_id))

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
                log.info("announcement waits for the end of quiet hours", extra=Fields(announcement_id=row.id))
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
                                  purpose=OutboxPurpose.ANNOUNCEMENT, now=now, batch=batch,
                                  author_id=row.author_person_id)
            people = choice.people() if choice.chooses_people else None
            if people is not None and choice.narrowed and shown(await repo.count_people(
                    spaces=choice.spaces, phases=choice.phases, session_ids=choice.sessions,
                    organisations=choice.organisations, session_people=choice.session_people)).suppressed:
                # Fewer than 8 are left of an audience by organisation or attendance (people withdrew since it
                # was checked): still nobody is singled out. Channels get it as chosen.
                log.info("announcement: its narrowed audience fell below 8, so no people get it",
                         extra=Fields(announcement_id=row.id))
                people = None
            if people is not None:
                card = Message(card=self._messages.announcement(draft, to_people=True))
                await enqueue_to_people(session, people, key_prefix=f"{batch}:person:", message=card,
                                        purpose=OutboxPurpose.ANNOUNCEMENT, now=now, batch=batch,
                                        author_id=row.author_person_id)
            counts = await batch_progress(session, batch)
            row.recipients = sum(counts.values())
            row.status = AnnouncementStatus.SENDING.value
            row.started_at = now
            if not row.recipients:
                row.status = AnnouncementStatus.DONE.value
                row.finished_at = now
            await self._show_progress(session, row, now, counts)
        log.info("announcement started", extra=Fields(announcement_id=announcement_id))

    async def _report(self, announcement_id: int) -> None:
        now = self._clock.now()
        async with self._database.transaction() as session:
            row = await AnnouncementRepository(session).get(announcement_id, lock=True)
            if row is None or row.finished_at is not None:
                return
            progress = await self._track(session, row, now)
        if progress.finished:
            log.info("announcement finished", extra=Fields(announcement_id=announcement_id))

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
                purpose=OutboxPurpose.ANNOUNCEMENT_PROGRESS, now=now)
        else:
            row.progress_updates += 1
            await enqueue(session, key=f"announcement-progress:{row.id}:{row.progress_updates}", recipient=author,
                          message=message, purpose=OutboxPurpose.ANNOUNCEMENT_PROGRESS, now=now,
                          updates=row.progress_outbox_id)
        row.progress_shown = signature
        return progress
