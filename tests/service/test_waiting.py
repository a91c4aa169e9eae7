"""Ad-hoc CDRs waiting for their PSP transaction: park, release, expire (engine/service/waiting.py).

The real pure pipeline (the repository's rules and mappings) decides; the reference data is in
the database (samples/reference without the PSP transactions, which each test adds as it
needs them) and is read through ``DbSource``. SQLite always, PostgreSQL when DATABASE_URL is set.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.config.bundle import load_bundle
from engine.config.yamlload import load_yaml
from engine.pipeline import Pipeline
from engine.reference import SCHEMAS
from engine.store.canonical import parse
from engine.store.cdrs import current_decision, get_cdr, record_decision
from engine.store.models import Cdr, DecisionRecord, ExceptionRecord
from engine.store.reference import DbSource, store_records
from engine.store.reference_models import WaitingCdr
from engine.service.waiting import (
    AD_HOC_NO_PSP_TRANSACTION, WaitingPolicy, expire, park, release, release_all, waiting_keys,
)

ROOT = Path(__file__).resolve().parents[2]
CDRS = ROOT / "samples" / "cdrs"
NO_PSP = CDRS / "exception-adhoc-no-psp-transaction.json"          # auth AH-UJEDMM2VTZ5F, ends 10-13 13:24:10Z
NO_PSP_KEY = ("DE", "VLT", "VLT-20261013-10033")
SESSION_LINK = CDRS / "adhoc-de-berlin-ac-session-id-link.json"    # no auth ref, session_id only
SESSION_LINK_KEY = ("DE", "VLT", "VLT-20261022-10059")
SESSION_LINK_SID = "63c13968-0801-590e-a091-1ce8492cf155"

AT_INGEST = datetime(2026, 10, 13, 14, 0, tzinfo=timezone.utc)
DEADLINE = datetime(2026, 10, 14, 13, 24, 10, tzinfo=timezone.utc)
POLICY = WaitingPolicy()


def tx(tx_id: str = "pi_late_001", *, auth: str | None = "AH-UJEDMM2VTZ5F", session_id: str | None = None,
       status: str = "captured", amount: str = "8.43") -> dict:
    return {"id": tx_id, "authorization_reference": auth, "session_id": session_id, "status": status,
            "amount": amount, "currency": "EUR", "provider": "demo-psp"}


@pytest.fixture(scope="module")
def bundle():
    loaded, problems = load_bundle(ROOT)
    assert loaded is not None, problems
    return loaded


@pytest.fixture
def db(session_factory):
    """The database with the sample reference data except the PSP transactions."""
    with session_factory() as s:
        for path in sorted((ROOT / "samples" / "reference").glob("*.yaml")):
            data, _ = load_yaml(path.read_text(encoding="utf-8"), str(path))
            if data["kind"] == "psp_transactions":
                continue
            result = store_records(s, data["kind"], data[SCHEMAS[data["kind"]][0]], file=str(path))
            assert result.rejected == 0
        s.commit()
    return session_factory


@pytest.fixture
def pipeline(bundle, db):
    return Pipeline(bundle, DbSource(db))


def ingest(session_factory, pipeline, path: Path, *, now: datetime = AT_INGEST, policy=POLICY):
    """What the ingest path does for one CDR: decide (outside the write transaction), record, park."""
    raw = path.read_text(encoding="utf-8")
    decision = pipeline.decide(parse(raw), source=path.name)
    with session_factory() as s:
        outcome = park(s, record_decision(s, raw, decision, normalised=decision.cdr, now=now), now=now, policy=policy)
        s.commit()
    return outcome


def push(session_factory, pipeline, *records, now: datetime = AT_INGEST + timedelta(hours=1)):
    """What POST /psp/transactions does: validate + upsert, then release what they match."""
    with session_factory() as s:
        stored = store_records(s, "psp_transactions", list(records), source="test")
        assert stored.rejected == 0, stored.to_json()
        keys = release_all(s, pipeline, [o.record for o in stored.outcomes], now=now, policy=POLICY)
        s.commit()
    return keys


def state(session_factory, key) -> str:
    with session_factory() as s:
        return get_cdr(s, key).state


def decisions(session_factory, key) -> int:
    with session_factory() as s:
        cdr_pk = get_cdr(s, key).id
        return s.execute(select(func.count()).select_from(DecisionRecord).where(DecisionRecord.cdr_pk == cdr_pk)
                         ).scalar_one()


def open_exceptions(session_factory) -> list[tuple[str, dict]]:
    with session_factory() as s:
        return [(r.reason, r.detail) for r in s.execute(select(ExceptionRecord).where(
            ExceptionRecord.status == "open").order_by(ExceptionRecord.id)).scalars()]


def test_cdr_first_then_psp_is_parked_then_released_into_adhoc(db, pipeline):
    outcome = ingest(db, pipeline, NO_PSP)
    assert outcome.outcome == "new" and outcome.decision.exception["reason"] == AD_HOC_NO_PSP_TRANSACTION
    assert outcome.exception_id is None and outcome.exception_reason is None
    assert state(db, NO_PSP_KEY) == "waiting"
    assert open_exceptions(db) == []           # no exception while it waits
    with db() as s:
        assert waiting_keys(s) == [NO_PSP_KEY]
        row = s.execute(select(WaitingCdr)).scalar_one()
        assert (row.status, row.reason, row.deadline) == ("waiting", AD_HOC_NO_PSP_TRANSACTION, DEADLINE)
        assert row.authorization_reference == "AH-UJEDMM2VTZ5F"

    assert push(db, pipeline, tx()) == [NO_PSP_KEY]

    assert state(db, NO_PSP_KEY) == "classified"
    assert decisions(db, NO_PSP_KEY) == 2       # the parked decision stays as history
    with db() as s:
        current = current_decision(s, NO_PSP_KEY)
        assert current.stream == "adhoc" and current.rule["id"] == "adhoc-psp-captured"
        assert current.facts["psp"]["id"] == "pi_late_001" and current.facts["psp"]["captured"] is True
        assert current.billing                  # priced and mapped like any adhoc CDR
        assert waiting_keys(s) == []
        assert s.execute(select(WaitingCdr.status)).scalar_one() == "released"
    assert open_exceptions(db) == []


def test_psp_first_then_cdr_goes_to_adhoc_at_once(db, pipeline):
    assert push(db, pipeline, tx()) == []       # nothing waiting yet
    outcome = ingest(db, pipeline, NO_PSP)
    assert outcome.outcome == "new" and outcome.stream == "adhoc"
    assert state(db, NO_PSP_KEY) == "classified"
    with db() as s:
        assert waiting_keys(s) == [] and s.execute(select(func.count()).select_from(WaitingCdr)).scalar_one() == 0
    assert open_exceptions(db) == []


def test_no_psp_waits_then_expires_into_the_exception_queue(db, pipeline):
    ingest(db, pipeline, NO_PSP)
    with db() as s:
        assert expire(s, DEADLINE - timedelta(seconds=1)) == []
        s.commit()
    assert state(db, NO_PSP_KEY) == "waiting"

    with db() as s:
        assert expire(s, DEADLINE) == [NO_PSP_KEY]
        s.commit()
    assert state(db, NO_PSP_KEY) == "exception"
    [(reason, detail)] = open_exceptions(db)
    assert reason == AD_HOC_NO_PSP_TRANSACTION
    assert detail["waited_until"] == "2026-10-14T13:24:10Z" and "waited until 2026-10-14T13:24:10Z" in detail[
        "description"]
    assert detail["key"] == list(NO_PSP_KEY) and detail["exception"]["reason"] == AD_HOC_NO_PSP_TRANSACTION
    assert decisions(db, NO_PSP_KEY) == 1
    with db() as s:
        assert expire(s, DEADLINE + timedelta(days=3)) == []     # once only
        row = s.execute(select(WaitingCdr)).scalar_one()
        assert row.status == "expired" and row.exception_id is not None
    assert len(open_exceptions(db)) == 1


def test_release_is_idempotent(db, pipeline):
    ingest(db, pipeline, NO_PSP)
    assert push(db, pipeline, tx()) == [NO_PSP_KEY]
    assert push(db, pipeline, tx()) == []       # same transaction again: nothing waiting, nothing written
    with db() as s:
        assert release(s, pipeline, tx(), policy=POLICY) == []
    assert decisions(db, NO_PSP_KEY) == 2
    assert state(db, NO_PSP_KEY) == "classified"
    with db() as s:
        assert expire(s, DEADLINE + timedelta(days=1)) == []     # a released CDR never expires


def test_a_resent_cdr_is_a_duplicate_and_stays_waiting(db, pipeline):
    ingest(db, pipeline, NO_PSP)
    again = ingest(db, pipeline, NO_PSP, now=AT_INGEST + timedelta(minutes=5))
    assert again.outcome == "duplicate"
    assert state(db, NO_PSP_KEY) == "waiting" and open_exceptions(db) == []
    with db() as s:
        assert waiting_keys(s) == [NO_PSP_KEY]


def test_matched_by_session_id(db, pipeline):
    ingest(db, pipeline, SESSION_LINK, now=datetime(2026, 10, 22, 11, 30, tzinfo=timezone.utc))
    assert state(db, SESSION_LINK_KEY) == "waiting"
    assert push(db, pipeline, tx("pi_other", auth="AH-SOMETHING-ELSE")) == []
    assert push(db, pipeline, tx("pi_sid", auth=None, session_id=SESSION_LINK_SID, amount="8.35")) == [
        SESSION_LINK_KEY]
    with db() as s:
        assert current_decision(s, SESSION_LINK_KEY).stream == "adhoc"


def test_a_failed_payment_releases_into_its_own_exception(db, pipeline):
    ingest(db, pipeline, NO_PSP)
    assert push(db, pipeline, tx(status="failed")) == [NO_PSP_KEY]
    assert state(db, NO_PSP_KEY) == "exception"
    [(reason, detail)] = open_exceptions(db)
    assert reason == "AD_HOC_PAYMENT_FAILED" and detail["key"] == list(NO_PSP_KEY)


def test_a_transaction_after_the_deadline_replays_the_open_exception(db, pipeline):
    ingest(db, pipeline, NO_PSP)
    with db() as s:
        expire(s, DEADLINE + timedelta(hours=1))
        s.commit()
    assert [r for r, _ in open_exceptions(db)] == [AD_HOC_NO_PSP_TRANSACTION]
    assert push(db, pipeline, tx(), now=DEADLINE + timedelta(hours=2)) == [NO_PSP_KEY]
    assert state(db, NO_PSP_KEY) == "classified" and open_exceptions(db) == []
    with db() as s:
        assert s.execute(select(ExceptionRecord.status)).scalar_one() == "replayed"


def test_a_cdr_arriving_after_its_deadline_is_not_parked(db, pipeline):
    outcome = ingest(db, pipeline, NO_PSP, now=DEADLINE + timedelta(minutes=1))
    assert outcome.exception_reason == AD_HOC_NO_PSP_TRANSACTION and outcome.exception_id is not None
    assert state(db, NO_PSP_KEY) == "exception"
    with db() as s:
        assert waiting_keys(s) == []


def test_other_decisions_are_left_alone(db, pipeline):
    unknown_msp = ingest(db, pipeline, CDRS / "exception-unknown-msp-be-nov.json")
    assert unknown_msp.exception_reason == "UNKNOWN_MSP" and unknown_msp.exception_id is not None
    assert state(db, unknown_msp.decision.key) == "exception"
    msp = ingest(db, pipeline, CDRS / "msp-de-ldx-berlin-ac-001.json")
    assert msp.stream == "msp" and state(db, msp.decision.key) == "classified"
    with db() as s:
        assert waiting_keys(s) == []
    assert [r for r, _ in open_exceptions(db)] == ["UNKNOWN_MSP"]


def test_the_policy_is_configurable(db, pipeline):
    policy = WaitingPolicy(reasons=frozenset({"AD_HOC_NO_PSP_TRANSACTION", "AD_HOC_PAYMENT_NOT_CAPTURED"}),
                           wait=timedelta(hours=2))
    ingest(db, pipeline, NO_PSP, policy=policy)
    with db() as s:
        assert s.execute(select(WaitingCdr.deadline)).scalar_one() == DEADLINE - timedelta(hours=22)
    # an authorised (not captured) transaction: still a waiting reason, the CDR keeps waiting
    with db() as s:
        stored = store_records(s, "psp_transactions", [tx(status="authorised")])
        assert release(s, pipeline, stored.outcomes[0].record, policy=policy, now=AT_INGEST) == []
        s.commit()
    assert state(db, NO_PSP_KEY) == "waiting" and decisions(db, NO_PSP_KEY) == 2
    with db() as s:
        assert s.execute(select(WaitingCdr.reason)).scalar_one() == "AD_HOC_PAYMENT_NOT_CAPTURED"
    # ... until it is captured
    with db() as s:
        stored = store_records(s, "psp_transactions", [tx(status="captured")])
        assert stored.updated == 1
        assert release(s, pipeline, stored.outcomes[0].record, policy=policy, now=AT_INGEST) == [NO_PSP_KEY]
        s.commit()
    assert state(db, NO_PSP_KEY) == "classified" and decisions(db, NO_PSP_KEY) == 3


def test_policy_from_environment():
    policy = WaitingPolicy.from_env({"CDRFLOW_WAIT_REASONS": "A, B", "CDRFLOW_WAIT_HOURS": "1.5"})
    assert policy.reasons == {"A", "B"} and policy.wait == timedelta(minutes=90)
    assert WaitingPolicy.from_env({}) == WaitingPolicy()
    with pytest.raises(ValueError):
        WaitingPolicy.from_env({"CDRFLOW_WAIT_HOURS": "-1"})


def test_release_sees_a_transaction_not_yet_committed_with_an_in_memory_source(db, bundle):
    """Whatever source the application's pipeline has, the arriving transaction is visible."""
    from engine.reference import load_reference

    memory, _ = load_reference(ROOT / "samples" / "reference")
    yaml_pipeline = Pipeline(bundle, memory)
    ingest(db, yaml_pipeline, NO_PSP)
    assert state(db, NO_PSP_KEY) == "waiting"
    assert push(db, yaml_pipeline, tx()) == [NO_PSP_KEY]
    assert state(db, NO_PSP_KEY) == "classified"


