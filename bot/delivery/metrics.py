"""Prometheus metrics of the delivery engine, on a registry the app (or the worker process) owns: nothing is
registered in prometheus-client's global default registry, so several apps in one process (tests) never clash."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from vocabulary.words import SendOutcome


class DeliveryMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.sends = Counter(
            "delivery_sends", "Outbox messages handled by outcome: sent, retry (will be tried again), failed, "
            "undeliverable (recipient unreachable), skipped (recipient already unreachable), unauthorized (401)",
            ["outcome"], registry=registry,
        )
        for outcome in SendOutcome:
            self.sends.labels(outcome)  # so every series exists from the start
        self.throttled = Counter("delivery_throttled", "429 answers from the Bot Connector", registry=registry)
        self.requests = Histogram(
            "delivery_request_seconds", "Bot Connector request time, answered or not",
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0), registry=registry,
        )
        self.backlog = Gauge("delivery_backlog", "Messages due and not yet finished", registry=registry)
        self.scheduled = Gauge("delivery_scheduled", "Pending messages due later", registry=registry)
        self.oldest_pending_age = Gauge(
            "delivery_oldest_pending_age_seconds", "How long the oldest due message has waited", registry=registry
        )
        self.credentials_refused = Gauge(
            "delivery_credentials_refused", "1 while sending is stopped because the bot's credentials are refused",
            registry=registry,
        )
        self.paused_seconds = Gauge(
            "delivery_paused_seconds", "Seconds the sender still waits after a 429", registry=registry
        )
