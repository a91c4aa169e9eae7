"""What several commands share: finding the config, the reference data, printing problems,
and a progress bar that only appears on a terminal."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Iterable, Iterator, TextIO, TypeVar

from engine.config.bundle import Bundle, load_bundle
from engine.problems import Problem

T = TypeVar("T")

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="DIR", default=".",
                        help="directory holding rules/ and mappings/ (default: .)")


def add_reference_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reference", metavar="DIR", default=None,
                        help="reference data directory (default: <config>/samples/reference)")


def add_backend_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rules-backend", choices=("python", "durable"),
                        default=os.environ.get("CDRFLOW_RULES_BACKEND", "python"),
                        help="rule evaluator (default: python; env CDRFLOW_RULES_BACKEND)")


def print_problems(problems: Iterable[Problem], out: TextIO = sys.stderr) -> None:
    for p in problems:
        print(f"{p.location()}: {p.severity} {p.code} {p.message}", file=out)


def load_config(config_dir: str) -> Bundle | None:
    """The bundle, or None after printing why it cannot be used (callers exit 2)."""
    root = Path(config_dir)
    if not (root / "rules").is_dir():
        print(f"cdrflow: no rules/ directory under {root.resolve()} (use --config DIR)", file=sys.stderr)
        return None
    bundle, problems = load_bundle(root)
    if bundle is None:
        print("cdrflow: the configuration has errors (run `cdrflow lint`):", file=sys.stderr)
        print_problems([p for p in problems if p.is_error])
    return bundle


def reference_dir(args: argparse.Namespace) -> Path:
    return Path(args.reference) if args.reference else Path(args.config) / "samples" / "reference"


def load_source(args: argparse.Namespace):
    """The embedded FactSource from the reference directory, or None after printing why."""
    from engine.reference import InMemorySource, load_reference

    directory = reference_dir(args)
    if not directory.is_dir():
        if args.reference:
            print(f"cdrflow: reference directory {directory} does not exist", file=sys.stderr)
            return None
        return InMemorySource({})
    source, problems = load_reference(directory)
    if any(p.is_error for p in problems):
        print("cdrflow: the reference data has errors:", file=sys.stderr)
        print_problems(problems)
        return None
    return source


def make_classifier(bundle: Bundle, backend: str):
    """The chosen rule evaluator, or None after printing why it cannot be had (callers exit 2)."""
    from engine.classify.backends import make_classifier as make

    try:
        return make(bundle, backend)
    except (ValueError, ImportError, RuntimeError) as exc:  # UnknownBackend, DurableUnavailable, DurableBackendError
        print(f"cdrflow: {exc}", file=sys.stderr)
        return None


def progress(items: Iterable[T], *, desc: str, unit: str = "CDR") -> Iterator[T]:
    """A progress bar on stderr when it is a terminal; otherwise the items untouched."""
    if not sys.stderr.isatty():
        yield from items
        return
    from tqdm import tqdm

    yield from tqdm(items, desc=desc, unit=f" {unit}", file=sys.stderr, mininterval=0.5,
                    dynamic_ncols=True, leave=False)
