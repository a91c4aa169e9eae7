"""``cdrflow ingest``: decide CDRs and record them in the database - safe to run again.

Every input ends up stored exactly once: as a new CDR with its Decision, as a duplicate of one
already stored (nothing written), as a conflict (same id, different content: exception
queue), or rejected with its reasons. Re-running the same input reports only duplicates.
"""

from __future__ import annotations

import argparse
import json
import sys

from engine.commands._common import (
    EXIT_OK, EXIT_USAGE, add_backend_option, add_config_option, add_reference_option, load_config,
    load_source, make_classifier, progress,
)
from engine.commands.db import add_database_option, open_session_factory


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="decide CDRs and store them (idempotent)",
                       description="Run CDRs through the pipeline and record CDR, Decision and exceptions "
                                   "in the database. Re-running the same input changes nothing.")
    add_config_option(p)
    add_reference_option(p)
    add_backend_option(p)
    add_database_option(p)
    p.add_argument("--batch-size", type=int, default=500, metavar="N", help="CDRs per transaction (default: 500)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="summary format (default: text)")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="CDR files (JSON object, array, OCPI envelope or JSON Lines), directories, or - for stdin")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine import intake
    from engine.pipeline import Pipeline
    from engine.service.ingest import ingest

    if args.batch_size < 1:
        print("cdrflow ingest: --batch-size must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    bundle = load_config(args.config)
    source = load_source(args) if bundle else None
    if bundle is None or source is None:
        return EXIT_USAGE
    try:
        classifier = make_classifier(bundle, args.rules_backend)
    except (RuntimeError, ImportError, ValueError) as exc:  # durable not installed, unknown backend
        print(f"cdrflow: {exc}", file=sys.stderr)
        return EXIT_USAGE
    session_factory = open_session_factory(args.database_url)
    if session_factory is None:
        return EXIT_USAGE
    from engine.store.priced import StorePricing
    from engine.store.reference import preferred_source

    pipeline = Pipeline(bundle, preferred_source(session_factory, source), classifier=classifier,
                        priced=StorePricing(session_factory))
    from engine.streams.adhoc import issue_adhoc_documents

    try:
        summary = ingest(progress(intake.read_paths(args.inputs), desc="ingest"), pipeline, session_factory,
                         batch_size=args.batch_size)
        # Ad-hoc sessions are invoiced at once; the outbox hands the documents to the provider
        # (`cdrflow work`). Idempotent: a document already issued for a CDR is not issued again.
        adhoc = issue_adhoc_documents(session_factory, bundle)
    finally:
        session_factory.kw["bind"].dispose()
    if args.format == "json":
        print(json.dumps(dict(summary.to_json(), config_version=bundle.version,
                              adhoc_documents_issued=len(adhoc.issued))))
    else:
        print(render(summary, bundle.version))
        print(f"\nAd-hoc documents issued: {len(adhoc.issued)}")
    return EXIT_OK


def _table(title: str, counter, width: int) -> list[str]:
    lines = ["", title]
    rows = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    name_width = max([len(k) for k, _ in rows] + [12])
    lines += [f"  {name:<{name_width}}  {n:>{width}}" for name, n in rows] or ["  (none)"]
    return lines


def render(summary, config_version: str) -> str:
    """The text summary: outcome counts, then new CDRs per stream and exceptions per reason."""
    width = max(len(str(summary.received)), 3)
    lines = [f"cdrflow ingest — {summary.received} received (config {config_version})"]
    for label, n in (("new", summary.new), ("duplicates", summary.duplicates),
                     ("conflicts", summary.conflicts), ("rejected", summary.rejected)):
        lines.append(f"  {label:<12}{n:>{width}}")
    lines += _table("New per stream:", summary.streams, width)
    lines += _table("Exceptions opened, by reason:", summary.exceptions, width)
    return "\n".join(lines)
