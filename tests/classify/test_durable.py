"""The durable_rules backend's guards, each fault first reproduced against raw durable_rules and
then shown handled by ``DurableClassifier``; the encodings it relies on; backend selection.

Tests that need durable_rules carry ``pytest.mark.durable`` and the ``durable`` fixture, which
skips them when durable_rules is not installed (it does not install on Python >= 3.13). The
encoding and backend-selection tests run everywhere.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classifykit import one_rule, outcome, ruleset
from engine.classify import durable as durable_mod
from engine.classify.backends import ENV_VAR, UnknownBackend, make_classifier, selected_backend
from engine.classify.durable import (
    DurableBackendError, DurableClassifier, DurableUnavailable, encode_instant, encode_number, encode_text,
    truncation_is_exact, _prefix_ranges,
)
from engine.classify.evaluate import Classifier, compare

UTC = timezone.utc


@pytest.fixture
def durable():
    """durable_rules' engine module and its C extension; skips when durable_rules is not installed."""
    engine = pytest.importorskip("durable.engine", reason="durable_rules is not installed (pip install '.[durable]')")
    dre = pytest.importorskip("durable_rules_engine")
    return SimpleNamespace(engine=engine, dre=dre)


_raw_names = iter(range(1, 1_000_000))


def raw_ruleset(dre, definition: dict) -> int:
    """A ruleset registered directly with durable's C engine (no Python host, no timers)."""
    return dre.create_ruleset(f"raw_test_{next(_raw_names)}", json.dumps(definition))


def raw_post(dre, handle: int, event: dict | str) -> list[tuple[str, dict]] | None:
    """Post one event; the actions durable queued, in its order (None: durable did not handle it)."""
    code, state = dre.assert_event(handle, event if isinstance(event, str) else json.dumps(event))
    if code == 1:
        return None
    fired = []
    result = dre.start_action_for_state(handle, state)
    messages = result[1] if result else None
    while messages:
        for rule, frame in json.loads(messages).items():
            fired.append((rule, frame["m"]))
        messages = dre.complete_and_start_action(handle, state)
    return fired


def both(rules, fallback, cdr, facts=None):
    facts = facts or {}
    return (outcome(Classifier(rules, fallback).classify(cdr, facts)),
            outcome(DurableClassifier(rules, fallback).classify(cdr, facts)))


# =============================================================================== guard 1: timers

TIMER_REPRO = textwrap.dedent("""\
    import json, threading, time
    from durable import engine
    host = engine.Host()  # durable's own host: starts its dispatch timers
    fired = []
    def action(c):
        fired.append((threading.current_thread().name, c.m.sid))
    host.register_rulesets({"batch": {"r_0": {"all": [{"m": {"$lt": {"a": 5}}}], "run": action}}})
    host.post_batch("batch", [{"sid": s, "id": s, "a": 1} for s in ("1", "2", "3")])
    synchronous = list(fired)
    deadline = time.time() + 10
    while len(fired) < 3 and time.time() < deadline:
        time.sleep(0.05)
    print(json.dumps({"caller": threading.current_thread().name, "synchronous": synchronous, "all": fired}))
    """)


