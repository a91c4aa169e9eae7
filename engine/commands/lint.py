"""``cdrflow lint [PATH...] [--format text|json|github] [--config DIR]``

Exit 0 when clean (warnings alone are clean), 1 when there is at least one error, 2 on a usage
error (a bad option, a PATH or config directory that does not exist).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from engine.commands._common import EXIT_USAGE, add_config_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lint",
        help="check rules/ and mappings/ (syntax, schema, shadowed rules, unknown fields, ...)",
        description="Check the configuration: YAML syntax and duplicate keys, JSON Schemas, "
                    "duplicate rule ids, priority ties, shadowed rules, unknown cdr./facts. paths, "
                    "operators that do not fit a field's type, regexes, the fallback, and "
                    "references between rules, mappings and posting groups. Cross-file checks "
                    "see the whole configuration under --config; only findings in PATHs are "
                    "reported. Exit 0 clean (warnings alone are clean), 1 errors, 2 usage error.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="files or directories to report on (default: rules and mappings "
                             "under the config root)")
    add_config_option(parser)
    parser.add_argument("--format", choices=("text", "json", "github"), default="text",
                        help="text (file:line:col with the source line; default), json, or github "
                             "(workflow annotations)")
    parser.set_defaults(func=run)


def _shown(root: Path, locations: dict[str, Path]):
    """File names as the user can open them from the current directory."""
    cwd = Path.cwd()
    base = root.resolve()

    def shown(name: str) -> str:
        path = locations.get(name) or base / name
        rel = os.path.relpath(path, cwd)
        return rel if not rel.startswith("..") else str(path)

    return shown


def run(args: argparse.Namespace) -> int:
    from engine.lint import default_paths, lint
    from engine.lint.report import RENDERERS

    root = Path(args.config)
    if not root.is_dir():
        print(f"cdrflow lint: config directory {args.config!r} does not exist", file=sys.stderr)
        return EXIT_USAGE
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        for p in missing:
            print(f"cdrflow lint: {p}: no such file or directory", file=sys.stderr)
        return EXIT_USAGE
    if not args.paths and not default_paths(root):
        print(f"cdrflow lint: no rules/ or mappings/ under {root.resolve()} (use --config DIR)",
              file=sys.stderr)
        return EXIT_USAGE

    report, _ = lint(root, args.paths or None)
    for note in report.notes:
        print(f"cdrflow lint: note: {note}", file=sys.stderr)
    sys.stdout.write(RENDERERS[args.format](report, _shown(root, report.locations)))
    return report.exit_code
