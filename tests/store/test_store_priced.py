"""StorePricing: the Pipeline's ``priced`` mapping over the store."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

from engine.decision import Decision
from engine.store.priced import StorePricing
from engine.store.cdrs import record_decision


def _decision(cdr_id: str, **fields) -> Decision:
    return Decision(cdr_id=cdr_id, config_version="cfg", key=("DE", "VLT", cdr_id), ocpi_version="2.2.1", **fields)


def test_current_pricing_of_priced_cdrs_only(session_factory):
    with session_factory() as s:
        record_decision(s, '{"id": "A"}', _decision("A", stream="adhoc", pricing={"lines": [], "total_cost": {}}))
        record_decision(s, '{"id": "B"}', _decision("B", exception={"reason": "UNKNOWN_MSP"}))
        record_decision(s, '{"id": "C"}', _decision("C", errors=[{"path": "", "code": "x", "message": "bad"}]))
        s.commit()
    pending = {("DE", "VLT", "P"): {"lines": ["pending"]}, ("DE", "VLT", "A"): {"lines": ["shadowed"]}}
    priced = StorePricing(session_factory, pending)
    assert isinstance(priced, MutableMapping)  # writes go to pending only (checked below)
    assert priced[("DE", "VLT", "A")] == {"lines": [], "total_cost": {}}
    assert priced.get(("DE", "VLT", "B")) is None
    assert priced.get(("DE", "VLT", "C")) is None
    assert priced.get(("DE", "VLT", "missing")) is None
    assert priced.get(("DE", "VLT", "P")) == {"lines": ["pending"]}
    assert priced.get(None) is None and priced.get(("DE", "VLT")) is None
    assert ("DE", "VLT", "A") in priced and ("DE", "VLT", "B") not in priced
    assert list(priced) == [("DE", "VLT", "A"), ("DE", "VLT", "P")]
    assert len(priced) == 2
