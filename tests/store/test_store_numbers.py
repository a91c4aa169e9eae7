"""Document numbers: sequential per (stream, year), voided numbers logged and never reused."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from engine.store.models import NumberRange
from engine.store.numbers import NumberError, next_number, number_log, void_number


def test_numbers_are_sequential_per_stream_and_year(session):
    assert [next_number(session, "adhoc", 2026) for _ in range(3)] == [
        "AH-2026-000001", "AH-2026-000002", "AH-2026-000003"]
    assert next_number(session, "subscription", 2026) == "SUB-2026-000001"
    assert next_number(session, "msp", 2026) == "MSP-2026-000001"
    assert next_number(session, "adhoc", 2027) == "AH-2027-000001"
    assert next_number(session, "adhoc", 2026) == "AH-2026-000004"
    session.commit()


def test_a_new_stream_needs_a_prefix_and_keeps_it(session):
    with pytest.raises(NumberError, match="prefix"):
        next_number(session, "fleet", 2026)
    assert next_number(session, "fleet", 2026, prefix="FL-") == "FL-2026-000001"
    assert next_number(session, "fleet", 2026, prefix="IGNORED-") == "FL-2026-000002"


def test_two_streams_cannot_share_a_prefix(session):
    next_number(session, "adhoc", 2026)
    with pytest.raises(NumberError, match="already used"):
        next_number(session, "adhoc-b2b", 2026, prefix="AH-")


def test_rolled_back_numbers_are_not_used(session):
    next_number(session, "adhoc", 2026)
    session.commit()
    next_number(session, "adhoc", 2026)
    session.rollback()
    assert next_number(session, "adhoc", 2026) == "AH-2026-000002"


def test_a_range_left_in_the_session_does_not_shadow_the_counter(session_factory):
    with session_factory() as a, session_factory() as b:
        assert next_number(a, "adhoc", 2026) == "AH-2026-000001"
        a.commit()  # expire_on_commit=False: a keeps its NumberRange object around
        assert next_number(b, "adhoc", 2026) == "AH-2026-000002"
        b.commit()
        assert next_number(a, "adhoc", 2026) == "AH-2026-000003"
        a.commit()


def test_void_is_logged_with_its_reason_and_never_reused(session):
    first = next_number(session, "adhoc", 2026)
    assert void_number(session, first, "PDF rendering failed before sending") is True
    assert void_number(session, first, "again") is False
    assert next_number(session, "adhoc", 2026) == "AH-2026-000002"
    session.commit()
    log = [(e.number, e.action, e.reason) for e in number_log(session, "adhoc", 2026)]
    assert log == [("AH-2026-000001", "issued", None),
                   ("AH-2026-000001", "voided", "PDF rendering failed before sending"),
                   ("AH-2026-000002", "issued", None)]


def test_void_needs_a_reason_and_an_issued_number(session):
    with pytest.raises(NumberError, match="never issued"):
        void_number(session, "AH-2026-999999", "typo")
    number = next_number(session, "adhoc", 2026)
    with pytest.raises(NumberError, match="reason"):
        void_number(session, number, "  ")


def test_concurrent_callers_get_unique_gap_free_numbers(session_factory):
    threads, per_thread = 4, 15
    issued: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def work() -> None:
        try:
            start.wait()
            for _ in range(per_thread):
                with session_factory() as session:
                    number = next_number(session, "adhoc", 2026)
                    session.commit()
                with lock:
                    issued.append(number)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    values = sorted(int(n.rsplit("-", 1)[1]) for n in issued)
    assert values == list(range(1, threads * per_thread + 1))  # unique and gap-free
    with session_factory() as session:
        counter = session.execute(select(NumberRange.next_value)).scalar_one()
        assert counter == threads * per_thread + 1
        assert len(number_log(session, "adhoc", 2026)) == threads * per_thread
