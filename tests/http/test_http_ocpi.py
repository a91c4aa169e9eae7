"""POST /ocpi/2.2.1/cdrs and GET at its Location: the OCPI 2.2.1 CDRs receiver interface."""

from __future__ import annotations

import base64
import json
from decimal import Decimal

from httpkit import ADHOC, V211, cdr_states, counts, dumps, exceptions, key_of, sample, sample_bytes

URL = "/ocpi/2.2.1/cdrs"


def post(client, auth, body):
    data = body if isinstance(body, (bytes, str)) else dumps(body)
    return client.post(URL, data=data, content_type="application/json", headers=auth)


def assert_envelope(body, status_code):
    assert body["status_code"] == status_code, body
    assert body["timestamp"].endswith("Z") and len(body["timestamp"]) == 20
    assert set(body) <= {"data", "status_code", "status_message", "timestamp"}


def test_post_answers_an_envelope_with_the_location_of_the_stored_cdr(app, client, auth):
    response = post(client, auth, sample_bytes(ADHOC))
    assert response.status_code == 201
    assert_envelope(response.get_json(), 1000)
    assert "data" not in response.get_json()
    key = key_of(ADHOC)
    location = response.headers["Location"]
    assert location == f"http://localhost/ocpi/2.2.1/cdrs/{key[0]}/{key[1]}/{key[2]}"

    fetched = client.get(location, headers=auth)
    assert fetched.status_code == 200
    body = json.loads(fetched.get_data(as_text=True), parse_float=Decimal)
    assert_envelope(body, 1000)
    assert body["data"] == sample(ADHOC)  # numbers stay numbers, exactly
    assert counts(app)["cdrs"] == 1


def test_an_idempotent_repeat_is_success_too_and_stored_once(app, client, auth):
    first = post(client, auth, sample_bytes(ADHOC))
    again = post(client, auth, sample_bytes(ADHOC))
    assert again.status_code == 200
    assert_envelope(again.get_json(), 1000)
    assert "already received" in again.get_json()["status_message"]
    assert again.headers["Location"] == first.headers["Location"]
    assert counts(app) == {"cdrs": 1, "decisions": 1, "exceptions": 0, "rejected_inputs": 0}


def test_an_invalid_cdr_is_2001_with_the_reasons_and_stored_as_rejected(app, client, auth):
    bad = sample(ADHOC)
    bad["auth_method"] = "MAGIC"
    response = post(client, auth, bad)
    assert response.status_code == 400
    body = response.get_json()
    assert_envelope(body, 2001)
    assert body["status_message"].startswith("invalid CDR: ")
    assert "auth_method" in body["status_message"]
    assert "Location" not in response.headers
    assert cdr_states(app) == {bad["id"]: "rejected"}
    assert exceptions(app) == [("INVALID_CDR", "open")]


def test_a_conflicting_duplicate_is_2000_with_http_409(app, client, auth):
    post(client, auth, sample_bytes(ADHOC))
    changed = sample(ADHOC)
    changed["total_energy"] += 1
    response = post(client, auth, changed)
    assert response.status_code == 409
    assert_envelope(response.get_json(), 2000)
    assert "different content" in response.get_json()["status_message"]
    assert exceptions(app) == [("DUPLICATE_ID_CONFLICT", "open")]


def test_one_cdr_per_request(app, client, auth):
    envelope = {"data": [sample(ADHOC), sample(V211)], "status_code": 1000, "timestamp": "2026-10-31T00:00:00Z"}
    for body in ([sample(ADHOC)], envelope):
        response = post(client, auth, body)
        assert response.status_code == 400
        assert_envelope(response.get_json(), 2001)
        assert "one CDR object per request" in response.get_json()["status_message"]
    assert counts(app)["cdrs"] == 0


def test_malformed_json_is_a_2001_envelope(client, auth):
    response = post(client, auth, b'{"id": ')
    assert response.status_code == 400
    assert_envelope(response.get_json(), 2001)


def test_a_2_1_1_cdr_is_served_back_in_2_2_1_shape(client, auth):
    response = post(client, auth, sample_bytes(V211))
    assert response.status_code == 201, response.get_data(as_text=True)
    data = client.get(response.headers["Location"], headers=auth).get_json()["data"]
    assert "end_date_time" in data and "stop_date_time" not in data
    assert data["cdr_token"]["party_id"] == "LDX"
    assert data["end_date_time"].endswith("Z")


def test_get_unknown_is_404_envelope(client, auth):
    response = client.get(f"{URL}/DE/VLT/nope", headers=auth)
    assert response.status_code == 404
    assert_envelope(response.get_json(), 2000)


def test_the_ocpi_encoded_token_is_accepted(client, token):
    encoded = base64.b64encode(token.encode()).decode()
    response = post(client, {"Authorization": f"Token {encoded}"}, sample_bytes(ADHOC))
    assert response.status_code == 201
