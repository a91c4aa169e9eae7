from datetime import date
from decimal import Decimal

import pytest

from engine.tax.treatment import decide_treatment
from tax_helpers import repo_rules, rules_from

RULES = repo_rules()
DAY = date(2026, 10, 12)


def msp(country="DE", reseller=True, vat_id="DE273648192"):
    return {"msp": {"party": "DE*LDX", "country": country, "reseller": reseller, "vat_id": vat_id}}


@pytest.mark.parametrize("stream", ["adhoc", "subscription"])
@pytest.mark.parametrize("where,rate,country", [("DEU", "19", "DE"), ("AUT", "20", "AT"), ("NL", "21", "NL"),
                                                ("FIN", "25.5", "FI")])
def test_b2c_is_taxed_where_the_charge_point_is(stream, where, rate, country):
    t, problems = decide_treatment(RULES, stream, {"customer": {"country": "DE", "type": "B2C"}},
                                   location_country=where, on=DAY)
    assert problems == []
    assert (t.treatment, t.rate, t.country, t.tax_class, t.note) == ("domestic", Decimal(rate), country, "S", None)
    assert t.rate_source["file"] == "rules/tax_rules.yaml"


def test_domestic_reseller_msp_is_reverse_charge_with_the_13b_note():
    t, problems = decide_treatment(RULES, "msp", msp(), location_country="AUT", on=DAY)
    assert problems == []
    assert (t.treatment, t.rate, t.country, t.tax_class) == ("reverse_charge", Decimal(0), "DE", "AE")
    assert "Steuerschuldnerschaft des Leistungsempfängers" in t.note
    assert t.buyer_vat_id == "DE273648192"
    assert t.rule["id"] == "msp-reseller-domestic" and t.rule["line"] > 1


def test_eu_reseller_is_not_taxable_here_and_carries_its_vat_id():
    t, problems = decide_treatment(RULES, "msp", msp("NL", vat_id="NL 853412078 B01"), location_country="DEU", on=DAY)
    assert problems == []
    assert (t.treatment, t.rate, t.country, t.tax_class) == ("eu_reseller", Decimal(0), "NL", "AE")
    assert t.buyer_vat_id == "NL853412078B01"
    assert "Steuerschuldnerschaft des Leistungsempfängers" in t.note


def test_third_country_reseller_is_export():
    t, _ = decide_treatment(RULES, "msp", msp("CH", vat_id=None), location_country="DEU", on=DAY)
    assert (t.treatment, t.rate, t.country, t.tax_class) == ("export", Decimal(0), "CH", "O")


def test_non_reseller_msp_is_taxed_at_the_charge_point():
    t, _ = decide_treatment(RULES, "msp", msp(reseller=False), location_country="FRA", on=DAY)
    assert (t.treatment, t.rate, t.country) == ("domestic", Decimal(20), "FR")


def test_missing_reseller_flag_is_an_error_not_a_guess():
    t, problems = decide_treatment(RULES, "msp", msp(reseller=None), location_country="DEU", on=DAY)
    assert t is None and problems[0].code == "TAX_NO_TREATMENT" and "master data" in problems[0].message


@pytest.mark.parametrize("vat_id,code", [(None, "VAT_ID_MISSING"), ("DE123456789", "VAT_ID_CHECKSUM"),
                                         ("ATU68153428", "VAT_ID_COUNTRY_MISMATCH")])
def test_reverse_charge_with_a_bad_vat_id_warns(vat_id, code):
    t, problems = decide_treatment(RULES, "msp", msp(vat_id=vat_id), location_country="DEU", on=DAY)
    assert t.treatment == "reverse_charge"
    assert [(p.code, p.severity) for p in problems] == [(code, "warning")]


def test_no_rate_for_the_country_is_an_error():
    t, problems = decide_treatment(RULES, "adhoc", {}, location_country="CHE", on=DAY)
    assert t is None and problems[0].code == "TAX_NO_RATE"


def test_rules_are_first_match_and_notes_configurable(tmp_path):
    rules, problems = rules_from(tmp_path, """\
kind: tax_rules
supplier_country: AT
rates: [{country: AT, rate: 20, valid_from: "2020-01-01"}]
notes: {rc: "Übergang der Steuerschuld"}
treatments:
  - {id: b2b-customers, stream: "*", when: {customer_type: B2B}, treatment: reverse_charge, note: rc}
  - {id: everyone, stream: "*", treatment: domestic}
""")
    assert problems == []
    t, _ = decide_treatment(rules, "subscription", {"customer": {"type": "B2B", "country": "AT"}},
                            location_country="AT", on=DAY)
    assert (t.treatment, t.note) == ("reverse_charge", "Übergang der Steuerschuld")
    t, _ = decide_treatment(rules, "adhoc", {}, location_country="AT", on=DAY)
    assert t.treatment == "domestic" and t.rate == 20


