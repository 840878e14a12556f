"""Refused credentials stop the sender (design §7): every message stays pending, nothing is counted against it,
and /healthz says so until a token works again.

A probe every `probe_seconds` asks for a fresh token. When the token itself was refused, obtaining one clears the
problem. When Teams refused it (401), a new token proves nothing until Teams takes it, so after a probe one
request goes as a trial and only its answer clears the problem (no flapping /healthz, no burst of 401s).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.clock import Clock
from bot.delivery.metrics import DeliveryMetrics
from bot.delivery.tokens import TokenProvider, TokenRefused
from bot.log_format import Fields

log = logging.getLogger(__name__)


class Credentials:
    """Whether the bot's credentials work. The worker passes what a change must do: `gate_changed` opens or
    closes the pacer, `save_state` writes the worker's row for /healthz, `wake` makes the loop look again."""

    def __init__(self, tokens: TokenProvider, clock: Clock, *, probe_seconds: float, monotonic: Callable[[], float],
                 metrics: DeliveryMetrics | None, gate_changed: Callable[[], None],
                 save_state: Callable[[], Awaitable[None]], wake: Callable[[], None]) -> None:
        self._tokens = tokens
        self._clock = clock
        self._probe_seconds = probe_seconds
        self._time = monotonic
        self._metrics = metrics
        self._gate_changed = gate_changed
        self._save_state = save_state
        self._wake = wake
        self.problem: str | None = None  # the code of the refusal while sending is stopped
        self.since: datetime | None = None
        self.trial = False  # one request may go to see whether Teams takes the new token
        self.next_probe = 0.0
        self._from_teams = False

    @property
    def stopped(self) -> bool:
        """Nothing may be sent: refused, and no trial allowed."""
        return self.problem is not None and not self.trial

    def take_trial(self) -> bool:
        """For a request whose turn came and that may go (not `stopped`): True when it is the trial, which any
        other request then waits behind until its answer comes."""
        if self.problem is None:
            return False
        self.trial = False
        return True

    async def probe(self) -> bool:
        """Try for a fresh token. True when a token came (which clears a refused token at once, or allows the
        trial after a 401)."""
        self.next_probe = self._time() + self._probe_seconds
        try:
            await self._tokens.token(force_refresh=True)
        except TokenRefused as exc:
            log.warning("delivery credentials still refused", extra=Fields(code=exc.code))
            return False
        if self.problem is None:
            return True
        if self._from_teams:
            self.trial = True
            self._gate_changed()
            self._wake()
            return True
        await self.accepted()
        return True

    async def accepted(self) -> None:
        log.info("delivery credentials accepted again; resuming", extra=Fields(code=self.problem))
        self.problem = None
        self.since = None
        self._from_teams = False
        self.trial = False
        if self._metrics:
            self._metrics.credentials_refused.set(0)
        self._gate_changed()
        await self._save_state()
        self._wake()

    async def refused(self, code: str, *, from_teams: bool) -> None:
        self.trial = False
        if self.problem is None:
            self._from_teams = from_teams
            self.problem = code
            self.since = self._clock.now()
            self.next_probe = self._time() + self._probe_seconds
            log.error("Bot Connector credentials refused: sending stopped, messages kept pending",
                      extra=Fields(code=code))
            if self._metrics:
                self._metrics.credentials_refused.set(1)
            try:
                await self._save_state()
            except Exception as exc:
                log.warning("could not record the credentials problem", extra=Fields(error=type(exc).__name__))
        # Everything waiting for its turn goes back to pending now, not after a doomed request each.
        self._gate_changed()
