"""Double opt-in and unsubscribe in the store, on every backend."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from aggregator.config import DigestSettings
from aggregator.errors import TokenError
from aggregator.store import Store
from tests.issues import queue_issue

HOUR = timedelta(hours=1)


def test_a_web_sign_up_receives_nothing_until_confirmed(store: Store, now: datetime) -> None:
    pending, send = store.request_subscription("daily", "new@x.example", now=now, resend_after=HOUR)
    assert send and not pending.active
    queue_issue(store, now)
    assert store.due_deliveries(now) == []  # nothing for an unconfirmed address
    assert store.list_subscribers("daily") == []
    confirmed = store.confirm_subscriber(pending.id, issued=now, now=now)
    assert confirmed.active and store.list_subscribers("daily") == [confirmed]
    queue_issue(store, now + HOUR)
    assert [d.email for d in store.due_deliveries(now + HOUR)] == ["new@x.example"]


def test_confirmation_emails_are_throttled_and_not_sent_to_subscribers(
    store: Store, now: datetime
) -> None:
    store.request_subscription("daily", "new@x.example", now=now, resend_after=HOUR)
    _, again = store.request_subscription("daily", "NEW@x.example", now=now, resend_after=HOUR)
    assert not again
    _, later = store.request_subscription(
        "daily", "new@x.example", now=now + HOUR, resend_after=HOUR
    )
    assert later
    store.add_subscriber("daily", "old@x.example", now=now)
    _, active = store.request_subscription("daily", "old@x.example", now=now, resend_after=HOUR)
    assert not active


def test_unsubscribe_is_immediate_idempotent_and_beats_old_confirm_links(
    store: Store, now: datetime
) -> None:
    subscriber, _ = store.add_subscriber("daily", "reader@x.example", now=now)
    queue_issue(store, now)
    store.unsubscribe(subscriber.id, now=now + HOUR)
    assert store.unsubscribe(subscriber.id, now=now + 2 * HOUR).active is False  # posted twice
    assert store.due_deliveries(now + HOUR) == [] and store.list_subscribers() == []
    with pytest.raises(TokenError, match="older than your unsubscribe"):
        store.confirm_subscriber(subscriber.id, issued=now, now=now + 2 * HOUR)
    assert store.confirm_subscriber(subscriber.id, issued=now + 3 * HOUR, now=now + 3 * HOUR).active


def test_restarting_with_the_config_does_not_undo_an_unsubscribe(
    store: Store, now: datetime
) -> None:
    configured = [DigestSettings(name="daily", subscribers=("reader@x.example",))]
    store.sync_config_subscribers(configured, now=now)
    (subscriber,) = store.list_subscribers("daily")
    store.unsubscribe(subscriber.id, now=now)
    store.sync_config_subscribers(configured, now=now + HOUR)  # the next start
    assert store.list_subscribers("daily") == []
    _, changed = store.add_subscriber("daily", "reader@x.example", now=now + HOUR)
    assert changed  # the list owner may still re-add them by hand
