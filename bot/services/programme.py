"""Running the programme (design §4, issue 12): the current phase, the organisation list, the programme end
date, privacy notice versions and the adjustments follow-up list.

Every change is audited with ids only (never a name, an e-mail or the text of an organisation or a notice).
The role check happens before these methods are called (the command router and the action registry call
RoleService.require for every press); the methods take the actor's id for the audit row.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, time, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from bot.clock import Clock
from bot.delivery.outbox import Message, Recipient, enqueue
from bot.services.notices import notice_from_text, repo_notices
from bot.services.roles import Audit
from bot.services.uk_time import after_quiet_hours
from cards.programme import AdjustmentLine, NoticeVersionLine, OrganisationLine, ProgrammeSettingsView
from storage.db import Database
from storage.repositories.programme import (
    AdjustmentsRepository,
    NoticeRepository,
    OrganisationAdminRepository,
    SettingsRepository,
)
from vocabulary.actions.programme import NOTICE_MAX_CHARS, ORGANISATION_NAME_MAX
from vocabulary.words import OutboxPurpose, Phase, ProgrammeChange

log = logging.getLogger(__name__)

PHASE_KEY = "phase"
END_DATE_KEY = "end_date"
RETENTION_RUN_KEY = "retention_last_run"
DEFAULT_PHASE = Phase.CODESIGN

ORGANISATION_NAME_MIN = 2
NOTICE_MIN_CHARS = 200  # a few sentences: a stray "test" is never published to everyone
_SPACES = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

@dataclass(frozen=True)
class PublishResult:
    change: ProgrammeChange
    version: int | None = None
    asked: int = 0  # volunteers sent a message asking them to agree again


def clean_name(text: str) -> str:
    return _SPACES.sub(" ", _CONTROL.sub("", text)).strip()


def clean_notice(text: str) -> str:
    """Teams may send \\r\\n; the privacy card splits paragraphs on blank lines."""
    lines = [_CONTROL.sub("", line).rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


class ProgrammeService:
    """`retention_days`: personal data is erased that long after the programme end date. Messages it sends wait
    for the end of quiet hours (`quiet_hours`: start and end, UK time)."""

    def __init__(self, database: Database, clock: Clock, audit: Audit, *, retention_days: int,
                 quiet_hours: tuple[time, time]) -> None:
        self._database = database
        self._clock = clock
        self._audit = audit
        self._retention_days = retention_days
        self._quiet_hours = quiet_hours

    # -- phase and end date -----------------------------------------------------------------------------

    def deletion_date(self, end: date) -> date:
        return end + timedelta(days=self._retention_days)

    async def view(self) -> ProgrammeSettingsView:
        async with self._database.read() as session:
            values = await SettingsRepository(session).all()
            notice = await NoticeRepository(session).latest()
        end = _date(values.get(END_DATE_KEY))
        return ProgrammeSettingsView(
            phase=_phase(values.get(PHASE_KEY)),
            end_date=end,
            deletion_date=self.deletion_date(end) if end else None,
            retention_days=self._retention_days,
            notice_version=notice.version if notice else None,
            notice_published_at=notice.published_at if notice else None,
        )

    async def current_phase(self) -> Phase:
        """The phase the programme is in now (design §3); co-design until an admin says otherwise."""
        async with self._database.read() as session:
            return _phase(await SettingsRepository(session).get(PHASE_KEY))

    async def end_date(self) -> date | None:
        async with self._database.read() as session:
            return _date(await SettingsRepository(session).get(END_DATE_KEY))

    async def set_phase(self, actor_id: str, phase: Phase) -> ProgrammeChange:
        if Phase.parse(phase) is None:
            return ProgrammeChange.INVALID
        async with self._database.transaction() as session:
            changed = await SettingsRepository(session).put(PHASE_KEY, phase.value, self._clock.now(), actor_id)
            outcome = ProgrammeChange.DONE if changed else ProgrammeChange.UNCHANGED
            await self._audit.record(session, actor_id, "programme.phase", phase.value, outcome.value)
        log.info("programme.phase by %s: %s", actor_id, outcome.value)
        return outcome

    async def set_end_date(self, actor_id: str, end: date | None) -> ProgrammeChange:
        """The UK date the programme ends; personal data is erased RETENTION_DAYS later. None clears it."""
        async with self._database.transaction() as session:
            settings = SettingsRepository(session)
            if end is None:
                changed = await settings.delete(END_DATE_KEY)
            else:
                changed = await settings.put(END_DATE_KEY, end.isoformat(), self._clock.now(), actor_id)
            outcome = ProgrammeChange.DONE if changed else ProgrammeChange.UNCHANGED
            await self._audit.record(session, actor_id, "programme.end_date", end.isoformat() if end else "none",
                                     outcome.value)
        log.info("programme.end_date by %s: %s", actor_id, outcome.value)
        return outcome

    # -- organisations ----------------------------------------------------------------------------------

    async def organisations(self) -> list[OrganisationLine]:
        async with self._database.read() as session:
            return [OrganisationLine(row.id, row.name, row.retired)
                    for row in await OrganisationAdminRepository(session).all()]

    async def add_organisation(self, actor_id: str, name: str) -> tuple[ProgrammeChange, int | None]:
        """Add a name at the end of the list. A retired organisation of that name comes back instead."""
        name = clean_name(name)
        if not ORGANISATION_NAME_MIN <= len(name) <= ORGANISATION_NAME_MAX:
            return ProgrammeChange.INVALID, None
        try:
            async with self._database.transaction() as session:
                repository = OrganisationAdminRepository(session)
                existing = await repository.by_name(name)
                if existing is not None and not existing.retired:
                    outcome, organisation_id = ProgrammeChange.DUPLICATE, existing.id
                elif existing is not None:
                    existing.retired = False
                    outcome, organisation_id = ProgrammeChange.DONE, existing.id
                else:
                    outcome, organisation_id = ProgrammeChange.DONE, (await repository.add(name)).id
                await self._audit.record(session, actor_id, "organisation.add", str(organisation_id),
                                         outcome.value)
        except IntegrityError:
            # Two admins added the same name at the same moment: the first one won.
            return ProgrammeChange.DUPLICATE, None
        log.info("organisation.add %s by %s: %s", organisation_id, actor_id, outcome.value)
        return outcome, organisation_id

    async def rename_organisation(self, actor_id: str, organisation_id: int, name: str) -> ProgrammeChange:
        """A new name for everyone, on existing sign-ups too (they point to the organisation, not the name)."""
        name = clean_name(name)
        if not ORGANISATION_NAME_MIN <= len(name) <= ORGANISATION_NAME_MAX:
            return ProgrammeChange.INVALID
        try:
            async with self._database.transaction() as session:
                repository = OrganisationAdminRepository(session)
                organisation = await repository.get(organisation_id, lock=True)
                other = await repository.by_name(name)
                if organisation is None:
                    outcome = ProgrammeChange.MISSING
                elif organisation.name == name:
                    outcome = ProgrammeChange.UNCHANGED
                elif other is not None and other.id != organisation.id:
                    outcome = ProgrammeChange.DUPLICATE
                else:
                    organisation.name = name
                    outcome = ProgrammeChange.DONE
                await self._audit.record(session, actor_id, "organisation.rename", str(organisation_id),
                                         outcome.value)
        except IntegrityError:
            return ProgrammeChange.DUPLICATE
        log.info("organisation.rename %s by %s: %s", organisation_id, actor_id, outcome.value)
        return outcome

    async def set_retired(self, actor_id: str, organisation_id: int, retired: bool) -> ProgrammeChange:
        """Retired organisations stay on existing sign-ups and leave the sign-up choices."""
        action = "organisation.retire" if retired else "organisation.restore"
        async with self._database.transaction() as session:
            repository = OrganisationAdminRepository(session)
            organisation = await repository.get(organisation_id, lock=True)
            if organisation is None:
                outcome = ProgrammeChange.MISSING
            elif organisation.retired == retired:
                outcome = ProgrammeChange.UNCHANGED
            elif retired and await repository.count_active() <= 1:
                outcome = ProgrammeChange.LAST_ONE
            else:
                organisation.retired = retired
                outcome = ProgrammeChange.DONE
            await self._audit.record(session, actor_id, action, str(organisation_id), outcome.value)
        log.info("%s %s by %s: %s", action, organisation_id, actor_id, outcome.value)
        return outcome

    # -- privacy notice versions ------------------------------------------------------------------------

    async def notices(self) -> list[NoticeVersionLine]:
        async with self._database.read() as session:
            return [NoticeVersionLine(row.version, row.sha256, row.published_at, len(row.text))
                    for row in await NoticeRepository(session).all()]

    async def publish_notice(self, actor_id: str, text: str,
                             asking_card: Callable[[int, str], dict[str, Any]] | None = None) -> PublishResult:
        """Publish a new privacy notice version. From then on every volunteer is behind it: the colleague
        journey asks them to agree again at their next message, and no one behind is invited (the
        `consented()` filter). With `asking_card`, each volunteer is also sent that card now (after quiet
        hours), in the same transaction."""
        text = clean_notice(text)
        if not NOTICE_MIN_CHARS <= len(text) <= NOTICE_MAX_CHARS:
            return PublishResult(ProgrammeChange.INVALID)
        try:
            return await self._publish_once(actor_id, text, asking_card)
        except IntegrityError:
            # Another admin published at the same moment and took the number: take the next one.
            return await self._publish_once(actor_id, text, asking_card)

    async def _publish_once(self, actor_id: str, text: str,
                            asking_card: Callable[[int, str], dict[str, Any]] | None) -> PublishResult:
        now = self._clock.now()
        async with self._database.transaction() as session:
            notices = NoticeRepository(session)
            latest = await notices.latest()
            notice = notice_from_text((latest.version if latest else 0) + 1, text)
            if latest is not None and latest.sha256 == notice.sha256:
                await self._audit.record(session, actor_id, "notice.publish", str(latest.version),
                                         ProgrammeChange.UNCHANGED.value)
                return PublishResult(ProgrammeChange.UNCHANGED, latest.version)
            await notices.add(notice.version, notice.sha256, notice.text, now)
            asked = 0
            if asking_card is not None:
                card = asking_card(notice.version, notice.text)
                due = after_quiet_hours(now, *self._quiet_hours)
                for person_id in await notices.volunteer_ids():
                    await enqueue(session, key=f"consent-again:{notice.version}:{person_id}",
                                  recipient=Recipient.person(person_id), message=Message(card=card),
                                  purpose=OutboxPurpose.CONSENT_AGAIN, now=now, due_at=due)
                    asked += 1
            await self._audit.record(session, actor_id, "notice.publish", str(notice.version))
        log.info("privacy notice version %d published by %s; %d volunteers asked", notice.version, actor_id,
                 asked)
        return PublishResult(ProgrammeChange.DONE, notice.version, asked)

    async def check_repo_notices(self) -> list[int]:
        """At start-up, after the shipped versions are published: a shipped file whose number an admin
        already used for another text is not published. Returns those numbers (and logs them)."""
        async with self._database.read() as session:
            published = {row.version: row.sha256 for row in await NoticeRepository(session).all()}
        clashes = [notice.version for notice in repo_notices()
                   if notice.version in published and published[notice.version] != notice.sha256]
        for version in clashes:
            log.warning("privacy_notice_v%d.md differs from the published version %d, so it was not published: "
                        "ship it as privacy_notice_v%d.md", version, version, max(published) + 1)
        return clashes

    # -- adjustments follow-up --------------------------------------------------------------------------

    async def adjustments(self) -> list[AdjustmentLine]:
        """Waiting people first (oldest sign-up first), then those already contacted (latest first)."""
        async with self._database.read() as session:
            lines = [AdjustmentLine(*row) for row in await AdjustmentsRepository(session).requests()]
        waiting = sorted((line for line in lines if line.contacted_at is None), key=lambda line: line.signed_up_at)
        done = sorted((line for line in lines if line.contacted_at is not None),
                      key=lambda line: line.contacted_at or line.signed_up_at, reverse=True)
        return waiting + done

    async def mark_contacted(self, actor_id: str, person_id: str, contacted: bool) -> ProgrammeChange:
        """Record that a facilitator talked to the person (or undo it). Nothing about the adjustment itself
        is stored: only when, and by whom."""
        action = "adjustments.contacted" if contacted else "adjustments.not_contacted"
        async with self._database.transaction() as session:
            repository = AdjustmentsRepository(session)
            if await repository.mark(person_id, self._clock.now() if contacted else None,
                                     actor_id if contacted else None):
                outcome = ProgrammeChange.DONE
            else:
                outcome = ProgrammeChange.UNCHANGED if await repository.asks(person_id) else ProgrammeChange.MISSING
            await self._audit.record(session, actor_id, action, person_id, outcome.value)
        log.info("%s %s by %s: %s", action, person_id, actor_id, outcome.value)
        return outcome


def _phase(value: str | None) -> Phase:
    return Phase.parse(value) or DEFAULT_PHASE


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None
