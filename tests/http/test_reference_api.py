"""POST /psp/transactions and POST /reference/<kind> (engine/http/reference.py).

The real app (``create_app``, tests/http/conftest.py) on each database backend. A CDR waiting
for its PSP transaction is set up the way the ingest path parks it (record_decision + park).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from engine.http.runtime import EXTENSION
from engine.service.waiting import WaitingPolicy, park, waiting_keys
from engine.store.canonical import parse
from engine.store.cdrs import current_decision, record_decision
from engine.store.reference import DbSource, export_records
from engine.store.reference_models import Location, PspTransaction
from httpkit import SAMPLES

NO_PSP = "exception-adhoc-no-psp-transaction.json"
NO_PSP_KEY = ("DE", "VLT", "VLT-20261013-10033")
AT_INGEST = datetime(2026, 10, 13, 14, 0, tzinfo=timezone.utc)


def tx(tx_id="pi_http_001", **fields):
    record = {"id": tx_id, "authorization_reference": "AH-UJEDMM2VTZ5F", "session_id": None,
              "status": "captured", "amount": "8.43", "currency": "EUR", "provider": "demo-psp"}
    record.update(fields)
    return record


def post(client, auth, path, body, **kwargs):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(path, data=data, headers={**auth, "Content-Type": "application/json"}, **kwargs)


def rows(app, model) -> int:
    with app.extensions[EXTENSION].session_factory() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def park_sample(app, name=NO_PSP):
    """What the ingest path does once park() is wired in: decide, record, park."""
    rt = app.extensions[EXTENSION]
    raw = (SAMPLES / name).read_text(encoding="utf-8")
    decision = rt.pipeline().decide(parse(raw), source=name)
    with rt.session_factory() as s:
        outcome = park(s, record_decision(s, raw, decision, normalised=decision.cdr, now=AT_INGEST),
                       now=AT_INGEST, policy=WaitingPolicy())
        s.commit()
    return outcome


def test_a_transaction_is_upserted_idempotently(app, client, auth):
    first = post(client, auth, "/psp/transactions", tx())
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert body["results"] == [{"index": 0, "key": "pi_http_001", "outcome": "inserted"}]
    assert body["summary"] == {"inserted": 1, "updated": 0, "unchanged": 0, "rejected": 0}
    assert body["released"] == []

    again = post(client, auth, "/psp/transactions", [tx()])
    assert again.status_code == 200 and again.get_json()["results"][0]["outcome"] == "unchanged"

    changed = post(client, auth, "/psp/transactions", tx(status="refunded"))
    assert changed.status_code == 200 and changed.get_json()["results"][0]["outcome"] == "updated"
    assert rows(app, PspTransaction) == 1
    with app.extensions[EXTENSION].session_factory() as s:
        [stored] = export_records(s, "psp_transactions")
    assert stored["status"] == "refunded" and str(stored["amount"]) == "8.43"


def test_amounts_as_json_numbers_and_per_record_rejections(client, auth):
    body = ('[{"id": "pi_n", "authorization_reference": "A-1", "status": "captured", "amount": 12.34, '
            '"currency": "eur"},'
            ' {"id": "pi_bad", "status": "paid", "amount": 1.234, "currency": "EURO"},'
            ' {"id": "pi_scale", "status": "captured", "amount": 1.234, "currency": "EUR"}]')
    response = post(client, auth, "/psp/transactions", body)
    assert response.status_code == 200
    results = response.get_json()["results"]
    assert [r["outcome"] for r in results] == ["inserted", "rejected", "rejected"]
    assert any(r.startswith("status:") for r in results[1]["reasons"])
    assert any(r.startswith("currency:") for r in results[1]["reasons"])
    assert results[2]["reasons"] == ["amount: more than 2 decimal places"]


def test_bad_bodies(client, auth, app):
    all_bad = post(client, auth, "/psp/transactions", [{"id": "x"}])
    assert all_bad.status_code == 400 and all_bad.get_json()["summary"]["rejected"] == 1
    not_json = post(client, auth, "/psp/transactions", "{nope")
    assert not_json.status_code == 400 and "not valid JSON" in not_json.get_json()["status_message"]
    empty = post(client, auth, "/psp/transactions", "")
    assert empty.status_code == 400
    none = post(client, auth, "/psp/transactions", [])
    assert none.status_code == 400
    wrong_kind = post(client, auth, "/psp/transactions", {"kind": "locations", "transactions": [tx()]})
    assert wrong_kind.status_code == 400
    assert rows(app, PspTransaction) == 0


def test_a_token_is_needed(client):
    response = client.post("/psp/transactions", data=json.dumps(tx()), content_type="application/json")
    assert response.status_code == 401
    response = client.post("/reference/locations", data="{}", content_type="application/json")
    assert response.status_code == 401


def test_too_many_records(make_app):
    from engine.store.clients import create_client

    app = make_app(max_batch=2)
    with app.extensions[EXTENSION].session_factory() as s:
        headers = {"Authorization": f"Token {create_client(s, 'psp')}"}
        s.commit()
    client = app.test_client()
    response = post(client, headers, "/psp/transactions", [tx("a"), tx("b"), tx("c")])
    assert response.status_code == 413


def test_a_waiting_cdr_is_released_by_its_transaction(app, client, auth):
    outcome = park_sample(app)
    assert outcome.exception_id is None
    with app.extensions[EXTENSION].session_factory() as s:
        assert waiting_keys(s) == [NO_PSP_KEY]

    unrelated = post(client, auth, "/psp/transactions", tx("pi_other", authorization_reference="AH-OTHER"))
    assert unrelated.get_json()["released"] == []

    response = post(client, auth, "/psp/transactions", tx())
    assert response.status_code == 201
    assert response.get_json()["released"] == [list(NO_PSP_KEY)]

    decision = client.get("/cdrs/DE/VLT/VLT-20261013-10033", headers=auth).get_json()
    assert decision["stream"] == "adhoc" and decision["facts"]["psp"]["id"] == "pi_http_001"
    with app.extensions[EXTENSION].session_factory() as s:
        assert waiting_keys(s) == []
        assert current_decision(s, NO_PSP_KEY).rule["id"] == "adhoc-psp-captured"

    repeat = post(client, auth, "/psp/transactions", tx())      # idempotent: nothing more to release
    assert repeat.status_code == 200 and repeat.get_json()["released"] == []


def test_reference_kinds(app, client, auth):
    location = {"id": "LOC-NEW-001", "name": "Neu", "country": "de", "cost_centre": "CC-NEW", "category": "urban",
                "time_zone": "Europe/Berlin"}
    source = DbSource(app.extensions[EXTENSION].session_factory)
    assert source.location("LOC-NEW-001") is None          # cached miss ...

    one = post(client, auth, "/reference/locations", location)
    assert one.status_code == 201 and one.get_json()["kind"] == "locations"
    assert source.location("LOC-NEW-001")["country"] == "DE"  # ... dropped when this process upserts locations

    file_format = post(client, auth, "/reference/locations",
                       {"kind": "locations", "locations": [location, dict(location, id="LOC-NEW-002")]})
    assert [r["outcome"] for r in file_format.get_json()["results"]] == ["unchanged", "inserted"]
    assert rows(app, Location) == 2

    msp = {"party": "de*new", "contract_id": "K-1", "name": "New MSP", "country": "DE", "reseller": True,
           "valid_from": "2026-01-01"}
    msps = post(client, auth, "/reference/msp_contracts", {"msps": [msp]})
    assert msps.status_code == 201 and msps.get_json()["results"][0]["key"] == "DE*NEW/K-1"
    assert source.msp_contracts_of("DE*NEW")[0]["payment_terms_days"] == 30

    customer = {"id": "C-NEW", "name": "Neu Kunde", "country": "DE", "tokens": ["tok-1"]}
    assert post(client, auth, "/reference/customers", customer).status_code == 201
    assert source.customer_by_token("TOK-1")["id"] == "C-NEW"
    sub = {"id": "S-NEW", "customer_id": "C-NEW", "plan_id": "basis", "valid_from": "2026-01-01"}
    assert post(client, auth, "/reference/subscriptions", [sub]).status_code == 201
    assert source.subscriptions_of("C-NEW")[0]["status"] == "active"


@pytest.mark.parametrize("kind", ["psp_transactions", "nonsense"])
def test_unknown_reference_kinds(client, auth, kind):
    response = post(client, auth, f"/reference/{kind}", {"id": "x"})
    assert response.status_code == 404


def test_described_in_openapi(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    assert "post" in paths["/psp/transactions"] and "post" in paths["/reference/{kind}"]
