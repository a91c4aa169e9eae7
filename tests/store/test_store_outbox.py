"""The outbox: idempotent enqueue, leased claims, backoff, dead letters, no double delivery."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.store.models import OutboxMessage
from engine.store.outbox import LeaseLost, backoff, claim, enqueue, mark_failed, mark_sent

T0 = datetime(2026, 10, 1, 12, 0, tzinfo=timezone.utc)


def test_enqueue_is_idempotent(session):
    first = enqueue(session, "invoice.create", {"amount": Decimal("5.24")}, "invoice:AH-2026-000001", now=T0)
    again = enqueue(session, "invoice.create", {"amount": Decimal("9.99")}, "invoice:AH-2026-000001", now=T0)
    session.commit()
    assert again.id == first.id and again.payload == {"amount": "5.24"}  # amounts as strings
    assert len(session.execute(select(OutboxMessage)).scalars().all()) == 1


def test_claim_leases_due_messages_in_order(session):
    for i in range(3):
        enqueue(session, "k", {"i": i}, f"key-{i}", now=T0 + timedelta(seconds=i))
    enqueue(session, "k", {}, "later", now=T0, not_before=T0 + timedelta(hours=1))
    session.commit()
    claimed = claim(session, "w1", 2, now=T0 + timedelta(seconds=5))
    session.commit()
    assert [m.payload["i"] for m in claimed] == [0, 1]
    assert all(m.locked_by == "w1" and m.locked_until == T0 + timedelta(seconds=5, minutes=5) for m in claimed)
    # Leased messages are not claimed again while the lease runs; the future one is not due.
    rest = claim(session, "w2", 10, now=T0 + timedelta(seconds=6))
    assert [m.payload["i"] for m in rest] == [2]
    # After the lease ran out (worker died) the message can be claimed again.
    retaken = claim(session, "w3", 10, now=T0 + timedelta(minutes=10))
    assert {m.idempotency_key for m in retaken} >= {"key-0", "key-1"}


def test_mark_sent(session):
    msg = enqueue(session, "k", {}, "key", now=T0)
    claim(session, "w1", 1, now=T0)
    mark_sent(session, msg.id, worker="w1", now=T0 + timedelta(seconds=1))
    session.commit()
    stored = session.get(OutboxMessage, msg.id, populate_existing=True)
    assert (stored.status, stored.locked_by, stored.sent_at) == ("sent", None, T0 + timedelta(seconds=1))
    assert claim(session, "w1", 10, now=T0 + timedelta(days=1)) == []


def test_a_worker_that_lost_its_lease_cannot_mark(session):
    msg = enqueue(session, "k", {}, "key", now=T0)
    claim(session, "w1", 1, now=T0)
    claim(session, "w2", 1, now=T0 + timedelta(minutes=6))  # w1's lease ran out
    with pytest.raises(LeaseLost):
        mark_sent(session, msg.id, worker="w1")
    with pytest.raises(LeaseLost):
        mark_failed(session, msg.id, "boom", worker="w1")
    mark_sent(session, msg.id, worker="w2")


def test_failures_back_off_exponentially_then_die(session):
    msg = enqueue(session, "k", {}, "key", now=T0)
    now = T0
    delays = []
    for attempt in range(1, 4):
        [claimed] = claim(session, "w", 1, now=now)
        status = mark_failed(session, claimed.id, f"HTTP 503 #{attempt}", worker="w", now=now, max_attempts=4)
        assert status == "failed"
        stored = session.get(OutboxMessage, msg.id, populate_existing=True)
        delays.append(stored.next_attempt_at - now)
        assert claim(session, "w", 1, now=stored.next_attempt_at - timedelta(seconds=1)) == []
        now = stored.next_attempt_at
    assert delays == [timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=120)]
    [claimed] = claim(session, "w", 1, now=now)
    assert mark_failed(session, claimed.id, "HTTP 503 #4", worker="w", now=now, max_attempts=4) == "dead"
    stored = session.get(OutboxMessage, msg.id, populate_existing=True)
    assert (stored.status, stored.attempts, stored.last_error) == ("dead", 4, "HTTP 503 #4")
    assert claim(session, "w", 1, now=now + timedelta(days=30)) == []


def test_backoff_is_capped():
    assert backoff(1) == timedelta(seconds=30)
    assert backoff(30) == timedelta(hours=6)


def test_two_workers_never_claim_the_same_message(session_factory):
    total = 60
    with session_factory() as session:
        for i in range(total):
            enqueue(session, "k", {"i": i}, f"key-{i}", now=T0)
        session.commit()
    claimed: dict[str, list[int]] = {"a": [], "b": []}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def work(worker: str) -> None:
        try:
            start.wait()
            while True:
                with session_factory() as session:
                    batch = claim(session, worker, 3, now=T0 + timedelta(seconds=1))
                    session.commit()
                if not batch:
                    return
                claimed[worker] += [m.id for m in batch]
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in claimed]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    a, b = set(claimed["a"]), set(claimed["b"])
    assert not a & b
    assert len(a) + len(b) == len(claimed["a"]) + len(claimed["b"]) == total
