"""Reference data in the database: idempotent upserts and the DbSource FactSource
(engine/store/reference.py, engine/store/reference_models.py, migration 0003)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.config.bundle import load_bundle
from engine.config.yamlload import load_yaml
from engine.pipeline import Pipeline
from engine.reference import SCHEMAS, load_reference
from engine.store import reference as store_reference
from engine.store.reference import DbSource, export_records, store_records, upsert_records
from engine.store.reference_models import Customer, CustomerToken, Location, MspContract, PspTransaction

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "samples" / "reference"
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc)
T1 = T0 + timedelta(hours=1)


def loc(**extra):
    return {"id": "LOC-1", "name": "One", "country": "DE", "city": "Berlin", "cost_centre": "CC-1",
            "category": "urban", "time_zone": "Europe/Berlin", **extra}


def psp(tx_id="pi_1", **extra):
    return {"id": tx_id, "authorization_reference": "AUTH-1", "session_id": "S-1", "status": "captured",
            "amount": Decimal("12.30"), "currency": "EUR", **extra}


def count(session, model) -> int:
    return session.execute(select(func.count()).select_from(model)).scalar_one()


def load_samples(session) -> dict[str, dict[str, int]]:
    counts = {}
    for path in sorted(REFERENCE.glob("*.yaml")):
        data, _ = load_yaml(path.read_text(encoding="utf-8"), str(path))
        items = data[SCHEMAS[data["kind"]][0]]
        counts[data["kind"]] = store_records(session, data["kind"], items, file=str(path),
                                             locs=items.item_locs, source=str(path)).counts()
    return counts


# --- upserts -----------------------------------------------------------------------------------------


def test_insert_then_unchanged_then_updated(session):
    first = upsert_records(session, "locations", [loc()], source="a.yaml", now=T0)
    assert first.counts() == {"inserted": 1, "updated": 0, "unchanged": 0, "rejected": 0}

    again = upsert_records(session, "locations", [loc()], source="b.yaml", now=T1)
    assert again.unchanged == 1
    row = session.execute(select(Location)).scalar_one()
    assert (row.updated_at, row.created_at, row.source) == (T0, T0, "a.yaml")   # nothing written

    changed = upsert_records(session, "locations", [loc(cost_centre="CC-2")], source="c.yaml", now=T1)
    assert changed.updated == 1
    session.expire_all()
    row = session.execute(select(Location)).scalar_one()
    assert (row.cost_centre, row.updated_at, row.created_at, row.source) == ("CC-2", T1, T0, "c.yaml")
    assert count(session, Location) == 1


def test_money_is_compared_by_value_and_stored_exactly(session):
    upsert_records(session, "psp_transactions", [psp(amount=Decimal("4.4"))], now=T0)
    assert upsert_records(session, "psp_transactions", [psp(amount=Decimal("4.40"))], now=T1).unchanged == 1
    assert DbSource(session).psp_transaction("AUTH-1", None)["amount"] == Decimal("4.40")
    result = upsert_records(session, "psp_transactions", [psp("pi_2", amount=Decimal("1.005"))], now=T1)
    assert result.rejected == 1 and result.outcomes[0].reasons == ["amount: more than 2 decimal places"]


def test_what_the_store_cannot_hold_is_rejected_and_the_rest_stored(session):
    result = upsert_records(session, "locations", [
        loc(id="L-OK"),
        loc(id="L-LONG", cost_centre="C" * 65),
        loc(id="L-NUL", name="bad\x00name"),
        loc(id="L-OK", name="twice"),
        loc(id="X" * 65),
    ], now=T0)
    assert [o.outcome for o in result.outcomes] == ["inserted", "rejected", "rejected", "rejected", "rejected"]
    assert result.outcomes[1].reasons == ["cost_centre: longer than 64 characters"]
    assert "NUL" in result.outcomes[2].reasons[0]
    assert "occurs twice" in result.outcomes[3].reasons[0]
    assert result.outcomes[4].reasons == ["id: longer than 64 characters"]
    assert count(session, Location) == 1


def test_unknown_fields_are_kept_and_served(session):
    upsert_records(session, "locations", [loc(operator_note="night tariff", parking=Decimal("2.5"))], now=T0)
    found = DbSource(session).location("LOC-1")
    assert found["operator_note"] == "night tariff" and found["parking"] == "2.5"
    assert upsert_records(session, "locations", [loc(operator_note="night tariff", parking=Decimal("2.5"))],
                          now=T1).unchanged == 1


def test_customer_tokens_follow_the_record_and_belong_to_one_customer(session):
    customer = {"id": "C-1", "name": "Anna", "type": "B2C", "country": "DE", "tokens": ["tok-a", "TOK-B"]}
    upsert_records(session, "customers", [customer], now=T0)
    source = DbSource(session)
    assert source.customer_by_token("TOK-A")["id"] == "C-1"
    assert source.customer_by_token("tok-b") == {"id": "C-1", "name": "Anna", "type": "B2C", "country": "DE",
                                                  "email": None, "address": None, "vat_id": None}

    assert upsert_records(session, "customers", [dict(customer, tokens=["TOK-B", "tok-a"])], now=T1).unchanged == 1
    assert upsert_records(session, "customers", [dict(customer, tokens=["tok-b"])], now=T1).updated == 1
    assert source.customer_by_token("tok-a") is None
    assert sorted(session.execute(select(CustomerToken.uid)).scalars()) == ["TOK-B"]

    other = upsert_records(session, "customers", [{"id": "C-2", "name": "Ben", "tokens": ["tok-b", "tok-c"]}],
                           now=T1)
    assert other.rejected == 1 and other.outcomes[0].reasons == ["tokens: TOK-B belongs to customer C-1"]
    assert count(session, Customer) == 1 and source.customer_by_token("tok-c") is None

    # moving a card: first take it off C-1, then give it to C-2
    upsert_records(session, "customers", [dict(customer, tokens=[])], now=T1)
    assert upsert_records(session, "customers", [{"id": "C-2", "name": "Ben", "tokens": ["tok-b"]}],
                          now=T1).inserted == 1
    assert source.customer_by_token("TOK-B")["id"] == "C-2"
    assert export_records(session, "customers")[0]["tokens"] == []


def test_msp_contracts_are_keyed_by_party_and_contract(session):
    base = {"party": "DE*MSX", "name": "Mobilix", "country": "DE", "reseller": True, "status": "active",
            "payment_terms_days": 30}
    upsert_records(session, "msp_contracts", [
        dict(base, contract_id="K-2026", valid_from="2026-01-01", valid_to=None),
        dict(base, contract_id="K-2025", valid_from="2025-01-01", valid_to="2025-12-31", status="expired"),
    ], now=T0)
    contracts = DbSource(session).msp_contracts_of("de*msx")
    assert [c["contract_id"] for c in contracts] == ["K-2025", "K-2026"]      # by valid_from
    assert contracts[0]["valid_to"] == "2025-12-31" and contracts[1]["valid_to"] is None
    assert DbSource(session).msp_contract("DE*MSX", "K-2026")["reseller"] is True
    assert count(session, MspContract) == 2


def test_psp_lookup_prefers_authorization_reference_then_session_id(session):
    upsert_records(session, "psp_transactions", [
        psp("pi_auth", authorization_reference="A-1", session_id=None),
        psp("pi_sid", authorization_reference=None, session_id="S-9"),
    ], now=T0)
    source = DbSource(session)
    assert source.psp_transaction("A-1", "S-9")["id"] == "pi_auth"
    assert source.psp_transaction("A-unknown", "S-9")["id"] == "pi_sid"
    assert source.psp_transaction(None, None) is None and source.psp_transaction("nope", None) is None
    # a retry under the same reference: the newest one counts
    upsert_records(session, "psp_transactions", [psp("pi_retry", authorization_reference="A-1", status="failed")],
                   now=T1)
    assert source.psp_transaction("A-1", None)["id"] == "pi_retry"


def test_validation_problems_name_file_line_and_field(session, tmp_path):
    path = tmp_path / "loc.yaml"
    path.write_text("kind: locations\nlocations:\n"
                    "  - {id: L1, cost_centre: C, category: urban, time_zone: Europe/Berlin}\n"
                    "  - {id: L2, cost_centre: C, category: motorway, time_zone: Europe/Berlin}\n"
                    "  - {id: L3, cost_centre: C, category: urban, time_zone: Europe/Berlin}\n")
    data, _ = load_yaml(path.read_text(), str(path))
    items = data["locations"]
    result = store_records(session, "locations", items, file=str(path), locs=items.item_locs)
    assert [o.outcome for o in result.outcomes] == ["inserted", "rejected", "inserted"]
    bad = result.outcomes[1]
    assert bad.index == 1 and bad.key == "L2" and bad.reasons[0].startswith("category:")
    assert bad.problems[0].line == 4 and bad.problems[0].file == str(path)


def test_samples_load_and_reload_unchanged(session):
    first = load_samples(session)
    assert first == {
        "customers": {"inserted": 12, "updated": 0, "unchanged": 0, "rejected": 0},
        "locations": {"inserted": 17, "updated": 0, "unchanged": 0, "rejected": 0},
        "msp_contracts": {"inserted": 7, "updated": 0, "unchanged": 0, "rejected": 0},
        "psp_transactions": {"inserted": 25, "updated": 0, "unchanged": 0, "rejected": 0},
        "subscriptions": {"inserted": 12, "updated": 0, "unchanged": 0, "rejected": 0},
    }
    again = load_samples(session)
    assert all(c["unchanged"] == sum(c.values()) for c in again.values())


# --- DbSource ------------------------------------------------------------------------------------------


def test_a_session_bound_source_sees_uncommitted_rows_a_factory_bound_one_does_not(session_factory):
    with session_factory() as s:
        upsert_records(s, "psp_transactions", [psp()], now=T0)
        assert DbSource(s).psp_transaction("AUTH-1", None)["id"] == "pi_1"
        assert DbSource(session_factory).bound(s).psp_transaction(None, "S-1")["id"] == "pi_1"
        s.commit()
    assert DbSource(session_factory).psp_transaction("AUTH-1", None)["id"] == "pi_1"


def test_locations_and_contracts_are_cached(session_factory, monkeypatch):
    with session_factory() as s:
        upsert_records(s, "locations", [loc()], now=T0)
        s.commit()
    source = DbSource(session_factory, cache_ttl=None)
    calls = []
    original = source._load_location
    monkeypatch.setattr(source, "_load_location", lambda i: calls.append(i) or original(i))
    for _ in range(3):
        assert source.location("LOC-1")["cost_centre"] == "CC-1"
        assert source.location("LOC-X") is None
    assert calls == ["LOC-1", "LOC-X"]

    returned = source.location("LOC-1")
    returned["cost_centre"] = "mutated by a caller"
    assert source.location("LOC-1")["cost_centre"] == "CC-1"

    with session_factory() as s:                 # an upsert in this process drops every cache
        upsert_records(s, "locations", [loc(cost_centre="CC-9")], now=T1)
        s.commit()
    assert source.location("LOC-1")["cost_centre"] == "CC-9"
    source.clear_cache()
    assert source.location("LOC-1")["cost_centre"] == "CC-9"


def test_cache_ttl(session_factory, monkeypatch):
    with session_factory() as s:
        upsert_records(s, "locations", [loc()], now=T0)
        s.commit()
    clock = [1000.0]
    monkeypatch.setattr(store_reference.time, "monotonic", lambda: clock[0])
    source = DbSource(session_factory, cache_ttl=60)
    assert source.location("LOC-1")["cost_centre"] == "CC-1"
    with session_factory() as s:  # a change made by another process: no generation bump here
        s.execute(Location.__table__.update().values(cost_centre="CC-OTHER"))
        s.commit()
    assert source.location("LOC-1")["cost_centre"] == "CC-1"
    clock[0] += 61
    assert source.location("LOC-1")["cost_centre"] == "CC-OTHER"


def test_db_source_decides_the_corpus_like_the_yaml_source(session_factory):
    """The same Decisions for every sample CDR whichever embedded source serves the facts."""
    from engine import intake

    with session_factory() as s:
        load_samples(s)
        s.commit()
    bundle, problems = load_bundle(ROOT)
    assert bundle is not None, problems
    memory, _ = load_reference(REFERENCE)
    from_yaml, from_db = Pipeline(bundle, memory), Pipeline(bundle, DbSource(session_factory))

    def comparable(decision):
        out = decision.to_json()
        out["facts"] = _without_nulls(out["facts"])
        return out

    compared = 0
    for item in intake.read_paths([str(ROOT / "samples" / "cdrs")]):
        assert comparable(from_yaml.decide_item(item)) == comparable(from_db.decide_item(item)), item.source
        compared += 1
    assert compared > 50


def _without_nulls(value):
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def test_db_source_on_an_empty_database(session):
    source = DbSource(session)
    assert source.is_empty()
    assert (source.customer_by_token("X"), source.subscriptions_of("C"), source.msp_contracts_of("DE*X"),
            source.psp_transaction("A", "S"), source.location("L")) == (None, [], [], None, None)
    upsert_records(session, "locations", [loc()], now=T0)
    assert not source.is_empty()


def test_unknown_kind(session):
    with pytest.raises(ValueError):
        upsert_records(session, "tariffs", [{"id": "x"}])


# --- concurrency ---------------------------------------------------------------------------------------


def test_two_loaders_pushing_the_same_records_make_one_row_each(session_factory):
    records = [psp(f"pi_{i}", authorization_reference=f"A-{i}") for i in range(30)]
    barrier = threading.Barrier(2)
    results, errors = [], []

    def load() -> None:
        try:
            with session_factory() as s:
                barrier.wait(timeout=10)
                results.append(upsert_records(s, "psp_transactions", records, now=T0))
                s.commit()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sorted(r.inserted for r in results) == [0, 30]
    assert sum(r.unchanged for r in results) == 30
    with session_factory() as s:
        assert count(s, PspTransaction) == 30


def test_sharing_with_prefetch_answers_like_a_query_per_lookup(session_factory):
    """DbSource.sharing(session, cdrs): the PSP transactions, customers and subscriptions of a
    batch are read up front; every lookup answers exactly what its own query would."""
    with session_factory() as s:
        load_samples(s)
        upsert_records(s, "psp_transactions", [
            psp("pi_a1", authorization_reference="A-1", session_id="S-1"),
            psp("pi_s1", authorization_reference=None, session_id="S-1"),
            psp("pi_s2", authorization_reference="A-2", session_id="S-2"),
        ], now=T0)
        upsert_records(s, "psp_transactions", [psp("pi_a1_retry", authorization_reference="A-1", session_id=None,
                                                   status="failed"),
                                               psp("pi_s1_new", authorization_reference=None, session_id="S-1")],
                       now=T1)
        customers = export_records(s, "customers")
        s.commit()
    tokens = [t for c in customers for t in c["tokens"]] + ["NO-SUCH-TOKEN"]
    pairs = [("A-1", "S-1"), ("A-1", None), (None, "S-1"), ("A-9", "S-1"), ("A-2", "S-9"), ("A-9", "S-9"),
             (None, "S-2"), ("", "S-1"), (None, None)]
    cdrs = [{"authorization_reference": a, "session_id": sid,
             "cdr_token": {"country_code": "DE", "party_id": "VLT", "uid": uid.lower()}}
            for (a, sid), uid in zip(pairs * 3, tokens)]
    cdrs.append({"cdr_token": {"country_code": "NL", "party_id": "ABC", "uid": "FOREIGN"}})

    def answers(source):
        out = [source.psp_transaction(a, sid) for a, sid in pairs + [("A-not-prefetched", None)]]
        out += [source.customer_by_token(uid) for uid in tokens + ["not-prefetched"]]
        out += [source.subscriptions_of(c["id"]) for c in customers] + [source.subscriptions_of("C-NONE")]
        return out

    plain = answers(DbSource(session_factory))
    assert plain[0]["id"] == "pi_a1_retry" and plain[2]["id"] == "pi_s1_new" and plain[3]["id"] == "pi_s1_new"
    assert any(plain[len(pairs) + 1:])
    source = DbSource(session_factory)
    with session_factory() as session:
        with source.sharing(session, cdrs, own_parties={"DE*VLT"}):
            assert answers(source) == plain
            if session.get_bind().dialect.name == "postgresql":  # read up front: no query per lookup
                from sqlalchemy import event

                statements = []
                engine = session.get_bind()
                listener = lambda *args: statements.append(args[2])  # noqa: E731
                event.listen(engine, "before_cursor_execute", listener)
                try:
                    [source.psp_transaction(a, sid) for a, sid in pairs]
                    [source.customer_by_token(uid) for uid in tokens]
                    [source.subscriptions_of(c["id"]) for c in customers]
                finally:
                    event.remove(engine, "before_cursor_execute", listener)
                assert statements == []
        session.rollback()
    with source.sharing(None, cdrs):  # a session of its own, every token prefetched
        assert answers(source) == plain
    assert answers(source) == plain
