"""GET /openapi.json: a valid OpenAPI 3.1 document that describes every route of the app."""

from __future__ import annotations

import json
import re

import pytest

from engine.intake.schema import SCHEMA_DIR


def _document(client):
    response = client.get("/openapi.json")  # no token needed
    assert response.status_code == 200 and response.is_json
    return response.get_json()


def test_the_document_is_valid_openapi_3_1(client):
    validator = pytest.importorskip("openapi_spec_validator")
    document = _document(client)
    assert document["openapi"].startswith("3.1")
    validator.validate(document)


def test_every_route_is_described(app, client):
    paths = _document(client)["paths"]
    for rule in app.url_map.iter_rules():
        template = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        assert template in paths, f"{rule.rule} is not in /openapi.json"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in paths[template], f"{method} {rule.rule} is not in /openapi.json"


def test_the_cdr_body_is_the_repository_schema(client):
    document = _document(client)
    embedded = document["components"]["schemas"]["Cdr"]
    original = json.loads((SCHEMA_DIR / "cdr.schema.json").read_text(encoding="utf-8"))
    assert embedded["required"] == original["required"]
    assert set(embedded["properties"]) == set(original["properties"])
    assert set(embedded["$defs"]) == set(original["$defs"])
    refs = re.findall(r'"\$ref":\s*"([^"]+)"', json.dumps(embedded))
    assert refs and all(r.startswith("#/components/schemas/Cdr/$defs/") for r in refs)


def test_auth_is_documented_and_public_endpoints_say_so(client):
    document = _document(client)
    assert document["security"] == [{"ocpiToken": []}]
    scheme = document["components"]["securitySchemes"]["ocpiToken"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    assert document["paths"]["/healthz"]["get"]["security"] == []
    assert document["paths"]["/openapi.json"]["get"]["security"] == []
    assert "security" not in document["paths"]["/cdrs"]["post"]
