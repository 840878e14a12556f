"""Sending (design §7): one attempt at one claimed message, and what it came to. A chat message goes to the
stored conversation, or to a 1:1 chat opened through the Connector, or installed through Graph for someone the
bot has never met; an update replaces the card an earlier message left; an activity-feed notification goes
through Graph. Every request takes its turn through `Pacing`; nothing here writes the outcome
(bot/delivery/recorder.py does)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.clock import Clock
from bot.delivery.claiming import Delivery
from bot.delivery.classify import classify, safe_code
from bot.delivery.connector import ConnectorClient, Reply, activity_from_payload
from bot.delivery.outbox import feed_of
from bot.delivery.pacing import Pacing
from bot.delivery.ports import FEED_OFF_CODE, FeedSender, Installer
from bot.delivery.recorder import NO_CONVERSATION, MessageOutcome
from bot.retry import retry_after_seconds
from storage.db import Database
from storage.repositories.outbox import Attempt, OutboxRepository, Route
from storage.repositories.people import Contact, ConversationRepository
from vocabulary.words import AttemptOperation, DeliveryVerdict, FeedVerdict, OutboxKind, OutboxStatus


class MessageSender:
    def __init__(self, database: Database, clock: Clock, connector: ConnectorClient, pacing: Pacing, *,
                 bot_id: str, default_tenant_id: str, install_retry_seconds: float, monotonic: Callable[[], float],
                 installer: Installer | None, feed: FeedSender | None) -> None:
        """`bot_id` and `default_tenant_id` open a 1:1 chat with someone who has no conversation reference yet;
        `installer` (Graph on) reaches people with no stored conversation and no known Teams user id, and
        `install_retry_seconds` is how long to wait when Graph has installed the app but does not show the chat
        yet; `feed` (Graph on) sends the outbox's activity-feed notifications."""
        self._db = database
        self._clock = clock
        self._connector = connector
        self._pacing = pacing
        self._bot_id = bot_id
        self._default_tenant_id = default_tenant_id
        self._install_retry = install_retry_seconds
        self._time = monotonic
        self._installer = installer
        self._feed = feed

    async def attempt(self, delivery: Delivery) -> MessageOutcome:
        message = delivery.claimed
        if message.person is not None and message.person.undeliverable_code:
            return MessageOutcome(DeliveryVerdict.UNDELIVERABLE, code=message.person.undeliverable_code,
                                  skipped=True, counts_as_attempt=False)
        notification = feed_of(message.payload)
        if notification is not None:
            return await self._notify(delivery, notification)
        activity = activity_from_payload(message.payload)
        if message.kind == OutboxKind.UPDATE:
            return await self._update(delivery, activity)
        route = message.route or await self._open_chat(delivery)
        if isinstance(route, MessageOutcome):
            return route
        conversation_id, service_url = route.conversation_id, route.service_url
        reply = await self._pacing.request(delivery, AttemptOperation.SEND, conversation_id,
                                           lambda token: self._connector.send(service_url, conversation_id,
                                                                              activity, token))
        return self._outcome(reply, conversation_id=conversation_id, activity_id=reply.resource_id)

    async def _update(self, delivery: Delivery, activity: dict[str, Any]) -> MessageOutcome:
        """Replace the activity an earlier message left in Teams, once that message went."""
        target = delivery.claimed.target
        if target is None:
            return MessageOutcome(DeliveryVerdict.FAILED, code="OriginalMissing", counts_as_attempt=False)
        if target.status == OutboxStatus.UNDELIVERABLE:
            return MessageOutcome(DeliveryVerdict.UNDELIVERABLE, code="OriginalUndeliverable",
                                  counts_as_attempt=False, mark_recipient=False)
        if target.status != OutboxStatus.SENT or not (target.activity_id and target.conversation_id
                                                      and target.service_url):
            return MessageOutcome(DeliveryVerdict.FAILED, code="OriginalNotSent", counts_as_attempt=False)
        conversation_id, activity_id, service_url = target.conversation_id, target.activity_id, target.service_url
        reply = await self._pacing.request(delivery, AttemptOperation.UPDATE, conversation_id,
                                           lambda token: self._connector.update(service_url, conversation_id,
                                                                                activity_id, activity, token))
        return self._outcome(reply, conversation_id=conversation_id, activity_id=activity_id)

    async def _open_chat(self, delivery: Delivery) -> Route | MessageOutcome:
        """A person with no stored conversation. With their Teams user id, open their 1:1 chat through the
        Connector (Teams answers with the existing one); without it, install the app for them through Graph when
        Graph is on. The route to send to, or the outcome when there is none."""
        message = delivery.claimed
        person = message.person
        if message.person_id is None:  # a channel or group chat we hold no reference for
            return MessageOutcome(DeliveryVerdict.UNDELIVERABLE, code=NO_CONVERSATION, counts_as_attempt=False)
        tenant_id = (person.tenant_id if person else "") or self._default_tenant_id
        if person is not None and person.teams_user_id and person.service_url:
            return await self._create_chat(delivery, message.person_id, person.teams_user_id, person.service_url,
                                           tenant_id)
        if self._installer is not None:
            return await self._install(delivery, self._installer, message.person_id, tenant_id,
                                       known=person is not None, service_url=person.service_url if person else None)
        return MessageOutcome(DeliveryVerdict.UNDELIVERABLE, code=NO_CONVERSATION, counts_as_attempt=False)

    async def _create_chat(self, delivery: Delivery, person_id: str, teams_user_id: str, service_url: str,
                           tenant_id: str) -> Route | MessageOutcome:
        reply = await self._pacing.request(delivery, AttemptOperation.CREATE, f"create:{teams_user_id}",
                                           lambda token: self._connector.create_personal(
                                               service_url, bot_id=self._bot_id, teams_user_id=teams_user_id,
                                               tenant_id=tenant_id, token=token))
        if not reply.ok:
            return self._outcome(reply, conversation_id=None, activity_id=None)
        if not reply.resource_id:  # accepted but no conversation id: nothing to post to; try again later
            return MessageOutcome(DeliveryVerdict.RETRY, status=reply.status, code="NoConversationId")
        route = Route(reply.resource_id, service_url)
        await self._save_conversation(person_id, teams_user_id, tenant_id, route)
        return route

    async def _install(self, delivery: Delivery, installer: Installer, person_id: str, tenant_id: str, *,
                       known: bool, service_url: str | None) -> Route | MessageOutcome:
        """Someone the bot has never talked to (design §8, proactive install): install the app in their personal
        scope through Graph and send to the 1:1 chat that gives. Graph has its own limits and the client its own
        retries, so this takes no turn at the Connector's pacer. Teams also tells the bot about the new chat
        (conversationUpdate), which the handler stores; the reference is kept here too, for people we know."""
        at, started = self._clock.now(), self._time()

        def attempt(status: int | None, code: str | None) -> None:
            delivery.attempts.append(Attempt(at=at, operation=AttemptOperation.INSTALL, status=status, error=code,
                                             duration_ms=round((self._time() - started) * 1000)))

        result = await installer(person_id, tenant_id or None)
        if result.error is not None:
            code = safe_code(result.error)
            attempt(result.status, code)
            if result.retryable:
                return MessageOutcome(DeliveryVerdict.RETRY, status=result.status, code=code,
                                      retry_after=result.retry_after)
            # Graph refused the call rather than the person: later messages ask again.
            return MessageOutcome(DeliveryVerdict.UNDELIVERABLE, status=result.status, code=code,
                                  mark_recipient=False)
        if result.refused:  # not in the bot's tenant, not found, or the app is blocked for them
            attempt(None, result.refused)
            return MessageOutcome(DeliveryVerdict.UNDELIVERABLE, code=result.refused)
        if result.chat_id is None:  # installed, but Graph does not show it yet
            attempt(None, "InstallPending")
            return MessageOutcome(DeliveryVerdict.RETRY, code="InstallPending", retry_after=self._install_retry)
        attempt(None, None)
        service_url = service_url or await self._service_url_in(tenant_id)
        if not service_url:  # no conversation in their tenant yet: Teams' conversationUpdate will bring one
            return MessageOutcome(DeliveryVerdict.RETRY, code="NoServiceUrl", retry_after=self._install_retry)
        route = Route(result.chat_id, service_url)
        if known:  # a reference needs the person's row; for others the handler stores Teams' conversationUpdate
            await self._save_conversation(person_id, None, tenant_id, route)
        return route

    async def _notify(self, delivery: Delivery, notification: dict[str, Any]) -> MessageOutcome:
        """A Teams activity-feed notification, through Graph: it takes its turn at the same global pacer as the
        Connector's requests and waits, like them, while sending is stopped. What Graph answers is recorded as
        an attempt. A person the feed cannot reach fails this message only: their chat is not marked."""
        person_id = delivery.claimed.person_id
        if self._feed is None or person_id is None:
            return MessageOutcome(DeliveryVerdict.FAILED, code=FEED_OFF_CODE, counts_as_attempt=False)
        async with self._pacing.graph_turn() as turn:
            at, started = self._clock.now(), self._time()
            turn.depart()
            result = await self._feed(person_id, notification)
        code = safe_code(result.code) if result.code else None
        delivery.attempts.append(Attempt(at=at, operation=AttemptOperation.FEED, status=result.status, error=code,
                                         duration_ms=round((self._time() - started) * 1000)))
        if result.verdict == FeedVerdict.SENT:
            return MessageOutcome(DeliveryVerdict.SENT, status=result.status)
        if result.verdict == FeedVerdict.RETRY:
            return MessageOutcome(DeliveryVerdict.RETRY, status=result.status, code=code,
                                  retry_after=result.retry_after)
        return MessageOutcome(DeliveryVerdict.FAILED, status=result.status, code=code)

    def _outcome(self, reply: Reply, *, conversation_id: str | None, activity_id: str | None) -> MessageOutcome:
        classified = classify(reply.status, reply.codes)
        if classified.verdict is DeliveryVerdict.UNAUTHORIZED:
            # Not the message's fault: it goes back untouched and is sent once the credentials work again.
            return MessageOutcome(verdict=None, status=reply.status, code=classified.code, counts_as_attempt=False)
        return MessageOutcome(
            verdict=classified.verdict,
            status=reply.status,
            code=reply.error or classified.code,
            retry_after=retry_after_seconds(reply.retry_after, self._clock.now()),
            activity_id=activity_id,
            conversation_id=conversation_id,
        )

    async def _service_url_in(self, tenant_id: str) -> str | None:
        async with self._db.read() as session:
            return await OutboxRepository(session).service_url_in(tenant_id)

    async def _save_conversation(self, person_id: str, teams_user_id: str | None, tenant_id: str,
                                 route: Route) -> None:
        contact = Contact(conversation_id=route.conversation_id, kind="personal", service_url=route.service_url,
                          tenant_id=tenant_id, bot_id=self._bot_id, person_id=person_id,
                          teams_user_id=teams_user_id)
        async with self._db.transaction() as session:
            await ConversationRepository(session).save(contact, self._clock.now())
