from pathlib import Path
from types import SimpleNamespace

import engine.rates  # noqa: F401
from engine.config import load_bundle
from engine.rates.lint import LINT_CHECKS, price_currencies, reference_problems, tariff_vat_rates, \
    tax_rules_present, tax_supplier_country
from rates_helpers import REPO
from rates_helpers import repo  # noqa: F401  (fixtures)

OPERATOR = """\
kind: operator
name: Test GmbH
own_parties: ["DE*VLT"]
country: {country}
currency: EUR
default_time_zone: Europe/Berlin
"""
RULES = "kind: classification\nrules: []\nfallback: {reason: UNCLASSIFIED}\n"


def ctx_for(tmp_path: Path, files: dict[str, str], country: str = "DE"):
    base = {"rules/operator.yaml": OPERATOR.format(country=country), "rules/classification.yaml": RULES}
    for name, text in {**base, **files}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    bundle, problems = load_bundle(tmp_path)
    assert bundle is not None, problems
    return SimpleNamespace(bundle_result=(bundle, problems))


def repo_file(kind):
    return (REPO / "rules" / f"{kind}.yaml").read_text()


def test_repository_configuration_is_lint_clean(tmp_path):
    ctx = ctx_for(tmp_path, {f"rules/{k}.yaml": repo_file(k)
                             for k in ("tax_rules", "tariffs", "tariff_plans", "msp_tariffs")})
    assert [p for check in LINT_CHECKS for p in check(ctx)] == []


def test_prices_without_tax_rules(tmp_path):
    ctx = ctx_for(tmp_path, {"rules/tariff_plans.yaml": repo_file("tariff_plans")})
    assert [p.code for p in tax_rules_present(ctx)] == ["tax.missing"]


def test_supplier_country_must_be_the_operators(tmp_path):
    ctx = ctx_for(tmp_path, {"rules/tax_rules.yaml": repo_file("tax_rules")}, country="AT")
    assert [p.code for p in tax_supplier_country(ctx)] == ["tax.supplier_country"]


def test_currency_and_tariff_vat(tmp_path):
    tariffs = repo_file("tariffs").replace("currency: EUR", "currency: CHF", 1).replace("vat: 19", "vat: 16", 1)
    ctx = ctx_for(tmp_path, {"rules/tariffs.yaml": tariffs, "rules/tax_rules.yaml": repo_file("tax_rules")})
    assert {p.code for p in price_currencies(ctx)} == {"rates.currency_not_operator"}
    found = list(tariff_vat_rates(ctx))
    assert [p.code for p in found] == ["tariff.vat_not_in_tax_rules"] and found[0].file == "rules/tariffs.yaml"


def test_checks_do_nothing_without_a_bundle():
    ctx = SimpleNamespace(bundle_result=(None, []))
    assert [p for check in LINT_CHECKS for p in check(ctx)] == []


def test_reference_data_against_the_config(repo):
    bundle = repo
    records = {
        "subscriptions": [{"id": "S1", "plan_id": "gold", "valid_from": "2026-01-01"}],
        "msp_contracts": [
            {"contract_id": "K1", "party": "DE*AAA", "country": "DE", "reseller": True, "vat_id": "DE123456789",
             "tariff_id": "nope", "valid_from": "2026-01-01"},
            {"contract_id": "K2", "party": "DE*BBB", "country": "DE", "reseller": None, "tariff_id": "ldx-2026",
             "valid_from": "2026-01-01"}],
        "locations": [{"id": "L1", "country": "CH", "category": "motorway"}],
    }
    codes = [p.code for p in reference_problems(bundle, records)]
    assert codes == ["reference.unknown_plan", "reference.unknown_msp_tariff", "reference.vat_id_invalid",
                     "reference.reseller_missing", "reference.unknown_category", "reference.no_vat_rate"]


def test_posting_coverage(tmp_path):
    from engine.rates.lint import posting_coverage
    groups = """\
kind: posting_groups
groups:
  - {id: A, stream: subscription, tax_treatment: domestic, product: ENERGY, business_group: B2C,
     revenue_account: "8400", receivable_account: "1400"}
"""
    plans = """\
kind: tariff_plans
plans:
  - {id: p, name: P, currency: EUR, billing_cycle: monthly, prices_include_vat: false,
     versions: [{version: "1", valid_from: "2026-01-01", base_fee: 5, rates: {AC: {energy: 0.3, session: 0.2}}}]}
"""
    ctx = ctx_for(tmp_path, {"mappings/posting_groups.yaml": groups, "rules/tariff_plans.yaml": plans,
                             "rules/tax_rules.yaml": repo_file("tax_rules")})
    (problem,) = posting_coverage(ctx)
    assert problem.code == "posting.uncovered" and problem.severity == "warning"
    assert "domestic/SESSION_FEE" in problem.message and "domestic/SUBSCRIPTION" in problem.message
    assert problem.file == "rules/tariff_plans.yaml" and problem.line == 3
