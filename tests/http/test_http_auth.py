"""Authentication, request ids and the request log."""

from __future__ import annotations

import base64
import logging

import pytest

from engine.http.auth import Authenticator, candidate_tokens
from engine.http.runtime import EXTENSION
from engine.store.clients import revoke_client
from httpkit import ADHOC, new_token, sample_bytes

PUBLIC = {"/healthz", "/openapi.json"}


def _example_path(rule) -> str:
    path = rule.rule
    for arg in rule.arguments:
        path = path.replace(f"<path:{arg}>", "x").replace(f"<{arg}>", "x")
    return path


def test_every_endpoint_but_health_and_openapi_needs_a_token(app, client):
    rules = [r for r in app.url_map.iter_rules()]
    assert {r.rule for r in rules} >= PUBLIC | {"/cdrs", "/ocpi/2.2.1/cdrs"}
    for rule in rules:
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(_example_path(rule), method=method)
            if rule.rule in PUBLIC:
                assert response.status_code == 200, rule.rule
                continue
            assert response.status_code == 401, (method, rule.rule)
            body = response.get_json()
            assert body["status_code"] == 2000
            assert "Authorization" in body["status_message"]
            assert response.headers["WWW-Authenticate"].startswith("Token")


@pytest.mark.parametrize("header", ["Token nope", "Token cdrf_unknown", "Basic dXNlcjpwYXNz", "Token", "cdrf_x",
                                    "Token " + base64.b64encode(b"cdrf_unknown").decode()])
def test_a_wrong_token_is_401(client, token, header):
    response = client.post("/cdrs", data=sample_bytes(ADHOC), headers={"Authorization": header})
    assert response.status_code == 401
    assert response.get_json()["status_code"] == 2000


def test_accepted_header_forms(client, token):
    forms = [f"Token {token}", f"token {token}", f"Bearer {token}",
             "Token " + base64.b64encode(token.encode()).decode(),
             "Token " + base64.b64encode((token + "\n").encode()).decode(),  # `echo token | base64`
             "Token " + base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")]
    for header in forms:
        assert client.get("/cdrs/DE/VLT/none", headers={"Authorization": header}).status_code == 404, header


def test_a_revoked_token_stops_working(make_app):
    app = make_app(auth_cache_seconds=0)
    token = new_token(app, "old-cpms")
    client = app.test_client()
    headers = {"Authorization": f"Token {token}"}
    assert client.get("/cdrs/DE/VLT/none", headers=headers).status_code == 404
    with app.extensions[EXTENSION].session_factory() as s:
        revoke_client(s, "old-cpms")
        s.commit()
    assert client.get("/cdrs/DE/VLT/none", headers=headers).status_code == 401


def test_successful_lookups_are_cached_briefly(app, token):
    calls = []
    runtime = app.extensions[EXTENSION]

    def counting_factory():
        calls.append(1)
        return runtime.session_factory()

    now = [100.0]
    authenticator = Authenticator(counting_factory, 30, clock=lambda: now[0])
    assert authenticator.client_for(token).name == "cpms"
    assert authenticator.client_for(token).name == "cpms"
    assert len(calls) == 1
    assert authenticator.client_for("cdrf_wrong") is None
    assert authenticator.client_for("cdrf_wrong") is None
    assert len(calls) == 3  # failures are never cached
    now[0] += 31
    assert authenticator.client_for(token) is not None
    assert len(calls) == 4


def test_candidate_tokens():
    assert candidate_tokens(None) == ([], "missing Authorization header (expected 'Authorization: Token <token>')")
    assert candidate_tokens("Token cdrf_abc")[0] == ["cdrf_abc"]
    assert candidate_tokens("Token " + base64.b64encode(b"cdrf_abc").decode())[0] == ["cdrf_abc"]
    assert candidate_tokens("Token abc")[0] == []


def test_request_ids_are_echoed_or_made(client, auth):
    given = client.get("/healthz", headers={"X-Request-ID": "req-1", "X-Correlation-ID": "corr-9"})
    assert (given.headers["X-Request-ID"], given.headers["X-Correlation-ID"]) == ("req-1", "corr-9")
    made = client.get("/healthz")
    assert len(made.headers["X-Request-ID"]) == 36
    assert made.headers["X-Correlation-ID"] == made.headers["X-Request-ID"]
    unauthorized = client.post("/cdrs", headers={"X-Request-ID": "req-2"})
    assert unauthorized.status_code == 401 and unauthorized.headers["X-Request-ID"] == "req-2"
    weird = client.get("/healthz", headers={"X-Request-ID": "x" * 500})
    assert weird.headers["X-Request-ID"] != "x" * 500


def test_one_log_line_per_request(client, auth, caplog):
    with caplog.at_level(logging.INFO, logger="cdrflow.http"):
        client.post("/cdrs", data=sample_bytes(ADHOC), content_type="application/json",
                    headers={**auth, "X-Request-ID": "abc-123"})
        client.get("/cdrs/DE/VLT/none")
    lines = [r.getMessage() for r in caplog.records if r.name == "cdrflow.http"]
    assert len(lines) == 2
    assert lines[0].startswith("POST /cdrs 201 ") and "ms client=cpms request_id=abc-123" in lines[0]
    assert lines[1].startswith("GET /cdrs/DE/VLT/none 401 ") and "client=-" in lines[1]
