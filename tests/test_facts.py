from datetime import datetime, timezone

from engine.facts import lookup_facts
from engine.reference import InMemorySource

SOURCE = InMemorySource({
    "customers": [{"id": "C1", "name": "Anna", "type": "B2C", "country": "DE", "tokens": ["TOK1"]}],
    "subscriptions": [
        {"id": "S1", "customer_id": "C1", "plan_id": "basis", "status": "active",
         "valid_from": "2026-01-01", "valid_to": "2026-10-14"},
        {"id": "S2", "customer_id": "C1", "plan_id": "comfort", "status": "active",
         "valid_from": "2026-10-15", "valid_to": None},
    ],
    "msp_contracts": [
        {"party": "DE*MSX", "contract_id": "K1", "name": "Mobilix", "country": "DE", "reseller": True,
         "status": "active", "valid_from": "2026-01-01", "valid_to": "2026-06-30"},
    ],
    "psp_transactions": [
        {"id": "pi_1", "authorization_reference": "AUTH1", "session_id": None, "status": "captured",
         "amount": "10.00", "currency": "EUR"},
        {"id": "pi_2", "authorization_reference": None, "session_id": "SESS2", "status": "authorised",
         "amount": "5.00", "currency": "EUR"},
    ],
    "locations": [{"id": "LOC1", "name": "Berlin", "country": "DE", "cost_centre": "CC-BER",
                   "category": "urban", "time_zone": "Europe/Berlin"}],
})
OWN = frozenset({"DE*VLT"})


def cdr(party="VLT", uid="TOK1", start=datetime(2026, 10, 20, 10, tzinfo=timezone.utc), **extra):
    return {"cdr_token": {"country_code": "DE", "party_id": party, "uid": uid, "type": "RFID"},
            "cdr_location": {"id": "LOC1", "country": "DEU"}, "start_date_time": start, **extra}


def test_own_customer_gets_the_plan_valid_on_the_session_date():
    facts = lookup_facts(cdr(), SOURCE, own_parties=OWN)
    assert facts["token"] == {"issuer": "DE*VLT", "country_code": "DE", "party_id": "VLT", "own": True}
    assert facts["customer"]["id"] == "C1"
    assert facts["subscription"]["plan_id"] == "comfort" and facts["subscription"]["active"] is True
    early = lookup_facts(cdr(start=datetime(2026, 10, 14, 21, 30, tzinfo=timezone.utc)), SOURCE, own_parties=OWN)
    # 21:30 UTC on 14 Oct is 23:30 in Berlin: still the old plan.
    assert early["subscription"]["plan_id"] == "basis"
    late = lookup_facts(cdr(start=datetime(2026, 10, 14, 22, 30, tzinfo=timezone.utc)), SOURCE, own_parties=OWN)
    assert late["subscription"]["plan_id"] == "comfort"


def test_roaming_token_gets_the_contract_and_knows_it_expired():
    facts = lookup_facts(cdr(party="MSX", uid="X"), SOURCE, own_parties=OWN)
    assert facts["customer"] is None
    assert facts["msp"]["contract_id"] == "K1"
    assert facts["msp"]["active"] is False  # valid_to 2026-06-30


def test_unknown_party_has_no_contract():
    facts = lookup_facts(cdr(party="ZZZ", uid="X"), SOURCE, own_parties=OWN)
    assert facts["msp"] is None and facts["token"]["own"] is False


def test_psp_linked_by_authorization_reference_or_session_id():
    by_auth = lookup_facts(cdr(authorization_reference="AUTH1"), SOURCE, own_parties=OWN)
    assert by_auth["psp"]["id"] == "pi_1" and by_auth["psp"]["captured"] is True
    by_session = lookup_facts(cdr(session_id="SESS2"), SOURCE, own_parties=OWN)
    assert by_session["psp"]["id"] == "pi_2" and by_session["psp"]["captured"] is False


def test_location_master_and_session_date():
    facts = lookup_facts(cdr(), SOURCE, own_parties=OWN)
    assert facts["location"]["cost_centre"] == "CC-BER"
    assert facts["session_date"] == "2026-10-20"


# ---- the one-pass pick (engine/facts.py _picked_with_active) -------------------------------------

def test_picked_with_active_is_pick_then_with_active():
    """Every combination of status and bounds (absent, null, date, text, before/on/after the day)."""
    from datetime import date
    from itertools import product

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from engine.facts import _pick, _picked_with_active, _with_active

    bounds = st.sampled_from([None, "", "2026-10-14", "2026-10-15", "2026-10-16", date(2026, 10, 15),
                              datetime(2026, 10, 15, 23, 0), "ABSENT"])
    record = st.builds(lambda i, status, start, end, active: {
        k: v for k, v in (("id", f"R{i}"), ("status", status), ("valid_from", start), ("valid_to", end),
                          ("active", active)) if v != "ABSENT"},
        st.integers(0, 9), st.sampled_from(["active", "suspended", "expired", "ABSENT"]), bounds, bounds,
        st.sampled_from(["ABSENT", None, True]))

    @settings(max_examples=2000, deadline=None, database=None)
    @given(records=st.lists(record, max_size=4), day=st.sampled_from([date(2026, 10, d) for d in (13, 14, 15, 16, 17)]))
    def same(records, day):
        got, want = _picked_with_active(records, day), _with_active(_pick(records, day), day)
        assert got == want and (got is None or list(got) == list(want)), (records, day)
        assert got is None or all(got is not r for r in records)  # a copy, never the source's record

    same()
    for statuses in product(["active", "expired"], repeat=2):
        records = [{"id": "A", "status": statuses[0], "valid_from": "2026-01-01"},
                   {"id": "B", "status": statuses[1], "valid_from": "2026-02-01"}]
        day = date(2026, 3, 1)
        assert _picked_with_active(records, day) == _with_active(_pick(records, day), day)


def test_in_memory_customer_is_a_fresh_copy_without_tokens():
    first = SOURCE.customer_by_token("tok1")
    assert first == {"id": "C1", "name": "Anna", "type": "B2C", "country": "DE"}
    first["name"] = "changed"
    assert SOURCE.customer_by_token("TOK1")["name"] == "Anna"
    assert SOURCE.customer_by_token("TOK2") is None


def test_date_texts_are_remembered_by_their_text_and_bounded():
    from datetime import date

    import pytest

    from engine import facts as facts_module

    assert facts_module._as_date("2026-01-01") == date(2026, 1, 1)
    assert facts_module._as_date("2026-01-02") == date(2026, 1, 2)      # another text, another day
    assert facts_module._as_date("20260103") == date(2026, 1, 3)        # what fromisoformat accepts
    for _ in range(2):
        with pytest.raises(ValueError):
            facts_module._as_date("2026-02-30")                         # never remembered
    for day in range(facts_module._DATES_LIMIT + 10):
        facts_module._as_date(date.fromordinal(date(2000, 1, 1).toordinal() + day).isoformat())
    assert len(facts_module._DATES) <= facts_module._DATES_LIMIT
    assert facts_module._as_date("") is None and facts_module._as_date(None) is None
