"""Rate limits on the subscribe form, so nobody can make us mail-bomb an address.

Double opt-in already sends at most one confirmation per (digest, address) every ten
minutes (the store's ``confirm_sent_at``); these limits bound the rest:

* ``[mail] confirmations_per_address_day``: confirmation emails to one address (any
  digest, any case) in 24 hours;
* ``[mail] confirmations_per_hour``: confirmation emails to anyone in an hour, what a
  bot with many addresses and many clients would otherwise get out of us;
* ``[server] subscribe_per_client_hour``: form posts from one client address (the
  proxy's X-Forwarded-For only for ``[server] trusted_proxies``) in an hour, so one
  bot cannot use up the hourly allowance of everyone else.

Windows slide: a count is the events of the last hour (or day), kept as times in this
process's memory. That is what one web server needs; a restart forgets them, and
several servers over one database each count their own (the store's ten-minute rule
still holds across them).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


class Limited(Enum):
    """Which limit refused a request."""

    CLIENT = "client"
    ADDRESS = "address"
    EVERYONE = "everyone"


class _Window:
    """Event times per key within ``span``; keys whose events all expired are dropped."""

    def __init__(self, span: timedelta, limit: int) -> None:
        self.span, self.limit = span, limit
        self._events: dict[str, deque[datetime]] = {}
        self._sweep_at = 1024

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        events = self._events.setdefault(key, deque())
        while events and now - events[0] >= self.span:
            events.popleft()
        return events

    def full(self, key: str, now: datetime) -> bool:
        return self.limit > 0 and len(self._recent(key, now)) >= self.limit

    def retry_after(self, key: str, now: datetime) -> timedelta:
        events = self._recent(key, now)
        return self.span - (now - events[0]) if events else timedelta(0)

    def add(self, key: str, now: datetime) -> None:
        if self.limit <= 0:
            return
        self._recent(key, now).append(now)
        if len(self._events) > self._sweep_at:
            # Many keys (clients come and go): drop the idle ones, at a cost spread over
            # as many additions as there were keys.
            for stale in [k for k in self._events if not self._recent(k, now)]:
                del self._events[stale]
            self._sweep_at = max(1024, 2 * len(self._events))

    def remove_last(self, key: str) -> None:
        events = self._events.get(key)
        if events:
            events.pop()


@dataclass(frozen=True, slots=True)
class Refusal:
    limit: Limited
    retry_after: timedelta


class SubscribeLimits:
    """The three limits; safe to use from the event loop and threads alike."""

    def __init__(
        self,
        *,
        per_client_hour: int,
        per_address_day: int,
        per_hour: int,
        clock: Callable[[], datetime],
    ) -> None:
        self._clients = _Window(HOUR, per_client_hour)
        self._addresses = _Window(DAY, per_address_day)
        self._everyone = _Window(HOUR, per_hour)
        self._clock = clock
        self._lock = threading.Lock()

    def note_post(self, client: str) -> Refusal | None:
        """Count one form post from ``client``; a Refusal when it is one too many."""
        now = self._clock()
        with self._lock:
            if self._clients.full(client, now):
                return Refusal(Limited.CLIENT, self._clients.retry_after(client, now))
            self._clients.add(client, now)
        return None

    def reserve_confirmation(self, address: str) -> Refusal | None:
        """Take one confirmation email to ``address`` out of the allowances, or refuse.
        Give it back with :meth:`release` when no email went out after all."""
        now, key = self._clock(), address.strip().lower()
        with self._lock:
            if self._addresses.full(key, now):
                return Refusal(Limited.ADDRESS, self._addresses.retry_after(key, now))
            if self._everyone.full("", now):
                return Refusal(Limited.EVERYONE, self._everyone.retry_after("", now))
            self._addresses.add(key, now)
            self._everyone.add("", now)
        return None

    def release(self, address: str) -> None:
        """Undo the last :meth:`reserve_confirmation` for ``address`` (nothing was sent)."""
        with self._lock:
            self._addresses.remove_last(address.strip().lower())
            self._everyone.remove_last("")
