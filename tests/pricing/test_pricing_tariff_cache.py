"""engine/pricing/tariff.py: parse_tariff_cached reuses a parse only for the same content."""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal as D

from pricing_helpers import spec_tariff

from engine.pricing import tariff as tariff_module
from engine.pricing.tariff import parse_tariff, parse_tariff_cached


def test_same_content_is_parsed_once():
    """Two equal tariffs (distinct dicts, as two CDRs embed them) share one parsed Tariff."""
    raw = spec_tariff("tariff_4_complex")
    first, problems = parse_tariff_cached(raw)
    second, again = parse_tariff_cached(copy.deepcopy(raw))
    assert second is first
    assert again == problems and again is not problems  # the caller may extend its own list
    assert first == parse_tariff(raw)[0]


def test_changed_content_under_the_same_id_is_not_reused():
    raw = spec_tariff("tariff_4_complex")
    before, _ = parse_tariff_cached(raw)
    changed = copy.deepcopy(raw)
    changed["elements"][1]["price_components"][0]["price"] = D("9.99")
    after, _ = parse_tariff_cached(changed)
    assert after.id == before.id and after is not before
    assert after.elements[1].components[0].price == D("9.99")


def test_equal_values_of_another_spelling_or_type_are_not_reused():
    """6.0 and 6.00 are equal Decimals but print differently; "6.0" is a string: each its own entry."""
    raw = spec_tariff("tariff_4_complex")
    pc = raw["elements"][1]["price_components"][0]
    results = []
    for price in (D("6.0"), D("6.00"), "6.0"):
        pc["price"] = price
        results.append(parse_tariff_cached(copy.deepcopy(raw))[0])
    assert len({id(t) for t in results}) == 3
    assert str(results[0].elements[1].components[0].price) == "6.0"
    assert str(results[1].elements[1].components[0].price) == "6.00"


def test_the_path_is_part_of_the_key():
    """Problems name the tariff's path (``tariffs[1]``): another path is another entry."""
    raw = spec_tariff("tariff_4_complex")
    raw["elements"][0]["restrictions"] = {"day_of_week": ["FUNDAY"]}
    _, at_first = parse_tariff_cached(raw, "tariffs[0]")
    _, at_second = parse_tariff_cached(raw, "tariffs[1]")
    assert at_first[0].path.startswith("tariffs[0]") and at_second[0].path.startswith("tariffs[1]")


def test_the_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(tariff_module, "_CACHE_SIZE", 3)
    raw = spec_tariff("tariff_1_simple_2hour")
    for i in range(10):
        parse_tariff_cached(dict(raw, id=f"bounded-{i}"))
    assert len(tariff_module._cache) <= 3
    assert parse_tariff_cached(dict(raw, id="bounded-9"))[0].id == "bounded-9"


def test_concurrent_use_gives_the_same_results():
    """The HTTP server's threads share the cache: every caller still gets its own tariff."""
    raws = [dict(spec_tariff("tariff_1_simple_2hour"), id=f"thread-{i % 7}") for i in range(50)] * 4
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda _: [parse_tariff_cached(raw)[0].id for raw in raws], range(4)))
    assert runs == [[raw["id"] for raw in raws]] * 4


def test_the_cache_key_holds_every_field_parse_tariff_reads():
    """A field parse_tariff reads but the key leaves out would let two tariffs share one parse."""
    from engine.pricing.tariff import _PARSED_FIELDS, parse_tariff

    class Recording(dict):
        read: set = set()

        def get(self, key, default=None):
            Recording.read.add(key)
            return super().get(key, default)

        def __getitem__(self, key):
            Recording.read.add(key)
            return super().__getitem__(key)

    raw = Recording({"id": "T1", "currency": "EUR", "elements": [], "min_price": None, "max_price": None})
    parse_tariff(raw)
    assert Recording.read <= set(_PARSED_FIELDS)