# ---- memoised answers (decide_treatment keeps them per TaxRules) --------------------------------

def _fresh_rules():
    from dataclasses import replace
    return replace(RULES)  # the same rules with an empty memo


@pytest.mark.parametrize("stream,facts,where", [
    ("msp", msp(), "AUT"),
    ("msp", msp(vat_id="DE12"), "AUT"),          # a warning is memoised with its answer
    ("msp", msp(reseller=None), "DEU"),          # so is an error
    ("adhoc", {"customer": {"country": "DE", "type": "B2C"}}, "FIN"),
    ("adhoc", {"customer": {"country": "DE", "type": "B2C"}}, "ZZZ"),
])
def test_a_memoised_answer_is_the_computed_one(stream, facts, where):
    rules = _fresh_rules()
    first = decide_treatment(rules, stream, facts, location_country=where, on=DAY)
    remembered = dict(rules.memo)
    assert remembered  # the buyer's part, and the place's for a domestic rule
    second = decide_treatment(rules, stream, facts, location_country=where, on=DAY)
    assert second == first
    assert rules.memo == remembered  # answered from the memo
    assert second[1] is not first[1]  # a list of its own: callers extend it
    uncached = decide_treatment(_fresh_rules(), stream, facts, location_country=where, on=DAY)
    assert second == uncached


def test_values_that_compare_equal_but_read_differently_never_share_an_answer():
    rules = _fresh_rules()
    decide_treatment(rules, "msp", msp(reseller=None), location_country="DEU", on=DAY)
    _, problems = decide_treatment(rules, "msp", msp(reseller=0), location_country="DEU", on=DAY)
    assert [key for key in rules.memo if len(key) == 4] == [("msp", None, "DE", "DE273648192")]  # an int flag
    # is not memoised (its place's domestic answer may be: it does not read the buyer)
    uncached = decide_treatment(_fresh_rules(), "msp", msp(reseller=0), location_country="DEU", on=DAY)[1]
    assert problems == uncached


def test_the_treatment_json_is_rendered_once_and_handed_out_as_copies():
    from engine.jsonable import to_jsonable
    t, _ = decide_treatment(_fresh_rules(), "msp", msp(), location_country="AUT", on=DAY)
    first = t.to_jsonable()
    assert first == to_jsonable(t.to_json())
    first["rule"]["id"] = "changed"
    assert t.to_jsonable() == to_jsonable(t.to_json())


def test_the_treatment_json_copies_share_no_containers_whatever_its_shape():
    from engine.jsonable import to_jsonable
    from engine.tax.treatment import TaxTreatment
    shapes = [TaxTreatment("domestic", Decimal("19"), "DE", "S", None, None, {"id": "r", "line": 3},
                           {"country": "DE", "rate": Decimal("19")}),
              TaxTreatment("export", Decimal("0"), None, "O"),
              TaxTreatment("domestic", Decimal("19"), "DE", "S", rule={"id": "r", "where": {"file": "f"}},
                           rate_source={"periods": [1, 2]})]
    for t in shapes:
        first, second = t.to_jsonable(), t.to_jsonable()
        assert first == second == to_jsonable(t.to_json())
        for key, value in first.items():
            if isinstance(value, (dict, list)):
                assert value is not second[key]
        if isinstance(first["rule"], dict) and "where" in first["rule"]:
            assert first["rule"]["where"] is not second["rule"]["where"]
            assert first["rate_source"]["periods"] is not second["rate_source"]["periods"]


def test_the_memo_is_keyed_by_every_buyer_fact_the_treatment_reads():
    rules = _fresh_rules()
    cases = [("msp", msp()), ("msp", msp(vat_id="DE000000000")), ("msp", msp(country="AT", vat_id="ATU68153428")),
             ("msp", msp(reseller=False)), ("msp", msp(reseller=None)),
             ("subscription", {"customer": {"country": "DE", "type": "B2C"}}),
             ("subscription", {"customer": {"country": "DE", "type": "B2B", "vat_id": "DE273648192"}}),
             ("adhoc", {"customer": {"country": "AT", "type": None}}), ("adhoc", {})]
    for where in ("DEU", "AUT"):
        for stream, facts in cases:
            for _ in range(2):  # decided, then remembered
                got = decide_treatment(rules, stream, facts, location_country=where, on=DAY)
                want = decide_treatment(_fresh_rules(), stream, facts, location_country=where, on=DAY)
                assert got == want, (stream, facts, where)
    buyers = [key for key in rules.memo if len(key) == 4]
    places = [key for key in rules.memo if len(key) == 3]
    assert len(buyers) == len(cases)
    assert {where for _, where, _ in places} == {"DEU", "AUT"}
    assert len(places) == 2 * len({position for position, _, _ in places})  # per domestic rule and place


