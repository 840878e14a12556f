"""Who an announcement is for: the author's choice of channels, spaces, phases, sessions' people and
organisations, as the audience card sends it and as the announcement stores it (JSON)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select

from storage.repositories.announcements import audience
from vocabulary.words import AudienceSessionPeople, Phase, VolunteerSpace


@dataclass(frozen=True)
class AudienceChoice:
    """Channels by conversation reference id; volunteers by space and phase; a session's people (invited, booked
    or attended); and organisations, which narrow the volunteers chosen, or alone choose everyone from them."""

    channels: tuple[int, ...] = ()
    spaces: tuple[VolunteerSpace, ...] = ()
    phases: tuple[Phase, ...] = ()
    sessions: tuple[int, ...] = ()
    organisations: tuple[int, ...] = ()
    session_people: AudienceSessionPeople = AudienceSessionPeople.BOOKED

    @property
    def chooses_people(self) -> bool:
        return bool(self.spaces or self.phases or self.sessions or self.organisations)

    @property
    def empty(self) -> bool:
        return not self.channels and not self.chooses_people

    @property
    def narrowed(self) -> bool:
        """Chosen by organisation or by who came: 1 to 7 such people could be told apart, so it is refused."""
        return bool(self.organisations) or (bool(self.sessions)
                                            and self.session_people == AudienceSessionPeople.ATTENDED)

    def to_json(self) -> dict[str, Any]:
        return {"channels": list(self.channels), "spaces": [space.value for space in self.spaces],
                "phases": [phase.value for phase in self.phases], "sessions": list(self.sessions),
                "organisations": list(self.organisations), "session_people": self.session_people.value}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AudienceChoice:
        # Announcements stored before issue 24 have neither organisations nor session_people: booked, as then.
        return cls(tuple(int(x) for x in data.get("channels", [])),
                   tuple(VolunteerSpace(str(x)) for x in data.get("spaces", [])),
                   tuple(Phase(str(x)) for x in data.get("phases", [])),
                   tuple(int(x) for x in data.get("sessions", [])),
                   tuple(int(x) for x in data.get("organisations", [])),
                   AudienceSessionPeople(str(data.get("session_people") or AudienceSessionPeople.BOOKED.value)))

    def people(self) -> Select[str] | None:
        """The person-id query of this choice (built by the repository: services write no SQL)."""
        return audience(self.spaces, self.phases, self.sessions, organisations=self.organisations,
                        session_people=self.session_people)


def channel_label(team_name: str | None, channel_name: str | None) -> str:
    # Teams gives the General channel no name.
    return f"{team_name or 'Team (name not known)'} › {channel_name or 'General'}"


def split_list(raw: str) -> list[str]:
    """The answers of a multi-select choice set, which Teams sends as "a,b,c"."""
    return [part.strip() for part in raw.split(",") if part.strip()]


def parse_ids(raw: str) -> list[int] | None:
    """The ids chosen, each once and sorted; None when one of them is not an id."""
    parts = split_list(raw)
    if not all(part.isdigit() and len(part) <= 9 for part in parts):
        return None
    return sorted({int(part) for part in parts})


def parse_words(raw: str, allowed: tuple[VolunteerSpace, ...] | tuple[Phase, ...]) -> list[str] | None:
    """The chosen values, each once and sorted, if every one is allowed."""
    chosen = sorted(set(split_list(raw)))
    return chosen if set(chosen) <= {word.value for word in allowed} else None
