"""``cdrflow work``'s item sync: the first round looks at every Decision, later ones only at new ones."""

from __future__ import annotations

from billing_helpers import SAMPLES, ingest_cdrs, ingest_samples, variant
from engine.commands.work import ItemSync
from engine.streams.billable import last_decision

MSP_FILES = sorted(p.name for p in SAMPLES.glob("msp-*.json"))


def test_later_rounds_build_only_what_was_decided_since(session_factory):
    ingest_samples(session_factory, names=MSP_FILES)
    sync = ItemSync()
    assert sync(session_factory) > 0
    with session_factory() as session:
        newest = last_decision(session)
    assert sync.since == max(0, newest - ItemSync.MARGIN)
    assert sync(session_factory) == 0
    ingest_cdrs(session_factory, [variant("msp-de-ldx-munich-dc-001.json", "VLT-BUILT-NEXT-ROUND")])
    assert sync(session_factory) == 1


def test_a_round_with_a_mark_past_a_decision_leaves_it_to_the_close(session_factory):
    ingest_samples(session_factory, names=MSP_FILES)
    sync = ItemSync()
    with session_factory() as session:
        sync.since = last_decision(session)     # as if these committed behind the mark
    assert sync(session_factory) == 0
    assert ItemSync()(session_factory) > 0      # a full look (what the close does) finds them
