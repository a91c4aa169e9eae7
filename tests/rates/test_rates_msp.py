from datetime import date
from decimal import Decimal

from hypothesis import given, settings, strategies as st

from engine.money import line_net
from engine.rates import msp_period, price_for_stream
from engine.rates.books import Discount, Scope
from engine.rates.model import PriceLine
from engine.rates.msp import aggregate, apply_discounts, split_cents
from rates_helpers import make_cdr, make_facts
from rates_helpers import repo  # noqa: F401  (fixtures)

D = Decimal
LDX = {"party": "DE*LDX", "contract_id": "VLT-RC-2025-017", "name": "Ladexpress Mobility GmbH", "country": "DE",
       "vat_id": "DE273648192", "reseller": True, "tariff_id": "ldx-2026", "active": True}
WZP = dict(LDX, party="NL*WZP", name="Wegzap B.V.", country="NL", vat_id="NL853412078B01", tariff_id="wzp-2026")
FLK = dict(LDX, party="DE*FLK", name="Flottenkraft", reseller=False, vat_id="DE164829373", tariff_id="flk-2026")
OCT = (date(2026, 10, 1), date(2026, 10, 31))


def session(repo, cdr_id, msp=LDX, *, category="urban", power_type="DC", energy="40", day="2026-10-05",
            country="DE", hours="1", parking="0"):
    cdr = make_cdr(cdr_id, energy=energy, power_type=power_type, start=f"{day}T08:00:00Z", hours=hours,
                   parking=parking, country={"DE": "DEU", "AT": "AUT", "NL": "NLD"}[country])
    return price_for_stream("msp", cdr, make_facts(day, category=category, msp=msp, country=country), repo)


def test_session_by_power_type_and_category(repo):
    hw = session(repo, "A", category="highway")
    other = session(repo, "B", category="destination")
    assert (hw.lines[0].unit_price, other.lines[0].unit_price) == (D("0.58"), D("0.54"))
    assert hw.source["id"] == "ldx-2026" and hw.source["version"] == "2026.2" and hw.source["line"] > 1
    j = hw.to_json()
    assert j["tax_treatment"]["treatment"] == "reverse_charge" and j["tax_treatment"]["buyer_vat_id"] == "DE273648192"
    assert j["total_cost"] == {"excl_vat": "23.20", "vat": "0.00", "incl_vat": "23.20"}
    assert j["lines"][0]["reference"]["category"] == "highway"


def test_version_valid_on_the_session_date(repo):
    sep = session(repo, "S", power_type="AC_3_PHASE", day="2026-09-30")
    oct_ = session(repo, "O", power_type="AC_3_PHASE", day="2026-10-01")
    assert (sep.lines[0].unit_price, oct_.lines[0].unit_price) == (D("0.44"), D("0.45"))


def test_idle_fee_and_session_fee(repo):
    sp = session(repo, "I", power_type="AC_3_PHASE", hours="5", parking="3.5")  # 210 min parked, 180 free
    assert [(ln.product, ln.quantity, ln.net) for ln in sp.lines] == [("ENERGY", D("40"), D("18.00")),
                                                                      ("IDLE_FEE", D("30.0"), D("2.40"))]
    wzp = session(repo, "W", WZP, country="NL")
    assert [ln.product for ln in wzp.lines] == ["ENERGY", "SESSION_FEE"]
    assert wzp.tax.treatment == "eu_reseller" and wzp.tax.country == "NL"


def test_non_reseller_pays_vat_of_the_charge_point_country(repo):
    de, at = session(repo, "D", FLK), session(repo, "A", FLK, country="AT")
    assert (de.totals.groups[0].rate, at.totals.groups[0].rate) == (D(19), D(20))


def test_session_errors(repo):
    assert session(repo, "X", dict(LDX, tariff_id="nope")).errors[0].code == "MSP_TARIFF_UNKNOWN"
    assert session(repo, "X", dict(LDX, tariff_id="cvx-2025")).errors[0].code == "MSP_TARIFF_NOT_VALID"
    assert session(repo, "X", power_type="").errors[0].code == "POWER_TYPE_UNKNOWN"
    no_cat = session(repo, "X", category=None)
    assert no_cat.ok and [w.code for w in no_cat.warnings] == ["LOCATION_CATEGORY_UNKNOWN"]


