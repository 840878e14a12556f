"""Running the programme (issue 12, design §4 and §6).

Admins: `programme` shows and changes the current phase and the programme end date, and leads to the
organisation list and the privacy notice versions. Facilitators: `adjustments` lists the people who asked for
an adjustments conversation (names and e-mails only) and marks who was contacted. Roles are checked by the
command router and the action registry (RoleService.require, which audits every refusal) before any handler
here runs; every change is audited by ProgrammeService with ids only.

Also here: the erasure log is attached to the database's write sessions, start-up re-applies logged erasures a
restored database lacks, and the retention job is a background job (bot/services/retention.py, bot/jobs.py).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from aiohttp import web
from pydantic import ConfigDict, StringConstraints

from bot.actions import ActionPayload, ChosenRecordId
from bot.clock import UK
from bot.features import Wiring
from bot.jobs import Leader, LoopJob
from bot.services.programme import (
    NOTICE_MAX_CHARS,
    NOTICE_MIN_CHARS,
    PHASE_NAMES,
    Change,
    OrganisationRow,
    ProgrammeService,
)
from bot.services.retention import (
    WARNING_DAYS,
    ErasureLog,
    RetentionService,
    RetentionWarning,
    install_erasure_log,
)
from bot.services.uk_time import parse_uk_date
from bot.turns import Turn
from cards.basics import notice
from cards.common import uk_day
from cards.programme import (
    AdjustmentLine,
    NoticeLine,
    OrganisationLine,
    ProgrammeCardView,
    adjustments_card,
    end_date_confirm_card,
    notices_card,
    organisations_card,
    programme_card,
    retention_warning_card,
)
from cards.signup import consent_again_card
from vocabulary.words import Role

log = logging.getLogger(__name__)

PRIVATE_ONLY = ("The adjustments list shows names and e-mails, so I show it only in a private chat. Message me "
                "there and type \"adjustments\".")
ORGANISATION_NAME_TEXT = "Type a name between 2 and 200 characters."
ORGANISATION_GONE = "That organisation is no longer on the list, so nothing changed."
# What each change of the organisations list says, by outcome ({name}: the organisation's name).
ADDED = {
    Change.DONE: "Added \"{name}\". People can choose it when they sign up.",
    Change.DUPLICATE: "\"{name}\" is already on the list, so nothing changed.",
}
RENAMED = {
    Change.DONE: "Renamed. Sign-ups that had the old name now show \"{name}\".",
    Change.UNCHANGED: "That is already its name, so nothing changed.",
    Change.DUPLICATE: "Another organisation already has that name, so nothing changed.",
    Change.MISSING: ORGANISATION_GONE,
}
RETIRED = {
    Change.DONE: "Retired \"{name}\". It stays on existing sign-ups, and new people can't choose it.",
    Change.UNCHANGED: "\"{name}\" is already retired, so nothing changed.",
    Change.LAST_ONE: "That is the last organisation people can choose, so I can't retire it. Add another one first.",
}
RESTORED = {
    Change.DONE: "\"{name}\" is offered at sign-up again.",
    Change.UNCHANGED: "\"{name}\" is already offered at sign-up, so nothing changed.",
}

RETENTION = web.AppKey("retention", RetentionService)
PROGRAMME = web.AppKey("programme", ProgrammeService)

OrganisationName = Annotated[str, StringConstraints(max_length=400)]
PersonId = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F-]{36}$", to_lower=True)]


class NoFields(ActionPayload):
    pass


class SaveProgramme(ActionPayload):
    """The settings form. A badly typed date gets its own kind reply, so only its size is limited here."""

    phase: Literal["codesign", "train_the_trainer"]
    end_date: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] = ""
    confirmed: Literal["true", "false"] = "false"


class AddOrganisation(ActionPayload):
    add_name: OrganisationName


class RenameOrganisation(ActionPayload):
    rename_id: ChosenRecordId
    rename_name: OrganisationName


class RetireOrganisation(ActionPayload):
    retire_id: ChosenRecordId


class RestoreOrganisation(ActionPayload):
    restore_id: ChosenRecordId


class PublishNotice(ActionPayload):
    # Room for a notice a little too long, so its writer is told the limit instead of "out of date".
    model_config = ConfigDict(extra="forbid", str_max_length=NOTICE_MAX_CHARS + 5_000, frozen=True)
    notice_text: str
    ask_now: Literal["true", "false"] = "false"
    understood: Literal["true", "false"] = "false"


class MarkContacted(ActionPayload):
    person_id: PersonId
    contacted: Literal["true", "false"]


def _label(person_id: str, name: str | None, email: str | None) -> str:
    if name and email:
        return f"{name} ({email})"
    return name or email or person_id


class ProgrammeFeature:
    def __init__(self, wiring: Wiring, service: ProgrammeService) -> None:
        self.core = wiring.core
        self.service = service

    # -- settings -------------------------------------------------------------------------------------------

    async def show(self, turn: Turn, status: str | None = None) -> None:
        view = await self.service.view()
        await turn.reply_card(programme_card(ProgrammeCardView(
            phase=view.phase, end_date=view.end_date, deletion_date=view.deletion_date,
            retention_days=view.retention_days, notice_version=view.notice_version,
            notice_published_at=view.notice_published_at, status=status)))

    async def programme_command(self, turn: Turn) -> None:
        await self.show(turn)

    async def programme_action(self, turn: Turn, _: NoFields) -> None:
        await self.show(turn)

    async def save(self, turn: Turn, payload: SaveProgramme) -> None:
        end = parse_uk_date(payload.end_date) if payload.end_date else None
        if payload.end_date and end is None:
            await self.show(turn, "I couldn't read that end date. Choose it with the date picker, or type it like "
                                  "31/03/2027. Nothing was saved.")
            return
        view = await self.service.view()
        if end is not None and end != view.end_date and payload.confirmed != "true":
            deletion = self.service.deletion_date(end)
            days_left = (deletion - self.core.clock.now().astimezone(UK).date()).days
            if days_left < max(WARNING_DAYS):
                # Deleting everyone's data must never follow from a mistyped year: ask first.
                await turn.reply_card(end_date_confirm_card(phase=payload.phase, end_date=end,
                                                            deletion_date=deletion, days_left=days_left))
                return
        phase = await self.service.set_phase(turn.person_id, payload.phase)
        ended = await self.service.set_end_date(turn.person_id, end)
        if Change.DONE not in (phase, ended):
            await self.show(turn, "Nothing needed to change.")
            return
        said = [f"Saved. The current phase is {PHASE_NAMES[payload.phase]}."]
        if end is None:
            said.append("There is no programme end date, so no deletion is planned.")
        else:
            said.append(f"The programme ends on {uk_day(end)}. Personal data will be deleted on "
                        f"{uk_day(self.service.deletion_date(end))}.")
        await self.show(turn, " ".join(said))

    # -- organisations --------------------------------------------------------------------------------------

    async def show_organisations(self, turn: Turn, status: str | None = None) -> None:
        await self._reply_organisations(turn, await self.service.organisations(), status)

    @staticmethod
    async def _reply_organisations(turn: Turn, rows: list[OrganisationRow], status: str | None) -> None:
        await turn.reply_card(organisations_card(
            [OrganisationLine(row.id, row.name, row.retired) for row in rows], status))

    async def organisations_action(self, turn: Turn, _: NoFields) -> None:
        await self.show_organisations(turn)

    async def organisations_command(self, turn: Turn) -> None:
        await self.show_organisations(turn)

    async def _organisation_changed(self, turn: Turn, outcome: Change, organisation_id: int | None,
                                    texts: dict[Change, str], otherwise: str) -> None:
        """The list again, with what happened on top; the texts name the organisation as {name}. One read of
        the list gives both the name and the card."""
        rows = await self.service.organisations()
        name = next((row.name for row in rows if row.id == organisation_id), "That organisation")
        await self._reply_organisations(turn, rows, texts.get(outcome, otherwise).format(name=name))

    async def add_organisation(self, turn: Turn, payload: AddOrganisation) -> None:
        outcome, organisation_id = await self.service.add_organisation(turn.person_id, payload.add_name)
        await self._organisation_changed(turn, outcome, organisation_id, ADDED, ORGANISATION_NAME_TEXT)

    async def rename_organisation(self, turn: Turn, payload: RenameOrganisation) -> None:
        outcome = await self.service.rename_organisation(turn.person_id, payload.rename_id, payload.rename_name)
        await self._organisation_changed(turn, outcome, payload.rename_id, RENAMED, ORGANISATION_NAME_TEXT)

    async def retire_organisation(self, turn: Turn, payload: RetireOrganisation) -> None:
        outcome = await self.service.set_retired(turn.person_id, payload.retire_id, True)
        await self._organisation_changed(turn, outcome, payload.retire_id, RETIRED, ORGANISATION_GONE)

    async def restore_organisation(self, turn: Turn, payload: RestoreOrganisation) -> None:
        outcome = await self.service.set_retired(turn.person_id, payload.restore_id, False)
        await self._organisation_changed(turn, outcome, payload.restore_id, RESTORED, ORGANISATION_GONE)

    # -- privacy notice versions ----------------------------------------------------------------------------

    async def show_notices(self, turn: Turn, status: str | None = None, draft: str | None = None) -> None:
        lines = [NoticeLine(row.version, row.sha256, row.published_at, row.chars)
                 for row in await self.service.notices()]
        if draft is None:
            try:
                draft = (await self.core.notices.current()).text
            except LookupError:
                draft = ""
        await turn.reply_card(notices_card(lines, draft[:NOTICE_MAX_CHARS], status))

    async def notices_action(self, turn: Turn, _: NoFields) -> None:
        await self.show_notices(turn)

    async def notices_command(self, turn: Turn) -> None:
        await self.show_notices(turn)

    async def publish_notice(self, turn: Turn, payload: PublishNotice) -> None:
        if payload.understood != "true":
            await self.show_notices(turn, "Nothing was published. Tick \"I understand\" and press Publish again.",
                                    payload.notice_text)
            return
        def asking_card(version: int, text: str) -> dict[str, object]:
            return consent_again_card(text, version)

        asking = asking_card if payload.ask_now == "true" else None
        result = await self.service.publish_notice(turn.person_id, payload.notice_text, asking)
        if result.change == Change.INVALID:
            await self.show_notices(turn, f"Nothing was published. The notice must be between {NOTICE_MIN_CHARS} "
                                          f"and {NOTICE_MAX_CHARS:,} characters long. Yours has "
                                          f"{len(payload.notice_text.strip()):,}.", payload.notice_text)
            return
        if result.change == Change.UNCHANGED:
            await self.show_notices(turn, f"That is the same text as version {result.version}, so nothing was "
                                          "published.")
            return
        said = (f"Version {result.version} is published. Everyone who signed up will be asked to agree again "
                "before we use their answers.")
        if asking is not None:
            said += " I'm sending each of them a message to ask (after 8am if it is late now)."
        await self.show_notices(turn, said)

    # -- adjustments ----------------------------------------------------------------------------------------

    async def show_adjustments(self, turn: Turn, status: str | None = None) -> None:
        if not turn.is_personal:
            await turn.reply_card(notice("Adjustments conversations", PRIVATE_ONLY))
            return
        rows = await self.service.adjustments()
        await turn.reply_card(adjustments_card([
            AdjustmentLine(row.person_id, _label(row.person_id, row.display_name, row.email), row.signed_up_at,
                           row.contacted_at, row.contacted_by_name or row.contacted_by)
            for row in rows], status))

    async def adjustments_command(self, turn: Turn) -> None:
        await self.show_adjustments(turn)

    async def adjustments_action(self, turn: Turn, _: NoFields) -> None:
        await self.show_adjustments(turn)

    async def mark(self, turn: Turn, payload: MarkContacted) -> None:
        contacted = payload.contacted == "true"
        outcome = await self.service.mark_contacted(turn.person_id, payload.person_id, contacted)
        status = {
            Change.DONE: "Marked as contacted. Thank you." if contacted else "Marked as not contacted.",
            Change.UNCHANGED: "Someone already marked that, so nothing changed." if contacted
            else "They were not marked as contacted, so nothing changed.",
        }.get(outcome, "That person no longer asks for a conversation, so nothing changed.")
        await self.show_adjustments(turn, status)


def warning_card(warning: RetentionWarning) -> dict[str, object]:
    return retention_warning_card(days_left=warning.days_left, deletion_date=warning.deletion_date,
                                  end_date=warning.end_date, retention_days=warning.retention_days)


def register(wiring: Wiring) -> None:
    core = wiring.core
    settings = core.settings
    service = ProgrammeService(core)
    erasure_log = ErasureLog(Path(settings.erasure_log_path))
    # Before anything can erase: from now on every erasure row reaches the log before it commits.
    install_erasure_log(core.database, erasure_log)
    retention = RetentionService(core, erasure_log, service, warning_card)
    wiring.app[RETENTION] = retention
    wiring.app[PROGRAMME] = service
    feature = ProgrammeFeature(wiring, service)

    admin, facilitator = Role.ADMIN, Role.FACILITATOR
    commands, actions = wiring.commands, wiring.actions
    commands.add("programme", ["programme", "program", "running the programme", "programme settings",
                               "end date", "current phase"], feature.programme_command, role=admin)
    commands.add("organisations", ["organisations", "organizations", "organisation list"],
                 feature.organisations_command, role=admin)
    commands.add("notice_versions", ["notice versions", "privacy notice versions", "publish privacy notice",
                                     "new privacy notice"], feature.notices_command, role=admin)
    commands.add("adjustments", ["adjustments", "adjustments list", "adjustment requests"],
                 feature.adjustments_command, role=facilitator)
    actions.register("programme", NoFields, feature.programme_action, role=admin)
    actions.register("programme_save", SaveProgramme, feature.save, role=admin)
    actions.register("programme_organisations", NoFields, feature.organisations_action, role=admin)
    actions.register("programme_org_add", AddOrganisation, feature.add_organisation, role=admin)
    actions.register("programme_org_rename", RenameOrganisation, feature.rename_organisation, role=admin)
    actions.register("programme_org_retire", RetireOrganisation, feature.retire_organisation, role=admin)
    actions.register("programme_org_restore", RestoreOrganisation, feature.restore_organisation, role=admin)
    actions.register("programme_notices", NoFields, feature.notices_action, role=admin)
    actions.register("programme_notice_publish", PublishNotice, feature.publish_notice, role=admin)
    actions.register("adjustments", NoFields, feature.adjustments_action, role=facilitator)
    actions.register("adjustments_mark", MarkContacted, feature.mark, role=facilitator)

    async def replay_erasures() -> None:
        await retention.replay()

    async def check_notices() -> None:
        await service.check_repo_notices()

    wiring.startup.append(replay_erasures)
    wiring.startup.append(check_notices)

    # Every process may run it: each UK day's run is recorded in the database first, so only one process warns or
    # erases that day.
    every = timedelta(minutes=settings.retention_check_minutes)
    wiring.jobs.append(LoopJob("retention", lambda stop: retention.run_forever(stop, every), every.total_seconds(),
                               Leader.DATABASE))
