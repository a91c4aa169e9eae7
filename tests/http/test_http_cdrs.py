"""POST /cdrs and GET /cdrs/{cc}/{party}/{id}: ingestion over HTTP, idempotent, on both backends."""

from __future__ import annotations

import json

from sqlalchemy import select

from engine.http.runtime import EXTENSION
from engine.store.models import Cdr, ExceptionRecord
from httpkit import (
    ADHOC, CREDIT, MSP, NO_PSP, ORIGINAL, UNKNOWN_MSP, V211, cdr_states, counts, dumps, exceptions, key_of,
    new_token, sample, sample_bytes,
)

JSON = "application/json"


def post(client, auth, body, content_type=JSON, **headers):
    data = body if isinstance(body, (bytes, str)) else dumps(body)
    return client.post("/cdrs", data=data, content_type=content_type, headers={**auth, **headers})


def test_one_cdr_is_stored_and_its_decision_can_be_read_back(app, client, auth):
    response = post(client, auth, sample_bytes(ADHOC))
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    [result] = body["results"]
    key = key_of(ADHOC)
    assert result["outcome"] == "new" and result["state"] == "classified"
    assert result["stream"] == "adhoc"
    assert result["key"] == list(key)
    assert result["exception"] is None and result["errors"] == []
    assert result["location"].endswith(f"/cdrs/{key[0]}/{key[1]}/{key[2]}")
    assert response.headers["Location"] == result["location"]
    assert body["summary"]["received"] == 1 and body["summary"]["new"] == 1
    assert body["summary"]["streams"] == {"adhoc": 1}
    assert body["summary"]["config_version"] == app.extensions[EXTENSION].bundle.version

    decision = client.get(result["location"], headers=auth)
    assert decision.status_code == 200
    stored = decision.get_json()
    assert stored["stream"] == "adhoc" and stored["key"] == list(key)
    assert stored["rule"]["file"] == "rules/classification.yaml"
    assert stored["pricing"]["total_cost"]["incl_vat"]  # amounts are strings
    assert isinstance(stored["pricing"]["total_cost"]["incl_vat"], str)
    assert counts(app) == {"cdrs": 1, "decisions": 1, "exceptions": 0, "rejected_inputs": 0}


def test_the_same_cdr_again_is_a_duplicate_answered_200_and_billed_once(app, client, auth):
    first = post(client, auth, sample_bytes(ADHOC))
    assert first.status_code == 201
    # Re-formatted, keys reordered: still the same CDR.
    again = post(client, auth, json.dumps(dict(reversed(list(json.loads(sample_bytes(ADHOC)).items()))), indent=4))
    assert again.status_code == 200
    [result] = again.get_json()["results"]
    assert result["outcome"] == "duplicate"
    assert result["stream"] == "adhoc"
    assert result["location"] == first.get_json()["results"][0]["location"]
    assert again.get_json()["summary"]["duplicate"] == 1 and again.get_json()["summary"]["streams"] == {}
    assert counts(app) == {"cdrs": 1, "decisions": 1, "exceptions": 0, "rejected_inputs": 0}


def test_same_id_with_different_content_is_a_conflict_409_with_an_exception_record(app, client, auth):
    assert post(client, auth, sample_bytes(ADHOC)).status_code == 201
    changed = sample(ADHOC)
    changed["total_energy"] = changed["total_energy"] + 1
    response = post(client, auth, changed)
    assert response.status_code == 409
    [result] = response.get_json()["results"]
    assert result["outcome"] == "conflict"
    assert result["exception"]["reason"] == "DUPLICATE_ID_CONFLICT"
    assert "credit CDR" in result["exception"]["description"]
    assert result["stream"] is None
    assert result["location"]  # where the stored (kept) CDR is
    assert exceptions(app) == [("DUPLICATE_ID_CONFLICT", "open")]
    assert counts(app)["cdrs"] == 1
    with app.extensions[EXTENSION].session_factory() as s:
        stored = s.execute(select(Cdr)).scalar_one()
        assert json.loads(stored.raw_json)["total_energy"] == json.loads(sample_bytes(ADHOC))["total_energy"]
        detail = s.execute(select(ExceptionRecord)).scalar_one().detail
        assert detail["key"] == list(key_of(ADHOC))
    # The same conflicting CDR again: same answer, no second exception.
    assert post(client, auth, changed).status_code == 409
    assert exceptions(app) == [("DUPLICATE_ID_CONFLICT", "open")]


