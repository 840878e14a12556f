"""The roles card (admins): who is a facilitator or an admin, give a role by e-mail, take one away."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cards.common import HELP, Card, card, heading, no_inputs, para, submit
from vocabulary.actions.people import SHOW_HELP
from vocabulary.actions.programme import GRANT_ROLE, GRANT_ROLE_BY_EMAIL, REVOKE_ROLE, SHOW_AUDIT
from vocabulary.words import Role

# Keeps the card well under Teams' 80 KB (design §9); the command line lists everyone.
MAX_ROWS_PER_ROLE = 60


@dataclass(frozen=True)
class RoleRow:
    person_id: str
    role: Role
    label: str  # their name and e-mail when we know them, else their id
    also_admin: bool = False  # a facilitator who is an admin too needs no "Make admin" button
    is_you: bool = False
    from_group: bool = False  # held only through an Entra group: changed in Entra, not here
    also_from_group: bool = False  # a grant here, and the group too: removing it here leaves the group's


@dataclass(frozen=True)
class RolesView:
    rows: tuple[RoleRow, ...]
    status: str | None = None  # what the last press or command did, said first
    directory: bool = False  # Microsoft Graph finds people by e-mail, so they need not have messaged the bot
    groups_unread: bool = False  # Entra groups are configured but could not be read just now


def person_label(person_id: str, display_name: str | None, email: str | None) -> str:
    if display_name and email:
        return f"{display_name} ({email})"
    return display_name or email or person_id


def _subheading(text: str) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, "size": "Medium", "weight": "Bolder",
            "spacing": "Large"}


FROM_GROUP = "from the Entra group"
ROLES_INTRO = ("Facilitators can create sessions and send announcements. Admins can do that too. They can also "
               "see counts, give and remove roles, and read the audit log.")
GIVE_ROLE = "Give someone a role"
GIVE_ROLE_BUTTON = "Give role"
EMAIL_LABEL = "Their work e-mail (required)"
ROLE_LABEL = "Role (required)"


def row_text(row: RoleRow) -> str:
    """How a role holder is named on the card and the desk: "(you)", and whether an Entra group gives it."""
    label = f"{row.label} (you)" if row.is_you else row.label
    if row.from_group:
        return f"{label} ({FROM_GROUP})"
    return label + (f" (also {FROM_GROUP})" if row.also_from_group else "")


def revoke_title(row: RoleRow) -> str:
    return f"Remove the {row.role.label.lower()} role from {row.label}"


def make_admin_title(row: RoleRow) -> str | None:
    """The "make admin" button's title, or None when the row needs none (an admin already, or a group's)."""
    if row.role == Role.FACILITATOR and not row.also_admin and not row.from_group:
        return f"Make {row.label} an admin"
    return None


def give_role_help(directory: bool) -> str:
    return ("Type their work e-mail. I'll look them up in your organisation's directory." if directory else
            "Type their work e-mail. They need to have sent me a message before, so I know who they are.")


def roles_notes(view: RolesView) -> list[str]:
    """The small print under the lists."""
    notes = []
    if any(row.from_group or row.also_from_group for row in view.rows):
        notes.append(f"People {FROM_GROUP} have their role while they are in the group. To change that, change the "
                     "group in Microsoft Entra.")
    if view.groups_unread:
        notes.append("I couldn't read the Entra groups just now, so people who have a role through a group may be "
                     "missing from this list.")
    if any(row.label == row.person_id for row in view.rows):
        notes.append("Someone shows as a long id when they have not sent me a message yet.")
    return notes


def _row(row: RoleRow) -> dict[str, Any]:
    if row.from_group:
        # Nothing to press: the bot cannot change an Entra group's members.
        return {"type": "Container", "separator": True, "items": [para(row_text(row))]}
    label = row_text(row)
    buttons = [no_inputs(submit(revoke_title(row), REVOKE_ROLE, role=row.role.value, person_id=row.person_id))]
    make_admin = make_admin_title(row)
    if make_admin is not None:
        buttons.insert(0, no_inputs(submit(make_admin, GRANT_ROLE, role=Role.ADMIN.value,
                                           person_id=row.person_id)))
    return {"type": "Container", "separator": True, "items": [
        para(label),
        {"type": "ActionSet", "actions": buttons},
    ]}


def _section(title: str, rows: list[RoleRow]) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = [_subheading(title)]
    if not rows:
        body.append(para("No one yet."))
    body += [_row(row) for row in rows[:MAX_ROWS_PER_ROLE]]
    if len(rows) > MAX_ROWS_PER_ROLE:
        body.append(para(f"{len(rows) - MAX_ROWS_PER_ROLE} more are not shown here. To see everyone, ask your "
                         "technical team to run: python -m bot roles list", subtle=True))
    return body


def roles_card(view: RolesView) -> Card:
    body: list[dict[str, Any]] = []
    if view.status:
        body.append(para(view.status, weight="Bolder"))
    body += [
        heading("Roles"),
        para(ROLES_INTRO),
    ]
    body += _section("Admins", [row for row in view.rows if row.role == Role.ADMIN])
    body += _section("Facilitators", [row for row in view.rows if row.role == Role.FACILITATOR])
    body += [para(text, subtle=True) for text in roles_notes(view)]
    body += [
        _subheading(GIVE_ROLE),
        para(give_role_help(view.directory)),
        {"type": "Input.Text", "id": "email", "style": "Email", "label": EMAIL_LABEL,
         "placeholder": "name@nhs.net", "isRequired": True, "maxLength": 320,
         "errorMessage": "Type their work e-mail, like name@nhs.net."},
        {"type": "Input.ChoiceSet", "id": "role", "style": "expanded", "label": ROLE_LABEL,
         "isRequired": True, "errorMessage": "Choose a role.",
         "choices": [{"title": role.label, "value": role.value} for role in Role]},
        para('You can also type "roles grant facilitator" and @mention the person, in a chat where I am.',
             subtle=True),
    ]
    return card(body, [
        submit(GIVE_ROLE_BUTTON, GRANT_ROLE_BY_EMAIL, style="positive"),
        no_inputs(submit("See the audit log", SHOW_AUDIT)),
        no_inputs(submit(HELP, SHOW_HELP)),
    ])
