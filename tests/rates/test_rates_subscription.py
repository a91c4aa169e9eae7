from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from engine.money import net_from_gross
from engine.rates import billing_cycle, monthly_cycle, price_for_stream
from engine.rates.subscription import consumption_document
from rates_helpers import make_bundle, make_cdr, make_facts, REPO
from rates_helpers import repo  # noqa: F401  (fixtures)

D = Decimal


def test_session_at_gross_plan_rates(repo):
    cdr = make_cdr(energy="12.345", power_type="DC", hours="1")
    sp = price_for_stream("subscription", cdr, make_facts("2026-03-10", plan_id="comfort"), repo)
    assert sp.ok, sp.errors
    j = sp.to_json()
    assert j["prices_include_vat"] is True
    (line,) = j["lines"]
    assert (line["product"], line["quantity"], line["unit_price_gross"], line["gross"]) == ("ENERGY", "12.345", "0.49",
                                                                                            "6.05")
    net, vat = net_from_gross(D("6.05"), D(19))
    assert j["total_cost"] == {"excl_vat": str(net), "vat": str(vat), "incl_vat": "6.05"}
    assert j["source"]["id"] == "comfort" and j["source"]["version"] == "2025-01"
    assert j["source"]["file"] == "rules/tariff_plans.yaml"


def test_the_session_date_picks_the_plan_version(repo):
    cdr = make_cdr(energy="10", power_type="AC_3_PHASE", start="2026-06-30T22:30:00Z")
    # 00:30 local on 2026-07-01: the new version (0.37) applies
    sp = price_for_stream("subscription", cdr, make_facts("2026-07-01", plan_id="comfort"), repo)
    assert sp.lines[0].gross == D("3.70") and sp.source["version"] == "2026-07"


def test_idle_fee_after_grace_and_net_plan(repo):
    cdr = make_cdr(energy="30", power_type="DC", hours="2", parking="1.25")  # 75 min parking, 45 min grace
    sp = price_for_stream("subscription", cdr, make_facts(plan_id="fleet-pro"), repo)
    assert [(ln.product, ln.quantity, ln.net) for ln in sp.lines] == [
        ("ENERGY", D("30"), D("11.70")), ("SESSION_FEE", D(1), D("0.25")), ("IDLE_FEE", D("30.00"), D("2.40"))]
    assert sp.prices_include_vat is False and sp.to_json()["total_cost"]["incl_vat"] == "17.08"


def test_session_errors(repo):
    assert price_for_stream("subscription", make_cdr(), make_facts(plan_id="gold"), repo).errors[0].code == "PLAN_UNKNOWN"
    assert price_for_stream("subscription", make_cdr(), make_facts(), repo).errors[0].code == "PLAN_UNKNOWN"
    old = price_for_stream("subscription", make_cdr(), make_facts("2024-05-01", plan_id="comfort"), repo)
    assert old.errors[0].code == "PLAN_NOT_VALID"
    no_pt = price_for_stream("subscription", make_cdr(power_type=""), make_facts(plan_id="comfort"), repo)
    assert no_pt.errors[0].code == "PLAN_NO_RATE"


# --------------------------------------------------------------------------- billing cycle

CHANGE = [{"plan_id": "basis", "valid_from": "2025-11-01", "valid_to": "2026-10-14"},
          {"plan_id": "comfort", "valid_from": "2026-10-15", "valid_to": None}]


def test_plan_change_is_prorated_to_the_day(repo):
    docs = billing_cycle(repo, CHANGE, date(2026, 10, 1))
    assert (docs.cycle_start, docs.cycle_end) == (date(2026, 10, 1), date(2026, 10, 31))
    assert [(s.plan.id, s.days, s.cycle_days) for s in docs.segments] == [("basis", 14, 31), ("comfort", 17, 31)]
    # 14/31 x 4.99 = 2.2535 -> 2.25; running 2.2535 + 17/31 x 9.99 = 7.7319 -> 7.73: comfort 5.48
    assert [ln.gross for ln in docs.base_fee.lines] == [D("2.25"), D("5.48")]
    assert docs.base_fee.incl_vat == D("7.73") and docs.errors == ()
    assert docs.base_fee.lines[0].quantity == D(14) and docs.base_fee.lines[0].unit == "day"
    assert "14/31 days" in docs.base_fee.lines[0].description