def test_an_invalid_cdr_is_400_with_field_errors_and_stored_as_rejected(app, client, auth):
    bad = sample(ADHOC)
    bad["cdr_token"]["type"] = "FOB"
    del bad["currency"]
    response = post(client, auth, bad)
    assert response.status_code == 400
    [result] = response.get_json()["results"]
    assert result["outcome"] == "rejected"
    assert result["stream"] is None
    assert result["exception"]["reason"] == "INVALID_CDR"
    paths = {e["path"] for e in result["errors"]}
    assert {"cdr_token.type", "currency"} <= paths, result["errors"]
    assert all(set(e) >= {"path", "code", "message"} for e in result["errors"])
    assert cdr_states(app) == {key_of(ADHOC)[2]: "rejected"}
    assert exceptions(app) == [("INVALID_CDR", "open")]
    # Re-sending the same invalid CDR is still a rejection (and stores nothing new).
    again = post(client, auth, bad)
    assert again.status_code == 400
    assert again.get_json()["results"][0]["outcome"] == "duplicate"
    assert again.get_json()["results"][0]["errors"] == result["errors"]
    assert counts(app) == {"cdrs": 1, "decisions": 1, "exceptions": 1, "rejected_inputs": 0}


def test_a_cdr_without_a_usable_key_is_kept_as_a_rejected_input(app, client, auth):
    response = post(client, auth, {"hello": "world"})
    assert response.status_code == 400
    [result] = response.get_json()["results"]
    assert result["outcome"] == "rejected" and result["key"] is None and result["location"] is None
    assert result["errors"]
    assert counts(app) == {"cdrs": 0, "decisions": 0, "exceptions": 1, "rejected_inputs": 1}


def test_a_mixed_batch_answers_200_with_per_item_outcomes(app, client, auth):
    assert post(client, auth, sample_bytes(MSP)).status_code == 201
    invalid = sample(ADHOC)
    invalid["id"] = "VLT-INVALID-1"
    invalid["total_energy"] = "lots"
    conflicting = sample(MSP)
    conflicting["total_time"] = conflicting["total_time"] + 1
    batch = [sample(ADHOC), sample(UNKNOWN_MSP), invalid, sample(MSP), conflicting, sample(ADHOC)]
    response = post(client, auth, batch)
    assert response.status_code == 200
    body = response.get_json()
    outcomes = [(r["index"], r["outcome"], r["stream"], (r["exception"] or {}).get("reason"))
                for r in body["results"]]
    assert outcomes == [
        (0, "new", "adhoc", None),
        (1, "new", None, "UNKNOWN_MSP"),
        (2, "rejected", None, "INVALID_CDR"),
        (3, "duplicate", "msp", None),
        (4, "conflict", None, "DUPLICATE_ID_CONFLICT"),
        (5, "duplicate", "adhoc", None),
    ]
    assert [r["source"].rsplit("[", 1)[1] for r in body["results"]] == ["0]", "1]", "2]", "3]", "4]", "5]"]
    assert body["results"][0]["source"].startswith("http:cpms:")
    summary = body["summary"]
    assert (summary["received"], summary["new"], summary["duplicate"], summary["conflict"], summary["rejected"]) == \
        (6, 2, 2, 1, 1)
    assert summary["streams"] == {"adhoc": 1}
    assert summary["exceptions"] == {"DUPLICATE_ID_CONFLICT": 1, "INVALID_CDR": 1, "UNKNOWN_MSP": 1}
    assert "Location" not in response.headers
    assert counts(app)["cdrs"] == 4


def test_a_batch_of_new_cdrs_is_201_and_a_resend_of_it_200(app, client, auth):
    batch = [sample(ADHOC), sample(MSP), sample(UNKNOWN_MSP)]
    assert post(client, auth, batch).status_code == 201
    again = post(client, auth, batch)
    assert again.status_code == 200
    assert [r["outcome"] for r in again.get_json()["results"]] == ["duplicate"] * 3
    assert counts(app)["cdrs"] == 3 and counts(app)["decisions"] == 3


def test_json_lines_with_the_ndjson_content_type(app, client, auth):
    lines = "\n".join(dumps(sample(name)) for name in (ADHOC, MSP)) + "\n"
    response = post(client, auth, lines, content_type="application/x-ndjson")
    assert response.status_code == 201, response.get_data(as_text=True)
    results = response.get_json()["results"]
    assert [r["stream"] for r in results] == ["adhoc", "msp"]
    assert [r["source"].rsplit(":", 1)[1] for r in results] == ["1", "2"]


