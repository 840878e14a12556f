"""Privacy notice versions: the texts live in the repo as data (bot/content), published versions in the database."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from bot.clock import Clock
from storage.db import Database, dialect_insert
from storage.models import PrivacyNotice

CONTENT = Path(__file__).resolve().parent.parent / "content"
_NAME = re.compile(r"^privacy_notice_v(\d+)\.md$")


@dataclass(frozen=True)
class Notice:
    version: int
    text: str
    sha256: str


def notice_from_text(version: int, text: str) -> Notice:
    return Notice(version, text, hashlib.sha256(text.encode("utf-8")).hexdigest())


def repo_notices(folder: Path = CONTENT) -> list[Notice]:
    notices = []
    for path in folder.glob("privacy_notice_v*.md"):
        match = _NAME.match(path.name)
        if match:
            notices.append(notice_from_text(int(match.group(1)), path.read_text(encoding="utf-8")))
    return sorted(notices, key=lambda notice: notice.version)


class NoticeService:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def publish_repo_versions(self) -> None:
        """At start-up: every version shipped in the repo and not yet in the database is published."""
        async with self._database.transaction() as session:
            # Several instances start at once: a version another one just published is left as it is.
            for notice in repo_notices():
                await session.execute(dialect_insert(session, PrivacyNotice).values(
                    version=notice.version, sha256=notice.sha256, text=notice.text, published_at=self._clock.now(),
                ).on_conflict_do_nothing(index_elements=["version"]))

    async def current(self) -> Notice:
        async with self._database.read() as session:
            row = (await session.execute(
                select(PrivacyNotice).order_by(PrivacyNotice.version.desc()).limit(1))).scalars().first()
        if row is None:
            raise LookupError("no privacy notice is published")
        return Notice(row.version, row.text, row.sha256)
