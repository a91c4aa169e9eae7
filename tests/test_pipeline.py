"""Pipeline wiring that no stage's own tests reach: where credit CDRs find their original."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import MappingProxyType

import pytest

from engine import intake
from engine.pipeline import Pipeline

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def engine():
    from engine.lint import load_kinds
    load_kinds()
    from engine.config.bundle import load_bundle
    from engine.reference import load_reference
    bundle, problems = load_bundle(REPO)
    assert bundle is not None, problems
    source, _ = load_reference(REPO / "samples" / "reference")
    return bundle, source


def _billed_sample(pipeline):
    for path in sorted((REPO / "samples" / "cdrs").glob("*.json")):
        decision = pipeline.decide(json.loads(path.read_text(encoding="utf-8")), source=path.name)
        if decision.stream:
            return decision
    raise AssertionError("no sample CDR is billed")


def test_a_writable_priced_mapping_is_filled_a_read_only_one_is_not(engine):
    bundle, source = engine
    filled: dict = {}
    decision = _billed_sample(Pipeline(bundle, source, priced=filled))
    assert filled == {decision.key: decision.pricing}
    read_only = MappingProxyType({})
    _billed_sample(Pipeline(bundle, source, priced=read_only))
    assert dict(read_only) == {}
    _billed_sample(Pipeline(bundle, source))  # none at all


def test_priced_can_be_replaced_and_a_copy_keeps_its_own(engine):
    bundle, source = engine
    pipeline = Pipeline(bundle, source, priced=MappingProxyType({}))
    later: dict = {}
    pipeline.priced = later
    assert pipeline.priced is later
    decision = _billed_sample(pipeline)
    assert later == {decision.key: decision.pricing}
    scoped = copy.copy(pipeline)          # what the service's release does
    scoped.priced = None
    assert pipeline.priced is later and scoped.priced is None
    _billed_sample(scoped)


def test_decide_item_of_an_unreadable_line(engine):
    bundle, source = engine
    import io
    (item,) = intake.read_items(io.BytesIO(b"{not json\n"), "x")
    decision = Pipeline(bundle, source).decide_item(item)
    assert decision.exception["reason"] == "INVALID_CDR" and decision.errors
