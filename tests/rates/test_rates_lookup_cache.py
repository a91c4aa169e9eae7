"""The remembered session lookups of plans and MSP tariffs (``session_lookup``): every field the
answer reads is in the key, the memo is per built plan/tariff (per configuration), bounded, and
the shared source never leaks into a priced session."""

from dataclasses import replace
from datetime import date

from engine.rates import books, price_for_stream
from engine.rates.config import msp_tariffs_of, plans_of
from rates_helpers import make_cdr, make_facts
from rates_helpers import repo  # noqa: F401  (fixtures)

LDX = {"party": "DE*LDX", "contract_id": "VLT-RC-2025-017", "name": "Ladexpress Mobility GmbH", "country": "DE",
       "vat_id": "DE273648192", "reseller": True, "tariff_id": "ldx-2026", "active": True}


def _uncached_msp(tariff, day, power, category):
    version = tariff.version_on(day)
    row = version.row_for(power, category) if version is not None and power is not None else None
    return version, row, (tariff.source(version, row) if row is not None else None)


def test_msp_lookup_changes_with_every_key_field(repo):
    tariff = msp_tariffs_of(repo).get("ldx-2026")
    base = (date(2026, 10, 5), "DC", "highway")
    changed = [(date(2026, 9, 30), "DC", "highway"), (date(2026, 10, 5), "AC", "highway"),
               (date(2026, 10, 5), "DC", "destination"), (date(2026, 10, 5), "DC", None),
               (date(2026, 10, 5), None, "highway")]
    first = tariff.session_lookup(*base)
    assert tariff.session_lookup(*base) is first                       # remembered
    assert first == _uncached_msp(tariff, *base)
    for key in changed:
        got = tariff.session_lookup(*key)
        assert got == _uncached_msp(tariff, *key), key
        assert got != first, key


def test_msp_lookup_of_an_unhashable_category_is_computed(repo):
    tariff = msp_tariffs_of(repo).get("ldx-2026")
    key = (date(2026, 10, 5), "DC", ["highway"])
    assert tariff.session_lookup(*key) == _uncached_msp(tariff, *key)


def test_plan_lookup_changes_with_the_day(repo):
    plan = plans_of(repo).get("comfort")
    old, new = plan.session_lookup(date(2026, 6, 30)), plan.session_lookup(date(2026, 7, 1))
    assert (old[0].version, new[0].version) == ("2025-01", "2026-07")
    assert old == (plan.version_on(date(2026, 6, 30)), plan.source(old[0]))
    assert plan.session_lookup(date(1999, 1, 1)) == (None, None)


def test_memo_belongs_to_the_built_tariff(repo):
    """Another configuration's tariff of the same id and key gives its own answer."""
    tariff = msp_tariffs_of(repo).get("ldx-2026")
    key = (date(2026, 10, 5), "DC", "highway")
    tariff.session_lookup(*key)
    other = replace(tariff, versions=tariff.versions[:1] if tariff.versions[0].period.contains(key[0])
                    else tariff.versions[1:])
    assert other._lookups == {}
    assert other.session_lookup(*key) == _uncached_msp(other, *key)
    plan = plans_of(repo).get("comfort")
    plan.session_lookup(date(2026, 7, 1))
    assert replace(plan, versions=plan.versions[:1]).session_lookup(date(2026, 7, 1)) == (None, None)


def test_memo_is_bounded(repo, monkeypatch):
    monkeypatch.setattr(books, "LOOKUP_LIMIT", 3)
    plan = replace(plans_of(repo).get("comfort"))
    for day in range(1, 11):
        plan.session_lookup(date(2026, 7, day))
        assert len(plan._lookups) <= 3


def test_priced_sessions_do_not_share_the_source(repo):
    def msp_session(cdr_id):
        cdr = make_cdr(cdr_id, energy="40", power_type="DC", start="2026-10-05T08:00:00Z", hours="1", parking="0")
        return price_for_stream("msp", cdr, make_facts("2026-10-05", category="highway", msp=LDX), repo)

    def plan_session(cdr_id):
        cdr = make_cdr(cdr_id, energy="10", power_type="AC_3_PHASE", start="2026-03-10T08:00:00Z")
        return price_for_stream("subscription", cdr, make_facts("2026-03-10", plan_id="comfort"), repo)

    for session in (msp_session, plan_session):
        a = session("A")
        expected = dict(a.source)
        a.source["id"] = "changed"
        assert session("B").source == expected


def test_session_days_remembered_by_text_are_the_parsed_days():
    from engine.rates.common import session_day
    from engine.tax.periods import as_date
    for text in ("2026-10-05", "2026-10-05T08:00:00Z", "2026-02-30", "05.10.2026", "2026-10-06"):
        for _ in range(2):
            got = session_day({"start_date_time": "2026-01-01T00:00:00Z"}, {"session_date": text})
            try:
                want = as_date(text), []
            except ValueError:  # not a date: the start's date, with a warning
                want = date(2026, 1, 1), got[1]
                assert [p.code for p in got[1]] == ["SESSION_DATE_MISSING"]
            assert got == want, text
