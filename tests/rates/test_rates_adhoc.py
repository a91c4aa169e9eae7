from decimal import Decimal

import pytest

from engine.rates import price_for_stream
from rates_helpers import make_cdr, make_facts
from rates_helpers import repo  # noqa: F401  (fixtures)

D = Decimal
TARIFF = {
    "id": "EMB-1", "currency": "EUR", "country_code": "DE", "party_id": "VLT",
    "elements": [{"price_components": [{"type": "ENERGY", "price": D("0.59"), "vat": D("19"), "step_size": 1}]},
                 {"price_components": [{"type": "TIME", "price": D("6"), "vat": D("19"), "step_size": 60},
                                       {"type": "PARKING_TIME", "price": D("6"), "vat": D("19"), "step_size": 60}],
                  "restrictions": {"min_duration": 10800}}],
}


def test_embedded_tariff_lines_totals_and_charged(repo):
    cdr = make_cdr(tariffs=[TARIFF], energy="18.421", hours="1.5")
    sp = price_for_stream("adhoc", cdr, make_facts(psp_amount="12.94"), repo)
    assert sp.ok, sp.errors
    j = sp.to_json()
    assert [(ln["product"], ln["quantity"], ln["unit_price"], ln["net"]) for ln in j["lines"]] == [
        ("ENERGY", "18.421", "0.59", "10.87")]
    assert j["total_cost"] == {"excl_vat": "10.87", "vat": "2.07", "incl_vat": "12.94"}
    assert j["charged"]["amount"] == "12.94" and j["difference"] == "0.00"
    assert j["charged"]["excl_vat"] == "10.87" and j["charged"]["vat"] == "2.07"
    assert j["source"] == {"kind": "cdr", "id": "EMB-1", "version": None, "path": "tariffs[0]"}
    line = j["lines"][0]
    assert (line["tax_rate"], line["tax_treatment"], line["tax_class"]) == ("19", "domestic", "S")
    assert line["reference"]["cdr_id"] == "CDR-1"
    assert j["tax"] == [{"tax_class": "S", "rate": "19", "taxable": "10.87", "vat": "2.07", "treatment": "domestic",
                         "note": None, "country": "DE"}]


def test_tariff_by_id_from_rules_with_blocking_fee(repo):
    # 5 h plugged in, 2.5 h parking: 2 h after the 3 h mark at 6.00/h (TIME 0.5 h ... PARKING 2 h after 3 h).
    cdr = make_cdr(tariff_id="VLT-DE-AC-ADHOC-2026", energy="20", hours="5", parking="2.5", start="2026-10-09T07:05:00Z")
    sp = price_for_stream("adhoc", cdr, make_facts("2026-10-09", psp_amount="28.32"), repo)
    j = sp.to_json()
    assert j["source"]["kind"] == "tariff" and j["source"]["file"] == "rules/tariffs.yaml"
    assert [(ln["product"], ln["quantity"], ln["net"]) for ln in j["lines"]] == [
        ("ENERGY", "20", "11.80"), ("PARKING", "2", "12.00")]
    assert j["total_cost"]["incl_vat"] == "28.32" and j["difference"] == "0.00"


def test_psp_difference_is_recorded_not_fixed(repo):
    cdr = make_cdr(tariffs=[TARIFF], energy="18.421", hours="1.5")
    sp = price_for_stream("adhoc", cdr, make_facts(psp_amount="12.95"), repo)
    assert sp.difference == D("0.01") and sp.incl_vat == D("12.94")
    assert [(w.code, w.severity) for w in sp.warnings] == [("PSP_AMOUNT_DIFFERENCE", "info")]
    sp = price_for_stream("adhoc", cdr, make_facts(psp_amount="15.00"), repo)
    assert [(w.code, w.severity) for w in sp.warnings] == [("PSP_AMOUNT_MISMATCH", "warning")]
    sp = price_for_stream("adhoc", cdr, make_facts(), repo)
    assert sp.charged is None and [w.code for w in sp.warnings] == ["PSP_AMOUNT_MISSING"]


def test_vat_comes_from_the_tax_rules_not_the_tariff(repo):
    tariff = dict(TARIFF, elements=[{"price_components": [{"type": "ENERGY", "price": D("0.50"), "vat": D("16"),
                                                            "step_size": 1}]}])
    sp = price_for_stream("adhoc", make_cdr(tariffs=[tariff], energy="10", country="AUT"),
                          make_facts(country="AT", time_zone="Europe/Vienna"), repo)
    assert sp.totals.groups[0].rate == D(20) and sp.incl_vat == D("6.00")
    assert "TARIFF_VAT_DIFFERS" in [w.code for w in sp.warnings]


