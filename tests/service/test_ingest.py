"""ingest(): batches, idempotency, resumability, retries, concurrency.

A stand-in pipeline keeps these tests about the shell: it decides from hints in the item
(``stream`` / ``exception``), the way the real pure pipeline would return a Decision.
"""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, OperationalError

from engine.decision import Decision
from engine.problems import Problem
from engine.service import ingest as ingest_module
from engine.service.ingest import ingest, normalised_cdr, raw_text
from engine.store.models import Cdr, DecisionRecord, ExceptionRecord, RejectedInput

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Item:
    source: str
    data: Any
    problems: list[Problem] = field(default_factory=list)


class Pipeline:
    """Decides like the real one: key from the CDR, stream or exception, errors for bad input."""

    default_party = ("DE", "VLT")

    def __init__(self) -> None:
        self.decided = 0

    def decide_item(self, item: Item) -> Decision:
        self.decided += 1
        if item.problems or not isinstance(item.data, dict):
            return Decision(cdr_id=None, config_version="cfg", source=item.source,
                            errors=[p.to_dict() for p in item.problems],
                            exception={"reason": "INVALID_CDR", "description": "unreadable"})
        data = item.data
        decision = Decision(cdr_id=data["id"], config_version="cfg", key=("DE", "VLT", data["id"]),
                            source=item.source, ocpi_version="2.2.1")
        if data.get("exception"):
            decision.exception = {"reason": data["exception"], "description": "no rule"}
            decision.rule = {"id": "fallback", "file": "rules/c.yaml", "line": 40}
        else:
            decision.stream = data.get("stream", "adhoc")
            decision.rule = {"id": decision.stream, "file": "rules/c.yaml", "line": 3}
        return decision

    def normalise(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"normalised": True, **data}


def cdr(i: int, **extra: Any) -> Item:
    data = {"id": f"CDR-{i:04d}", "total_energy": 10 + i, **extra}
    return Item(f"batch.json[{i}]", data)


def corpus(n: int = 10) -> list[Item]:
    streams = ("adhoc", "subscription", "msp")
    items = [cdr(i, stream=streams[i % 3]) for i in range(n)]
    items.append(cdr(n, exception="UNKNOWN_MSP"))
    items.append(Item("batch.json[bad]", None, [Problem(code="json.invalid", message="line 9, column 3: boom")]))
    return items


def counts(session_factory) -> tuple[int, int, int, int]:
    with session_factory() as s:
        return tuple(s.execute(select(func.count()).select_from(m)).scalar_one()
                     for m in (Cdr, DecisionRecord, ExceptionRecord, RejectedInput))


def test_ingest_records_everything_and_summarises(session_factory):
    summary = ingest(corpus(10), Pipeline(), session_factory, batch_size=4)
    assert summary.received == 12 and summary.batches == 3
    assert (summary.new, summary.duplicates, summary.conflicts, summary.rejected) == (11, 0, 0, 1)
    assert summary.streams == {"adhoc": 4, "subscription": 3, "msp": 3}
    assert summary.exceptions == {"UNKNOWN_MSP": 1, "INVALID_CDR": 1}
    assert counts(session_factory) == (11, 11, 2, 1)
    with session_factory() as s:
        stored = s.execute(select(Cdr).where(Cdr.cdr_id == "CDR-0001")).scalar_one()
        assert stored.normalised_json["normalised"] is True and stored.source == "batch.json[1]"
    assert summary.to_json() == {"received": 12, "new": 11, "duplicate": 0, "conflict": 0, "rejected": 1,
                                 "streams": {"adhoc": 4, "msp": 3, "subscription": 3},
                                 "exceptions": {"INVALID_CDR": 1, "UNKNOWN_MSP": 1}}


def test_running_again_changes_nothing(session_factory):
    ingest(corpus(10), Pipeline(), session_factory, batch_size=4)
    before = counts(session_factory)
    again = ingest(corpus(10), Pipeline(), session_factory, batch_size=5)
    assert (again.received, again.duplicates, again.new, again.rejected) == (12, 12, 0, 0)
    assert again.streams == {} and again.exceptions == {}
    assert counts(session_factory) == before


def test_a_changed_resend_is_a_conflict(session_factory):
    ingest(corpus(3), Pipeline(), session_factory)
    summary = ingest([cdr(1, stream="subscription", total_energy=99)], Pipeline(), session_factory)
    assert summary.conflicts == 1 and summary.exceptions == {"DUPLICATE_ID_CONFLICT": 1}
    with session_factory() as s:
        assert json.loads(s.execute(select(Cdr.raw_json).where(Cdr.cdr_id == "CDR-0001")).scalar_one())[
            "total_energy"] == 11


def test_duplicates_inside_one_batch(session_factory):
    summary = ingest([cdr(1), cdr(1), cdr(1, total_energy=5)], Pipeline(), session_factory)
    assert (summary.new, summary.duplicates, summary.conflicts) == (1, 1, 1)


def test_a_crash_loses_at_most_the_batch_in_flight_and_a_rerun_resumes(session_factory):
    items = corpus(10)

    def crashing():
        for i, item in enumerate(items):
            if i == 7:
                raise RuntimeError("killed")
            yield item

    with pytest.raises(RuntimeError):
        ingest(crashing(), Pipeline(), session_factory, batch_size=3)
    assert counts(session_factory)[0] == 6  # two committed batches
    summary = ingest(items, Pipeline(), session_factory, batch_size=3)
    assert (summary.duplicates, summary.new, summary.rejected) == (6, 5, 1)
    assert counts(session_factory) == (11, 11, 2, 1)


