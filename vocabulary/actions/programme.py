"""Card actions of running the programme, roles and the audit log (bot/features/programme.py, bot/features/roles.py):
the programme settings, the organisation list, the privacy notice versions, the adjustments follow-up list, the
roles card and the audit log. Admins only, but the adjustments list, which facilitators use too.

`changes` names the tables a press may change besides the bookkeeping every turn does (people, conversation
refs, dialog state, the audit log): showing a card changes none."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, StringConstraints

from vocabulary.catalogue import ActionPayload, CardAction, ChosenRecordId, NoPayload, tables
from vocabulary.words import Phase, Role

ORGANISATION_NAME_MAX = 200  # the column's size
NOTICE_MAX_CHARS = 20_000  # about 3,000 words: a full notice, and the card that shows it stays far below 80 KB

GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
PLAYGROUND_ID = r"00000000-0000-0000-0000-[0-9]{13}"  # the Agents Playground's users, in local mode only
# A person the bot knows, by Entra object id: a role holder or someone who asked for an adjustments conversation.
PersonId = Annotated[str, StringConstraints(pattern=f"^(?:{GUID}|{PLAYGROUND_ID})$", to_lower=True)]
# Room for a name a little too long, so its writer is told the limit instead of "out of date".
OrganisationName = Annotated[str, StringConstraints(max_length=2 * ORGANISATION_NAME_MAX)]


class ProgrammeSettingsPayload(ActionPayload):
    """The settings form. A badly typed date gets its own kind reply, so only its size is limited here."""

    phase: Phase
    end_date: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] = ""
    confirmed: Literal["true", "false"] = "false"


class AddOrganisationPayload(ActionPayload):
    add_name: OrganisationName


class RenameOrganisationPayload(ActionPayload):
    rename_id: ChosenRecordId
    rename_name: OrganisationName


class RetireOrganisationPayload(ActionPayload):
    retire_id: ChosenRecordId


class RestoreOrganisationPayload(ActionPayload):
    restore_id: ChosenRecordId


class PublishNoticePayload(ActionPayload):
    # Room for a notice a little too long, so its writer is told the limit instead of "out of date".
    model_config = ConfigDict(extra="forbid", str_max_length=NOTICE_MAX_CHARS + 5_000, frozen=True)
    notice_text: str
    ask_now: Literal["true", "false"] = "false"
    understood: Literal["true", "false"] = "false"


class MarkContactedPayload(ActionPayload):
    person_id: PersonId
    contacted: Literal["true", "false"]


class RoleChangePayload(ActionPayload):
    """A "Make admin" or "Remove" button on the roles card."""

    role: Role
    person_id: PersonId


class GrantRoleByEmailPayload(ActionPayload):
    """The "Give role" form. A wrong e-mail gets its own kind reply, so only its size is limited here."""

    role: Role
    email: Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, max_length=320)] = ""


ADMIN, FACILITATOR = Role.ADMIN, Role.FACILITATOR

# -- programme settings, organisations, privacy notice versions (admins) ----------------------------------------
SHOW_PROGRAMME = CardAction("programme", NoPayload, ADMIN)
SAVE_PROGRAMME = CardAction("programme_save", ProgrammeSettingsPayload, ADMIN, tables("programme_settings"))
SHOW_ORGANISATIONS = CardAction("programme_organisations", NoPayload, ADMIN)
ADD_ORGANISATION = CardAction("programme_org_add", AddOrganisationPayload, ADMIN, tables("organisations"))
RENAME_ORGANISATION = CardAction("programme_org_rename", RenameOrganisationPayload, ADMIN, tables("organisations"))
RETIRE_ORGANISATION = CardAction("programme_org_retire", RetireOrganisationPayload, ADMIN, tables("organisations"))
RESTORE_ORGANISATION = CardAction("programme_org_restore", RestoreOrganisationPayload, ADMIN,
                                  tables("organisations"))
SHOW_NOTICES = CardAction("programme_notices", NoPayload, ADMIN)
# With "message volunteers now", each volunteer is sent the consent-again card through the outbox.
PUBLISH_NOTICE = CardAction("programme_notice_publish", PublishNoticePayload, ADMIN,
                            tables("privacy_notices", "outbox"))

# -- adjustments follow-up (facilitators) -----------------------------------------------------------------------
SHOW_ADJUSTMENTS = CardAction("adjustments", NoPayload, FACILITATOR)
MARK_CONTACTED = CardAction("adjustments_mark", MarkContactedPayload, FACILITATOR, tables("volunteers"))

# -- roles and the audit log (admins) ---------------------------------------------------------------------------
SHOW_ROLES = CardAction("roles", NoPayload, ADMIN)
GRANT_ROLE = CardAction("roles_grant", RoleChangePayload, ADMIN, tables("roles"))
REVOKE_ROLE = CardAction("roles_revoke", RoleChangePayload, ADMIN, tables("roles"))
GRANT_ROLE_BY_EMAIL = CardAction("roles_grant_email", GrantRoleByEmailPayload, ADMIN, tables("roles"))
SHOW_AUDIT = CardAction("audit", NoPayload, ADMIN)

PROGRAMME_ACTIONS: tuple[CardAction[Any], ...] = (
    SHOW_PROGRAMME, SAVE_PROGRAMME, SHOW_ORGANISATIONS, ADD_ORGANISATION, RENAME_ORGANISATION, RETIRE_ORGANISATION,
    RESTORE_ORGANISATION, SHOW_NOTICES, PUBLISH_NOTICE, SHOW_ADJUSTMENTS, MARK_CONTACTED, SHOW_ROLES, GRANT_ROLE,
    REVOKE_ROLE, GRANT_ROLE_BY_EMAIL, SHOW_AUDIT,
)
