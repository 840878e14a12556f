"""The new-session form and the change form: what a facilitator typed, checked field by field with a message
saying how to fix each answer (design §9), and the preview of a checked draft with its audience rounded (§5)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.services.links import https_link
from bot.services.sessions.co_facilitators import CoFacilitators
from bot.services.sessions.deps import Deps
from bot.services.suppression import shown
from bot.services.uk_time import TimeProblem, parse_time, parse_uk_date, time_problem_text, uk_to_utc
from cards.sessions import PreviewView
from storage.repositories.sessions import SessionRepository
from vocabulary.words import Community, Phase, SessionAudience

MAX_TITLE = 120
MAX_CAPACITY = 1000
MAX_LENGTH = timedelta(hours=8)
TEAMS_HOST = "teams.microsoft.com"
# Meeting links Teams makes: the classic "meetup-join" link and the newer short "meet" link.
TEAMS_PATHS = ("/l/meetup-join/", "/meet/")
IN_THE_PAST = "This time has already passed. Choose a date and time in the future."


@dataclass(frozen=True)
class SessionForm:
    """What a facilitator typed, as the card sends it (strings). Nothing here is trusted."""

    title: str = ""
    phase: str = ""
    space: str = ""
    communities: str = ""  # comma-separated Community values
    date: str = ""  # YYYY-MM-DD (Input.Date)
    start: str = ""  # HH:MM (Input.Time), UK time
    end: str = ""
    join_url: str = ""
    capacity: str = ""
    co_facilitators: str = ""  # e-mails, separated by commas, semicolons or spaces

    def to_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionForm:
        values = {name: data.get(name) for name in cls.__dataclass_fields__}
        return cls(**{name: value.strip() if isinstance(value, str) else "" for name, value in values.items()})


@dataclass(frozen=True)
class SessionDraft:
    """A checked form."""

    title: str
    phase: Phase
    space: SessionAudience
    communities: frozenset[Community]
    starts_at: datetime
    ends_at: datetime
    join_url: str | None
    capacity: int
    co_facilitator_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Checked:
    draft: SessionDraft | None
    errors: dict[str, str]  # field name -> what to fix

    @property
    def ok(self) -> bool:
        return self.draft is not None and not self.errors


def is_teams_meeting_link(url: str) -> bool:
    parts = https_link(url)
    return (parts is not None and parts.hostname == TEAMS_HOST and parts.port is None
            and any(parts.path.startswith(path) and len(parts.path) > len(path) for path in TEAMS_PATHS))


# -- one check a field (what to fix goes to `errors`, by field name) ------------------------------------------

def check_times(form: SessionForm, now: datetime, errors: dict[str, str]) -> tuple[datetime | None, datetime | None]:
    """Date, start and end (UK time) as UTC instants: in the future, in order, and 8 hours at most."""
    day = parse_uk_date(form.date)
    start = parse_time(form.start)
    end = parse_time(form.end)
    if day is None:
        errors["date"] = "Choose the date of the session."
    if start is None:
        errors["start"] = "Give the start time, like 14:00."
    if end is None:
        errors["end"] = "Give the end time, like 15:30."
    if day is None or start is None or end is None:
        return None, None
    starts_at = ends_at = None
    try:
        starts_at = uk_to_utc(day, start)
    except TimeProblem as problem:
        errors["start"] = time_problem_text(problem)
    try:
        ends_at = uk_to_utc(day, end)
    except TimeProblem as problem:
        errors["end"] = time_problem_text(problem)
    if starts_at is None or ends_at is None:
        return None, None
    if starts_at <= now:
        errors["date"] = IN_THE_PAST
        return None, None
    if ends_at <= starts_at:
        errors["end"] = "The end time must be after the start time, on the same day."
        return None, None
    if ends_at - starts_at > MAX_LENGTH:
        errors["end"] = "A session can last 8 hours at most."
        return None, None
    return starts_at, ends_at


def check_capacity(text: str, errors: dict[str, str]) -> int | None:
    if not text.isdigit() or not 1 <= int(text) <= MAX_CAPACITY:
        errors["capacity"] = f"Give the number of places as a whole number from 1 to {MAX_CAPACITY}."
        return None
    return int(text)


def check_link(text: str, errors: dict[str, str]) -> str | None:
    if not text:
        return None
    if not is_teams_meeting_link(text):
        errors["join_url"] = ("Paste the Teams meeting link. It starts with "
                              "https://teams.microsoft.com/l/meetup-join/. Or leave it empty for now.")
        return None
    return text


def _check_title(text: str, errors: dict[str, str]) -> str:
    title = " ".join(text.split())
    if not title:
        errors["title"] = "Give the session a title."
    elif len(title) > MAX_TITLE:
        errors["title"] = f"Use a shorter title: {MAX_TITLE} characters at most."
    return title


def _check_audience(form: SessionForm,
                    errors: dict[str, str]) -> tuple[Phase | None, SessionAudience | None, frozenset[Community]]:
    """Phase and space from their lists; communities from theirs, and only for the minoritised space."""
    phase = Phase.parse(form.phase)
    if phase is None:
        errors["phase"] = "Choose a phase."
    space = SessionAudience.parse(form.space)
    if space is None:
        errors["space"] = "Choose who the session is for."
    chosen = [Community.parse(part) for part in form.communities.split(",") if part]
    communities = frozenset(community for community in chosen if community is not None)
    if None in chosen:
        errors["communities"] = "Choose communities from the list, or none."
    elif communities and space == SessionAudience.ALLY:
        errors["communities"] = ("Communities are part of the minoritised space. Choose 'Minoritised "
                                 "colleagues' or 'Open to both', or clear the communities.")
    return phase, space, communities


class SessionForms:
    def __init__(self, deps: Deps, co_facilitators: CoFacilitators) -> None:
        self._deps = deps
        self._co_facilitators = co_facilitators

    async def check(self, actor_id: str, form: SessionForm, *, extra_facilitators: Sequence[str] = ()) -> Checked:
        """Check a new-session form. `extra_facilitators`: ids of people @mentioned as co-facilitators."""
        errors: dict[str, str] = {}
        title = _check_title(form.title, errors)
        phase, space, communities = _check_audience(form, errors)
        starts_at, ends_at = check_times(form, self._deps.clock.now(), errors)
        capacity = check_capacity(form.capacity, errors)
        join_url = check_link(form.join_url, errors)
        co_ids = await self._co_facilitators.check(actor_id, form.co_facilitators, extra_facilitators, errors)
        if errors or phase is None or space is None or starts_at is None or ends_at is None or capacity is None:
            return Checked(None, errors)
        return Checked(SessionDraft(title, phase, space, communities, starts_at, ends_at, join_url,
                                    capacity, co_ids), {})

    async def preview(self, draft: SessionDraft) -> PreviewView:
        """The draft as the facilitator checks it, with how many people it would invite (rounded, §5)."""
        async with self._deps.database.read() as session:
            repository = SessionRepository(session)
            version = await repository.latest_notice_version()
            raw = 0 if version is None else await repository.count_eligible(
                space=draft.space, phase=draft.phase, communities=sorted(draft.communities),
                notice_version=version)
        invited = shown(raw)
        return PreviewView(
            title=draft.title, phase=Phase(draft.phase), space=SessionAudience(draft.space),
            communities=tuple(sorted(Community(name) for name in draft.communities)), starts_at=draft.starts_at,
            ends_at=draft.ends_at, join_url=draft.join_url, capacity=draft.capacity, invited=invited.text,
            invited_is_zero=invited.value == 0, filtered=bool(draft.communities),
            co_facilitators=await self._co_facilitators.names_of(draft.co_facilitator_ids),
            teams_makes_link=self._deps.calendar and draft.join_url is None)