def test_on_decision_hook_sees_each_released_cdr(db, pipeline):
    ingest(db, pipeline, NO_PSP)
    seen = []
    with db() as s:
        stored = store_records(s, "psp_transactions", [tx()])
        keys = release(s, pipeline, stored.outcomes[0].record, policy=POLICY,
                       on_decision=lambda sess, cdr_pk, decision, decision_id: seen.append(
                           (cdr_pk, decision.stream, decision_id)))
        s.commit()
    assert keys == [NO_PSP_KEY] and len(seen) == 1 and seen[0][1] == "adhoc"
    with db() as s:
        cdr = s.execute(select(Cdr).where(Cdr.cdr_id == NO_PSP_KEY[2])).scalar_one()
        assert seen[0][0] == cdr.id


def test_sweep_releases_cdrs_whose_transaction_was_stored_without_a_release(db, pipeline):
    """The race release() cannot see: the CDR is decided without its transaction, the transaction
    is stored and released (finding nothing waiting yet), then the CDR is recorded and parked.
    The worker's sweep releases it afterwards."""
    from engine.service.waiting import sweep

    raw = NO_PSP.read_text(encoding="utf-8")
    early = pipeline.decide(parse(raw), source=NO_PSP.name)          # no transaction yet
    assert early.exception["reason"] == AD_HOC_NO_PSP_TRANSACTION
    assert push(db, pipeline, tx()) == []                             # nothing waiting yet
    with db() as s:
        park(s, record_decision(s, raw, early, normalised=early.cdr, now=AT_INGEST), now=AT_INGEST, policy=POLICY)
        s.commit()
    assert state(db, NO_PSP_KEY) == "waiting"

    with db() as s:
        assert sweep(s, pipeline, policy=POLICY) == [NO_PSP_KEY]
        s.commit()
    assert state(db, NO_PSP_KEY) == "classified"
    with db() as s:
        assert sweep(s, pipeline, policy=POLICY) == []