def test_the_sample_batches_jsonl_and_ocpi_envelope(app, client, auth):
    batches = sample_bytes("batches/cdrs-2026-10-30.jsonl"), sample_bytes("batches/ocpi-get-cdrs-2026-10-31.json")
    first = post(client, auth, batches[0], content_type="application/x-ndjson")
    second = post(client, auth, batches[1])
    assert (first.status_code, second.status_code) == (201, 201)
    assert sorted(r["stream"] for r in first.get_json()["results"]) == ["adhoc", "msp", "msp", "subscription"]
    assert sorted(r["stream"] for r in second.get_json()["results"]) == ["adhoc", "msp", "subscription"]


def test_an_ocpi_2_1_1_cdr_is_accepted(app, client, auth):
    response = post(client, auth, sample_bytes(V211))
    assert response.status_code == 201, response.get_data(as_text=True)
    [result] = response.get_json()["results"]
    assert result["outcome"] == "new" and result["stream"] == "msp"
    decision = client.get(result["location"], headers=auth).get_json()
    assert decision["ocpi_version"] == "2.1.1"
    assert decision["key"][0:2] == ["DE", "VLT"]


def test_a_credit_cdr_reverses_its_stored_original(app, client, auth):
    assert post(client, auth, sample_bytes(ORIGINAL)).status_code == 201
    response = post(client, auth, sample_bytes(CREDIT))
    assert response.status_code == 201
    location = response.get_json()["results"][0]["location"]
    pricing = client.get(location, headers=auth).get_json()["pricing"]
    assert pricing["credit"]["original"] == "stored"
    original = client.get(response.get_json()["results"][0]["location"].replace(
        key_of(CREDIT)[2], key_of(ORIGINAL)[2]), headers=auth).get_json()["pricing"]
    assert pricing["total_cost"]["incl_vat"] == "-" + original["total_cost"]["incl_vat"]


def test_a_credit_cdr_finds_its_original_earlier_in_the_same_batch(app, client, auth):
    response = post(client, auth, [sample(ORIGINAL), sample(CREDIT)])
    assert response.status_code == 201
    credit = client.get(response.get_json()["results"][1]["location"], headers=auth).get_json()
    assert credit["pricing"]["credit"]["original"] == "stored"


def test_a_credit_cdr_without_its_original_is_priced_from_its_own_periods(app, client, auth):
    response = post(client, auth, sample_bytes(CREDIT))
    assert response.status_code == 201
    credit = client.get(response.get_json()["results"][0]["location"], headers=auth).get_json()
    assert credit["pricing"]["credit"]["original"] == "credit_cdr_periods"
    assert any(w["code"] == "CREDIT_ORIGINAL_UNKNOWN" for w in credit["pricing"]["warnings"])


def test_malformed_json_is_400_envelope_and_nothing_is_stored(app, client, auth):
    for body in (b"{not json", b'[{"id": "a"}, {oops}]', b"\x00\x01", b'{"total_energy": NaN}',
                 b'{"id": "VLT-\\ud800"}'):
        response = post(client, auth, body)
        assert response.status_code == 400, body
        envelope = response.get_json()
        assert envelope["status_code"] == 2001
        assert "not valid JSON" in envelope["status_message"] and "nothing was stored" in envelope["status_message"]
        assert envelope["timestamp"].endswith("Z")
    lines = dumps(sample(ADHOC)) + "\n{broken\n"
    response = post(client, auth, lines, content_type="application/x-ndjson")
    assert response.status_code == 400 and ":2" in response.get_json()["status_message"]
    assert counts(app) == {"cdrs": 0, "decisions": 0, "exceptions": 0, "rejected_inputs": 0}


def test_an_empty_body_or_empty_batch_is_400(client, auth):
    for body in (b"", b"   \n", b"[]", b'{"data": [], "status_code": 1000, "timestamp": "2026-10-31T00:00:00Z"}'):
        response = post(client, auth, body)
        assert response.status_code == 400, body
        assert response.get_json()["status_code"] == 2001


def test_an_oversized_body_is_413_envelope(make_app, db_url):
    app = make_app(max_content_length=4096)
    client = app.test_client()
    auth = {"Authorization": f"Token {new_token(app)}"}
    response = post(client, auth, sample_bytes(ADHOC) + b" " * 5000)
    assert response.status_code == 413
    envelope = response.get_json()
    assert envelope["status_code"] == 2000
    assert "4096" in envelope["status_message"]
    assert counts(app)["cdrs"] == 0