@pytest.mark.durable
def test_raw_durable_runs_actions_later_on_its_timer_thread(durable):
    """Fault: with durable's Host, actions not claimed by the poster run later on a timer thread."""
    run = subprocess.run([sys.executable, "-c", TIMER_REPRO], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert len(seen["synchronous"]) == 1                 # post_batch returned after ONE action...
    assert len(seen["all"]) == 3                         # ...the others arrived afterwards...
    late = seen["all"][1:]
    assert all(thread != seen["caller"] for thread, _ in late)   # ...on durable's timer threads


@pytest.mark.durable
def test_classifier_starts_no_thread_and_answers_synchronously(durable):
    rules, fallback = one_rule("{path: cdr.kind, eq: A}")
    before = set(threading.enumerate())
    classifier = DurableClassifier(rules, fallback)
    results = [classifier.classify({"kind": k}, {}).rule_ref()["id"] for k in ("A", "B") * 50]
    time.sleep(0.3)  # durable's dispatch timer would have fired by now
    assert not set(threading.enumerate()) - before   # no thread was started
    assert results == ["r", "fallback"] * 50
    host = durable_mod._get_host()
    assert not hasattr(host, "_d_timer") and not hasattr(host, "_t_timer")  # durable's loops never started
    ruleset_actions = classifier._ruleset._ruleset._actions
    assert {a._func for a in ruleset_actions.values()} == {durable_mod._action_must_not_run}


@pytest.mark.durable
def test_concurrent_classification_gives_the_serial_answers(durable):
    """Many threads share one durable ruleset: each still gets the action of its own event."""
    rules, fallback = ruleset("""\
        kind: classification
        rules:
          - {id: a, priority: 3, when: {path: cdr.n, lt: 10}, stream: adhoc}
          - {id: b, priority: 2, when: {path: cdr.n, lt: 20}, stream: msp}
          - {id: c, priority: 1, when: {path: cdr.n, missing: true}, stream: subscription}
        fallback: {reason: NONE}
        """)
    cdrs = [{"n": Decimal(i)} if i % 7 else {} for i in range(40)]
    expected = [outcome(Classifier(rules, fallback).classify(c, {})) for c in cdrs]
    classifier = DurableClassifier(rules, fallback)
    failures: list = []

    def worker():
        for _ in range(15):
            got = [outcome(classifier.classify(c, {})) for c in cdrs]
            if got != expected:
                failures.append(got)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


# =============================================================================== guard 2: lexical

LEXICAL_CASES = [
    # (raw durable condition, raw event JSON) -- durable matches; (op, constant, CDR value) -- compare() does not
    ({"$lt": {"v": "9"}}, '{"id": 1, "v": 10}', "lt", "9", Decimal(10)),          # number vs string: "10" < "9"
    ({"$lt": {"v": 9}}, '{"id": 1, "v": "10"}', "lt", 9, "10"),                    # string vs number
    ({"v": 1}, '{"id": 1, "v": true}', "eq", 1, True),                             # true == 1
    ({"v": True}, '{"id": 1, "v": 1}', "eq", True, 1),
    ({"v": 1}, '{"id": 1, "v": "1"}', "eq", 1, "1"),                               # "1" == 1
    ({"v": 0.1}, '{"id": 1, "v": 0.10000000000000000000001}', "eq", Decimal("0.1"),
     Decimal("0.10000000000000000000001")),                                        # digits lost in a double
    ({"$lt": {"v": "b"}}, '{"id": 1, "v": "\\u00e9"}', "lt", "b", "é"),          # raw JSON text compared
]


@pytest.mark.durable
@pytest.mark.parametrize("raw_when,raw_event,op,constant,value", LEXICAL_CASES)
def test_raw_durable_compares_lexically_but_the_classifier_does_not(durable, raw_when, raw_event, op, constant, value):
    """Whatever durable's own engine answers (see the next test), the classifier does not match."""
    assert compare(op, value, constant) is False
    from engine.classify.rules import Cmp, Fallback, Rule
    rules = [Rule("r", 1, Cmp("cdr.v", op, constant), "adhoc", None, "", "t.yaml", 1, 0)]
    python, durable_answer = both(rules, Fallback("NO_MATCH", "", "t.yaml", 0), {"v": value})
    assert durable_answer == python
    assert python[0] == "fallback"


@pytest.mark.durable
def test_raw_durable_engine_shows_the_lexical_fault(durable):
    """durable's C engine matches these events (the fault the guard exists for). Whether it matches
    ``"1"`` against ``1`` depends on what the process registered before (it does not as the first
    ruleset of a process, it does later), so the fault is asserted for the cases together."""
    matched = [bool(raw_post(durable.dre, raw_ruleset(durable.dre, {"r_0": {"all": [{"m": raw_when}]}}), raw_event))
               for raw_when, raw_event, *_ in LEXICAL_CASES]
    assert sum(matched) >= len(LEXICAL_CASES) - 1, matched


@pytest.mark.durable
@pytest.mark.parametrize("value,op,constant", [
    ("10", "lt", "9"), ("10", "gt", 9), ("10", "lt", 9), (Decimal(10), "lt", "9"), (Decimal(10), "gt", 9),
    (True, "eq", 1), (1, "eq", True), ("1", "eq", 1), (Decimal("1.000"), "eq", 1), (Decimal("-0"), "eq", 0),
    (Decimal("0.1000000000000000000000000001"), "gt", Decimal("0.1")),
    (Decimal("-0.1000000000000000000000000001"), "lt", Decimal("-0.1")),
    (Decimal("1E+400"), "gt", Decimal("9.99E+399")), (10**40 + 1, "gt", 10**40), (-(10**40), "lt", -(10**39)),
    (Decimal("Infinity"), "gt", Decimal("1E+400")), (Decimal("-Infinity"), "lt", Decimal("-1E+400")),
    ("é", "gt", "z"), ("\U0001F600", "gt", "\uffff"), ("a\x00b", "gt", "a\x00a"), ("B", "lt", "a"),
    (datetime(2026, 9, 1, 1, 0, tzinfo=timezone(timedelta(hours=2))), "lt", "2026-09-01"),
    (datetime(2026, 9, 1, 0, 0, tzinfo=UTC), "eq", "2026-09-01T02:00:00+02:00"),
    (date(2026, 9, 1), "eq", "2026-09-01"), (date(2026, 9, 1), "lt", "2026-09-01T00:00:01Z"),
    ("2026-09-01", "lt", "2026-09-01T00:00:00Z"),
])
@pytest.mark.parametrize("negated", [False, True])
def test_classifier_compares_like_compare(durable, value, op, constant, negated):
    from engine.classify.rules import Cmp, Fallback, Not, Rule
    cmp = Cmp("cdr.v", op, constant)
    rule = Rule("r", 1, Not(cmp) if negated else cmp, "adhoc", None, "", "t.yaml", 1, 0)
    rules, fallback = [rule], Fallback("NO_MATCH", "", "t.yaml", 0)
    python, durable_answer = both(rules, fallback, {"v": value})
    assert durable_answer == python
    assert (python[0] == "r") is (compare(op, value, constant) is not negated)


# =============================================================================== guard 3: unmatched

@pytest.mark.durable
def test_raw_durable_raises_for_an_unmatched_event(durable):
    class QuietHost(durable.engine.Host):
        def _run(self):
            pass

    host = QuietHost()
    host.register_rulesets({"unmatched": {"r_0": {"all": [{"m": {"kind": "A"}}], "run": lambda c: None}}})
    with pytest.raises(durable.engine.MessageNotHandledException):
        host.post("unmatched", {"id": 1, "kind": "B"})


@pytest.mark.durable
def test_unmatched_event_gives_the_fallback(durable):
    rules, fallback = one_rule("{path: cdr.kind, eq: A}", fallback="NOTHING_MATCHED")
    classifier = DurableClassifier(rules, fallback)
    match = classifier.classify({"kind": "B"}, {})
    assert match.rule is fallback and match.exception == {"reason": "NOTHING_MATCHED", "description": ""}
    assert classifier.classify({}, {}).rule is fallback
    assert classifier.classify({"kind": "A"}, {}).rule is rules[0]   # the ruleset still works after


@pytest.mark.durable
def test_only_not_handled_becomes_the_fallback(durable, monkeypatch):
    rules, fallback = one_rule("{path: cdr.kind, eq: A}")
    classifier = DurableClassifier(rules, fallback)
    raw = classifier._ruleset._ruleset

    def broken(event):
        raise RuntimeError("durable exploded")

    monkeypatch.setattr(raw, "assert_event", broken)
    with pytest.raises(RuntimeError, match="durable exploded"):
        classifier.classify({"kind": "B"}, {})


@pytest.mark.durable
def test_durable_evaluation_errors_are_raised_not_a_fallback(durable):
    """durable fails (error 303) when more than 64 conditions match one event: an error, never a decision."""
    rules, fallback = ruleset("kind: classification\nrules:\n" + "".join(
        f"  - {{id: r{i}, priority: {i}, when: {{path: cdr.f{i}, exists: true}}, stream: adhoc}}\n" for i in range(70)
    ) + "fallback: {reason: NONE}\n")
    classifier = DurableClassifier(rules, fallback)
    assert classifier.classify({"f3": 1}, {}).rule_ref()["id"] == "r3"
    with pytest.raises(DurableBackendError, match="64"):
        classifier.classify({f"f{i}": 1 for i in range(70)}, {})
    assert classifier.classify({"f5": 1, "f9": 1}, {}).rule_ref()["id"] == "r9"  # not left locked


# =============================================================================== guard 4: names

@pytest.mark.durable
def test_raw_durable_ruleset_names_cannot_be_registered_twice(durable):
    class QuietHost(durable.engine.Host):
        def _run(self):
            pass

    def definition():  # durable consumes the "run" entries of what it registers
        return {"r_0": {"all": [{"m": {"kind": "A"}}], "run": lambda c: None}}

    host = QuietHost()
    host.register_rulesets({"classification": definition()})
    with pytest.raises(Exception, match="already registered"):
        host.register_rulesets({"classification": definition()})


@pytest.mark.durable
def test_same_rules_reuse_one_ruleset_and_different_rules_get_their_own(durable):
    rules_a, fallback = one_rule("{path: cdr.kind, eq: A}")
    rules_b, _ = one_rule("{path: cdr.kind, eq: B}")
    first, second = DurableClassifier(rules_a, fallback), DurableClassifier(rules_a, fallback)
    other = DurableClassifier(rules_b, fallback)
    assert first.ruleset_name == second.ruleset_name
    assert first._ruleset is second._ruleset
    assert other.ruleset_name != first.ruleset_name
    for c in (first, other):
        assert c.ruleset_name.startswith("cdrflow_")
        digest, counter = c.ruleset_name.split("_")[1:]
        assert len(digest) == 16 and counter.isdigit()
    assert second.classify({"kind": "A"}, {}).rule is rules_a[0]
    assert other.classify({"kind": "B"}, {}).rule is rules_b[0]


@pytest.mark.durable
def test_make_classifier_twice_for_one_bundle_registers_once(durable):
    rules, fallback = one_rule("{path: cdr.kind, in: [X, Y]}")
    bundle = SimpleNamespace(rules=tuple(rules), fallback=fallback, classifier=Classifier(rules, fallback))
    before = len(durable_mod._compiled)
    one, two = make_classifier(bundle, "durable"), make_classifier(bundle, "durable")
    assert one.backend == two.backend == "durable"
    assert one.ruleset_name == two.ruleset_name
    assert len(durable_mod._compiled) <= before + 1


@pytest.mark.durable
def test_many_rule_sets_coexist(durable):
    classifiers = [DurableClassifier(*one_rule(f"{{path: cdr.n, eq: {i}}}")) for i in range(40)]
    assert len({c.ruleset_name for c in classifiers}) == 40
    assert [c.classify({"n": Decimal(i)}, {}).rule_ref()["id"] for i, c in enumerate(classifiers)] == ["r"] * 40


# =============================================================================== guard 5: state fact

@pytest.mark.durable
def test_raw_durable_fires_absence_rules_for_its_own_state(durable):
    """Fault: on a fresh ruleset durable's state object is matched too -- ahead of the event's rule."""
    handle = raw_ruleset(durable.dre, {"r_0": {"all": [{"m": {"$nex": {"a": 1}}}], "pri": 0},
                                       "r_1": {"all": [{"m": {"b": 1}}], "pri": 1}})
    fired = raw_post(durable.dre, handle, {"id": "e1", "a": 1, "b": 1})
    assert fired[0][0] == "r_0" and "$s" in fired[0][1]       # a rule the event does not satisfy
    assert fired[1] == ("r_1", {"id": "e1", "a": 1, "b": 1})


@pytest.mark.durable
def test_absence_rules_fire_only_for_our_event(durable):
    rules, fallback = ruleset("""\
        kind: classification
        rules:
          - {id: no-a, priority: 2, when: {path: cdr.a, missing: true}, stream: adhoc}
          - {id: b, priority: 1, when: {path: cdr.b, eq: 1}, stream: msp}
        fallback: {reason: NONE}
        """)
    classifier = DurableClassifier(rules, fallback)  # a new ruleset: its state does not exist yet
    assert classifier.classify({"a": 1, "b": 1}, {}).rule_ref()["id"] == "b"
    assert classifier.classify({"b": 1}, {}).rule_ref()["id"] == "no-a"


# =============================================================================== guard 6: limits

HANG_REPRO = textwrap.dedent("""\
    import json, durable_rules_engine
    rules = {f"r_{i}": {"all": [{"m": {"$lt": {f"a{i}": 5}}}]} for i in range(600)}
    durable_rules_engine.create_ruleset("wide", json.dumps(rules))
    print("returned")
    """)


@pytest.mark.durable
def test_raw_durable_hangs_on_a_wide_network(durable):
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run([sys.executable, "-c", HANG_REPRO], capture_output=True, timeout=4)


@pytest.mark.durable
def test_too_wide_rule_set_is_refused_before_durable_sees_it(durable):
    values = ", ".join(f"v{j}" for j in range(8))
    rules, fallback = ruleset("kind: classification\nrules:\n" + "".join(
        f"  - {{id: r{i}, priority: {i}, when: {{path: cdr.f{i}, in: [{values}]}}, stream: adhoc}}\n"
        for i in range(70)) + "fallback: {reason: NONE}\n")
    started = time.monotonic()
    with pytest.raises(DurableBackendError, match="alternatives"):
        DurableClassifier(rules, fallback)
    assert time.monotonic() - started < 5


@pytest.mark.durable
def test_too_deep_condition_is_refused(durable):
    when = "{path: cdr.x, eq: 1}"
    for level in range(20):
        kind = "any" if level % 2 else "all"
        when = f"{{{kind}: [{when}, {{path: cdr.y{level}, eq: 1}}]}}"
    handle_error = None
    try:
        raw_ruleset(durable.dre, {"r_0": {"all": [{"m": _nested_raw(20)}]}})
    except durable.dre.error as exc:
        handle_error = str(exc)
    assert handle_error and handle_error.endswith("113")
    rules, fallback = one_rule(when)
    with pytest.raises(DurableBackendError, match="nests too deeply"):
        DurableClassifier(rules, fallback)


def _nested_raw(levels: int) -> dict:
    node: dict = {"x": 1}
    for level in range(levels):
        node = {"$or" if level % 2 else "$and": [node, {f"y{level}": 1}]}
    return node


@pytest.mark.durable
def test_negations_stay_linear(durable):
    """not_in over many dates would be 2**(3n) conjunctions by De Morgan; the translation keeps it small."""
    days = ", ".join(f"'2026-12-{d:02d}'" for d in range(1, 25))
    rules, fallback = one_rule(f"{{path: facts.day, not_in: [{days}]}}")
    classifier = DurableClassifier(rules, fallback)
    assert classifier.terms <= 5
    for value in ["2026-12-24", "2026-12-25", date(2026, 12, 3), date(2027, 1, 1), None, 5]:
        assert outcome(classifier.classify({}, {"day": value})) == \
            outcome(Classifier(rules, fallback).classify({}, {"day": value}))


# =============================================================================== availability

def test_unavailable_durable_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "durable_rules_engine", None)
    monkeypatch.setitem(sys.modules, "durable", None)
    monkeypatch.setitem(sys.modules, "durable.engine", None)
    rules, fallback = one_rule("{path: cdr.kind, eq: A}")
    bundle = SimpleNamespace(rules=tuple(rules), fallback=fallback, classifier=Classifier(rules, fallback))
    with pytest.raises(DurableUnavailable) as info:
        make_classifier(bundle, "durable")
    assert "pip install '.[durable]'" in str(info.value)
    assert isinstance(info.value, ImportError)
    assert make_classifier(bundle, "python") is bundle.classifier  # the default still works


