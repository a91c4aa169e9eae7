from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
import yaml

import engine.rates  # noqa: F401  (registers the kinds)
from engine.config.bundle import kinds
from rates_helpers import repo, bundle_from  # noqa: F401  (fixtures)


def codes(problems):
    return [(p.code, p.severity, p.line) for p in problems]


def test_kinds_are_registered():
    assert {"tariffs", "tariff_plans", "msp_tariffs", "tax_rules"} <= set(kinds())


def test_repository_price_files_load_without_problems():
    import rates_helpers
    _, problems = rates_helpers.repo_bundle()
    assert problems == []


def _reference(name):
    import rates_helpers
    path = rates_helpers.REPO / "samples" / "reference" / name
    if not path.exists():
        pytest.skip("sample reference data not present")
    return yaml.safe_load(path.read_text())


def test_repository_config_matches_the_sample_reference_data(repo):
    """Every plan a subscription names, every MSP tariff a contract names and every location
    category exists in the price configuration."""
    plans = repo.extensions["tariff_plans"].plans
    msp = repo.extensions["msp_tariffs"]
    assert {s["plan_id"] for s in _reference("subscriptions.yaml")["subscriptions"]} <= set(plans)
    assert {m["tariff_id"] for m in _reference("msp_contracts.yaml")["msps"]} <= set(msp.tariffs)
    assert {loc["category"] for loc in _reference("locations.yaml")["locations"]} <= msp.categories


PLAN = """\
kind: tariff_plans
plans:
  - id: comfort
    name: Comfort
    currency: EUR
    billing_cycle: monthly
    prices_include_vat: true
    versions:
      - {version: a, valid_from: "2026-01-01", valid_to: "2026-06-30", base_fee: 9.99, rates: {AC: {energy: 0.39}}}
      - {version: b, valid_from: "{B_FROM}", base_fee: 9.99, rates: {AC: {energy: 0.37}, DC: {energy: 0.47}}}
"""


def test_plan_versions_overlap_is_an_error(bundle_from):
    _, problems = bundle_from({"rules/tariff_plans.yaml": PLAN.replace("{B_FROM}", "2026-06-30")})
    assert codes(problems) == [("validity.overlap", "error", 10)]
    assert problems[0].file == "rules/tariff_plans.yaml"


def test_plan_versions_gap_is_a_warning(bundle_from):
    bundle, problems = bundle_from({"rules/tariff_plans.yaml": PLAN.replace("{B_FROM}", "2026-07-02")})
    assert codes(problems) == [("validity.gap", "warning", 10)]
    plan = bundle.extensions["tariff_plans"].get("comfort")
    assert plan.version_on(date(2026, 7, 1)) is None and plan.version_on(date(2026, 7, 2)).version == "b"


def test_plan_price_precision_and_duplicates(bundle_from):
    text = PLAN.replace("{B_FROM}", "2026-07-01").replace("energy: 0.37", "energy: 0.37125")
    text += text.split("plans:\n")[1]
    _, problems = bundle_from({"rules/tariff_plans.yaml": text})
    got = {p.code for p in problems}
    assert {"rates.price_precision", "rates.duplicate_id"} <= got


MSP = """\
kind: msp_tariffs
tariffs:
  - id: ldx-2026
    currency: EUR
    versions:
      - version: "1"
        valid_from: "2026-01-01"
        prices:
          - {power_type: AC, category: "*", energy: 0.44}
          - {power_type: DC, category: hihgway, energy: 0.58}
          - {power_type: DC, category: hihgway, energy: 0.59}
        discounts:
          - {id: v, type: volume, tiers: [{from: 100, percent: 5}, {from: 50, percent: 3}],
             applies_to: {categories: [depo]}}
"""


def test_msp_cross_references(bundle_from):
    _, problems = bundle_from({"rules/msp_tariffs.yaml": MSP})
    by_code = {}
    for p in problems:
        by_code.setdefault(p.code, []).append(p)
    assert "did you mean 'highway'" in by_code["msp.unknown_category"][0].message
    assert by_code["msp.unknown_category"][0].line == 10
    assert any("'depot'" in p.message for p in by_code["msp.unknown_category"])
    assert by_code["msp.duplicate_row"][0].line == 11
    assert by_code["msp.tiers_order"][0].severity == "error"
    assert by_code["msp.uncovered"][0].severity == "warning"  # DC has no '*' row


def test_msp_declared_categories_replace_the_default(bundle_from):
    text = MSP.replace("kind: msp_tariffs\n", "kind: msp_tariffs\nlocation_categories: [hihgway, depo]\n")
    text = text.replace('          - {power_type: DC, category: hihgway, energy: 0.59}\n', "")
    _, problems = bundle_from({"rules/msp_tariffs.yaml": text})
    assert [p.code for p in problems if p.is_error] == ["msp.tiers_order"]


def test_msp_schema_requires_the_discount_parameters(tmp_path):
    from engine.config.bundle import read_document
    path = tmp_path / "m.yaml"
    path.write_text(MSP.replace("tiers: [{from: 100, percent: 5}, {from: 50, percent: 3}],", ""))
    _, problems = read_document(path, "m.yaml")
    assert any(p.code == "schema.required" and "tiers" in p.message for p in problems)


TARIFFS = """\
kind: tariffs
tariffs:
  - id: T1
    currency: EUR
    elements: [{price_components: [{type: ENERGY, price: 0.50, vat: 19, step_size: 1}]}]
    end_date_time: "2026-07-01T00:00:00Z"
  - id: T1
    currency: {CUR}
    elements: [{price_components: [{type: ENERGY, price: 0.55, vat: 19, step_size: 1}]}]
    start_date_time: "{START}"
"""


def test_tariff_versions_by_start_and_end(bundle_from):
    bundle, problems = bundle_from({"rules/tariffs.yaml": TARIFFS.replace("{CUR}", "EUR")
                                    .replace("{START}", "2026-07-01T00:00:00Z")})
    assert problems == []
    book = bundle.extensions["tariffs"]
    early = book.find("T1", datetime(2026, 6, 30, 23, 59, tzinfo=timezone.utc))
    late = book.find("T1", datetime(2026, 7, 1, tzinfo=timezone.utc))
    assert early.data["elements"][0]["price_components"][0]["price"] == Decimal("0.50")
    assert late.data["elements"][0]["price_components"][0]["price"] == Decimal("0.55")
    assert late.source() == {"kind": "tariff", "id": "T1", "version": "2026-07-01T00:00:00Z",
                             "file": "rules/tariffs.yaml", "line": 7}


def test_tariff_overlap_and_currency(bundle_from):
    _, problems = bundle_from({"rules/tariffs.yaml": TARIFFS.replace("{CUR}", "CHF")
                               .replace("{START}", "2026-06-01T00:00:00Z")})
    assert {p.code for p in problems} == {"validity.overlap", "rates.currency_mismatch"}
    assert all(p.line == 7 for p in problems)


def test_tariff_engine_warnings_become_config_warnings(bundle_from):
    text = TARIFFS.replace("{CUR}", "EUR").replace("{START}", "2026-07-01T00:00:00Z").replace("vat: 19", "vat: 0.19", 1)
    _, problems = bundle_from({"rules/tariffs.yaml": text})
    assert [(p.code, p.severity, p.line) for p in problems] == [("tariff.vat_looks_like_fraction", "warning", 3)]


def test_missing_kinds_build_empty_books(bundle_from):
    bundle, problems = bundle_from({}, with_tax=False)
    assert problems == []
    assert not bundle.extensions["tariff_plans"].plans and bundle.extensions["tax_rules"].empty