def test_start_and_end_inside_the_cycle(repo):
    docs = billing_cycle(repo, [{"plan_id": "comfort", "valid_from": "2026-11-10", "valid_to": "2026-11-19"}],
                         date(2026, 11, 1))
    assert [(s.days, s.cycle_days) for s in docs.segments] == [(10, 30)]
    assert docs.base_fee.incl_vat == D("3.33")


def test_billed_in_advance_gives_a_credit_never_larger_than_billed(repo):
    docs = billing_cycle(repo, CHANGE, date(2026, 10, 1), billed={"basis": "4.99"})
    amounts = {ln.reference["plan_id"]: ln.gross for ln in docs.base_fee.lines}
    assert amounts == {"basis": D("-2.74"), "comfort": D("5.48")}
    cancelled = billing_cycle(repo, [], date(2026, 10, 1), billed={"basis": "4.99"})
    assert [ln.gross for ln in cancelled.base_fee.lines] == [D("-4.99")] and cancelled.errors == ()
    assert cancelled.base_fee.incl_vat == D("-4.99") and cancelled.base_fee.excl_vat == D("-4.19")


def test_overlapping_subscriptions_are_an_error(repo):
    docs = billing_cycle(repo, [{"plan_id": "basis", "valid_from": "2026-10-01"},
                                {"plan_id": "comfort", "valid_from": "2026-10-15"}], date(2026, 10, 1))
    assert [e.code for e in docs.errors] == ["SUBSCRIPTION_OVERLAP"]


def test_consumption_document_lists_every_session(repo):
    sessions = [(make_cdr(f"C{i}", energy="10", start=f"2026-10-{i + 1:02d}T08:00:00Z"),
                 make_facts(f"2026-10-{i + 1:02d}", plan_id="basis" if i < 14 else "comfort")) for i in range(20)]
    docs = billing_cycle(repo, CHANGE, date(2026, 10, 1), sessions=sessions)
    lines = docs.consumption.lines
    assert len(lines) == 20 and {ln.reference["cdr_id"] for ln in lines} == {f"C{i}" for i in range(20)}
    gross = sum((ln.gross for ln in lines), D(0))
    assert gross == 14 * D("5.20") + 6 * D("3.70")
    assert docs.consumption.excl_vat == net_from_gross(gross, D(19))[0]
    assert docs.consumption.incl_vat == gross


def test_consumption_errors_name_the_cdr(repo):
    doc = consumption_document(repo, [(make_cdr("X1"), make_facts(plan_id="gold"))])
    assert doc.errors[0].code == "PLAN_UNKNOWN" and doc.errors[0].extra["cdr_id"] == "X1"


@pytest.mark.parametrize("day,anchor,expected", [
    (date(2026, 10, 14), 1, (date(2026, 10, 1), date(2026, 10, 31))),
    (date(2026, 10, 14), 15, (date(2026, 9, 15), date(2026, 10, 14))),
    (date(2026, 2, 28), 31, (date(2026, 2, 28), date(2026, 3, 30))),
    (date(2026, 1, 5), 15, (date(2025, 12, 15), date(2026, 1, 14))),
])
def test_monthly_cycle(day, anchor, expected):
    assert monthly_cycle(day, anchor) == expected


# --------------------------------------------------------------------------- properties

FEES = st.decimals(min_value=D("0.01"), max_value=D("999.99"), places=2)
PLANS_YAML = """\
kind: tariff_plans
plans:
  - {{id: a, name: A, currency: EUR, billing_cycle: monthly, prices_include_vat: {gross},
     versions: [{{version: "1", valid_from: "2020-01-01", base_fee: {fa}, rates: {{AC: {{energy: 0.3}}}}}}]}}
  - {{id: b, name: B, currency: EUR, billing_cycle: monthly, prices_include_vat: {gross},
     versions: [{{version: "1", valid_from: "2020-01-01", base_fee: {fb}, rates: {{AC: {{energy: 0.3}}}}}}]}}
"""