def test_backend_selection(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert selected_backend() == "python"
    assert selected_backend("durable") == "durable"
    assert selected_backend(None, {ENV_VAR: "durable"}) == "durable"
    assert selected_backend("python", {ENV_VAR: "durable"}) == "python"    # the CLI option wins
    assert selected_backend(None, {ENV_VAR: " Durable "}) == "durable"
    monkeypatch.setenv(ENV_VAR, "durable")
    assert selected_backend() == "durable"
    with pytest.raises(UnknownBackend, match="python, durable"):
        selected_backend("drools")
    with pytest.raises(UnknownBackend, match=ENV_VAR):
        selected_backend(None, {ENV_VAR: "rete"})


def test_make_classifier_python_is_the_bundle_classifier(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    rules, fallback = one_rule("{path: cdr.kind, eq: A}")
    bundle = SimpleNamespace(rules=tuple(rules), fallback=fallback, classifier=Classifier(rules, fallback))
    assert make_classifier(bundle) is bundle.classifier
    assert make_classifier(bundle, "python") is bundle.classifier


@pytest.mark.durable
def test_make_classifier_reads_the_environment(durable, monkeypatch):
    monkeypatch.setenv(ENV_VAR, "durable")
    rules, fallback = one_rule("{path: cdr.kind, eq: A}")
    bundle = SimpleNamespace(rules=tuple(rules), fallback=fallback, classifier=Classifier(rules, fallback))
    classifier = make_classifier(bundle)
    assert classifier.backend == "durable"
    assert classifier.classify({"kind": "A"}, {}) == bundle.classifier.classify({"kind": "A"}, {})


# =============================================================================== field names

def _fnv1a32(name: str) -> int:
    value = 2166136261
    for byte in name.encode():
        value = ((value ^ byte) * 16777619) & 0xFFFFFFFF
    return value


def test_event_field_names_never_share_durables_property_hash():
    """durable finds an event property by the 32-bit FNV-1a hash of its name alone (its source says
    ``HASH_I 1622948014 //$i``); two of our field names with one hash would read the wrong value.
    Every name an event can carry (indexes are bounded by MAX_EVENT_FIELDS) has its own hash."""
    assert _fnv1a32("$i") == 1622948014
    names = [f"{tag}{i}" for tag in "snbtdxr" for i in range(durable_mod.MAX_EVENT_FIELDS)]
    names += ["id", "sid", "$s", durable_mod.MARKER]
    assert len({_fnv1a32(n) for n in names}) == len(names)


# =============================================================================== encodings

_NUMBERS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.decimals(allow_nan=False, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False, places=30, min_value=-10, max_value=10),
    st.builds(lambda d, e: Decimal(d).scaleb(e), st.integers(-(10**25), 10**25), st.integers(-500, 500)),
)


@settings(max_examples=2000, deadline=None)
@given(a=_NUMBERS, b=_NUMBERS)
def test_number_encoding_is_exact_and_ordered(a, b):
    ea, eb = encode_number(a), encode_number(b)
    assert (ea < eb) == (Decimal(a) < Decimal(b))
    assert (ea == eb) == (Decimal(a) == Decimal(b))
    assert ea.isascii() and "\0" not in ea


def test_number_encoding_edge_cases():
    assert encode_number(Decimal("1")) == encode_number(Decimal("1.000")) == encode_number(1)
    assert encode_number(Decimal("-0")) == encode_number(0) == "2"
    assert encode_number(Decimal("NaN")) is None
    assert encode_number(Decimal("-Infinity")) < encode_number(-(10**100)) < encode_number(Decimal("-1E-100"))
    assert encode_number(Decimal("1E-100")) < encode_number(10**100) < encode_number(Decimal("Infinity"))


@settings(max_examples=2000, deadline=None)
@given(a=st.text(), b=st.text())
def test_text_encoding_is_ordered(a, b):
    ea, eb = encode_text(a), encode_text(b)
    assert (ea < eb) == (a < b) and (ea == eb) == (a == b)
    assert set(ea) <= set("0123456789abcdef")


def test_text_encoding_keeps_lone_surrogates_in_order():
    values = sorted(["\ud7ff", "\ud800", "\udfff", "\ue000", "\U0001f600", "z", ""])
    assert sorted(values, key=encode_text) == values


_OFFSETS = st.builds(lambda m: timezone(timedelta(minutes=m)), st.integers(-23 * 60, 23 * 60))


@settings(max_examples=1000, deadline=None)
@given(a=st.datetimes(timezones=_OFFSETS), b=st.datetimes(timezones=_OFFSETS))
def test_instant_encoding_is_ordered(a, b):
    ea, eb = encode_instant(a), encode_instant(b)
    assert (ea < eb) == (a < b) and (ea == eb) == (a == b)


def test_naive_datetimes_have_no_instant():
    assert encode_instant(datetime(2026, 1, 1)) is None


@settings(max_examples=2000, deadline=None)
@given(value=st.text(alphabet="0123456789abcdef~", max_size=12),
       constant=st.text(alphabet="0123456789abcdef~", max_size=6), extra=st.integers(1, 4))
def test_truncation_keeps_every_comparison(value, constant, extra):
    assert truncation_is_exact(value, constant, len(constant) + extra)


@settings(max_examples=2000, deadline=None)
@given(value=st.text(max_size=8), prefixes=st.lists(st.text(max_size=3), min_size=1, max_size=4))
def test_prefix_ranges_are_startswith(value, prefixes):
    encoded = encode_text(value)
    ranges = _prefix_ranges(tuple(prefixes))
    assert any(low <= encoded < high for low, high in ranges) == value.startswith(tuple(prefixes))
    assert all(h1 < l2 for (_, h1), (l2, _) in zip(ranges, ranges[1:]))   # disjoint, sorted