def test_period_lines_round_once_on_the_summed_quantity(repo):
    # 1.005 kWh x 0.54 = 0.5427 -> 0.54 per session (5.40 for ten); the period line is 10.05 x 0.54 = 5.427 -> 5.43
    sessions = [session(repo, f"S{i}", energy="1.005") for i in range(10)]
    doc = msp_period(repo, sessions, msp=LDX, period_start=OCT[0], period_end=OCT[1])
    (line,) = doc.lines
    assert line.quantity == D("10.050") and line.net == D("5.43")  # 10.05 x 0.54 = 5.427
    assert sum(sp.excl_vat for sp in sessions) == D("5.40")
    assert line.reference["cdr_ids"] == [f"S{i}" for i in range(10)] and line.reference["sessions"] == 10
    assert doc.source["msp"]["party"] == "DE*LDX" and doc.source["period"]["end"] == "2026-10-31"


def test_period_groups_by_power_type_and_category_and_applies_volume_discount(repo):
    sessions = [session(repo, f"H{i}", category="highway", energy="300") for i in range(10)]
    sessions += [session(repo, f"U{i}", category="urban", energy="300") for i in range(10)]
    sessions += [session(repo, f"A{i}", category="urban", energy="20", power_type="AC_3_PHASE") for i in range(5)]
    doc = msp_period(repo, sessions, msp=LDX, period_start=OCT[0], period_end=OCT[1])
    rows = [(ln.product, ln.reference.get("power_type"), ln.reference.get("category"), ln.net) for ln in doc.lines]
    assert rows[:3] == [("ENERGY", "DC", "highway", D("1740.00")), ("ENERGY", "DC", "urban", D("1620.00")),
                        ("ENERGY", "AC", "urban", D("45.00"))]
    (disc,) = [ln for ln in doc.lines if ln.product == "DISCOUNT"]
    # 6000 DC kWh reach the 5000 kWh tier: 3 % of the DC energy lines (3360.00) = 100.80
    assert disc.net == D("-100.80") and disc.reference["discount_id"] == "dc-volume" and "3 %" in disc.description
    assert disc.tax_treatment == "reverse_charge" and doc.excl_vat == D("3304.20")
    assert doc.to_json()["tax"][0]["note"].startswith("Steuerschuldnerschaft")


def test_credit_in_the_period_reduces_the_line(repo):
    original = session(repo, "O1", energy="50")
    other = session(repo, "O2", energy="30")
    credit = price_for_stream("msp", dict(make_cdr("O1-C", energy="50", power_type="DC", start="2026-10-05T08:00:00Z"),
                                          credit=True, credit_reference_id="O1"),
                              make_facts("2026-10-05", msp=LDX), repo, original=original.to_json())
    doc = msp_period(repo, [original, other, credit], msp=LDX, period_start=OCT[0], period_end=OCT[1])
    (line,) = doc.lines
    assert line.quantity == D(30) and line.net == D("16.20") and line.reference["credit_cdr_ids"] == ["O1-C"]
    assert line.reference["sessions"] == 1


def test_sessions_outside_the_period_or_unpriced_are_errors(repo):
    late = session(repo, "L", day="2026-11-01")
    bad = session(repo, "B", power_type="")
    doc = msp_period(repo, [late, bad], msp=LDX, period_start=OCT[0], period_end=OCT[1])
    assert {(e.code, e.extra.get("cdr_id")) for e in doc.errors} >= {("POWER_TYPE_UNKNOWN", "B")}
    assert "SESSION_OUTSIDE_PERIOD" in {e.code for e in doc.errors}


def test_session_volume_discount_graduated_and_cap(repo):
    sessions = [session(repo, f"W{i}", WZP, country="NL", energy="10") for i in range(1200)]
    doc = msp_period(repo, sessions, msp=WZP, period_start=OCT[0], period_end=OCT[1])
    discounts = {ln.reference["discount_id"]: ln for ln in doc.lines if ln.product == "DISCOUNT"}
    # graduated: 700 of 1200 sessions above 500 at 2 % -> 1.1666.. % of (5640.00 + 300.00)
    assert discounts["session-volume"].net == D("-69.30")
    # session fees: 300.00 less their share of the volume rebate (3.50) = 296.50, capped at 250 -> 46.50
    assert discounts["session-fee-cap"].net == D("-46.50")
    assert doc.excl_vat == D("5940.00") - D("69.30") - D("46.50")


def test_discounts_are_split_per_tax_group(repo):
    sessions = [session(repo, f"D{i}", FLK, category="depot", power_type="AC_3_PHASE", energy="100",
                        country="DE" if i % 2 else "AT") for i in range(4)]
    doc = msp_period(repo, sessions, msp=FLK, period_start=OCT[0], period_end=OCT[1])
    disc = sorted((ln.tax_rate, ln.net) for ln in doc.lines if ln.product == "DISCOUNT")
    assert disc == [(D(19), D("-7.20")), (D(20), D("-7.20"))]
    groups = {g.rate: g for g in doc.totals.groups}
    assert groups[D(19)].taxable == D("64.80") and groups[D(19)].vat == D("12.31")


