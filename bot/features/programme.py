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
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TypeAlias

from aiohttp import web

from bot.features import Wiring
from bot.jobs import Leader, LoopJob
from bot.services.programme import NOTICE_MIN_CHARS, ProgrammeService
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
from cards.programme import (
    OrganisationLine,
    adjustments_card,
    end_date_confirm_card,
    notices_card,
    organisations_card,
    programme_card,
    retention_warning_card,
)
from cards.signup import consent_again_card
from vocabulary.actions.programme import (
    ADD_ORGANISATION,
    MARK_CONTACTED,
    NOTICE_MAX_CHARS,
    PUBLISH_NOTICE,
    RENAME_ORGANISATION,
    RESTORE_ORGANISATION,
    RETIRE_ORGANISATION,
    SAVE_PROGRAMME,
    SHOW_ADJUSTMENTS,
    SHOW_NOTICES,
    SHOW_ORGANISATIONS,
    SHOW_PROGRAMME,
    AddOrganisationPayload,
    MarkContactedPayload,
    ProgrammeSettingsPayload,
    PublishNoticePayload,
    RenameOrganisationPayload,
    RestoreOrganisationPayload,
    RetireOrganisationPayload,
)
from vocabulary.catalogue import NoPayload
from vocabulary.uk_time import UK, uk_day
from vocabulary.words import Phase, ProgrammeChange, Role

log = logging.getLogger(__name__)

PRIVATE_ONLY = ("The adjustments list shows names and e-mails, so I show it only in a private chat. Message me "
                "there and type \"adjustments\".")
ORGANISATION_NAME_TEXT = "Type a name between 2 and 200 characters."
ORGANISATION_GONE = "That organisation is no longer on the list, so nothing changed."
# What each change of the organisations list says, by outcome ({name}: the organisation's name).
ADDED = {
    ProgrammeChange.DONE: "Added \"{name}\". People can choose it when they sign up.",
    ProgrammeChange.DUPLICATE: "\"{name}\" is already on the list, so nothing changed.",
}
RENAMED = {
    ProgrammeChange.DONE: "Renamed. Sign-ups that had the old name now show \"{name}\".",
    ProgrammeChange.UNCHANGED: "That is already its name, so nothing changed.",
    ProgrammeChange.DUPLICATE: "Another organisation already has that name, so nothing changed.",
    ProgrammeChange.MISSING: ORGANISATION_GONE,
}
RETIRED = {
    ProgrammeChange.DONE: "Retired \"{name}\". It stays on existing sign-ups, and new people can't choose it.",
    ProgrammeChange.UNCHANGED: "\"{name}\" is already retired, so nothing changed.",
    ProgrammeChange.LAST_ONE: "That is the last organisation people can choose, so I can't retire it. Add another "
                              "one first.",
}
RESTORED = {
    ProgrammeChange.DONE: "\"{name}\" is offered at sign-up again.",
    ProgrammeChange.UNCHANGED: "\"{name}\" is already offered at sign-up, so nothing changed.",
}

RETENTION = web.AppKey("retention", RetentionService)
PROGRAMME = web.AppKey("programme", ProgrammeService)

# One change of the organisation list: the payload of one of its four forms.
OrganisationPayload: TypeAlias = (AddOrganisationPayload | RenameOrganisationPayload | RetireOrganisationPayload
                                  | RestoreOrganisationPayload)


@dataclass(frozen=True)
class DeletionSoon:
    """Asked before saving: with this end date, everyone's personal data would be deleted within 14 days."""

    phase: Phase
    end_date: date
    deletion_date: date
    days_left: int


@dataclass(frozen=True)
class SettingsSaved:
    """What saving the programme settings said, or the question asked first (`confirm`)."""

    status: str | None
    confirm: DeletionSoon | None = None


