"""``cdrflow dry-run``: what would happen to these CDRs under this configuration - no side effects."""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from engine.commands._common import (
    EXIT_OK, EXIT_USAGE, add_backend_option, add_config_option, add_reference_option, load_config,
    load_source, make_classifier, progress,
)
from engine.commands._originals import SpilledPricing
from engine.decision import Decision
from engine.jsonable import dumps


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dry-run", help="classify, price and map CDRs without side effects",
                       description="Print one Decision per CDR (JSON Lines by default). Touches nothing.")
    add_config_option(p)
    add_reference_option(p)
    add_backend_option(p)
    p.add_argument("--format", choices=("json", "text"), default="json", help="output format (default: json)")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="CDR files (JSON object, array, OCPI envelope or JSON Lines), directories, or - for stdin")
    p.set_defaults(func=run)


def text_line(d: Decision) -> str:
    outcome = d.stream or f"EXCEPTION {d.exception['reason'] if d.exception else '?'}"
    rule = f"{d.rule['id']} ({d.rule['file']}:{d.rule['line']})" if d.rule else "-"
    total = ""
    if d.pricing and d.pricing.get("total_cost"):
        total = f"  {d.pricing['total_cost'].get('incl_vat') or d.pricing['total_cost'].get('excl_vat')}"
    detail = ""
    if d.errors:
        first = d.errors[0]
        detail = f"  [{first['code']} at {first['path'] or '<root>'}: {first['message']}]"
    return f"{d.cdr_id or d.source or '?':<40} {outcome:<28} {rule}{total}{detail}"


def run(args: argparse.Namespace) -> int:
    from engine import intake
    from engine.pipeline import Pipeline

    bundle = load_config(args.config)
    source = load_source(args) if bundle else None
    if bundle is None or source is None:
        return EXIT_USAGE
    classifier = make_classifier(bundle, args.rules_backend)
    if classifier is None:
        return EXIT_USAGE
    pipeline = Pipeline(bundle, source, classifier=classifier, priced=SpilledPricing())
    outcomes: Counter[str] = Counter()
    out = sys.stdout
    for item in progress(intake.read_paths(args.inputs), desc="dry-run"):
        decision = pipeline.decide_item(item)
        outcomes[decision.outcome] += 1
        if args.format == "json":
            out.write(dumps(decision.to_json()) + "\n")
        else:
            out.write(text_line(decision) + "\n")
    if args.format == "text":
        total = sum(outcomes.values())
        parts = ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()))
        out.write(f"\n{total} CDRs — {parts} (config {bundle.version})\n")
    return EXIT_OK