def test_a_locked_database_is_retried(session_factory, monkeypatch):
    real = ingest_module._record_together
    failures = iter([True, False, False, False])

    def flaky(session, batch, policy):
        if next(failures, False):
            raise OperationalError("COMMIT", {}, Exception("database is locked"))
        return real(session, batch, policy)

    monkeypatch.setattr(ingest_module, "_record_together", flaky)
    summary = ingest(corpus(5), Pipeline(), session_factory, batch_size=100)
    assert summary.retries == 1 and summary.new == 6
    assert counts(session_factory)[0] == 6


def test_an_item_that_cannot_be_stored_is_kept_and_does_not_stop_the_rest(session_factory, monkeypatch):
    real = ingest_module.record_decisions

    def poisoned(session, entries, **kw):
        if any(decision.key and decision.cdr_id == "CDR-0002" for _, decision, _ in entries):
            raise DBAPIError("INSERT", {}, Exception("value too long for type character varying(16)"))
        return real(session, entries, **kw)

    monkeypatch.setattr(ingest_module, "record_decisions", poisoned)
    summary = ingest(corpus(5), Pipeline(), session_factory, batch_size=100)
    assert (summary.new, summary.rejected) == (5, 2)
    with session_factory() as s:
        reasons = [r[0]["code"] for r in s.execute(select(RejectedInput.reasons)).scalars()]
        assert "STORE_FAILED" in reasons
        assert s.execute(select(func.count()).select_from(Cdr)).scalar_one() == 5


def test_raw_text_prefers_what_the_reader_kept():
    class WithRaw:
        source, data, problems, raw = "x.json", {"id": "1"}, [], '{ "id" : "1" }'

    assert raw_text(WithRaw()) == '{ "id" : "1" }'
    assert raw_text(Item("x.json", {"b": 1.5, "a": "1"})) == '{"a":"1","b":1.5}'
    assert "x.json" in raw_text(Item("x.json", None, [Problem(code="c", message="m")]))


def test_the_normalised_cdr_comes_from_intake():
    from engine import intake

    sample = ROOT / "samples" / "cdrs" / "adhoc-de-berlin-ac-001.json"
    if not sample.exists():
        pytest.skip("sample corpus not present")
    [item] = list(intake.read_paths([str(sample)]))
    result = intake.accept(item.data, default_party=("DE", "VLT"))
    decision = Decision(cdr_id=result.key[2], config_version="cfg", key=result.key)

    class Bare:  # no normalise(): ingest asks intake itself
        default_party = ("DE", "VLT")

    normalised = normalised_cdr(Bare(), item, decision)
    assert normalised == result.cdr
    assert normalised_cdr(Bare(), item, Decision(cdr_id=None, config_version="c", errors=[{"code": "x"}])) is None


@pytest.mark.parametrize("order", ["same", "reversed"])
def test_two_ingesters_over_the_same_batch_store_everything_once(session_factory, order):
    items = [cdr(i, stream="adhoc") for i in range(120)]
    orders = [items, items if order == "same" else list(reversed(items))]
    summaries = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def work(batch: list[Item]) -> None:
        try:
            start.wait()
            summaries.append(ingest(batch, Pipeline(), session_factory, batch_size=25))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(o,)) for o in orders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(s.new for s in summaries) == 120
    assert sum(s.duplicates for s in summaries) == 120
    assert counts(session_factory) == (120, 120, 0, 0)
    with session_factory() as s:
        per_cdr = s.execute(select(DecisionRecord.cdr_pk, func.count()).where(DecisionRecord.is_current)
                            .group_by(DecisionRecord.cdr_pk)).all()
        assert len(per_cdr) == 120 and all(n == 1 for _, n in per_cdr)


def test_the_batch_prefetch_reads_lines_without_parsing_them_again():
    """decide_items hands ``sharing`` each item's lookup fields; a line read straight into Structs
    (intake/cdrline.py) gives them from its Structs, so its JSON is never parsed for them; and
    nothing at all is read when the source does not consume them (SQLite)."""
    import io

    from engine.intake import read_items

    sample = json.loads((Path(__file__).resolve().parents[2] / "samples" / "cdrs"
                         / "adhoc-de-berlin-ac-001.json").read_text())
    line = json.dumps(sample, separators=(",", ":"))
    items = list(read_items(io.BytesIO(f"{line}\n{json.dumps(sample)}\n".encode()), "x.jsonl"))
    assert items[0].cdr_line is not None and items[1].cdr_line is None
    seen: list[Any] = []

    class Source:
        def __init__(self, consume: bool) -> None:
            self.consume = consume

        def sharing(self, session, cdrs, own_parties=None):
            if self.consume:
                seen.extend(cdrs)
            return contextlib.nullcontext()

    class Pipeline:
        def __init__(self, source: Source) -> None:
            self.source = source

        def decide_item(self, item):
            return Decision(cdr_id=None, config_version="t", errors=[{"code": "x"}])

    parsed = []
    real_value = type(items[0].cdr_line).value
    try:
        type(items[0].cdr_line).value = lambda self: parsed.append(self) or real_value(self)
        ingest_module.decide_items(Pipeline(Source(consume=False)), items)
        assert seen == [] and parsed == []
        ingest_module.decide_items(Pipeline(Source(consume=True)), items)
    finally:
        type(items[0].cdr_line).value = real_value
    assert parsed == []
    keys = ("authorization_reference", "session_id")
    assert seen[0] == {"cdr_token": {k: sample["cdr_token"][k] for k in ("country_code", "party_id", "uid")},
                       **{k: sample[k] for k in keys if k in sample}}
    assert seen[1] is items[1].data  # (the usual route: the parsed JSON, as before)
