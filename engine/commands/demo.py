"""``cdrflow demo``: the main job end to end on the embedded default, over the sample corpus.

1. a fresh SQLite database under ``var/demo/`` (the previous demo database is deleted), migrated;
2. the sample reference data loaded into it (``cdrflow load``'s loader when present, read back
   through the database FactSource; else the YAML files directly);
3. every sample CDR ingested (``engine.service.ingest``: decided by the pure pipeline, stored);
4. the ad-hoc documents issued at once (one per session, credit notes for credit CDRs);
5. the sample periods closed: subscription and MSP for 2026-09 and 2026-10, as of the 1st of the
   following month;
6. the outbox delivered to the embedded ``local`` billing provider (documents stored, issued/paid
   events handled, files rendered and archived, e-mails written as .eml files);
7. a summary: per stream the CDRs, documents and net/VAT/gross; exceptions by reason; and where the
   exported PDFs, CSVs and XMLs are (``var/demo/documents/``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.commands._common import EXIT_OK, EXIT_USAGE, add_config_option, add_reference_option, load_config, \
    reference_dir

STREAMS = ("adhoc", "subscription", "msp")
PERIODS = (("2026-09", date(2026, 10, 1)), ("2026-10", date(2026, 11, 1)))
DEFAULT_OUTPUT = "var/demo"
DB_NAME = "cdrflow-demo.db"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the main job over samples/ into a fresh demo database and print a summary",
                       description="Fresh SQLite database, sample reference data, ingest every sample CDR, issue "
                                   "ad-hoc documents, close the 2026-09 and 2026-10 periods, deliver the outbox to "
                                   "the local provider, export the documents.")
    add_config_option(p)
    add_reference_option(p)
    p.add_argument("--corpus", metavar="PATH", default=None, help="CDRs to run (default: <config>/samples/cdrs)")
    p.add_argument("--output", metavar="DIR", default=DEFAULT_OUTPUT,
                   help=f"where the demo database, documents and e-mails go (default: {DEFAULT_OUTPUT})")
    p.set_defaults(func=run)


def _fresh_database(output: Path) -> str:
    output.mkdir(parents=True, exist_ok=True)
    db = output / DB_NAME
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    for sub in ("documents", "mail"):
        shutil.rmtree(output / sub, ignore_errors=True)
    return f"sqlite:///{db}"


def _load_reference(args: argparse.Namespace, session_factory: Any) -> tuple[Any, str]:
    """The FactSource: the database one after loading the files with the DB loader, else YAML."""
    from engine.commands._common import load_source

    directory = reference_dir(args)
    try:
        from engine.commands.load import read_file
        from engine.store.reference import DbSource, store_records
    except ImportError:
        return load_source(args), f"{directory} (YAML, in memory)"
    if not directory.is_dir():
        return load_source(args), "none"
    stored = 0
    with session_factory() as session:
        for path in sorted(p for p in directory.iterdir() if p.suffix.lower() in (".yaml", ".yml", ".json")):
            parsed = read_file(path)
            if parsed.problems or parsed.kind is None:
                print(f"cdrflow demo: {path}: cannot be loaded", file=sys.stderr)
                return None, ""
            result = store_records(session, parsed.kind, parsed.records, file=parsed.path, locs=parsed.locs,
                                   source=parsed.path)
            if result.rejected:
                print(f"cdrflow demo: {path}: {result.rejected} record(s) rejected", file=sys.stderr)
                return None, ""
            stored += len(result.outcomes)
        session.commit()
    return DbSource(session_factory), f"{directory} ({stored} records loaded into the database)"


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def run(args: argparse.Namespace) -> int:
    from sqlalchemy import func, select

    from engine import intake
    from engine.mail import DirectoryMailer
    from engine.pipeline import Pipeline
    from engine.providers.local import LocalProvider
    from engine.service.ingest import ingest
    from engine.store import migrate
    from engine.store.db import make_session_factory
    from engine.store.exceptions import open_by_reason
    from engine.store.models import BillingDocument, Cdr, DecisionRecord
    from engine.streams import files as doc_files
    from engine.streams.adhoc import issue_adhoc_documents
    from engine.streams.close import close_period
    from engine.streams.worker import run_outbox

    bundle = load_config(args.config)
    if bundle is None:
        return EXIT_USAGE
    corpus = args.corpus or str(Path(args.config) / "samples" / "cdrs")
    output = Path(args.output)
    url = _fresh_database(output)
    migrate.upgrade(url)
    session_factory = make_session_factory(url)
    engine = session_factory.kw["bind"]
    try:
        source, reference_note = _load_reference(args, session_factory)
        if source is None:
            return EXIT_USAGE
        pipeline = Pipeline(bundle, source, priced={})
        summary = ingest(intake.read_paths([corpus]), pipeline, session_factory)
        adhoc = issue_adhoc_documents(session_factory, bundle)
        closes = [close_period(session_factory, bundle, stream, period, as_of=as_of, source=source)
                  for stream in ("subscription", "msp") for period, as_of in PERIODS]
        sender = str(bundle.operator.get("email") or "billing@localhost")
        delivery = run_outbox(session_factory, LocalProvider(), worker_id="demo", limit=200,
                              mailer=DirectoryMailer(output / "mail", sender=sender))

        with session_factory() as session:
            cdrs = Counter(dict(session.execute(select(DecisionRecord.stream, func.count())
                                                .where(DecisionRecord.is_current, DecisionRecord.stream.is_not(None))
                                                .group_by(DecisionRecord.stream)).all()))
            billed = Counter(dict(session.execute(select(DecisionRecord.stream, func.count())
                                                  .join(Cdr, Cdr.id == DecisionRecord.cdr_pk)
                                                  .where(DecisionRecord.is_current, Cdr.state == "billed")
                                                  .group_by(DecisionRecord.stream)).all()))
            documents: dict[str, list[Any]] = {s: [] for s in STREAMS}
            for row in session.execute(select(BillingDocument).order_by(BillingDocument.id)).scalars():
                documents.setdefault(row.stream, []).append(row)
            reasons = open_by_reason(session)
            exported = _export(session, documents, output / "documents", doc_files)
    finally:
        engine.dispose()

    received = summary.received
    print(f"cdrflow demo — {received} CDRs from {corpus}, config {bundle.version}")
    print(f"database {url} (fresh); reference data {reference_note}")
    print("\nPer stream:")
    print(f"  {'stream':<14}{'CDRs':>6}{'documents':>11}{'net':>12}{'VAT':>10}{'gross':>12}")
    grand = [Decimal("0.00")] * 3
    for stream in STREAMS:
        rows = documents.get(stream, [])
        net = sum((r.net_amount for r in rows), Decimal("0.00"))
        vat = sum((r.vat_amount for r in rows), Decimal("0.00"))
        gross = sum((r.gross_amount for r in rows), Decimal("0.00"))
        grand = [grand[0] + net, grand[1] + vat, grand[2] + gross]
        print(f"  {stream:<14}{cdrs.get(stream, 0):>6}{len(rows):>11}{_money(net):>12}{_money(vat):>10}"
              f"{_money(gross):>12}")
    print(f"  {'total':<14}{sum(cdrs.values()):>6}{sum(len(v) for v in documents.values()):>11}"
          f"{_money(grand[0]):>12}{_money(grand[1]):>10}{_money(grand[2]):>12}")
    print("\nExceptions by reason:")
    for reason, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {reason:<32}{n:>6}")
    if not reasons:
        print("  (none)")

    print("\nDocuments:")
    credit_notes = sum(1 for rows in documents.values() for r in rows if r.doc_type == "credit_note")
    print(f"  ad hoc: {len(adhoc.issued)} issued at once ({credit_notes} credit note(s))")
    for result in closes:
        net, vat, gross = result.totals
        state = result.outcome.replace("_", " ")
        print(f"  {result.stream} {result.period_key}: {state}, {len(result.documents)} document(s), "
              f"{result.assigned} session(s), gross {_money(gross)}")
    paid = delivery.events.by_type.get("paid", 0)
    print(f"  provider local: {delivery.delivered.get('provider.issue', 0)} delivered, {paid} paid by PSP; "
          f"{delivery.delivered.get('email', 0)} e-mail(s) written to {output / 'mail'}/")
    if delivery.errors:
        print(f"  outbox: {len(delivery.errors)} failed attempt(s), first: {delivery.errors[0]}")
    counts = Counter(kind for files in exported.values() for kind in files)
    where = output / "documents"
    if counts:
        listed = ", ".join(f"{counts[k]} {k.upper()}" for k in doc_files.KINDS if counts.get(k))
        print(f"  files: {listed} in {where}/")
        examples = [f"{where / (number + '.' + kind)}" for number, kinds in list(exported.items())
                    for kind in kinds if kind == "pdf"][:1]
        msp_example = next((f"{where / (r.number + '.xml')}" for r in documents.get("msp", [])
                            if "xml" in exported.get(r.number, ())), None)
        print("  open e.g. " + ", ".join(filter(None, examples + [msp_example])))
    else:
        print("  files: none exported (no renderer installed: engine.documents.render)")

    in_stream = sum(cdrs.values())
    waiting = in_stream - sum(billed.values())
    placed = in_stream + sum(reasons.values())
    print(f"\n{placed} of {received} CDRs placed: {in_stream} in a stream ({sum(billed.values())} billed, "
          f"{waiting} waiting in open periods), {sum(reasons.values())} in the exception queue — none dropped.")
    return EXIT_OK


def _export(session: Any, documents: dict[str, list[Any]], directory: Path, doc_files: Any) -> dict[str, list[str]]:
    """Write every document's files to ``directory``; {number: [kinds written]}."""
    directory.mkdir(parents=True, exist_ok=True)
    out: dict[str, list[str]] = {}
    for rows in documents.values():
        for row in rows:
            files = doc_files.document_files(session, row.number)
            for kind, data in files.items():
                (directory / f"{row.number}.{kind}").write_bytes(data)
            out[row.number] = sorted(files)
    return out