class ProgrammeFeature:
    """The chat's programme cards. The desk's Programme page calls the same methods (`save_settings`,
    `change_organisation`, `publish`), so both say the same and check the same (issue 22)."""

    def __init__(self, wiring: Wiring, service: ProgrammeService) -> None:
        self.core = wiring.core
        self.service = service

    # -- settings -------------------------------------------------------------------------------------------

    async def show(self, turn: Turn, status: str | None = None) -> None:
        await turn.reply_card(programme_card(await self.service.view(), status))

    async def programme_command(self, turn: Turn) -> None:
        await self.show(turn)

    async def programme_action(self, turn: Turn, _: NoPayload) -> None:
        await self.show(turn)

    async def save_settings(self, actor_id: str, payload: ProgrammeSettingsPayload) -> SettingsSaved:
        end = parse_uk_date(payload.end_date) if payload.end_date else None
        if payload.end_date and end is None:
            return SettingsSaved("I couldn't read that end date. Choose it with the date picker, or type it like "
                                 "31/03/2027. Nothing was saved.")
        view = await self.service.view()
        if end is not None and end != view.end_date and payload.confirmed != "true":
            deletion = self.service.deletion_date(end)
            days_left = (deletion - self.core.clock.now().astimezone(UK).date()).days
            if days_left < max(WARNING_DAYS):
                # Deleting everyone's data must never follow from a mistyped year: ask first.
                return SettingsSaved(None, DeletionSoon(payload.phase, end, deletion, days_left))
        phase = await self.service.set_phase(actor_id, payload.phase)
        ended = await self.service.set_end_date(actor_id, end)
        if ProgrammeChange.DONE not in (phase, ended):
            return SettingsSaved("Nothing needed to change.")
        said = [f"Saved. The current phase is {payload.phase.label}."]
        if end is None:
            said.append("There is no programme end date, so no deletion is planned.")
        else:
            said.append(f"The programme ends on {uk_day(end)}. Personal data will be deleted on "
                        f"{uk_day(self.service.deletion_date(end))}.")
        return SettingsSaved(" ".join(said))

    async def save(self, turn: Turn, payload: ProgrammeSettingsPayload) -> None:
        saved = await self.save_settings(turn.person_id, payload)
        if saved.confirm is not None:
            soon = saved.confirm
            await turn.reply_card(end_date_confirm_card(phase=soon.phase, end_date=soon.end_date,
                                                        deletion_date=soon.deletion_date, days_left=soon.days_left))
            return
        await self.show(turn, saved.status)

    # -- organisations --------------------------------------------------------------------------------------

    async def show_organisations(self, turn: Turn, status: str | None = None) -> None:
        await self._reply_organisations(turn, await self.service.organisations(), status)

    @staticmethod
    async def _reply_organisations(turn: Turn, rows: list[OrganisationLine], status: str | None) -> None:
        await turn.reply_card(organisations_card(rows, status))

    async def organisations_action(self, turn: Turn, _: NoPayload) -> None:
        await self.show_organisations(turn)

    async def organisations_command(self, turn: Turn) -> None:
        await self.show_organisations(turn)

    async def change_organisation(self, actor_id: str,
                                  payload: OrganisationPayload) -> tuple[list[OrganisationLine], str]:
        """Add, rename, retire or restore; then the list again and what happened, whose texts name the
        organisation as {name}. One read of the list gives both the name and the list."""
        organisation_id: int | None
        if isinstance(payload, AddOrganisationPayload):
            outcome, organisation_id = await self.service.add_organisation(actor_id, payload.add_name)
            texts, otherwise = ADDED, ORGANISATION_NAME_TEXT
        elif isinstance(payload, RenameOrganisationPayload):
            organisation_id = payload.rename_id
            outcome = await self.service.rename_organisation(actor_id, organisation_id, payload.rename_name)
            texts, otherwise = RENAMED, ORGANISATION_NAME_TEXT
        elif isinstance(payload, RetireOrganisationPayload):
            organisation_id = payload.retire_id
            outcome = await self.service.set_retired(actor_id, organisation_id, True)
            texts, otherwise = RETIRED, ORGANISATION_GONE
        else:
            organisation_id = payload.restore_id
            outcome = await self.service.set_retired(actor_id, organisation_id, False)
            texts, otherwise = RESTORED, ORGANISATION_GONE
        rows = await self.service.organisations()
        name = next((row.name for row in rows if row.id == organisation_id), "That organisation")
        return rows, texts.get(outcome, otherwise).format(name=name)

    async def _organisation_changed(self, turn: Turn, payload: OrganisationPayload) -> None:
        rows, status = await self.change_organisation(turn.person_id, payload)
        await self._reply_organisations(turn, rows, status)

    async def add_organisation(self, turn: Turn, payload: AddOrganisationPayload) -> None:
        await self._organisation_changed(turn, payload)

    async def rename_organisation(self, turn: Turn, payload: RenameOrganisationPayload) -> None:
        await self._organisation_changed(turn, payload)

    async def retire_organisation(self, turn: Turn, payload: RetireOrganisationPayload) -> None:
        await self._organisation_changed(turn, payload)

    async def restore_organisation(self, turn: Turn, payload: RestoreOrganisationPayload) -> None:
        await self._organisation_changed(turn, payload)

    # -- privacy notice versions ----------------------------------------------------------------------------

    async def current_notice_text(self) -> str:
        """The newest version's text: the start of the next one."""
        try:
            return (await self.core.notices.current()).text
        except LookupError:
            return ""

    async def show_notices(self, turn: Turn, status: str | None = None, draft: str | None = None) -> None:
        lines = await self.service.notices()
        if draft is None:
            draft = await self.current_notice_text()
        await turn.reply_card(notices_card(lines, draft[:NOTICE_MAX_CHARS], status))

    async def notices_action(self, turn: Turn, _: NoPayload) -> None:
        await self.show_notices(turn)

    async def notices_command(self, turn: Turn) -> None:
        await self.show_notices(turn)

    async def publish(self, actor_id: str, payload: PublishNoticePayload) -> tuple[str, str | None]:
        """Publish a new version; what happened, and the text to show again in the form when nothing was
        published because of it (None: the newest version's)."""
        if payload.understood != "true":
            return "Nothing was published. Tick \"I understand\" and press Publish again.", payload.notice_text

        def asking_card(version: int, text: str) -> dict[str, object]:
            return consent_again_card(text, version)

        asking = asking_card if payload.ask_now == "true" else None
        result = await self.service.publish_notice(actor_id, payload.notice_text, asking)
        if result.change == ProgrammeChange.INVALID:
            return (f"Nothing was published. The notice must be between {NOTICE_MIN_CHARS} and "
                    f"{NOTICE_MAX_CHARS:,} characters long. Yours has {len(payload.notice_text.strip()):,}.",
                    payload.notice_text)
        if result.change == ProgrammeChange.UNCHANGED:
            return f"That is the same text as version {result.version}, so nothing was published.", None
        said = (f"Version {result.version} is published. Everyone who signed up will be asked to agree again "
                "before we use their answers.")
        if asking is not None:
            said += " I'm sending each of them a message to ask (after 8am if it is late now)."
        return said, None

    async def publish_notice(self, turn: Turn, payload: PublishNoticePayload) -> None:
        status, draft = await self.publish(turn.person_id, payload)
        await self.show_notices(turn, status, draft)

    # -- adjustments ----------------------------------------------------------------------------------------

    async def show_adjustments(self, turn: Turn, status: str | None = None) -> None:
        if not turn.is_personal:
            await turn.reply_card(notice("Adjustments conversations", PRIVATE_ONLY))
            return
        await turn.reply_card(adjustments_card(await self.service.adjustments(), status))

    async def adjustments_command(self, turn: Turn) -> None:
        await self.show_adjustments(turn)

    async def adjustments_action(self, turn: Turn, _: NoPayload) -> None:
        await self.show_adjustments(turn)

    async def mark(self, turn: Turn, payload: MarkContactedPayload) -> None:
        contacted = payload.contacted == "true"
        outcome = await self.service.mark_contacted(turn.person_id, payload.person_id, contacted)
        status = {
            ProgrammeChange.DONE: "Marked as contacted. Thank you." if contacted else "Marked as not contacted.",
            ProgrammeChange.UNCHANGED: "Someone already marked that, so nothing changed." if contacted
            else "They were not marked as contacted, so nothing changed.",
        }.get(outcome, "That person no longer asks for a conversation, so nothing changed.")
        await self.show_adjustments(turn, status)


