"""engine/lint/fields.py: the path catalogue built from JSON Schemas."""

from __future__ import annotations

import json

import pytest

from lintkit import catalog
from engine.lint.fields import BOOLEAN, DATETIME, NUMBER, STRING, FieldCatalog


@pytest.fixture(scope="module")
def cat():
    return catalog()


@pytest.mark.parametrize("path", [
    "cdr.id", "cdr.cdr_token.type", "cdr.charging_periods.0.tariff_id",
    "cdr.charging_periods.3.dimensions.0.volume", "cdr.total_cost.excl_vat",
    "cdr.tariffs.0.elements.0.restrictions.day_of_week",  # through $ref and oneOf branches
    "facts.msp.active", "facts.session_date", "facts.customer",
])
def test_known_paths(cat, path):
    assert cat.lookup(path).status == "ok"


@pytest.mark.parametrize("path", [
    "cdr.cdr_location.coordinates.latitude",  # an object that lists no properties is open
    "facts.customer.address.city",
    "pricing.total.excl_vat",  # not checked until pricing has a schema
])
def test_open_or_unchecked_paths(cat, path):
    assert cat.lookup(path).status == "unchecked"


@pytest.mark.parametrize("path, message, suggestion", [
    ("cdr.cdr_token.typ", "'cdr.cdr_token' has no field 'typ'", "cdr.cdr_token.type"),
    ("cdr.token.type", "'cdr' has no field 'token'", "cdr.cdr_token.type"),
    ("cdr.uid", "'cdr' has no field 'uid'", "cdr.cdr_token.uid"),
    ("facts.msp.actve", "'facts.msp' has no field 'actve'", "facts.msp.active"),
    ("cdr.charging_periods.tariff_id", "'cdr.charging_periods' is a list: index it, e.g. "
                                       "'cdr.charging_periods.0.tariff_id'", "cdr.charging_periods.0.tariff_id"),
    ("cdr.id.0", "'cdr.id' is not a list: it cannot be indexed with 0", None),
    ("cdr.id.prefix", "'cdr.id' is a string: it has no field 'prefix'", None),
    ("cdr.cdr_token.xyzzy", "'cdr.cdr_token' has no field 'xyzzy'", None),
])
def test_unknown_paths_explain_and_suggest(cat, path, message, suggestion):
    info = cat.lookup(path)
    assert (info.status, info.message, info.suggestion) == ("unknown", message, suggestion)


def test_types(cat):
    token = cat.lookup("cdr.cdr_token.type").type
    assert token.kinds == {STRING} and token.enum == ("AD_HOC_USER", "APP_USER", "OTHER", "RFID")
    assert cat.lookup("cdr.start_date_time").type.kinds == {DATETIME}
    assert cat.lookup("cdr.total_energy").type.kinds == {NUMBER}
    assert cat.lookup("facts.msp.active").type.kinds == {BOOLEAN}
    assert cat.lookup("facts.session_date").type.date
    assert cat.lookup("facts.msp.vat_id").type.enum is None  # ["string", "null"]


def test_date_times_are_datetimes_only_in_the_cdr():
    schema = {"type": "object", "properties": {"at": {"type": "string", "format": "date-time"}}}
    cat = FieldCatalog({"cdr": schema, "facts": schema})
    assert cat.lookup("cdr.at").type.kinds == {DATETIME}
    assert cat.lookup("facts.at").type.kinds == {STRING}


def test_refs_to_sibling_files(tmp_path):
    (tmp_path / "price.schema.json").write_text(json.dumps(
        {"$defs": {"Price": {"type": "object", "properties": {"excl_vat": {"type": "number"}}}}}))
    cat = FieldCatalog({"cdr": {"type": "object", "properties": {
        "total_cost": {"$ref": "price.schema.json#/$defs/Price"},
        "by_url": {"$ref": "https://example.org/schemas/price.schema.json#/$defs/Price"}}}},
        directory=tmp_path)
    assert cat.lookup("cdr.total_cost.excl_vat").status == "ok"
    assert cat.lookup("cdr.by_url.excl_vat").status == "ok"
    assert cat.lookup("cdr.total_cost.excl_vta").suggestion == "cdr.total_cost.excl_vat"


def test_recursive_refs_terminate():
    node = {"$ref": "#/$defs/Node"}
    cat = FieldCatalog({"cdr": {"$defs": {"Node": {"type": "object", "properties": {
        "name": {"type": "string"}, "child": node}}}, **node}})
    assert cat.lookup("cdr.child.child.child.name").status == "ok"
    assert cat.lookup("cdr.child.nme").suggestion == "cdr.child.name"


def test_a_missing_schema_file_leaves_its_root_unchecked(tmp_path):
    (tmp_path / "facts.schema.json").write_text('{"type": "object", "properties": {"x": {}}}')
    cat = FieldCatalog.load(tmp_path)
    assert cat.missing_roots() == ("cdr",)
    assert cat.lookup("cdr.anything").status == "unchecked"
    assert cat.lookup("facts.y").status == "unknown"


def test_the_real_schemas_are_read_at_run_time():
    cat = FieldCatalog.load()
    assert cat.lookup("facts.msp.active").status == "ok"
