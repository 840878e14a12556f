"""The colleague journey's rules (design §4, §6): sign up, change, consent, withdraw and erase, export.

No botbuilder here: dialogs and card actions call these methods with plain values and get view data back.
Every change happens in one transaction together with the hooks that let other features react (sessions
invite newly eligible people and free the seats of someone who withdrew)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.delivery.outbox import cancel, feed_key, pending_keys_like
from bot.hooks import DomainHooks
from bot.log_format import Fields
from bot.services.notices import Notice, NoticeService
from bot.services.roles import Audit
from cards.signup import DetailsView, SignUpAnswers
from storage.db import Database
from storage.models import Erasure, Person, Volunteer
from storage.repositories.programme import NoticeRepository
from storage.repositories.volunteers import (
    ConsentRepository,
    ErasureRepository,
    OrganisationRepository,
    PersonalRecords,
    VolunteerRepository,
    consented,
)
from vocabulary.words import Community, ConsentAction, ErasureReason, Phase, VolunteerSpace

log = logging.getLogger(__name__)

ORGANISATIONS_FILE = Path(__file__).resolve().parent.parent / "content" / "organisations.json"
METHOD_CARD = "teams-card"

__all__ = ["InvalidAnswers", "SignUpAnswers", "VolunteerService", "consented"]


class InvalidAnswers(ValueError):
    """The answers break a rule (e.g. no space, an organisation that is not offered). Nothing was stored."""


def checked(answers: SignUpAnswers) -> SignUpAnswers:
    """The answers as stored, or InvalidAnswers naming the first rule they break."""
    if not isinstance(answers.space, VolunteerSpace):
        raise InvalidAnswers("spaces")
    if not all(isinstance(community, Community) for community in answers.communities):
        raise InvalidAnswers("communities")
    if not answers.phases or not all(isinstance(phase, Phase) for phase in answers.phases):
        raise InvalidAnswers("phases")
    # Communities belong to the minoritised space only (design §3).
    communities = answers.communities if answers.communities_asked else frozenset()
    return SignUpAnswers(answers.space, communities, answers.organisation_id, answers.phases,
                         answers.adjustments_contact)


@dataclass(frozen=True)
class OrganisationOption:
    id: int
    name: str


def load_organisation_names(path: Path = ORGANISATIONS_FILE) -> list[str]:
    data = json.loads(path.read_text(encoding="utf-8"))
    names = data["organisations"]
    if not isinstance(names, list) or not all(isinstance(name, str) and name.strip() for name in names):
        raise ValueError(f"{path.name}: 'organisations' must be a list of names")
    return [name.strip() for name in names]


def _answers_of(volunteer: Volunteer) -> SignUpAnswers:
    """A sign-up row's answers: one boolean column per space, community and phase."""
    return SignUpAnswers(
        space=VolunteerSpace.of_flags(volunteer.space_minoritised, volunteer.space_ally),
        communities=frozenset(c for c in Community if getattr(volunteer, c.column)),
        organisation_id=volunteer.organisation_id or 0,
        phases=frozenset(phase for phase in Phase if getattr(volunteer, phase.column)),
        adjustments_contact=volunteer.adjustments_contact,
    )


def _apply(volunteer: Volunteer, answers: SignUpAnswers) -> None:
    assert answers.space is not None  # checked()
    volunteer.space_minoritised, volunteer.space_ally = answers.space.flags
    for community in Community:
        setattr(volunteer, community.column, community in answers.communities)
    for phase in Phase:
        setattr(volunteer, phase.column, phase in answers.phases)
    volunteer.organisation_id = answers.organisation_id
    volunteer.adjustments_contact = answers.adjustments_contact


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