PROGRAMME_FEATURE = web.AppKey("programme_feature", ProgrammeFeature)  # the desk's Programme page uses it too


def warning_card(warning: RetentionWarning) -> dict[str, object]:
    return retention_warning_card(days_left=warning.days_left, deletion_date=warning.deletion_date,
                                  end_date=warning.end_date, retention_days=warning.retention_days)


def register(wiring: Wiring) -> None:
    core = wiring.core
    settings = core.settings
    service = ProgrammeService(core.database, core.clock, core.audit, retention_days=settings.retention_days,
                               quiet_hours=(settings.quiet_hours_start, settings.quiet_hours_end))
    erasure_log = ErasureLog(Path(settings.erasure_log_path))
    # Before anything can erase: from now on every erasure row reaches the log before it commits.
    install_erasure_log(core.database, erasure_log)
    retention = RetentionService(core.database, core.clock, core.audit, core.roles, core.volunteers, service,
                                 erasure_log, warning_card, retention_days=settings.retention_days)
    wiring.app[RETENTION] = retention
    wiring.app[PROGRAMME] = service
    feature = ProgrammeFeature(wiring, service)
    wiring.app[PROGRAMME_FEATURE] = feature

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
    actions.on_submit(SHOW_PROGRAMME, feature.programme_action)
    actions.on_submit(SAVE_PROGRAMME, feature.save)
    actions.on_submit(SHOW_ORGANISATIONS, feature.organisations_action)
    actions.on_submit(ADD_ORGANISATION, feature.add_organisation)
    actions.on_submit(RENAME_ORGANISATION, feature.rename_organisation)
    actions.on_submit(RETIRE_ORGANISATION, feature.retire_organisation)
    actions.on_submit(RESTORE_ORGANISATION, feature.restore_organisation)
    actions.on_submit(SHOW_NOTICES, feature.notices_action)
    actions.on_submit(PUBLISH_NOTICE, feature.publish_notice)
    actions.on_submit(SHOW_ADJUSTMENTS, feature.adjustments_action)
    actions.on_submit(MARK_CONTACTED, feature.mark)

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
