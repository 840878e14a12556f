"""What the author's progress card shows (design §5): how far sending, and then an edit or a recall of the
delivered copies, has got, in tens of per cent, with exact numbers only of what could not be delivered, and none
at all for fewer than 8 people; and its signature, so the card is updated only when it would look different."""

from __future__ import annotations

import json
from datetime import datetime

from bot.services.announcements.audiences import AudienceChoice
from bot.services.suppression import shown
from cards.announcements import ChangeProgressView, ProgressView
from storage.models import Announcement
from storage.models.announcements import AnnouncementChange
from vocabulary.words import AnnouncementChangeKind, AnnouncementStatus, OutboxStatus


def batch_of(announcement_id: int) -> str:
    return f"announcement:{announcement_id}"


def change_batch_of(change_id: int) -> str:
    return f"announcement-change:{change_id}"


def about_percent(part: int, total: int) -> int:
    """A whole ten per cent, so watching the card cannot count the audience (design §5): 0 only when none,
    100 only when all."""
    if total <= 0 or part <= 0:
        return 0
    if part >= total:
        return 100
    return min(90, max(10, int(10 * part / total + 0.5) * 10))  # half up, not to even


def change_progress_of(change: AnnouncementChange, counts: dict[str, int]) -> ChangeProgressView:
    total = change.recipients
    dealt = max(0, total - still_to_go(counts))
    small = shown(total).suppressed
    return ChangeProgressView(
        kind=AnnouncementChangeKind(change.kind),
        percent=0 if small else (100 if not total else dealt * 10 // total * 10),
        changed_percent=0 if small else about_percent(counts.get(OutboxStatus.SENT, 0), total),
        not_changed=counts.get(OutboxStatus.UNDELIVERABLE, 0) + counts.get(OutboxStatus.FAILED, 0),
        finished=change.finished_at is not None,
        small=small)


def change_signature(change: ChangeProgressView) -> str:
    return f"{change.kind}|{change.percent}|{change.changed_percent}|{change.not_changed}|{int(change.finished)}"


def progress_signature(progress: ProgressView) -> str:
    """Everything the progress card shows that can change (kept on the row, so an update is queued only when the
    card would look different)."""
    if progress.small:
        # Only the words: an update at every step would let the author count the people.
        nothing_sent = progress.percent == 0 and not progress.delivered_percent
        return (f"small|{progress.state}|{progress.send_at.isoformat()}|{int(nothing_sent)}|"
                f"{int(progress.undelivered > 0)}|{int(progress.stopped_percent > 0)}|{int(progress.finished)}|"
                f"{int(progress.nobody)}|{int(progress.due)}{_changes_signature(progress)}")
    return (f"{progress.state}|{progress.send_at.isoformat()}|{progress.percent}|{progress.delivered_percent}|"
            f"{progress.stopped_percent}|{progress.unreachable}|{progress.failed}|{int(progress.finished)}|"
            f"{int(progress.nobody)}|{int(progress.due)}{_changes_signature(progress)}")


def _changes_signature(progress: ProgressView) -> str:
    if progress.change is None and not progress.can_change:
        return ""  # as before issue 24, so cards shown then are not sent again
    change = change_signature(progress.change) if progress.change is not None else "-"
    return f"|{change}|{int(progress.recalled)}|{int(progress.can_change)}"


def still_to_go(counts: dict[str, int]) -> int:
    """Messages of a batch not dealt with yet: waiting, or on their way."""
    return counts.get(OutboxStatus.PENDING, 0) + counts.get(OutboxStatus.SENDING, 0)


def few_people(row: Announcement) -> bool:
    """The volunteers it goes to number fewer than 8 (they would read "fewer than 8", design §5). Channels are
    not people: the author chose them by name. Counted as its messages less the channels chosen, so a channel
    removed since can only make it read as fewer, never as more."""
    choice = AudienceChoice.from_json(json.loads(row.audience))
    if not choice.chooses_people:
        return False
    people = row.recipients - len(choice.channels)
    return people <= 0 or shown(people).suppressed


def final_counts(row: Announcement) -> dict[str, int] | None:
    """The figures stored on the announcement before its messages were compacted (issue 23), as counts per
    status; None while the outbox still holds them."""
    if row.figures_stored_at is None:
        return None
    return {OutboxStatus.SENT: row.final_sent or 0, OutboxStatus.UNDELIVERABLE: row.final_undeliverable or 0,
            OutboxStatus.FAILED: row.final_failed or 0, OutboxStatus.CANCELLED: row.final_cancelled or 0}


def progress_of(row: Announcement, counts: dict[str, int], now: datetime,
                change: ChangeProgressView | None = None) -> ProgressView:
    """What the author's progress card shows. Percentages in tens; exact numbers only of messages that could
    not be delivered (design §5). It may be stopped while it has not finished; it may be edited or withdrawn
    once it has, something was delivered and no other change is on its way (issue 24). Once its final figures
    are stored (issue 23) they are what it shows, whatever `counts` the outbox gives now."""
    stored = final_counts(row)
    if stored is not None:
        counts = stored
    total = row.recipients
    dealt = max(0, total - still_to_go(counts))
    status = AnnouncementStatus(row.status)
    started = status in (AnnouncementStatus.SENDING, AnnouncementStatus.DONE) or (
        status == AnnouncementStatus.STOPPED and row.started_at is not None)
    percent = (100 if row.finished_at else 0) if not total else (dealt * 10 // total) * 10
    finished = row.finished_at is not None
    return ProgressView(
        announcement_id=row.id,
        title=row.title,
        state=status,
        send_at=row.send_at,
        waits_for_quiet_hours=row.send_at > row.requested_at,
        percent=percent if started else 0,
        delivered_percent=about_percent(counts.get(OutboxStatus.SENT, 0), total),
        stopped_percent=about_percent(counts.get(OutboxStatus.CANCELLED, 0), total),
        unreachable=counts.get(OutboxStatus.UNDELIVERABLE, 0),
        failed=counts.get(OutboxStatus.FAILED, 0),
        finished=finished,
        nobody=finished and started and total == 0,
        due=row.send_at <= now,
        can_stop=not finished and status in (AnnouncementStatus.SCHEDULED, AnnouncementStatus.SENDING),
        change=change,
        recalled=row.recalled_at is not None,
        can_change=(finished and row.recalled_at is None and counts.get(OutboxStatus.SENT, 0) > 0
                    and (change is None or change.finished)),
        small=few_people(row),
    )
