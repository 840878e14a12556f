"""Withdrawal erases personal data (design §6): after it, a search of every text column of every table finds the
person's id, name and e-mail only in the consent records, the erasure record and the audit log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import String, Text, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.outbox import Message, Recipient, enqueue
from bot.features.programme import RETENTION
from storage.models import (
    AuditEntry,
    Base,
    ConsentRecord,
    Erasure,
    OutboxMessage,
    Person,
    StateDocument,
    Volunteer,
)
from tests.app_fixtures import BotHarness, card_text, cards_in
from tests.doubles.fixtures import DEFAULT_MEMBER
from tests.doubles.teams import make_member
from tests.signup_helpers import (
    all_text,
    bot,
    button_data,
    consents,
    count,
    last_card,
    sign_up,
    step_of,
)

__all__ = ["bot"]

ME = DEFAULT_MEMBER
OTHER = make_member(2)


async def tables_mentioning(bot: BotHarness, needles: list[str]) -> dict[str, int]:
    """Every table with a text column holding any needle (case-insensitive), with how many rows."""
    found: dict[str, int] = {}
    lowered = [needle.lower() for needle in needles]
    async with bot.core.database.transaction() as session:
        for table in Base.metadata.sorted_tables:
            columns = [column for column in table.columns if isinstance(column.type, String | Text)]
            if not columns:
                continue
            for row in (await session.execute(select(*columns))).all():
                if any(isinstance(value, str) and any(needle in value.lower() for needle in lowered)
                       for value in row):
                    found[table.name] = found.get(table.name, 0) + 1
    return found


async def test_withdrawal_erases_every_trace_but_consent_erasure_and_audit(bot: BotHarness) -> None:
    bot.teams.add_member(OTHER)
    erased_inside: list[bool] = []

    async def sessions_hook(session: AsyncSession, person_id: str) -> None:
        # Runs in the withdrawal's transaction, while the person's rows still exist (sessions free seats here).
        erased_inside.append(await session.get(Volunteer, person_id) is not None)

    bot.core.hooks.person_erased.append(sessions_hook)
    await sign_up(bot, space="minoritised", communities="lgbtq")
    await sign_up(bot, OTHER, space="ally")
    email = "volunteer1@hny.test"
    now = bot.clock.now()
    async with bot.core.database.transaction() as session:
        await session.execute(update(Person).where(Person.id == ME.aad_object_id).values(email=email))
        # Messages waiting for them, and messages to someone else that name them (a roster, say).
        await enqueue(session, key=f"invite:s1:{ME.aad_object_id}", recipient=Recipient.person(ME.aad_object_id),
                      message=Message(text="You're invited"), purpose="invitation", now=now)
        roster = await enqueue(session, key="roster:s1:1", recipient=Recipient.person(OTHER.aad_object_id),
                               message=Message(text=f"Roster: {ME.name} <{email}>"), purpose="roster", now=now)
        await session.execute(update(OutboxMessage).where(OutboxMessage.id == roster).values(status="sent"))
        await enqueue(session, key="roster:s1:2", recipient=Recipient.person(OTHER.aad_object_id),
                      message=Message(text=f"Roster: {email}"), purpose="roster", now=now)
        await enqueue(session, key=f"promoted:s1:{ME.aad_object_id}:{OTHER.aad_object_id}",
                      recipient=Recipient.person(OTHER.aad_object_id), message=Message(text="A place opened up"),
                      purpose="promotion", now=now)
        await enqueue(session, key="announce:1", recipient=Recipient.person(OTHER.aad_object_id),
                      message=Message(text="Nothing about them"), purpose="announcement", now=now)

    # Half-way through changing an answer: the dialog state holds a new answer.
    details = last_card(await bot.say("my details"))
    await bot.press(button_data(details, action="change_answer", field="space"))
    replies = await bot.say("withdraw")  # typed mid-journey: answered, then the question is asked again
    confirm = next(card for card in cards_in(replies) if "Delete your answers?" in card_text(card))
    assert step_of(last_card(replies)) == "space"
    assert await count(bot, StateDocument) >= 1

    replies = await bot.press(button_data(confirm, action="withdraw_confirm"))
    assert "Your answers have been deleted. Thank you for your interest in HNY Inc." in all_text(replies)
    assert erased_inside == [True]

    found = await tables_mentioning(bot, [ME.aad_object_id, ME.name, email])
    assert set(found) <= {"consent_records", "erasures", "audit_log"}, found
    assert set(found) == {"consent_records", "erasures", "audit_log"}
    records = await consents(bot)
    assert [(r.action, r.method) for r in records] == [("given", "teams-card"), ("withdrawn", "teams-card")]
    async with bot.core.database.transaction() as session:
        erasure = await session.get(Erasure, ME.aad_object_id)
        assert erasure is not None and erasure.reason == "withdrawn"
        audit = (await session.execute(select(AuditEntry.action).where(AuditEntry.actor_id == ME.aad_object_id)
                                       )).scalars().all()
        assert "volunteer.withdraw" in audit
        outbox = {row.key: row for row in (await session.execute(select(OutboxMessage))).scalars()}
    # The other volunteer is untouched, and only messages naming the erased person lost their text.
    assert await count(bot, Volunteer) == 1
    assert f"invite:s1:{ME.aad_object_id}" not in outbox
    assert outbox["roster:s1:1"].status == "sent" and "removed" in outbox["roster:s1:1"].payload
    assert outbox["roster:s1:2"].status == "cancelled"
    assert outbox["announce:1"].status == "pending" and "Nothing about them" in outbox["announce:1"].payload
    assert outbox[f"promoted:s1:erased:{OTHER.aad_object_id}"].status == "pending"


async def test_the_old_journey_card_after_withdrawal_is_stale(bot: BotHarness) -> None:
    await sign_up(bot)
    details = last_card(await bot.say("my details"))
    card = last_card(await bot.press(button_data(details, action="change_answer", field="space")))
    withdraw = last_card(await bot.press({"action": "withdraw"}))
    await bot.press(button_data(withdraw, action="withdraw_confirm"))
    replies = await bot.press({**button_data(card, nav="next"), "space": "ally"})
    assert "out of date" in all_text(replies)
    assert await count(bot, Volunteer) == 0


async def test_sign_up_again_after_withdrawal(bot: BotHarness) -> None:
    await sign_up(bot)
    await bot.press({"action": "withdraw_confirm"})
    bot.clock.advance(timedelta(days=1))
    replies = await sign_up(bot, space="ally")
    assert "you're signed up" in all_text(replies)
    assert [r.action for r in await consents(bot)] == ["given", "withdrawn", "given"]
    # Start-up replays the erasure log; the database has this erasure, so the new sign-up stays.
    assert await bot.app[RETENTION].replay() == 0
    assert await count(bot, Volunteer) == 1


async def test_start_up_erases_again_what_a_restored_backup_brought_back(bot: BotHarness) -> None:
    await sign_up(bot)
    async with bot.core.database.transaction() as session:
        backup = [_row(await session.get(model, ME.aad_object_id)) for model in (Person, Volunteer)]
    bot.clock.advance(timedelta(hours=1))
    await bot.press({"action": "withdraw_confirm"})
    # The restore: the rows of before the withdrawal are back, and the rows it wrote are gone.
    async with bot.core.database.transaction() as session:
        await session.execute(delete(Erasure))
        await session.execute(delete(ConsentRecord).where(ConsentRecord.action == "withdrawn"))
        session.add(Person(**backup[0]))
        await session.flush()
        session.add(Volunteer(**backup[1]))
    assert await count(bot, Volunteer) == 1
    assert await bot.app[RETENTION].replay() == 1  # only the log outside the database remembers
    assert await count(bot, Volunteer) == 0 and await count(bot, Person) == 0
    assert [(r.action, r.method) for r in await consents(bot)] == [("given", "teams-card"),
                                                                   ("withdrawn", "restore-replay")]


def _row(model: Any) -> dict[str, Any]:
    return {column.key: getattr(model, column.key) for column in model.__mapper__.column_attrs}
