"""``cdrflow archive verify``: prove that no archived document, file or chain link changed.

Recomputes every file hash, compares every archived document with its row in the database,
recomputes every content hash and checks every link of the hash chain per number range.
Prints ``archive OK: N documents in M chains`` (exit 0) or one ``NUMBER: what changed`` line
per finding (exit 1). ``--heads`` also prints the newest link of every chain: keep that output
outside the database to detect a chain that was rewritten as a whole.
"""

from __future__ import annotations

import argparse
import sys

from engine.commands._common import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from engine.commands.db import add_database_option, open_session_factory


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("archive", help="verify the write-once document archive",
                       description="Work with the write-once, hash-chained document archive.")
    actions = p.add_subparsers(dest="archive_action", required=True, metavar="ACTION")
    check = actions.add_parser("verify", help="recompute every hash and chain link; report what changed",
                               description="Recompute every file hash, document snapshot and chain link of the "
                                           "archive. Exit 0 when intact, 1 with findings.")
    check.add_argument("--heads", action="store_true",
                       help="also print the newest link (number and content hash) of every chain")
    add_database_option(check)
    check.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    from engine.documents.archive import verify_report

    factory = open_session_factory(args.database_url)
    if factory is None:
        return EXIT_USAGE
    try:
        with factory() as session:
            report = verify_report(session)
            session.rollback()
    finally:
        factory.kw["bind"].dispose()
    if report.problems:
        for problem in report.problems:
            print(f"{problem.path}: {problem.message}")
        print(f"archive verify: {len(report.problems)} finding(s) in {report.documents} documents", file=sys.stderr)
        return EXIT_FINDINGS
    print(f"archive OK: {report.documents} documents in {report.chains} chains")
    if args.heads:
        for range_key, (number, digest) in sorted(report.heads.items()):
            print(f"{range_key} {number} {digest}")
    return EXIT_OK
