from decimal import Decimal

from hypothesis import given, settings, strategies as st

from engine.rates import price_for_stream, reverse
from engine.rates.model import PriceLine, StreamPrice, build_price
from engine.tax.treatment import TaxTreatment
from rates_helpers import make_cdr, make_facts
from rates_helpers import repo  # noqa: F401  (fixtures)

D = Decimal
LDX = {"party": "DE*LDX", "country": "DE", "vat_id": "DE273648192", "reseller": True, "tariff_id": "ldx-2026"}
TARIFF = {"id": "T", "currency": "EUR", "elements": [
    {"price_components": [{"type": "ENERGY", "price": D("0.59"), "vat": D(19), "step_size": 1},
                          {"type": "FLAT", "price": D("0.35"), "vat": D(19), "step_size": 1}]}]}


def credit_cdr(original_id="CDR-1", **kw):
    return make_cdr(f"{original_id}-C", credit=True, credit_reference_id=original_id, **kw)


def assert_exact_reversal(original: StreamPrice, credit: StreamPrice):
    assert len(credit.lines) == len(original.lines)
    for a, b in zip(original.lines, credit.lines):
        assert (b.product, b.unit_price, b.tax_rate, b.tax_class) == (a.product, a.unit_price, a.tax_rate, a.tax_class)
        assert b.net == -a.net and b.quantity == -a.quantity
        assert (b.gross is None and a.gross is None) or b.gross == -a.gross
    assert credit.excl_vat == -original.excl_vat and credit.incl_vat == -original.incl_vat
    assert credit.totals.vat_total == -original.totals.vat_total
    assert [(g.rate, g.taxable, g.vat) for g in credit.totals.groups] == \
        [(g.rate, -g.taxable, -g.vat) for g in original.totals.groups]


def test_adhoc_credit_reverses_the_stored_pricing(repo):
    original = price_for_stream("adhoc", make_cdr(tariffs=[TARIFF], energy="21.117"), make_facts(psp_amount="15.25"),
                                repo)
    stored = original.to_json()
    credit = price_for_stream("adhoc", credit_cdr(tariffs=[TARIFF], energy="999",
                                                  total_cost={"excl_vat": "-12.81", "incl_vat": "-15.25"}),
                              make_facts(), repo, original=stored)
    assert_exact_reversal(original, credit)
    j = credit.to_json()
    assert j["credit"] == {"reference_id": "CDR-1", "original": "stored", "original_cdr_id": "CDR-1"}
    assert j["cdr_id"] == "CDR-1-C" and j["charged"] is None and j["warnings"] == []
    assert all(ln["reference"]["credit"] is True for ln in j["lines"])


def test_credit_from_a_decision_json_and_original_cdr(repo):
    cdr = make_cdr(tariffs=[TARIFF], energy="10")
    original = price_for_stream("adhoc", cdr, make_facts(), repo)
    from_decision = price_for_stream("adhoc", credit_cdr(tariffs=[TARIFF]), make_facts(), repo,
                                     original={"cdr_id": "CDR-1", "pricing": original.to_json()})
    assert_exact_reversal(original, from_decision)
    repriced = price_for_stream("adhoc", credit_cdr(tariffs=[TARIFF]), make_facts(), repo, original=cdr)
    assert_exact_reversal(original, repriced)
    assert "CREDIT_ORIGINAL_REPRICED" in [w.code for w in repriced.warnings]


def test_unknown_original_prices_the_credit_periods_and_negates_with_a_warning(repo):
    original = price_for_stream("adhoc", make_cdr(tariffs=[TARIFF], energy="10"), make_facts(), repo)
    credit = price_for_stream("adhoc", credit_cdr(tariffs=[TARIFF], energy="10"), make_facts(), repo)
    assert_exact_reversal(original, credit)
    assert [w.code for w in credit.warnings][0] == "CREDIT_ORIGINAL_UNKNOWN"
    assert credit.credit["original"] == "credit_cdr_periods"