def test_more_cdrs_than_the_batch_limit_is_413(make_app):
    app = make_app(max_batch=2)
    client = app.test_client()
    auth = {"Authorization": f"Token {new_token(app)}"}
    response = post(client, auth, [sample(ADHOC), sample(MSP), sample(UNKNOWN_MSP)])
    assert response.status_code == 413
    assert "limit is 2" in response.get_json()["status_message"]
    assert counts(app)["cdrs"] == 0
    assert post(client, auth, [sample(ADHOC), sample(MSP)]).status_code == 201


def test_get_an_unknown_cdr_is_404_with_a_message(client, auth):
    response = client.get("/cdrs/DE/VLT/nope", headers=auth)
    assert response.status_code == 404
    assert response.get_json()["status_message"] == "no CDR DE/VLT/nope is stored (country_code/party_id/id)"


def test_get_is_case_insensitive_in_the_party_and_takes_ids_with_odd_characters(app, client, auth):
    odd = sample(ADHOC)
    odd["id"] = "VLT/2026 10#1"
    response = post(client, auth, odd)
    assert response.status_code == 201, response.get_data(as_text=True)
    location = response.get_json()["results"][0]["location"]
    assert client.get(location, headers=auth).get_json()["cdr_id"] == "VLT/2026 10#1"
    assert client.get(location.replace("/DE/VLT/", "/de/vlt/"), headers=auth).status_code == 200


def test_trailing_slash_is_accepted(client, auth):
    response = client.post("/cdrs/", data=sample_bytes(ADHOC), content_type=JSON, headers=auth)
    assert response.status_code == 201


def test_an_adhoc_cdr_without_its_psp_transaction_waits_instead_of_raising_an_exception(make_app, monkeypatch):
    monkeypatch.setenv("CDRFLOW_WAIT_HOURS", str(24 * 365 * 20))  # the sample's end time + wait is in the future
    app = make_app()
    client = app.test_client()
    auth = {"Authorization": f"Token {new_token(app)}"}
    response = post(client, auth, sample_bytes(NO_PSP))
    assert response.status_code == 201
    body = response.get_json()
    [result] = body["results"]
    assert (result["outcome"], result["state"], result["stream"]) == ("new", "waiting", None)
    assert result["exception"]["reason"] == "AD_HOC_NO_PSP_TRANSACTION"
    assert body["summary"]["exceptions"] == {}
    assert exceptions(app) == []
    assert cdr_states(app) == {key_of(NO_PSP)[2]: "waiting"}
    again = post(client, auth, sample_bytes(NO_PSP))
    assert again.status_code == 200 and again.get_json()["results"][0]["state"] == "waiting"


def test_past_its_waiting_time_it_goes_to_the_exception_queue_at_once(app, client, auth):
    response = post(client, auth, sample_bytes(NO_PSP))  # ended in 2026-10, waiting time (24 h) long over
    [result] = response.get_json()["results"]
    assert (result["outcome"], result["state"]) == ("new", "exception")
    assert exceptions(app) == [("AD_HOC_NO_PSP_TRANSACTION", "open")]


def test_a_cdr_the_database_cannot_hold_is_kept_as_rejected_and_the_rest_stored(app, client, auth):
    nul = sample(ADHOC)
    nul["id"] = "VLT-NUL-1"
    nul["cdr_location"]["name"] = "Torstra\u00dfe\u0000"  # PostgreSQL JSONB cannot hold \u0000
    response = post(client, auth, [nul, sample(MSP)])
    assert response.status_code in (200, 201), response.get_data(as_text=True)
    results = response.get_json()["results"]
    assert results[1]["outcome"] == "new" and results[1]["stream"] == "msp"
    if app.extensions[EXTENSION].engine.dialect.name == "postgresql":
        assert results[0]["outcome"] == "rejected"
        assert results[0]["errors"][0]["code"] == "STORE_FAILED"
        assert counts(app)["rejected_inputs"] == 1
    else:  # SQLite stores it like any other CDR
        assert results[0]["outcome"] in ("new", "rejected")


def test_a_one_line_cdr_is_stored_exactly_as_sent_with_or_without_a_final_newline(app, client, auth):
    # The raw CDR is kept verbatim, however the sender ended its body (curl -d adds no newline).
    body = dumps(sample(ADHOC)).encode()  # one line, with spaces after the separators
    assert post(client, auth, body).status_code == 201
    assert post(client, auth, body + b"\n").status_code == 200  # the same CDR: a duplicate
    with app.extensions[EXTENSION].session_factory() as s:
        assert s.execute(select(Cdr.raw_json)).scalar_one() == body.decode()