def test_min_price_becomes_its_own_line(repo):
    tariff = dict(TARIFF, min_price={"excl_vat": D("2.00")})
    sp = price_for_stream("adhoc", make_cdr(tariffs=[tariff], energy="1"), make_facts(), repo)
    assert [(ln.product, ln.net) for ln in sp.lines] == [("ENERGY", D("0.59")), ("SESSION_FEE", D("1.41"))]
    assert sp.excl_vat == D("2.00") and sp.incl_vat == D("2.38")


def test_no_tariff_is_an_error(repo):
    sp = price_for_stream("adhoc", make_cdr(tariff_id="NOPE"), make_facts(), repo)
    assert not sp.ok and sp.errors[0].code == "NO_TARIFF" and "NOPE" in sp.errors[0].message
    assert sp.to_json()["total_cost"] == {"excl_vat": "0.00", "vat": "0.00", "incl_vat": "0.00"}


def test_no_tax_rate_is_an_error(repo):
    sp = price_for_stream("adhoc", make_cdr(tariffs=[TARIFF], country="CHE"),
                          make_facts(country="CH", time_zone="Europe/Zurich"), repo)
    assert [e.code for e in sp.errors] == ["TAX_NO_RATE"]


def test_unknown_stream(repo):
    sp = price_for_stream("roaming", make_cdr(tariffs=[TARIFF]), make_facts(), repo)
    assert [e.code for e in sp.errors] == ["UNKNOWN_STREAM"]


def test_amounts_leave_as_strings(repo):
    j = price_for_stream("adhoc", make_cdr(tariffs=[TARIFF]), make_facts(psp_amount="14.04"), repo).to_json()

    def walk(node):
        if isinstance(node, dict):
            for v in node.values():
                yield from walk(v)
        elif isinstance(node, list):
            for v in node:
                yield from walk(v)
        else:
            yield node
    assert not any(isinstance(v, (float, Decimal)) for v in walk(j))


ADHOC_CASES = {  # (cdr keywords, facts keywords, with_charge)
    "charged-equal": ({"tariffs": [TARIFF], "energy": "18.421", "hours": "1.5"}, {"psp_amount": "12.94"}, True),
    "charged-differs": ({"tariffs": [TARIFF], "energy": "18.421", "hours": "1.5"}, {"psp_amount": "12.95"}, True),
    "not-charged": ({"tariffs": [TARIFF], "energy": "2"}, {}, True),
    "charge-in-another-currency": ({"tariffs": [TARIFF], "energy": "2"}, {"psp_amount": "1.00", "psp_currency": "CHF"},
                                   True),
    "no-charge-asked": ({"tariffs": [TARIFF], "energy": "2"}, {"psp_amount": "1.00"}, False),
    "min-price": ({"tariffs": [dict(TARIFF, min_price={"excl_vat": D("2.00")})], "energy": "1"},
                  {"psp_amount": "2.38"}, True),
    "by-id-with-parking": ({"tariff_id": "VLT-DE-AC-ADHOC-2026", "energy": "20", "hours": "5", "parking": "2.5",
                            "start": "2026-10-09T07:05:00Z"}, {"session_date": "2026-10-09", "psp_amount": "28.32"}, True),
}


@pytest.mark.parametrize("case", sorted(ADHOC_CASES))
def test_adhoc_document_is_build_price_with_the_charge(repo, case):
    """price_adhoc makes its document once, with the totals build_price would give and the charge
    worked out from them: against build_price's document (the specification) given the same
    lines and the charge set with dataclasses.replace, every field by repr (Decimal exponents count)."""
    from dataclasses import fields, replace

    from engine.rates.adhoc import STREAM, charged_amount, price_adhoc
    from engine.rates.model import build_price

    cdr_kw, facts_kw, with_charge = ADHOC_CASES[case]
    facts = make_facts(**{k: v for k, v in facts_kw.items() if k != "psp_currency"})
    if "psp_currency" in facts_kw:
        facts["psp"]["currency"] = facts_kw["psp_currency"]
    ours = price_adhoc(make_cdr(**cdr_kw), facts, repo, with_charge=with_charge)
    assert ours.ok, ours.errors
    made = build_price(STREAM, ours.lines, tax=ours.tax, currency=ours.currency, source=ours.source,
                       cdr_id=ours.cdr_id, recomputed=ours.recomputed)
    charge = {}
    if with_charge:
        charged, difference, _ = charged_amount(facts, made.totals, made.currency, made.tax)
        charge = {"charged": charged, "difference": difference}
    spec = replace(made, **charge, warnings=ours.warnings, errors=ours.errors)
    assert [repr(getattr(ours, f.name)) for f in fields(spec)] == [repr(getattr(spec, f.name)) for f in fields(spec)]
    assert ours == spec and ours.to_json() == spec.to_json()