def test_a_domestic_answer_is_one_object_for_every_buyer_taxed_there_that_day():
    rules = _fresh_rules()
    b2c = decide_treatment(rules, "subscription", {"customer": {"country": "AT", "type": "B2C"}},
                           location_country="DEU", on=DAY)[0]
    other = decide_treatment(rules, "subscription", {"customer": {"country": "NL", "type": "B2C"}},
                             location_country="DEU", on=DAY)[0]
    assert b2c is other
    assert decide_treatment(rules, "subscription", {"customer": {"country": "AT", "type": "B2C"}},
                            location_country="FIN", on=DAY)[0].rate == Decimal("25.5")
    assert decide_treatment(rules, "subscription", {"customer": {"country": "AT", "type": "B2C"}},
                            location_country="FIN", on=date(2024, 8, 31))[0].rate == Decimal("24")


class _Located(str):
    """A str that compares equal to its text but is not one (a YAML string with its location)."""


def _buyers():
    countries = ["DE", "AT", "NL", "CH", "de", "XX", None, "", 5, _Located("DE")]
    for reseller in (True, False, None, 0, 1):
        for country in countries:
            for vat_id in (None, "DE273648192", "ATU68153428", "NL 853412078 B01", "DE123456789", 7):
                yield "msp", {"msp": {"reseller": reseller, "country": country, "vat_id": vat_id}}
    for stream in ("subscription", "adhoc", "elsewhere"):
        for kind in ("B2C", "B2B", None, "b2b", 3):
            for country in countries:
                for vat_id in (None, "DE273648192", _Located("DE273648192")):
                    yield stream, {"customer": {"country": country, "type": kind, "vat_id": vat_id}}
        yield stream, {}
        yield stream, {"customer": None}


def test_memoised_answers_are_the_specification_for_many_buyers_places_and_days():
    """decide_treatment (memoised in parts) against _decide (the specification), every case asked
    twice in one memo, odd values included: equal treatments and problems, field by field."""
    import random
    from engine.tax.treatment import _decide, treatment_facts
    rules = _fresh_rules()
    places = ["DEU", "AUT", "FIN", "NL", "CHE", "deu", None, "", 12, _Located("DEU")]
    days = [date(2020, 6, 30), date(2020, 7, 1), date(2024, 8, 31), date(2024, 9, 1), DAY]
    cases = [(stream, facts, where, day) for stream, facts in _buyers() for where in places for day in days]
    random.Random(5).shuffle(cases)
    for stream, facts, where, day in cases + cases[::7]:
        got = decide_treatment(rules, stream, facts, location_country=where, on=day)
        want = _decide(rules, stream, treatment_facts(stream, facts, rules), where, day)
        assert got == want, (stream, facts, where, day)
        assert repr(got) == repr(want)
        assert type(got[1]) is list


def test_the_memo_stays_bounded(monkeypatch):
    import engine.tax.treatment as treatment
    monkeypatch.setattr(treatment, "_MEMO_LIMIT", 5)
    rules = _fresh_rules()
    for i, (stream, facts) in enumerate(_buyers()):
        decide_treatment(rules, stream, facts, location_country="DEU", on=DAY)
        assert len(rules.memo) <= 5


def test_a_domestic_treatment_is_one_object_while_its_rate_is_valid():
    rules = _fresh_rules()
    b2c = {"customer": {"country": "AT", "type": "B2C"}}

    def on(day):
        return decide_treatment(rules, "subscription", b2c, location_country="FIN", on=day)[0]

    assert on(date(2024, 9, 1)) is on(date(2024, 10, 1)) is on(DAY)
    assert on(date(2024, 8, 31)) is on(date(2024, 1, 1))
    assert on(date(2024, 8, 31)) is not on(date(2024, 9, 1))
    assert (on(date(2024, 8, 31)).rate, on(date(2024, 9, 1)).rate) == (Decimal("24"), Decimal("25.5"))
    assert on(DAY) is not decide_treatment(rules, "subscription", b2c, location_country="DEU", on=DAY)[0]
