"""Entra directory look-ups: a user by e-mail (to give anyone in the tenant a role) and the transitive members
of a group (for group roles). Results hold ids and, for a resolved user, the name and e-mail the admin asked
about; none of it is logged."""

from __future__ import annotations

from dataclasses import dataclass

from bot.graph.client import GraphClient, odata_string, segment
from bot.graph.errors import GraphBadRequest, GraphNotFound

USER_FIELDS = "id,displayName,mail,userPrincipalName"


@dataclass(frozen=True)
class DirectoryUser:
    id: str
    display_name: str | None
    mail: str | None


def _user(data: dict[str, object]) -> DirectoryUser | None:
    user_id = data.get("id")
    if not isinstance(user_id, str):
        return None
    name = data.get("displayName")
    mail = data.get("mail") or data.get("userPrincipalName")
    return DirectoryUser(user_id.lower(), name if isinstance(name, str) else None,
                         mail.lower() if isinstance(mail, str) else None)


async def resolve_user_by_email(client: GraphClient, email: str) -> DirectoryUser | None:
    """The tenant's user with this e-mail, or None. Needs User.Read.All.

    GET /users/{upn} finds members, whose e-mail is usually their user principal name; guests from other
    organisations have a `#EXT#` principal name, so when that misses we filter on `mail`."""
    email = email.strip()
    if "@" not in email or any(ch in email for ch in "/?#\\"):
        return None
    try:
        data = await client.get("users.get", f"/users/{segment(email)}", {"$select": USER_FIELDS})
        return _user(data)
    except (GraphNotFound, GraphBadRequest):
        pass
    async for item in client.items("users.find", "/users",
                                   {"$filter": f"mail eq {odata_string(email)}", "$select": USER_FIELDS}):
        return _user(item)
    return None


async def transitive_user_ids(client: GraphClient, group_id: str) -> set[str]:
    """Entra object ids of every user in the group, nested groups included. Needs GroupMember.Read.All.

    Members of other types (devices, service principals, the nested groups themselves) are skipped here rather
    than with an OData cast, which needs advanced query headers."""
    members: set[str] = set()
    async for item in client.items("groups.members", f"/groups/{segment(group_id)}/transitiveMembers",
                                   {"$select": "id", "$top": "999"}):
        kind = item.get("@odata.type")
        member_id = item.get("id")
        if isinstance(member_id, str) and kind in (None, "#microsoft.graph.user"):
            members.add(member_id.lower())
    return members
