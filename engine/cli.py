"""The ``cdrflow`` command line: one module per command under ``engine/commands``.

Exit codes are a contract: 0 success/clean, 1 findings or failures, 2 usage error (argparse's
own exit code for bad options, reused for "could not even start").
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Each module defines ``register(subparsers)``, which adds its sub-parser and sets ``func``.
COMMANDS = ("lint", "test", "dry_run", "plan", "price", "demo", "db", "ingest", "token", "serve", "load", "work",
            "archive", "close_period")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cdrflow",
        description="Classify, price and bill OCPI CDRs for a Charge Point Operator.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"engine.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # `cdrflow dry-run ... | head` is normal use
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