# --------------------------------------------------------------------------- properties

amounts = st.decimals(min_value=D("0"), max_value=D("10000"), places=2)


@settings(max_examples=200)
@given(st.lists(amounts, min_size=1, max_size=8), st.data())
def test_split_cents_sums_exactly_and_respects_weights(weights, data):
    whole = sum(weights)
    total = data.draw(st.decimals(min_value=D(0), max_value=max(whole, D(0)), places=2))
    shares = split_cents(total, weights)
    if whole > 0:
        assert sum(shares) == total
        assert all(D(0) <= s <= w for s, w in zip(shares, weights))


def line(net, pt="DC", cat="urban", product="ENERGY", rate=D(0), qty=None):
    return PriceLine(product, "x", qty if qty is not None else net, "kWh", D(1), net, rate, "reverse_charge", "AE",
                     reference={"power_type": pt, "category": cat, "cdr_ids": ["c"]})


discounts = st.lists(st.one_of(
    st.builds(lambda p: Discount("pct", "percentage", percent=p), st.decimals(D("0.01"), D(100), places=2)),
    st.builds(lambda m: Discount("cap", "cap", max_net=m, scope=Scope(categories=frozenset({"urban"}))), amounts),
    st.builds(lambda t1, p1, p2, mode: Discount("vol", "volume", mode=mode, tiers=((t1, p1), (t1 + 100, p2)),
                                                 scope=Scope(power_type="DC")),
              st.decimals(D(0), D(5000), places=0), st.decimals(D("0.5"), D(50), places=1),
              st.decimals(D("0.5"), D(50), places=1), st.sampled_from(["whole", "graduated"])),
), min_size=1, max_size=4)
lines_ = st.lists(st.builds(line, amounts, st.sampled_from(["AC", "DC"]), st.sampled_from(["urban", "highway"]),
                            st.sampled_from(["ENERGY", "SESSION_FEE"]), st.sampled_from([D(0), D(19)])),
                  min_size=1, max_size=10)


@settings(max_examples=300)
@given(lines_, discounts)
def test_discount_lines_never_exceed_the_lines_they_discount(ls, ds):
    out, _ = apply_discounts(ls, ds)
    assert all(d.net < 0 for d in out)
    for rate in {ln.tax_rate for ln in ls}:
        base = sum((ln.net for ln in ls if ln.tax_rate == rate), D(0))
        given_ = -sum((d.net for d in out if d.tax_rate == rate), D(0))
        assert given_ <= base
    assert -sum((d.net for d in out), D(0)) <= sum((ln.net for ln in ls), D(0))
    for d in out:  # each discount line against the lines it names
        scope_nets = D(d.reference["base"])
        assert -d.net <= scope_nets


@given(st.lists(st.decimals(D("0.001"), D(200), places=3), min_size=1, max_size=20))
def test_aggregation_rounds_once_on_the_summed_quantity(qtys):
    ls = [PriceLine("ENERGY", "e", q, "kWh", D("0.54"), line_net(q, D("0.54")), D(0), "reverse_charge",
                    "AE", reference={"power_type": "DC", "category": "urban", "cdr_id": f"c{i}"})
          for i, q in enumerate(qtys)]
    (agg,) = aggregate(ls)
    assert agg.quantity == sum(qtys) and agg.net == line_net(sum(qtys), D("0.54"))  # half up, once
    assert abs(agg.net - sum(ln.net for ln in ls)) <= D("0.005") * len(ls) + D("0.01")


def test_period_and_cycle_documents_match_the_pricing_schema(repo):
    import json
    from jsonschema import Draft202012Validator
    from engine.rates import billing_cycle
    from rates_helpers import REPO
    validator = Draft202012Validator(json.loads((REPO / "engine" / "rates" / "pricing.schema.json").read_text()))
    doc = msp_period(repo, [session(repo, f"S{i}", category="highway", energy="3000") for i in range(3)], msp=LDX,
                     period_start=OCT[0], period_end=OCT[1])
    assert any(ln.product == "DISCOUNT" for ln in doc.lines)
    cycle = billing_cycle(repo, [{"plan_id": "comfort", "valid_from": "2026-10-15"}], OCT[0])
    for j in (doc.to_json(), cycle.base_fee.to_json(), cycle.consumption.to_json()):
        assert [e.message for e in validator.iter_errors(j)] == []
