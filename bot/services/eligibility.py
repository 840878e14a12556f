"""Who is invited to a session (design §4). Pure rules: no database, no botbuilder.

Eligible means: consented to the current privacy notice and not withdrawn (withdrawn people have no
answers at all); one of their spaces matches the session's (`open` matches both); interested in the
session's phase; and, only when the session has a communities filter, chose at least one of those
communities. The SQL twin of `is_eligible` is `storage.repositories.sessions.eligible_condition`;
tests check that they agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from vocabulary.words import Community, Phase, SessionAudience


@dataclass(frozen=True)
class Criteria:
    """What a session asks of the people it invites. Stored values (text) are read as the words they are, and
    one that is none of them is refused."""

    space: SessionAudience
    phase: Phase
    communities: frozenset[Community] = frozenset()

    def __post_init__(self) -> None:
        space = SessionAudience.parse(self.space)
        if space is None:
            raise ValueError(f"unknown space {self.space!r}")
        phase = Phase.parse(self.phase)
        if phase is None:
            raise ValueError(f"unknown phase {self.phase!r}")
        communities = {Community.parse(name) for name in self.communities}
        if None in communities:
            raise ValueError("unknown community in the filter")
        object.__setattr__(self, "space", space)
        object.__setattr__(self, "phase", phase)
        object.__setattr__(self, "communities", frozenset(name for name in communities if name is not None))


@dataclass(frozen=True)
class EligibilityAnswers:
    """The parts of a volunteer's answers that decide invitations."""

    consent_version: int
    space_minoritised: bool = False
    space_ally: bool = False
    phase_codesign: bool = False
    phase_train_the_trainer: bool = False
    communities: frozenset[Community] = frozenset()


def space_matches(criteria: Criteria, answers: EligibilityAnswers) -> bool:
    if criteria.space == SessionAudience.MINORITISED:
        return answers.space_minoritised
    if criteria.space == SessionAudience.ALLY:
        return answers.space_ally
    return answers.space_minoritised or answers.space_ally


def phase_matches(criteria: Criteria, answers: EligibilityAnswers) -> bool:
    return answers.phase_codesign if criteria.phase == Phase.CODESIGN else answers.phase_train_the_trainer


def communities_match(criteria: Criteria, answers: EligibilityAnswers) -> bool:
    # No filter: everyone in the space, including people who chose not to share a community.
    return not criteria.communities or bool(criteria.communities & answers.communities)


def answers_match(criteria: Criteria, answers: EligibilityAnswers) -> bool:
    """The answers fit the session, whatever the consent: used to withdraw invitations from people whose
    changed answers no longer fit, without touching those who only wait to agree to a new notice."""
    return space_matches(criteria, answers) and phase_matches(criteria, answers) and communities_match(
        criteria, answers)


def is_eligible(criteria: Criteria, answers: EligibilityAnswers | None, current_notice_version: int) -> bool:
    """`answers` is None for someone who never signed up or withdrew."""
    if answers is None or answers.consent_version != current_notice_version:
        return False
    return answers_match(criteria, answers)
