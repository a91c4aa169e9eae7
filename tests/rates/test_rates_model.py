"""StreamPrice.to_json's lines: a reference shared by lines is checked once, rendered the same."""

import random
from datetime import date
from decimal import Decimal
from types import MappingProxyType

from engine.rates.model import PriceLine, _lines_json


class Text(str):
    pass


_REFERENCES = [
    {"cdr_id": "C1", "session_id": "S", "country_code": "DE", "tariff_id": "T", "version": "v1", "power_type": "AC"},
    {"cdr_id": "C2", "credit": True, "credit_reference_id": None, "n": 3, "f": 1.5},
    {"cdr_id": Text("C3")},                        # a str subclass: not flat
    {"cdr_id": "C4", 2: "int key"},                # not flat
    {"cdr_id": "C5", "amount": Decimal("1.10")},   # not flat
    {"cdr_id": "C6", "day": date(2026, 1, 2), "ids": ["a", "b"], "nested": {"x": Decimal("2")}},
    {},
    MappingProxyType({"cdr_id": "C7"}),
]


def _line(reference, product="ENERGY"):
    return PriceLine(product, "Energy", Decimal("1.5"), "kWh", Decimal("0.39"), Decimal("0.59"), Decimal("19"),
                     "domestic", "S", reference=reference)


def _each_rendered(lines):
    """The specification: every line renders its own reference."""
    return [line.to_json() for line in lines]


def test_lines_json_is_each_line_rendered_alone_for_shared_and_odd_references():
    rng = random.Random(20261124)
    for _ in range(3000):
        pool = [rng.choice(_REFERENCES) for _ in range(3)]
        lines = [_line(rng.choice(pool), rng.choice(("ENERGY", "TIME", "SESSION_FEE"))) for _ in range(rng.randint(0, 5))]
        got = _lines_json(lines)
        assert got == _each_rendered(lines)
        assert [list(map(type, line.get("reference", {}))) for line in got] == \
            [list(map(type, line.get("reference", {}))) for line in _each_rendered(lines)]
        refs = [line["reference"] for line in got if "reference" in line]
        assert len({id(r) for r in refs}) == len(refs)  # every line has its own dict
        assert not any(r is line.reference for r, line in zip(refs, lines))


def test_a_shared_reference_changed_between_renderings_is_rendered_anew():
    reference = {"cdr_id": "C1"}
    lines = [_line(reference), _line(reference)]
    assert _lines_json(lines)[1]["reference"] == {"cdr_id": "C1"}
    reference["amount"] = Decimal("1.10")  # frozen lines are not changed in practice; if they were
    assert _lines_json(lines) == _each_rendered(lines)
    assert _lines_json(lines)[1]["reference"] == {"cdr_id": "C1", "amount": "1.10"}


def test_session_price_is_build_price_with_the_problems_split():
    """session_price (positional, no keyword dicts) against build_price (the specification), by repr:
    net and gross documents, one or several tax groups, with and without problems."""
    from engine.problems import Problem
    from engine.rates.model import build_price, session_price
    from engine.tax.treatment import TaxTreatment

    rng = random.Random(20261124)
    taxes = [TaxTreatment("domestic", Decimal(r), "DE", "S", note) for r, note in (("19", None), ("7", "n"))] + \
        [TaxTreatment("reverse_charge", Decimal("0"), "DE", "AE", "rc")]
    problems = [Problem("W", "warn", severity="warning"), Problem("I", "info", severity="info"), Problem("E", "err")]
    for _ in range(2000):
        tax = rng.choice(taxes)
        gross = rng.random() < 0.5
        lines = []
        for _ in range(rng.randint(0, 4)):
            line_tax = tax if rng.random() < 0.8 else rng.choice(taxes)
            amount = Decimal(rng.randint(-5000, 5000)).scaleb(-2)
            lines.append(PriceLine("ENERGY", "Energy", Decimal("1"), "kWh", amount, amount, line_tax.rate,
                                   line_tax.treatment, line_tax.tax_class, gross=amount if gross else None,
                                   unit_price_gross=amount if gross else None, reference={"cdr_id": "C"}))
        found = [rng.choice(problems) for _ in range(rng.choice((0, 0, 1, 3)))]
        source = rng.choice((None, {"kind": "plan", "id": "P"}))
        got = session_price("subscription", lines, prices_include_vat=gross, tax=tax, currency="EUR", source=source,
                            cdr_id="C", problems=list(found))
        want = build_price("subscription", lines, prices_include_vat=gross, tax=tax, currency="EUR", source=source,
                           cdr_id="C", warnings=tuple(p for p in found if not p.is_error),
                           errors=tuple(p for p in found if p.is_error))
        assert repr(got) == repr(want)
