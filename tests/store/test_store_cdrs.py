"""record_decision: new, duplicate, conflict, rejected - idempotent, never overwriting, never dropping."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from engine.store.cdrs import current_decision, get_cdr, record_decision, replace_decision
from engine.store.models import Cdr, DecisionRecord, ExceptionRecord, RejectedInput
from store_helpers import make_decision, raw_cdr

KEY = ("DE", "VLT", "CDR-1")


def count(session, model) -> int:
    return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_new_cdr_is_stored_with_its_decision(session):
    decision = make_decision()
    outcome = record_decision(session, raw_cdr("CDR-1"), decision, normalised={"id": "CDR-1"})
    session.commit()
    assert outcome.outcome == "new" and outcome.stream == "adhoc" and outcome.exception_reason is None
    cdr = get_cdr(session, KEY)
    assert cdr.raw_json == raw_cdr("CDR-1")  # exactly as received
    assert cdr.normalised_json == {"id": "CDR-1"}
    assert cdr.state == "classified" and cdr.ocpi_version == "2.2.1" and len(cdr.content_hash) == 64
    assert cdr.received_at.tzinfo is not None
    record = session.execute(select(DecisionRecord)).scalar_one()
    assert (record.rule_id, record.rule_file, record.rule_line) == ("adhoc-app-payment", "rules/classification.yaml", 12)
    assert record.facts["psp"]["amount"] == "12.34"  # amounts as strings (to_jsonable)
    assert record.is_current and record.config_version == "cfg000000001"
    assert count(session, ExceptionRecord) == 0


def test_stored_decision_reads_back_equal(session):
    decision = make_decision()
    record_decision(session, raw_cdr("CDR-1"), decision)
    session.commit()
    assert current_decision(session, KEY).to_json() == decision.to_json()


def test_same_cdr_again_is_a_duplicate_and_writes_nothing(session):
    first = make_decision()
    record_decision(session, raw_cdr("CDR-1"), first)
    session.commit()
    # The resend is pretty-printed and decided under another config: still the same CDR.
    again = record_decision(session, raw_cdr("CDR-1", pretty=True), make_decision(config_version="other", stream="msp"))
    session.commit()
    assert again.outcome == "duplicate"
    assert again.decision.to_json() == first.to_json()  # the stored Decision, not the new one
    assert (count(session, Cdr), count(session, DecisionRecord), count(session, ExceptionRecord)) == (1, 1, 0)


def test_same_id_other_content_is_a_conflict_and_never_overwrites(session):
    record_decision(session, raw_cdr("CDR-1", energy="12.5"), make_decision())
    session.commit()
    changed = raw_cdr("CDR-1", energy="13.0")
    outcome = record_decision(session, changed, make_decision(source="resend.json"))
    session.commit()
    assert outcome.outcome == "conflict" and outcome.exception_reason == "DUPLICATE_ID_CONFLICT"
    assert get_cdr(session, KEY).raw_json == raw_cdr("CDR-1", energy="12.5")
    exc = session.execute(select(ExceptionRecord)).scalar_one()
    assert exc.reason == "DUPLICATE_ID_CONFLICT" and exc.status == "open" and exc.cdr_pk == outcome.cdr_pk
    assert exc.detail["raw"] == changed and exc.detail["source"] == "resend.json"  # nothing dropped
    # The same conflicting resend again: still a conflict, but the queue does not grow.
    again = record_decision(session, changed, make_decision())
    session.commit()
    assert again.outcome == "conflict" and again.exception_reason is None
    assert count(session, ExceptionRecord) == 1 and count(session, DecisionRecord) == 1


def test_exception_decision_opens_an_exception(session):
    decision = make_decision(stream=None, exception={"reason": "UNKNOWN_MSP", "description": "no contract"})
    outcome = record_decision(session, raw_cdr("CDR-1"), decision)
    session.commit()
    assert outcome.outcome == "new" and outcome.exception_reason == "UNKNOWN_MSP"
    assert get_cdr(session, KEY).state == "exception"
    exc = session.execute(select(ExceptionRecord)).scalar_one()
    assert (exc.reason, exc.cdr_pk, exc.decision_id) == ("UNKNOWN_MSP", outcome.cdr_pk,
                                                         session.execute(select(DecisionRecord.id)).scalar_one())
    assert record_decision(session, raw_cdr("CDR-1"), decision).outcome == "duplicate"
    session.commit()
    assert count(session, ExceptionRecord) == 1


def test_rejected_cdr_with_a_key_is_stored_with_its_reasons(session):
    errors = [{"path": "total_energy", "code": "schema.type", "message": "not a number"}]
    decision = make_decision(stream=None, errors=errors,
                             exception={"reason": "INVALID_CDR", "description": "not a number"})
    outcome = record_decision(session, raw_cdr("CDR-1", energy='"x"'), decision)
    session.commit()
    assert outcome.outcome == "rejected" and outcome.exception_reason == "INVALID_CDR"
    cdr = get_cdr(session, KEY)
    assert cdr.state == "rejected" and cdr.normalised_json is None
    assert current_decision(session, KEY).errors == errors
    assert session.execute(select(ExceptionRecord.reason)).scalar_one() == "INVALID_CDR"


def test_input_without_a_key_goes_to_rejected_inputs(session):
    errors = [{"path": "", "code": "json.invalid", "message": "line 1, column 2: Expecting value"}]
    decision = make_decision(stream=None, key=None, errors=errors, exception={"reason": "INVALID_CDR"})
    outcome = record_decision(session, "{not json", decision)
    session.commit()
    assert outcome.outcome == "rejected" and outcome.decision is None and outcome.rejected_input_id
    rejected = session.execute(select(RejectedInput)).scalar_one()
    assert rejected.raw_text == "{not json" and rejected.reasons == errors and rejected.source == "test.json"
    exc = session.execute(select(ExceptionRecord)).scalar_one()
    assert exc.rejected_input_id == rejected.id and exc.reason == "INVALID_CDR" and exc.cdr_pk is None
    again = record_decision(session, "{not json", decision)
    session.commit()
    assert again.outcome == "duplicate" and count(session, RejectedInput) == 1 and count(session, ExceptionRecord) == 1


def test_a_key_too_long_to_store_is_rejected_not_lost(session):
    decision = make_decision("X" * 300)
    outcome = record_decision(session, raw_cdr("X" * 300), decision)
    session.commit()
    assert outcome.outcome == "rejected"
    assert session.execute(select(RejectedInput.reasons)).scalar_one()[0]["code"] == "NO_CDR_KEY"


def test_replace_keeps_history_with_one_current(session):
    first = record_decision(session, raw_cdr("CDR-1"), make_decision(stream=None, exception={"reason": "UNKNOWN_MSP"}))
    session.commit()
    replace_decision(session, first.cdr_pk, make_decision(stream="msp", config_version="v2"))
    session.commit()
    rows = session.execute(select(DecisionRecord).order_by(DecisionRecord.id)).scalars().all()
    assert [(r.is_current, r.stream) for r in rows] == [(False, None), (True, "msp")]
    assert current_decision(session, KEY).config_version == "v2"
    assert get_cdr(session, KEY).state == "classified"


def test_two_current_decisions_are_impossible(session):
    outcome = record_decision(session, raw_cdr("CDR-1"), make_decision())
    session.commit()
    session.add(DecisionRecord(cdr_pk=outcome.cdr_pk, is_current=True, config_version="x",
                               decided_at=datetime.now(timezone.utc)))
    with pytest.raises(IntegrityError):
        session.flush()


def test_the_key_is_unique(session):
    record_decision(session, raw_cdr("CDR-1"), make_decision())
    session.commit()
    session.add(Cdr(country_code="DE", party_id="VLT", cdr_id="CDR-1", raw_json="{}", content_hash="0" * 64,
                    state="received", received_at=datetime.now(timezone.utc)))
    with pytest.raises(IntegrityError):
        session.flush()


def test_same_id_from_another_party_is_another_cdr(session):
    record_decision(session, raw_cdr("CDR-1"), make_decision())
    other = make_decision(key=("NL", "WZP", "CDR-1"))
    assert record_decision(session, raw_cdr("CDR-1", party=("NL", "WZP")), other).outcome == "new"
    session.commit()
    assert count(session, Cdr) == 2


# --- record_decisions: a batch at once, the same outcomes as one by one ----------------------------------


def _batch():
    """New, exception, rejected-with-key, keyless, a duplicate and a conflict within the batch,
    and a resend of a CDR stored before the batch."""
    invalid = [{"path": "id", "code": "required", "message": "missing"}]
    return [
        (raw_cdr("CDR-1"), make_decision("CDR-1"), {"id": "CDR-1"}),
        (raw_cdr("CDR-2"), make_decision("CDR-2", stream=None, exception={"reason": "NO_RULE_MATCHED"}), None),
        (raw_cdr("CDR-3"), make_decision("CDR-3", stream=None, errors=invalid), None),
        ('{"no": "key"}', make_decision("x", stream=None, key=None, errors=invalid), None),
        (raw_cdr("CDR-1", pretty=True), make_decision("CDR-1", stream="msp"), None),      # duplicate of [0]
        (raw_cdr("CDR-2", energy="99"), make_decision("CDR-2"), None),                  # conflict with [1]
        (raw_cdr("CDR-0"), make_decision("CDR-0"), None),                               # stored before
        ('{"no": "key"}', make_decision("x", stream=None, key=None, errors=invalid), None),  # same keyless again
        (raw_cdr("CDR-0", energy="1"), make_decision("CDR-0"), None),                   # conflict with stored
    ]


def _state(session):
    cdrs = sorted((c.cdr_id, c.state, c.content_hash, c.raw_json) for c in session.execute(select(Cdr)).scalars())
    decisions = sorted((d.cdr.cdr_id, d.stream, d.is_current, d.exception_reason, repr(d.facts), repr(d.errors))
                       for d in session.execute(select(DecisionRecord)).scalars())
    exceptions = sorted((e.reason, e.status, e.dedup_key.split(":")[0], e.cdr_pk is not None)
                        for e in session.execute(select(ExceptionRecord)).scalars())
    rejected = count(session, RejectedInput)
    return cdrs, decisions, exceptions, rejected


@pytest.mark.parametrize("batch_size", [1, 4, 9])
def test_record_decisions_gives_the_outcomes_of_record_decision_one_by_one(session_factory, batch_size):
    from engine.store.cdrs import record_decisions

    now = datetime(2026, 11, 1, tzinfo=timezone.utc)
    results = {}
    for how in ("one_by_one", "together"):
        with session_factory() as s:
            for model in (ExceptionRecord, DecisionRecord, Cdr, RejectedInput):
                s.query(model).delete()
            record_decision(s, raw_cdr("CDR-0"), make_decision("CDR-0"), now=now)
            entries = _batch()
            if how == "one_by_one":
                outcomes = [record_decision(s, raw, d, normalised=n, now=now) for raw, d, n in entries]
            else:
                outcomes = []
                for i in range(0, len(entries), batch_size):
                    outcomes += record_decisions(s, entries[i:i + batch_size], now=now)
            s.commit()
            shown = [(o.outcome, o.exception_reason, o.decision.to_json() if o.decision else None,
                      o.cdr_pk is not None, o.rejected_input_id is not None, o.exception_id is not None)
                     for o in outcomes]
            results[how] = (shown, _state(s))
    assert results["together"] == results["one_by_one"]
    outcomes = [o[0] for o in results["together"][0]]
    assert outcomes == ["new", "new", "rejected", "rejected", "duplicate", "conflict", "duplicate", "duplicate",
                        "conflict"]


def test_record_decisions_stores_json_like_record_decision(session):
    from engine.store.cdrs import record_decisions

    record_decisions(session, [(raw_cdr("CDR-1"), make_decision("CDR-1"), {"id": "CDR-1", "n": 1}),
                               (raw_cdr("CDR-2"), make_decision("CDR-2", stream=None), None)])
    session.commit()
    one = session.execute(select(DecisionRecord).join(Cdr).where(Cdr.cdr_id == "CDR-1")).scalar_one()
    assert one.facts["psp"]["amount"] == "12.34" and one.pricing == {"total_cost": {"excl_vat": "4.40"}}
    assert one.errors is None and one.exception is None and one.cdr.normalised_json == {"id": "CDR-1", "n": 1}
    two = session.execute(select(DecisionRecord).join(Cdr).where(Cdr.cdr_id == "CDR-2")).scalar_one()
    assert two.pricing is None and two.cdr.normalised_json is None  # SQL NULL, not JSON null
    assert session.execute(select(func.count()).select_from(DecisionRecord)
                           .where(DecisionRecord.pricing.is_(None))).scalar_one() == 1
