"""The delivery ledger's batch queries on every backend: claims (one statement for a
batch, never the same row twice, leased from their own stamp), giving claims back,
and a batch of outcomes written at once."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from aggregator.model import Delivery, DeliveryOutcome, DeliveryState
from aggregator.store import Store, open_store
from tests.issues import queue_issue

LEASE = timedelta(seconds=600)


def readers(store: Store, now: datetime, count: int) -> int:
    for n in range(count):
        store.add_subscriber("daily", f"r{n:03}@x.example", now=now)
    return queue_issue(store, now)


def by_email(store: Store, issue: int) -> dict[str, Delivery]:
    return {d.email: d for d in store.issue_deliveries(issue)}


def test_a_claim_takes_a_batch_of_due_rows_oldest_first(store: Store, now: datetime) -> None:
    issue = readers(store, now, 5)
    later = now + timedelta(minutes=1)
    first = store.claim_deliveries(now=later, limit=2)
    assert [d.email for d in first] == ["r000@x.example", "r001@x.example"]
    assert {(d.state, d.attempts) for d in first} == {(DeliveryState.SENDING, 1)}
    rest = store.claim_deliveries(now=later, limit=10)
    assert [d.email for d in rest] == [f"r00{n}@x.example" for n in (2, 3, 4)]
    assert store.claim_deliveries(now=later, limit=10) == []
    assert store.delivery_counts(issue) == {"sending": 5}


def test_a_claim_skips_rows_waiting_for_their_retry(store: Store, now: datetime) -> None:
    readers(store, now, 2)
    (waiting,) = store.claim_deliveries(now=now, limit=1)
    retry = now + timedelta(minutes=5)
    outcome = DeliveryOutcome(
        delivery_id=waiting.id, state=DeliveryState.PENDING, error="451", next_attempt_at=retry
    )
    store.record_deliveries([outcome], now=now)
    assert [d.email for d in store.claim_deliveries(now=now, limit=10)] == ["r001@x.example"]
    (again,) = store.claim_deliveries(now=retry, limit=10)
    assert again.id == waiting.id and again.attempts == 2


def test_two_claimers_never_get_the_same_row(database_url: str, now: datetime) -> None:
    store = open_store(database_url)
    other = open_store(database_url)  # a second sender: its own engine and connections
    try:
        issue = readers(store, now, 300)
        taken: dict[str, list[int]] = {"one": [], "two": []}
        start = threading.Barrier(2)

        def claim(name: str, claimer: Store) -> None:
            start.wait()
            while batch := claimer.claim_deliveries(now=now, limit=7):
                taken[name].extend(d.id for d in batch)

        threads = [
            threading.Thread(target=claim, args=("one", store)),
            threading.Thread(target=claim, args=("two", other)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        one, two = taken["one"], taken["two"]
        assert not set(one) & set(two)
        assert len(one) + len(two) == 300
        assert sorted(one + two) == sorted(d.id for d in store.issue_deliveries(issue))
        assert {d.attempts for d in store.issue_deliveries(issue)} == {1}
    finally:
        other.close()
        store.close()


def test_a_lease_counts_from_each_claim_not_from_the_start_of_a_pass(
    store: Store, now: datetime
) -> None:
    issue = readers(store, now, 4)
    early = store.claim_deliveries(now=now, limit=2)
    # The same sender, still at work ten minutes later, claims its next batch.
    store.claim_deliveries(now=now + LEASE, limit=2)
    # A second sender starts half a minute after that: only the batch claimed more
    # than a lease ago goes back (its sender must have died), the fresh one stays.
    second = now + LEASE + timedelta(seconds=30)
    assert store.recover_interrupted_deliveries(now=second, claimed_before=second - LEASE) == 2
    states = {e: d.state for e, d in by_email(store, issue).items()}
    assert states == {
        "r000@x.example": DeliveryState.PENDING,
        "r001@x.example": DeliveryState.PENDING,
        "r002@x.example": DeliveryState.SENDING,
        "r003@x.example": DeliveryState.SENDING,
    }
    retaken = store.claim_deliveries(now=second, limit=10)
    assert [d.id for d in retaken] == [d.id for d in early]
    assert {d.attempts for d in retaken} == {2}  # the lost try counts


def test_unclaimed_rows_are_due_again_with_their_attempt_given_back(
    store: Store, now: datetime
) -> None:
    issue = readers(store, now, 3)
    tried, untried, deferred = store.claim_deliveries(now=now, limit=3)
    store.mark_delivery(tried.id, DeliveryState.SENT, now=now)
    assert store.unclaim_deliveries([untried.id, tried.id], now=now) == 1  # not the sent one
    until = now + timedelta(minutes=5)
    assert store.unclaim_deliveries([deferred.id], now=now, until=until, error="down") == 1
    rows = by_email(store, issue)
    assert rows[tried.email].state is DeliveryState.SENT
    assert (rows[untried.email].state, rows[untried.email].attempts) == (DeliveryState.PENDING, 0)
    assert rows[deferred.email].next_attempt_at == until
    assert rows[deferred.email].last_error == "down" and rows[deferred.email].attempts == 0
    assert [d.id for d in store.claim_deliveries(now=now, limit=10)] == [untried.id]
    assert [d.id for d in store.claim_deliveries(now=until, limit=10)] == [deferred.id]
    assert store.unclaim_deliveries([], now=now) == 0


def test_a_batch_of_outcomes_is_recorded_at_once(store: Store, now: datetime) -> None:
    issue = readers(store, now, 3)
    sent, retrying, refused = store.claim_deliveries(now=now, limit=3)
    later = now + timedelta(seconds=2)
    retry = later + timedelta(minutes=5)
    store.record_deliveries(
        [
            DeliveryOutcome(delivery_id=sent.id, state=DeliveryState.SENT),
            DeliveryOutcome(
                delivery_id=retrying.id,
                state=DeliveryState.PENDING,
                error="451 later",
                next_attempt_at=retry,
            ),
            DeliveryOutcome(delivery_id=refused.id, state=DeliveryState.FAILED, error="550 no"),
        ],
        now=later,
    )
    rows = by_email(store, issue)
    assert (rows[sent.email].state, rows[sent.email].sent_at) == (DeliveryState.SENT, later)
    assert rows[retrying.email].state is DeliveryState.PENDING
    assert rows[retrying.email].next_attempt_at == retry and rows[retrying.email].sent_at is None
    assert rows[refused.email].state is DeliveryState.FAILED
    assert rows[refused.email].last_error == "550 no" and rows[refused.email].sent_at is None
    assert store.delivery_counts(issue) == {"sent": 1, "pending": 1, "failed": 1}
    store.record_deliveries([], now=later)  # nothing to write: no transaction either


def test_deferring_moves_only_the_due_pending_rows(store: Store, now: datetime) -> None:
    issue = readers(store, now, 3)
    (sending,) = store.claim_deliveries(now=now, limit=1)
    until = now + timedelta(minutes=5)
    assert store.defer_due_deliveries(now=now, until=until, error="server down") == 2
    rows = by_email(store, issue)
    assert rows[sending.email].state is DeliveryState.SENDING
    assert rows[sending.email].next_attempt_at is None
    waiting = [d for d in rows.values() if d.state is DeliveryState.PENDING]
    assert {(d.next_attempt_at, d.last_error, d.attempts) for d in waiting} == {
        (until, "server down", 0)
    }
    assert store.claim_deliveries(now=now, limit=10) == []
