from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import StateDocument


class StateConflict(Exception):
    """Someone else changed the document since it was read (optimistic concurrency)."""


class StateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def read(self, keys: list[str]) -> dict[str, tuple[int, str]]:
        result = await self.session.execute(
            select(StateDocument.key, StateDocument.etag, StateDocument.data).where(StateDocument.key.in_(keys))
        )
        return {key: (etag, data) for key, etag, data in result.all()}

    async def write(self, key: str, data: str, expected_etag: int | None, now: datetime) -> int:
        """Write if the stored eTag is still `expected_etag` (None: the document must not exist yet,
        or any version when `force`). Returns the new eTag; raises StateConflict otherwise."""
        if expected_etag is None:
            try:
                async with self.session.begin_nested():
                    await self.session.execute(
                        insert(StateDocument).values(key=key, etag=1, data=data, updated_at=now)
                    )
            except IntegrityError:
                return await self._same_or_conflict(key, data)
            return 1
        result = await self.session.execute(
            update(StateDocument)
            .where(StateDocument.key == key, StateDocument.etag == expected_etag)
            .values(etag=expected_etag + 1, data=data, updated_at=now)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return await self._same_or_conflict(key, data)
        return expected_etag + 1

    async def _same_or_conflict(self, key: str, data: str) -> int:
        """Another turn wrote first. If it stored exactly this state (a new person's first messages arriving
        together all start the same empty state), nothing was lost: keep its version. Otherwise a race was lost."""
        current = (await self.read([key])).get(key)
        if current is not None and current[1] == data:
            return current[0]
        raise StateConflict(key)

    async def overwrite(self, key: str, data: str, now: datetime) -> int:
        current = await self.read([key])
        if key in current:
            return await self.write(key, data, current[key][0], now)
        return await self.write(key, data, None, now)

    async def delete(self, keys: list[str]) -> None:
        await self.session.execute(delete(StateDocument).where(StateDocument.key.in_(keys)))

    async def delete_containing(self, fragment: str) -> None:
        await self.session.execute(delete(StateDocument).where(StateDocument.key.contains(fragment)))
