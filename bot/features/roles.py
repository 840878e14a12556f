"""Roles and the audit log for admins (design §2 and §4 "Running the programme"; issue 3).

`roles` shows who is a facilitator or an admin, and gives or takes away roles: by @mention, by the e-mail of
someone who has used the bot (with Microsoft Graph on: of anyone in the directory), or by Entra object id.
People who hold a role through an Entra group are listed too, without buttons: only Entra changes that.
`audit` shows the latest audit entries. The role check is RoleService.require, run by the command
router and the action registry before any handler here; every change is audited by RoleService with ids only.
The list of people is shown only in a private chat.

This module also fills Person.email and display_name from Teams' member API the first time a person writes to
the bot in a personal chat, so that an admin can find them by e-mail. That lookup never breaks a turn.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aiohttp import web

from bot.activity import MemberInfo
from bot.commands import words
from bot.core import Core
from bot.features import Wiring
from bot.graph.errors import GraphError
from bot.graph.services import GraphServices
from bot.services.directory import Directory, KnownPerson
from bot.services.roles import RoleHolder
from bot.turns import Turn, plain_text
from cards.audit import audit_card
from cards.basics import notice
from cards.roles import RoleRow, RolesView, person_label, roles_card
from vocabulary.actions.programme import (
    GRANT_ROLE,
    GRANT_ROLE_BY_EMAIL,
    GUID,
    REVOKE_ROLE,
    SHOW_AUDIT,
    SHOW_ROLES,
    GrantRoleByEmailPayload,
    RoleChangePayload,
)
from vocabulary.catalogue import NoPayload
from vocabulary.words import Role, RoleChangeOutcome

log = logging.getLogger(__name__)

_GUID_IN_TEXT = re.compile(rf"\b{GUID}\b")
_EMAIL_IN_TEXT = re.compile(r"[^\s<>@,;:()\"']+@[^\s<>@,;:()\"']+\.[A-Za-z]{2,}")
_EMAIL = re.compile(r"^[^\s<>@,;:()\"']+@[^\s<>@,;:()\"']+\.[A-Za-z]{2,}$")

AUDIT_CARD_ENTRIES = 20
# Who was looked up in Teams lately: one member lookup per person per hour, whatever happens.
IDENTITY_LOOKUP_SECONDS = 1.5
IDENTITY_RECHECK = timedelta(hours=1)
IDENTITY_MEMO_SIZE = 10_000

_GRANT_WORDS = {"grant", "give", "add", "make"}
_REVOKE_WORDS = {"revoke", "remove", "take"}
# What people type for each role, besides its value ("facilitator", "admin").
_ROLE_WORDS = {Role.FACILITATOR.value: Role.FACILITATOR, "facilitators": Role.FACILITATOR,
               Role.ADMIN.value: Role.ADMIN, "admins": Role.ADMIN, "administrator": Role.ADMIN,
               "administrators": Role.ADMIN}

USAGE = ('To give a role, type "roles grant facilitator" (or "roles grant admin") and then their work e-mail, '
         'or @mention them. To take a role away, type "roles revoke facilitator" and then their e-mail. '
         'Or type "roles" to see the list.')

NOT_MET = ("I don't know anyone with the e-mail {email} yet. Ask them to send me a message, like \"hi\". "
           "Then try again.")
NOT_IN_DIRECTORY = ("I couldn't find anyone with the e-mail {email} in your organisation's directory. Check the "
                    "address and try again.")
DIRECTORY_DOWN = ("I couldn't look up {email} in your organisation's directory just now. Please try again in a "
                  "minute.")


@dataclass(frozen=True)
class Target:
    """A person a typed command names, once we know their Entra object id."""

    person_id: str
    label: str


@dataclass(frozen=True)
class RoleRequest:
    verb: str | None  # grant | revoke | None (just show the list)
    role: Role | None
    emails: tuple[str, ...]
    ids: tuple[str, ...]


def parse_request(text: str) -> RoleRequest:
    """Reads "roles grant facilitator a@nhs.net", tolerant of extra words; e-mails and ids are taken out first,
    so an address like admin.team@nhs.net is not read as a role."""
    emails = tuple(dict.fromkeys(email.lower() for email in _EMAIL_IN_TEXT.findall(text)))
    rest = _EMAIL_IN_TEXT.sub(" ", text)
    ids = tuple(dict.fromkeys(found.lower() for found in _GUID_IN_TEXT.findall(rest)))
    said = words(_GUID_IN_TEXT.sub(" ", rest))
    verbs = {"grant" for word in said if word in _GRANT_WORDS} | {"revoke" for word in said if word in _REVOKE_WORDS}
    roles = {_ROLE_WORDS[word] for word in said if word in _ROLE_WORDS}
    verb = verbs.pop() if len(verbs) == 1 else ("ambiguous" if verbs else None)
    role = roles.pop() if len(roles) == 1 else None
    return RoleRequest(verb, role, emails, ids)


def _a(role: Role) -> str:
    name = role.label.lower()
    return f"an {name}" if role == Role.ADMIN else f"a {name}"


@dataclass
class RolesFeature:
    core: Core
    directory: Directory
    graph: GraphServices | None = None  # Microsoft Graph, when GRAPH_ENABLED: the directory and group roles
    _looked_up: dict[str, datetime] = field(default_factory=dict)

    # -- the roles card ----------------------------------------------------------------------------------

    async def show_roles(self, turn: Turn, status: str | None = None) -> None:
        if not turn.is_personal:
            # The list names people and their e-mails: it stays out of channels and group chats.
            await turn.reply_card(notice("Roles", status or 'I show the list of roles only in a private chat. '
                                         'Message me there and type "roles".'))
            return
        await turn.reply_card(roles_card(await self.roles_view(turn.person_id, status)))

    async def roles_view(self, viewer_id: str, status: str | None = None) -> RolesView:
        """Who holds each role (stored, and through Entra groups), as the roles card and the desk show it."""
        holders = await self.core.roles.holders()
        grouped, unread = await self._group_holders()
        admins = {holder.person_id for holder in holders if holder.role == Role.ADMIN} | grouped[Role.ADMIN]
        rows = [self._row(holder, admins, viewer_id, grouped[holder.role]) for holder in holders]
        stored = {(holder.person_id, holder.role) for holder in holders}
        only_group = [(role, person_id) for role in Role for person_id in sorted(grouped[role])
                      if (person_id, role) not in stored]
        known = await self.directory.find_many([person_id for _, person_id in only_group])
        rows += [RoleRow(person_id=person_id, role=role,
                         label=_label(known[person_id]) if person_id in known else person_id,
                         from_group=True, is_you=person_id == viewer_id) for role, person_id in only_group]
        return RolesView(rows=tuple(rows), status=status, directory=self.graph is not None, groups_unread=unread)

    async def _group_holders(self) -> tuple[dict[Role, frozenset[str]], bool]:
        """Who holds each role through an Entra group (cached by the group role source, which never raises),
        and whether the groups could not be read just now."""
        source = self.graph.group_roles if self.graph is not None else None
        if source is None or not source.configured:
            return {role: frozenset() for role in Role}, False
        grouped = {role: await source.members(role.value) for role in Role}
        return grouped, source.last_error is not None

    @staticmethod
    def _row(holder: RoleHolder, admins: set[str], viewer: str, in_group: frozenset[str]) -> RoleRow:
        return RoleRow(person_id=holder.person_id, role=holder.role,
                       label=person_label(holder.person_id, holder.display_name, holder.email),
                       also_admin=holder.person_id in admins, is_you=holder.person_id == viewer,
                       also_from_group=holder.person_id in in_group)

    async def show_audit(self, turn: Turn) -> None:
        if not turn.is_personal:
            await turn.reply_card(notice("Audit log", "I show the audit log only in a private chat. "
                                         'Message me there and type "audit".'))
            return
        await turn.reply_card(audit_card(await self.core.roles.audit_entries(AUDIT_CARD_ENTRIES)))

    # -- changes -----------------------------------------------------------------------------------------

    async def change(self, actor_id: str, verb: str, role: Role, target: Target) -> str:
        """Grant or revoke (RoleService's rules: never the last admin), and say what happened in one or two short
        sentences. The chat and the desk both change roles here."""
        if verb == "grant":
            outcome = await self.core.roles.grant(actor_id, target.person_id, role)
        else:
            outcome = await self.core.roles.revoke(actor_id, target.person_id, role)
        log.info("role.%s.%s on %s by %s: %s", verb, role.value, target.person_id, actor_id, outcome.value)
        return self._said(verb, role, target, outcome)

    async def grant_by_email(self, actor_id: str, email: str, role: Role) -> str:
        """The roles card's "Give role" form (and the desk's): find the person by e-mail, then grant."""
        if not _EMAIL.match(email):
            return ("That doesn't look like an e-mail address. Type their work e-mail, like name@nhs.net, and press "
                    "\"Give role\" again.")
        found = await self._by_email(email)
        if isinstance(found, str):
            return found
        return await self.change(actor_id, "grant", role, found)

    def _said(self, verb: str, role: Role, target: Target, outcome: RoleChangeOutcome) -> str:
        name = target.label
        if verb == "grant":
            if outcome == RoleChangeOutcome.DONE:
                return f"{name} is now {_a(role)}."
            return f"{name} is already {_a(role)}, so nothing changed."
        if outcome == RoleChangeOutcome.LAST_ADMIN:
            return f"{name} is the only admin, so I can't remove their admin role. Make someone else an admin first."
        if outcome == RoleChangeOutcome.UNCHANGED:
            return f"{name} is not {_a(role)}, so nothing changed."
        said = f"{name} is no longer {_a(role)}."
        if role == Role.ADMIN and target.person_id in self.core.settings.bootstrap_admins:
            said += (" They are in the BOOTSTRAP_ADMINS setting, so they will be an admin again when the bot "
                     "restarts. Ask your technical team to take them out of that setting.")
        return said

    async def _by_email(self, email: str) -> Target | str:
        """The person with this e-mail: someone we have met, or, with Graph on, anyone in the directory (members
        and guests). Someone found only in the directory is not stored: the roles list shows their id until
        they message the bot. A str says kindly why no one was found."""
        known = await self.directory.find_by_email(email)
        if known is not None:
            return Target(known.person_id, _label(known))
        if self.graph is None:
            return NOT_MET.format(email=email)
        try:
            user = await self.graph.resolve_user_by_email(email)
        except GraphError as exc:  # its text holds the operation and status only, never the address
            log.warning("directory look-up for a role failed: %s", exc)
            return DIRECTORY_DOWN.format(email=email)
        if user is None or not re.fullmatch(GUID, user.id):
            return NOT_IN_DIRECTORY.format(email=email)
        return Target(user.id, person_label(user.id, user.display_name, user.mail))

    async def target(self, person_id: str) -> Target:
        """Someone by Entra object id, named as we know them (else by the id)."""
        known = await self.directory.find(person_id)
        return Target(person_id, _label(known) if known else person_id)

    # -- typed commands ----------------------------------------------------------------------------------

    async def roles_command(self, turn: Turn) -> None:
        request = parse_request(plain_text(turn.activity))
        mentioned = self._mentioned(turn)
        if request.verb is None and not (request.emails or request.ids or mentioned):
            await self.show_roles(turn)
            return
        if request.verb not in ("grant", "revoke") or request.role is None or not (
                request.emails or request.ids or mentioned):
            await turn.reply_card(notice("How to change a role", USAGE))
            return
        said: list[str] = []
        targets: list[Target] = []
        for teams_user_id, mention_name in mentioned:
            target = await self._from_mention(turn, teams_user_id)
            if target is None:
                said.append(f"I couldn't look up {mention_name or 'that person'} in Teams. Try again in a minute, "
                            "or use their work e-mail.")
            else:
                targets.append(target)
        for email in request.emails:
            found = await self._by_email(email)
            if isinstance(found, str):
                said.append(found)
            else:
                targets.append(found)
        for person_id in request.ids:
            targets.append(await self.target(person_id))
        for target in dict.fromkeys(targets):
            said.append(await self.change(turn.person_id, request.verb, request.role, target))
        await self.show_roles(turn, " ".join(said))

    def _mentioned(self, turn: Turn) -> list[tuple[str, str | None]]:
        """(Teams user id, name) of each person @mentioned, leaving out the bot itself."""
        return [(mention.id, mention.name) for mention in turn.activity.mentions]

    async def _from_mention(self, turn: Turn, teams_user_id: str) -> Target | None:
        member = await self._member(turn, teams_user_id)
        person_id = (getattr(member, "aad_object_id", None) or "").lower() if member else ""
        if member is None or not re.fullmatch(GUID, person_id):
            return None
        email = member.email or member.user_principal_name
        # Someone we have met: keep their name and e-mail fresh. Someone we have not: we store nothing.
        await self.directory.remember(person_id, member.name, email)
        return Target(person_id, person_label(person_id, member.name, email))

    # -- card actions ------------------------------------------------------------------------------------

    async def roles_action(self, turn: Turn, _: NoPayload) -> None:
        await self.show_roles(turn)

    async def audit_action(self, turn: Turn, _: NoPayload) -> None:
        await self.show_audit(turn)

    async def audit_command(self, turn: Turn) -> None:
        await self.show_audit(turn)

    async def grant_action(self, turn: Turn, payload: RoleChangePayload) -> None:
        target = await self.target(payload.person_id)
        await self.show_roles(turn, await self.change(turn.person_id, "grant", payload.role, target))

    async def revoke_action(self, turn: Turn, payload: RoleChangePayload) -> None:
        target = await self.target(payload.person_id)
        await self.show_roles(turn, await self.change(turn.person_id, "revoke", payload.role, target))

    async def grant_by_email_action(self, turn: Turn, payload: GrantRoleByEmailPayload) -> None:
        await self.show_roles(turn, await self.grant_by_email(turn.person_id, payload.email, payload.role))

    # -- names and e-mails from Teams ---------------------------------------------------------------------

    async def identity_gate(self, turn: Turn) -> bool:
        """Runs before every message; never takes the turn over (returns False) and never raises."""
        try:
            # botbuilder retries a failing member lookup for about 5 s; the person's answer must not wait
            # for it. The lookup is tried again on a later message (IDENTITY_RECHECK).
            async with asyncio.timeout(IDENTITY_LOOKUP_SECONDS):
                await self._fill_identity(turn)
        except Exception as exc:  # a directory problem must never cost the person their answer
            log.warning("could not store the identity of %s: %s", turn.person_id, type(exc).__name__)
        return False

    async def _fill_identity(self, turn: Turn) -> None:
        sender = turn.activity.from_property
        if not turn.is_personal or not turn.person_id or sender is None or not sender.id:
            return
        now = self.core.clock.now()
        last = self._looked_up.get(turn.person_id)
        if last is not None and now - last < IDENTITY_RECHECK:
            return
        if len(self._looked_up) >= IDENTITY_MEMO_SIZE:
            self._looked_up.clear()
        self._looked_up[turn.person_id] = now
        if not await self.directory.needs_identity(turn.person_id):
            return
        member = await self._member(turn, sender.id)
        if member is None or (member.aad_object_id or "").lower() != turn.person_id:
            return
        await self.directory.remember(turn.person_id, member.name, member.email or member.user_principal_name)

    async def _member(self, turn: Turn, teams_user_id: str) -> MemberInfo | None:
        try:
            member = await turn.context.member(teams_user_id)
        except Exception as exc:  # Teams said no, or did not answer: the caller goes on without it
            log.warning("Teams member lookup failed for %s: %s", turn.person_id, type(exc).__name__)
            return None
        return member


def _label(known: KnownPerson) -> str:
    return person_label(known.person_id, known.display_name, known.email)


ROLES = web.AppKey("roles", RolesFeature)  # the desk's Programme page changes roles through the same feature


def register(wiring: Wiring) -> None:
    feature = RolesFeature(wiring.core, Directory(wiring.core.database), graph=wiring.graph)
    wiring.app[ROLES] = feature
    admin = Role.ADMIN
    # Two-word phrases win over one-word commands, so "roles grant admin hi@nhs.net" is never read as "hi".
    wiring.commands.add("roles", ["roles", "manage roles", "roles grant", "roles give", "roles add",
                                  "roles revoke", "roles remove"], feature.roles_command, role=admin)
    wiring.commands.add("audit", ["audit", "audit log"], feature.audit_command, role=admin)
    wiring.actions.on_submit(SHOW_ROLES, feature.roles_action)
    wiring.actions.on_submit(GRANT_ROLE, feature.grant_action)
    wiring.actions.on_submit(REVOKE_ROLE, feature.revoke_action)
    wiring.actions.on_submit(GRANT_ROLE_BY_EMAIL, feature.grant_by_email_action)
    wiring.actions.on_submit(SHOW_AUDIT, feature.audit_action)
    # First, so that a gate which takes a turn over (e.g. asking for consent again) cannot skip it.
    wiring.bot.gates.insert(0, feature.identity_gate)
