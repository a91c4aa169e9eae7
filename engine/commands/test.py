"""``cdrflow test``: run the analysts' YAML rule tests and report rules no test reaches."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from engine.commands._common import (
    EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, add_backend_option, add_config_option, add_reference_option,
    load_config, load_source, make_classifier, print_problems,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("test", help="run the YAML rule tests",
                       description="Run rule tests (kind: tests) found in PATHs (default: rules/).")
    add_config_option(p)
    add_reference_option(p)
    add_backend_option(p)
    p.add_argument("-v", "--verbose", action="store_true", help="show every case, not only failures")
    p.add_argument("--run", metavar="PATTERN", help="only cases whose name matches this regex")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    p.add_argument("paths", nargs="*", metavar="PATH", help="test files or directories (default: rules)")
    p.set_defaults(func=run)


def _test_files(paths: list[str], root: Path) -> list[Path] | None:
    found: list[Path] = []
    for raw in paths or [str(root / "rules")]:
        path = Path(raw)
        if not path.exists():
            print(f"cdrflow test: {raw}: no such file or directory", file=sys.stderr)
            return None
        found += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")) if path.is_dir() else [path]
    return found


def run(args: argparse.Namespace) -> int:
    from engine.config.bundle import display_name, read_document
    from engine.pipeline import Pipeline
    from engine.ruletest import cases_from, run_case, select

    try:
        if args.run:
            re.compile(args.run)
    except re.error as exc:
        print(f"cdrflow test: --run: bad pattern: {exc}", file=sys.stderr)
        return EXIT_USAGE
    root = Path(args.config)
    files = _test_files(args.paths, root)
    bundle = load_config(args.config) if files is not None else None
    source = load_source(args) if bundle else None
    if files is None or bundle is None or source is None:
        return EXIT_USAGE
    classifier = make_classifier(bundle, args.rules_backend)
    if classifier is None:
        return EXIT_USAGE
    pipeline = Pipeline(bundle, source, classifier=classifier, priced={})

    cases = []
    for path in files:
        doc, problems = read_document(path, display_name(path, root))
        if doc is None or doc.kind != "tests":
            continue
        if any(p.is_error for p in problems):
            print_problems(problems)
            return EXIT_FINDINGS
        cases += cases_from(doc.data, doc.file, path)
    cases = select(cases, args.run)
    outcomes = [run_case(c, pipeline) for c in cases]

    reached = {o.decision.rule["id"] for o in outcomes if o.decision and o.decision.rule}
    unreached = [r for r in bundle.rules if r.id not in reached]
    unreached_fallback = bundle.fallback if "fallback" not in reached else None
    passed = sum(o.passed for o in outcomes)
    failed = len(outcomes) - passed

    if args.format == "json":
        json.dump({
            "cases": [o.to_json() for o in outcomes],
            "unreached_rules": [r.ref() for r in unreached]
            + ([unreached_fallback.ref()] if unreached_fallback else []),
            "summary": {"passed": passed, "failed": failed},
            "config_version": bundle.version,
        }, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for o in outcomes:
            if o.passed and not args.verbose:
                continue
            status = "PASS" if o.passed else "FAIL"
            print(f"{status} {o.case.name}  ({o.case.file}:{o.case.line})")
            for failure in o.failures:
                print(f"     {failure}")
        if unreached or unreached_fallback:
            print("\nRules no test reaches:")
            for r in unreached:
                print(f"  {r.id}  ({r.file}:{r.line})")
            if unreached_fallback:
                print(f"  fallback  ({unreached_fallback.file}:{unreached_fallback.line})")
        print(f"\n{passed} passed, {failed} failed")
    if not outcomes:
        print("cdrflow test: no tests found" + (f" matching {args.run!r}" if args.run else ""), file=sys.stderr)
        return EXIT_FINDINGS
    return EXIT_OK if failed == 0 else EXIT_FINDINGS