class VolunteerService:
    """`hooks`: what other features do in the same transaction (invite a new or changed volunteer, free the seats
    of someone erased)."""

    def __init__(self, database: Database, clock: Clock, audit: Audit, notices: NoticeService, hooks: DomainHooks,
                 *, feed_offered: bool) -> None:
        self._database = database
        self._clock = clock
        self._audit = audit
        self._notices = notices
        self._hooks = hooks
        # "Also tell me in my Teams activity feed" (issue 24) is offered only when Graph is on.
        self._feed_offered = feed_offered

    # -- reading ---------------------------------------------------------------------------------------------

    async def organisations(self) -> list[OrganisationOption]:
        async with self._database.read() as session:
            return [OrganisationOption(org.id, org.name) for org in await OrganisationRepository(session).active()]

    async def is_signed_up(self, person_id: str) -> bool:
        async with self._database.read() as session:
            return await VolunteerRepository(session).get(person_id) is not None

    async def details(self, person_id: str) -> DetailsView | None:
        """Everything stored about a volunteer, for "Your details" and prefilling a change; None: not signed up."""
        async with self._database.read() as session:
            volunteer = await VolunteerRepository(session).get(person_id)
            if volunteer is None:
                return None
            person_row = await session.get(Person, person_id)
            organisation = (await OrganisationRepository(session).get(volunteer.organisation_id)
                            if volunteer.organisation_id else None)
            given = [record.recorded_at for record in await ConsentRepository(session).history(person_id)
                     if record.action == ConsentAction.GIVEN]
            return DetailsView(
                answers=_answers_of(volunteer),
                organisation_name=organisation.name if organisation else None,
                display_name=person_row.display_name if person_row else None,
                email=person_row.email if person_row else None,
                consent_version=volunteer.consent_version,
                consented_at=given[-1] if given else volunteer.signed_up_at,
                signed_up_at=volunteer.signed_up_at,
                announcements_on=not (person_row and person_row.announcements_stopped),
                feed_on=volunteer.feed_notifications if self._feed_offered else None,
            )

    async def consented_ids(self) -> list[str]:
        """Volunteers whose consent covers the current notice: the only ones to invite (design §6)."""
        async with self._database.read() as session:
            return await VolunteerRepository(session).consented_ids()

    # -- changing --------------------------------------------------------------------------------------------

    async def _check_organisation(self, session: AsyncSession, organisation_id: int) -> None:
        organisation = await OrganisationRepository(session).get(organisation_id)
        if organisation is None or organisation.retired:
            raise InvalidAnswers("organisation")

    async def sign_up(self, person_id: str, answers: SignUpAnswers, notice_version: int) -> bool:
        """Store a new sign-up and its consent. False (and nothing changed) when already signed up, so a
        second press of Confirm makes no second sign-up."""
        answers = checked(answers)
        now = self._clock.now()
        async with self._database.transaction() as session:
            volunteers = VolunteerRepository(session)
            if await volunteers.lock_person(person_id) is None:
                raise InvalidAnswers("person")
            if await volunteers.get(person_id) is not None:
                return False
            await self._check_organisation(session, answers.organisation_id)
            consent = ConsentRepository(session)
            notice = await consent.notice(notice_version)
            if notice is None:
                raise InvalidAnswers("notice")
            volunteer = Volunteer(person_id=person_id, consent_version=notice.version, signed_up_at=now,
                                  updated_at=now, adjustments_contacted_at=None, adjustments_contacted_by=None)
            _apply(volunteer, answers)
            await volunteers.add(volunteer)
            await consent.append(person_id=person_id, at=now, action=ConsentAction.GIVEN,
                                 notice_version=notice.version, notice_sha256=notice.sha256, method=METHOD_CARD)
            await self._audit.record(session, person_id, "volunteer.signup", person_id)
            await self._hooks.changed(session, person_id)
        log.info("volunteer signed up", extra=Fields(person=person_id))
        return True

    async def change(self, person_id: str, answers: SignUpAnswers) -> bool:
        """Replace the answers of a signed-up person. False when they are not signed up (e.g. withdrew meanwhile)."""
        answers = checked(answers)
        async with self._database.transaction() as session:
            volunteer = await VolunteerRepository(session).get(person_id, lock=True)
            if volunteer is None:
                return False
            await self._check_organisation(session, answers.organisation_id)
            if not answers.adjustments_contact:
                volunteer.adjustments_contacted_at = None
                volunteer.adjustments_contacted_by = None
            _apply(volunteer, answers)
            volunteer.updated_at = self._clock.now()
            await self._audit.record(session, person_id, "volunteer.change", person_id)
            await self._hooks.changed(session, person_id)
        log.info("volunteer changed answers", extra=Fields(person=person_id))
        return True

    async def set_feed(self, person_id: str, on: bool) -> bool:
        """Turn "Also tell me in my Teams activity feed" on or off for this volunteer only. Turning it on needs
        Graph; turning it off always works, and withdraws their feed notifications that have not gone yet.
        False (nothing changed) when they are not signed up, or it is to be turned on while Graph is off."""
        if on and not self._feed_offered:
            return False
        now = self._clock.now()
        async with self._database.transaction() as session:
            volunteer = await VolunteerRepository(session).get(person_id, lock=True)
            if volunteer is None:
                return False
            if volunteer.feed_notifications != on:
                volunteer.feed_notifications = on
                await self._audit.record(session, person_id, f"volunteer.feed.{'on' if on else 'off'}", person_id)
            if not on:
                await cancel(session, await pending_keys_like(session, f"{feed_key('')}%:{person_id}"), now)
        log.info("volunteer turned the activity feed on or off", extra=Fields(person=person_id,
                                                                              outcome="on" if on else "off"))
        return True

    # -- consent ---------------------------------------------------------------------------------------------

    async def consent_needed(self, person_id: str) -> Notice | None:
        """The current notice when this volunteer agreed only to an older one, else None."""
        # Runs before every message of every person (the re-consent gate): one small read for most people.
        async with self._database.read() as session:
            if not await VolunteerRepository(session).consent_behind(person_id):
                return None
        return await self._notices.current()

    async def consent_again(self, person_id: str, notice_version: int) -> bool:
        """Record agreement to a newer notice; they become invitable again. False when nothing to do."""
        now = self._clock.now()
        async with self._database.transaction() as session:
            volunteer = await VolunteerRepository(session).get(person_id, lock=True)
            consent = ConsentRepository(session)
            notice = await consent.notice(notice_version)
            if volunteer is None or notice is None or volunteer.consent_version >= notice.version:
                return False
            volunteer.consent_version = notice.version
            volunteer.updated_at = now
            await consent.append(person_id=person_id, at=now, action=ConsentAction.GIVEN,
                                 notice_version=notice.version, notice_sha256=notice.sha256, method=METHOD_CARD)
            await self._audit.record(session, person_id, "volunteer.consent", person_id)
            await self._hooks.changed(session, person_id)
        log.info("volunteer consented again", extra=Fields(person=person_id, version=notice_version))
        return True

    # -- withdrawal and erasure ------------------------------------------------------------------------------

    async def withdraw(self, person_id: str) -> bool:
        """Erase the person's personal data (hard delete) in one transaction, keeping only the consent history
        with a "withdrawn" row, an erasure record and the audit trail. Returns False if they had not signed up."""
        async with self._database.transaction() as session:
            if await VolunteerRepository(session).get(person_id, lock=True) is None:
                return False
            await self.erase(session, person_id, at=self._clock.now(), reason=ErasureReason.WITHDRAWN,
                             method=METHOD_CARD, actor=person_id, action="volunteer.withdraw")
        log.info("volunteer withdrew and was erased", extra=Fields(person=person_id))
        return True

    async def erase(self, session: AsyncSession, person_id: str, *, at: datetime, reason: ErasureReason,
                    method: str, actor: str, action: str | None = None, before: datetime | None = None,
                    notice: tuple[int, str] | None = None) -> bool:
        """Erase one person in the caller's transaction: the one way for a withdrawal, the retention job and
        the replay after a restore (bot/services/retention.py). Other features first, while the person's rows
        still exist (sessions free seats and promote the waiting list), then the hard delete, the erasure row
        (logged to the erasure log as it commits), a consent record saying consent ended, and an audit row with
        ids only (`action`, by default "erasure.<reason>").

        `before` (replaying after a restore) keeps anything the person created after `at`, such as a new
        sign-up; `notice` is the (version, sha256) the logged erasure named, else the current notice's.
        Returns False when there was nothing of theirs to delete."""
        volunteer = await session.get(Volunteer, person_id, with_for_update=True)
        person = await session.get(Person, person_id)
        old_volunteer = volunteer is not None and (before is None or volunteer.signed_up_at < before)
        old_person = person is not None and (before is None or person.created_at < before)
        if old_volunteer or old_person:
            await self._hooks.erased(session, person_id)
        consent = ConsentRepository(session)
        # A consent record says their consent ended, for anyone who ever gave it (design §6).
        if (old_volunteer or await consent.ever_given(person_id)) and not await consent.ended_since(person_id, at):
            if notice is None:
                latest = await NoticeRepository(session).latest()
                notice = (latest.version, latest.sha256) if latest else (0, "")
            version, sha256 = notice
            await consent.append(person_id=person_id, at=at, action=reason.consent_action,
                                 notice_version=version, notice_sha256=sha256, method=method)
        erasures = ErasureRepository(session)
        await erasures.erase(person_id, before=before)
        await erasures.record(person_id, at, reason)
        await self._audit.record(session, actor, action or f"erasure.{reason}", person_id)
        return old_volunteer or old_person

    # -- export ----------------------------------------------------------------------------------------------

    async def export(self, person_id: str) -> dict[str, Any]:
        """Every stored field about the person and their consent history (design §6), JSON-ready."""
        async with self._database.read() as session:
            person = await session.get(Person, person_id)
            volunteer = await VolunteerRepository(session).get(person_id)
            organisation = (await OrganisationRepository(session).get(volunteer.organisation_id)
                            if volunteer and volunteer.organisation_id else None)
            history = await ConsentRepository(session).history(person_id)
            others = await PersonalRecords(session).rows_about(
                person_id, tables_done=frozenset({"people", "volunteers", "consent_records"}))
            erased = await session.get(Erasure, person_id) is not None
        data: dict[str, Any] = {
            "what_we_keep": what_we_keep(signed_up=volunteer is not None, erased=erased,
                                         has_name=bool(person and (person.display_name or person.email))),
            "person": _columns(person) if person else None,
            "sign_up": None,
            "consent_history": [_columns(record, skip={"id", "person_id"}) for record in history],
        }
        if volunteer is not None:
            data["sign_up"] = {**_columns(volunteer, skip={"person_id"}),
                               "organisation_name": organisation.name if organisation else None}
        data["other_records"] = {table: [{k: _jsonable(v) for k, v in row.items()} for row in rows]
                                 for table, rows in others.items()}
        return data

    # -- start-up --------------------------------------------------------------------------------------------

    async def seed_organisations(self) -> None:
        """At start-up: the shipped list (content/organisations.json) fills an empty organisation list once.
        After that the list is the admins' ("programme" → organisations): a later release's new names are
        added there, and a renamed or retired organisation never comes back."""
        names = load_organisation_names()
        async with self._database.transaction() as session:
            added = await OrganisationRepository(session).seed(names)
        if added:
            log.info("added organisations from the shipped list", extra=Fields(count=added))


def what_we_keep(*, signed_up: bool, erased: bool, has_name: bool) -> str:
    """Said at the top of "my data": what is held and why, in plain words (docs/privacy.md says the same)."""
    if signed_up:
        return ("This is everything we hold about you: your details from Teams, your answers and your consent "
                "history. We use them to invite you to sessions. To delete your answers, type \"withdraw\".")
    reach = "We keep only what we need to reply to you here in Teams: your Teams ids and where to reach you"
    if erased:
        # After a withdrawal a name comes back only with a role in the bot (bot/services/contacts.py).
        name = (", and your name and e-mail from Teams, because you help run the programme." if has_name
                else ", not your name.")
        return (f"You withdrew, so your answers were deleted. {reach}{name} We also keep the record that you "
                "gave and then withdrew permission, because the law asks us to.")
    return (f"You haven't signed up, so we hold no answers from you. {reach}"
            + (", and your name and e-mail from Teams." if has_name else "."))


def _columns(row: Any, *, skip: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    return {column.key: _jsonable(getattr(row, column.key)) for column in row.__mapper__.column_attrs
            if column.key not in skip}