def plans_bundle(tmp_path_factory, fa, fb, gross):
    tmp = tmp_path_factory.mktemp("plans")
    bundle, problems = make_bundle(tmp, {
        "rules/tariff_plans.yaml": PLANS_YAML.format(fa=fa, fb=fb, gross=str(gross).lower()),
        "rules/tax_rules.yaml": (REPO / "rules" / "tax_rules.yaml").read_text()})
    assert problems == []
    return bundle


months = st.sampled_from([date(2026, m, 1) for m in range(1, 13)] + [date(2028, 2, 1)])


@settings(max_examples=60, deadline=None)
@given(fee=FEES, month=months, change=st.integers(min_value=1, max_value=27), gross=st.booleans())
def test_full_cycle_with_a_change_at_the_same_price_sums_to_the_fee(tmp_path_factory, fee, month, change, gross):
    bundle = plans_bundle(tmp_path_factory, fee, fee, gross)
    split = month + timedelta(days=change)
    docs = billing_cycle(bundle, [{"plan_id": "a", "valid_from": "2020-01-01",
                                   "valid_to": (split - timedelta(days=1)).isoformat()},
                                  {"plan_id": "b", "valid_from": split.isoformat()}], month)
    amounts = [s.amount for s in docs.segments]
    assert sum(amounts) == fee
    assert all(D(0) <= a <= fee for a in amounts)
    total = docs.base_fee.incl_vat if gross else docs.base_fee.excl_vat
    assert total == fee


@settings(max_examples=60, deadline=None)
@given(fa=FEES, fb=FEES, month=months, start=st.integers(0, 27), change=st.integers(1, 27), end=st.integers(0, 27),
       billed_a=st.one_of(st.none(), FEES))
def test_prorated_fees_never_exceed_the_fee_and_credits_never_exceed_the_billed(
        tmp_path_factory, fa, fb, month, start, change, end, billed_a):
    bundle = plans_bundle(tmp_path_factory, fa, fb, False)
    first = month + timedelta(days=start)
    split = first + timedelta(days=change)
    last = split + timedelta(days=end)
    subs = [{"plan_id": "a", "valid_from": first.isoformat(), "valid_to": (split - timedelta(days=1)).isoformat()},
            {"plan_id": "b", "valid_from": split.isoformat(), "valid_to": last.isoformat()}]
    docs = billing_cycle(bundle, subs, month, billed={"a": billed_a} if billed_a is not None else None)
    for seg in docs.segments:
        assert D(0) <= seg.amount <= seg.version.base_fee
        exact = seg.version.base_fee * seg.days / seg.cycle_days
        assert abs(seg.amount - exact) <= D("0.01")
    assert sum(s.amount for s in docs.segments) <= max(fa, fb)
    for ln in docs.base_fee.lines:
        if ln.net < 0:
            assert ln.reference["plan_id"] == "a" and -ln.net <= billed_a


usage = st.tuples(st.decimals(D(0), D(400), places=3), st.decimals(D("0.01"), D(12), places=4),
                  st.decimals(D(0), D(1), places=2), st.sampled_from(["AC_3_PHASE", "DC"]))


@settings(max_examples=80, deadline=None)
@given(usage, st.sampled_from(["basis", "comfort", "fleet-pro"]),
       st.sampled_from([("DE", "DEU"), ("AT", "AUT"), ("FR", "FRA"), ("NL", "NLD")]))
def test_stream_prices_are_never_below_their_net(repo, use, plan, where):
    energy, hours, parking_share, pt = use
    parking = (hours * parking_share).quantize(D("0.0001"))
    cdr = make_cdr(energy=str(energy), hours=str(hours), parking=str(parking), power_type=pt, country=where[1])
    facts = make_facts(plan_id=plan, country=where[0])
    sp = price_for_stream("subscription", cdr, facts, repo)
    assert sp.ok and sp.incl_vat >= sp.excl_vat >= 0
    msp = {"party": "DE*FLK", "country": "DE", "reseller": False, "vat_id": "DE164829373", "tariff_id": "flk-2026"}
    sp = price_for_stream("msp", cdr, make_facts(msp=msp, country=where[0]), repo)
    assert sp.ok and sp.incl_vat >= sp.excl_vat >= 0
