"""``cdrflow demo``: the main job on the embedded default, over the sample corpus.

Runs every sample CDR through the pure pipeline and prints what a billing analyst wants to see
first: how many CDRs went to each stream, and why the rest are in the exception queue.
"""

from __future__ import annotations

import argparse
from collections import Counter
from decimal import Decimal
from pathlib import Path

from engine.commands._common import EXIT_OK, EXIT_USAGE, add_config_option, add_reference_option, load_config, load_source


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the main job over samples/ and print a summary")
    add_config_option(p)
    add_reference_option(p)
    p.add_argument("--corpus", metavar="PATH", default=None, help="CDRs to run (default: <config>/samples/cdrs)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine import intake
    from engine.pipeline import Pipeline

    bundle = load_config(args.config)
    source = load_source(args) if bundle else None
    if bundle is None or source is None:
        return EXIT_USAGE
    corpus = args.corpus or str(Path(args.config) / "samples" / "cdrs")
    pipeline = Pipeline(bundle, source, priced={})
    streams: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    totals: dict[str, Decimal] = {}
    count = 0
    for item in intake.read_paths([corpus]):
        decision = pipeline.decide_item(item)
        count += 1
        if decision.stream:
            streams[decision.stream] += 1
            total = ((decision.pricing or {}).get("total_cost") or {}).get("incl_vat")
            if total is not None:
                totals[decision.stream] = totals.get(decision.stream, Decimal(0)) + Decimal(str(total))
        else:
            reasons[decision.exception["reason"] if decision.exception else "UNKNOWN"] += 1

    print(f"cdrflow demo — {count} CDRs from {corpus}, config {bundle.version}")
    print("\nPer stream:")
    for stream in ("adhoc", "subscription", "msp"):
        amount = f"   gross {totals[stream]:.2f}" if stream in totals else ""
        print(f"  {stream:<14}{streams.get(stream, 0):>6}{amount}")
    print("\nExceptions by reason:")
    for reason, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {reason:<32}{n:>6}")
    if not reasons:
        print("  (none)")
    placed = sum(streams.values()) + sum(reasons.values())
    print(f"\n{placed} of {count} CDRs placed: {sum(streams.values())} in a stream, "
          f"{sum(reasons.values())} in the exception queue — none dropped.")
    return EXIT_OK