def test_the_credit_cdr_total_is_compared_not_summed(repo):
    original = price_for_stream("adhoc", make_cdr(tariffs=[TARIFF], energy="10"), make_facts(), repo)
    credit = price_for_stream("adhoc", credit_cdr(tariffs=[TARIFF], total_cost={"excl_vat": "-7.00"}), make_facts(),
                              repo, original=original)
    assert credit.excl_vat == D("-6.25")
    assert [(w.code, w.severity) for w in credit.warnings] == [("CREDIT_TOTAL_DIFFERS", "warning")]


def test_subscription_gross_credit_has_no_cent_difference(repo):
    facts = make_facts(plan_id="comfort")
    original = price_for_stream("subscription", make_cdr(energy="13.337", hours="6", parking="4.9"), facts, repo)
    credit = price_for_stream("subscription", credit_cdr(), facts, repo, original=original.to_json())
    assert original.prices_include_vat and len(original.lines) == 2
    assert_exact_reversal(original, credit)


def test_msp_credit(repo):
    facts = make_facts(msp=LDX, category="highway")
    original = price_for_stream("msp", make_cdr(energy="77.7", power_type="DC"), facts, repo)
    credit = price_for_stream("msp", credit_cdr(power_type="DC"), facts, repo, original=original.to_json())
    assert_exact_reversal(original, credit)
    assert credit.to_json()["tax"][0]["note"].startswith("Steuerschuldnerschaft")


def test_failed_original_gives_a_failed_credit(repo):
    credit = price_for_stream("msp", credit_cdr(power_type=""), make_facts(msp=LDX), repo)
    assert not credit.ok and credit.credit["reference_id"] == "CDR-1"


# --------------------------------------------------------------------------- properties

TAXES = [TaxTreatment("domestic", D(r), "DE", "S") for r in ("19", "7", "20")] + \
        [TaxTreatment("reverse_charge", D(0), "DE", "AE")]
money = st.decimals(min_value=D("0"), max_value=D("999.99"), places=2)


@st.composite
def documents(draw):
    gross = draw(st.booleans())
    lines = []
    for _ in range(draw(st.integers(1, 8))):
        tax = draw(st.sampled_from(TAXES if not gross else TAXES[:3]))
        amount = draw(money)
        qty = draw(st.decimals(D("0.001"), D(500), places=3))
        lines.append(PriceLine("ENERGY", "e", qty, "kWh", D("0.5"), D(0) if gross else amount, tax.rate,
                               tax.treatment, tax.tax_class, gross=amount if gross else None,
                               reference={"cdr_id": "O"}))
    return build_price("adhoc", lines, prices_include_vat=gross, tax=TAXES[0], currency="EUR", cdr_id="O")


@settings(max_examples=200)
@given(documents())
def test_credit_plus_original_is_zero_line_by_line_and_in_totals(doc):
    for credit in (reverse(doc, cdr_id="O-C"), reverse(StreamPrice.from_json(doc.to_json()), cdr_id="O-C")):
        for a, b in zip(doc.lines, credit.lines):
            assert a.net + b.net == 0 and (a.gross or 0) + (b.gross or 0) == 0
        assert doc.excl_vat + credit.excl_vat == 0
        assert doc.incl_vat + credit.incl_vat == 0
        assert doc.totals.vat_total + credit.totals.vat_total == 0
        for g, h in zip(doc.totals.groups, credit.totals.groups):
            assert g.vat + h.vat == 0 and g.taxable + h.taxable == 0


@given(documents())
def test_to_json_round_trips(doc):
    again = StreamPrice.from_json(doc.to_json())
    assert again.lines == doc.lines and again.totals == doc.totals


def test_unit_price_text_is_remembered_per_exact_decimal_and_bounded():
    from decimal import Decimal

    from engine.rates import model
    model._PRICE_TEXT.clear()
    cases = {"0.4": "0.40", "0.40": "0.40", "0.4000": "0.40", "0.255": "0.255", "0.25551": "0.25551",
             "-0.4": "-0.40", "4E+1": "40.00", "0": "0.00", "0.0001": "0.0001"}
    for _ in range(2):  # computed, then remembered
        for text, want in cases.items():
            assert model._price(Decimal(text)) == want == model._price_text(Decimal(text)), text
    assert model._price(None) is None
    for i in range(model._PRICE_TEXT_LIMIT + 5):
        model._price(Decimal(i))
    assert len(model._PRICE_TEXT) <= model._PRICE_TEXT_LIMIT
