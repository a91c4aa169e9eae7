"""``cdrflow load``: load reference data files into the database - safe to run again.

Each file is YAML (``samples/reference/*.yaml``) or JSON ``{"kind": ..., "<key>": [...]}`` with
the same kinds and keys (customers/customers, subscriptions/subscriptions, msp_contracts/msps,
psp_transactions/transactions, locations/locations). Every record is normalised and validated
with the Cerberus schema of its kind (``engine.reference``) and upserted: per kind the command
prints how many records were inserted, updated, unchanged and rejected, then every rejected
record with ``file:line`` and the reasons per field. Loading the same files again reports
everything unchanged and writes nothing.

Loaded PSP transactions (new, changed or unchanged) release the ad-hoc CDRs waiting for them
(``engine.service.waiting``), decided again with the configuration under ``--config`` (skip with
``--no-release``); the configuration is only read when a loaded transaction matches a waiting CDR.

Exit codes: 0 all stored, 1 something was rejected (the valid records are stored regardless),
2 usage error (no such path, no database at the schema head).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.commands._common import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, add_config_option
from engine.commands.db import add_database_option, open_session_factory
from engine.problems import Problem

SUFFIXES = (".yaml", ".yml", ".json")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("load", help="load reference data files into the database (idempotent)",
                       description="Validate reference data files (customers, subscriptions, msp_contracts, "
                                   "psp_transactions, locations; YAML or JSON) and upsert them into the "
                                   "database. Loading the same files again changes nothing.")
    add_database_option(p)
    add_config_option(p)
    p.add_argument("--no-release", action="store_true",
                   help="do not re-decide the ad-hoc CDRs waiting for the loaded PSP transactions")
    p.add_argument("--format", choices=("text", "json"), default="text", help="report format (default: text)")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="reference files (*.yaml, *.yml, *.json) or directories holding them")
    p.set_defaults(func=run)


# --- reading files ---------------------------------------------------------------------------------


@dataclass
class RefFile:
    path: str
    kind: str | None = None
    records: list[Any] = field(default_factory=list)
    locs: list[Any] | None = None
    problems: list[Problem] = field(default_factory=list)


def find_files(paths: list[str]) -> tuple[list[Path], list[str]]:
    """(the files to load, in order; the paths that do not exist or hold no reference file)."""
    files: list[Path] = []
    missing: list[str] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
            if not found:
                missing.append(f"{given}: no *.yaml, *.yml or *.json files")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            missing.append(f"{given}: no such file or directory")
    return files, missing


def read_file(path: Path) -> RefFile:
    """Parse one reference file: its kind, its records and where each record starts."""
    from engine.config.yamlload import LocList, load_yaml
    from engine.reference import SCHEMAS
    from engine.store.canonical import parse

    name = str(path)
    out = RefFile(name)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        out.problems.append(Problem(code="reference.unreadable", message=f"cannot read: {exc}", file=name, line=1,
                                    col=1))
        return out
    if path.suffix.lower() == ".json":
        try:
            parse(text)
        except json.JSONDecodeError as exc:
            out.problems.append(Problem(code="json.invalid", message=exc.msg, file=name, line=exc.lineno,
                                        col=exc.colno))
            return out
        except ValueError as exc:
            out.problems.append(Problem(code="json.invalid", message=str(exc), file=name, line=1, col=1))
            return out
    # JSON is YAML too: the strict YAML reader gives every record its line (numbers as Decimal).
    data, problems = load_yaml(text, name)
    if data is None and path.suffix.lower() == ".json" and not any(p.code == "yaml.duplicate_key" for p in problems):
        data, problems = parse(text), []   # a JSON spelling PyYAML does not take: no line numbers then
    errors = [p for p in problems if p.is_error]
    if errors:
        out.problems += errors
        return out
    if not isinstance(data, dict) or data.get("kind") not in SCHEMAS:
        out.problems.append(Problem(code="reference.kind", file=name, line=1, col=1,
                                    message=f"expected 'kind' to be one of {', '.join(sorted(SCHEMAS))}"))
        return out
    out.kind = data["kind"]
    key, _ = SCHEMAS[out.kind]
    if key not in data and out.kind in data:
        key = out.kind
    if key not in data:
        out.problems.append(Problem(code="reference.records", file=name, line=1, col=1,
                                    message=f"a {out.kind} file lists its records under '{key}'"))
        return out
    items = data[key]
    if items is None:
        return out
    if not isinstance(items, list):
        loc = getattr(data, "value_locs", {}).get(key)
        out.problems.append(Problem(code="reference.records", file=name, line=loc.line if loc else 1,
                                    col=loc.col if loc else 1, message=f"'{key}' must be a list of records"))
        return out
    out.records = list(items)
    out.locs = list(items.item_locs) if isinstance(items, LocList) else None
    return out


# --- the command -----------------------------------------------------------------------------------


@dataclass
class Report:
    files: int = 0
    kinds: dict[str, dict[str, int]] = field(default_factory=dict)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    released: list[tuple[str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, kind: str, counts: dict[str, int]) -> None:
        total = self.kinds.setdefault(kind, {"inserted": 0, "updated": 0, "unchanged": 0, "rejected": 0})
        for name, n in counts.items():
            total[name] += n

    @property
    def failed(self) -> bool:
        return bool(self.rejected or self.errors)

    def to_json(self) -> dict[str, Any]:
        return {"files": self.files, "kinds": self.kinds, "rejected": self.rejected,
                "errors": [dict(p.to_dict(), location=p.location()) for p in self.errors],
                "released": [list(k) for k in self.released], "notes": self.notes}


def run(args: argparse.Namespace) -> int:
    files, missing = find_files(args.paths)
    if missing:
        for message in missing:
            print(f"cdrflow load: {message}", file=sys.stderr)
        return EXIT_USAGE
    session_factory = open_session_factory(args.database_url)
    if session_factory is None:
        return EXIT_USAGE
    report = Report()
    releaser = _Releaser(args)
    try:
        for path in files:
            _load_one(session_factory, path, report, releaser)
    finally:
        session_factory.kw["bind"].dispose()
    if args.format == "json":
        print(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        print(render(report))
    return EXIT_FINDINGS if report.failed else EXIT_OK


def _load_one(session_factory: Any, path: Path, report: Report, releaser: "_Releaser") -> None:
    from engine.store.reference import store_records

    parsed = read_file(path)
    report.files += 1
    if parsed.problems:
        report.errors += parsed.problems
        return
    assert parsed.kind is not None
    with session_factory() as session:
        result = store_records(session, parsed.kind, parsed.records, file=parsed.path, locs=parsed.locs,
                               source=parsed.path)
        if parsed.kind == "psp_transactions":
            report.released += [k for k in releaser.release(session, result.accepted_records())
                                 if k not in report.released]
        session.commit()
    report.add(parsed.kind, result.counts())
    label_key = "/".join(_key_fields(parsed.kind))
    for outcome in result.outcomes:
        if outcome.outcome != "rejected":
            continue
        loc = parsed.locs[outcome.index] if parsed.locs and outcome.index < len(parsed.locs) else None
        report.rejected.append({
            "file": parsed.path, "line": loc.line if loc else None, "kind": parsed.kind, "index": outcome.index,
            "key": outcome.key, "key_fields": label_key, "reasons": list(outcome.reasons),
        })


def _key_fields(kind: str) -> tuple[str, ...]:
    from engine.store.reference import SPECS

    return SPECS[kind].key


class _Releaser:
    """Releases waiting CDRs for loaded PSP transactions; loads the configuration only when a
    loaded transaction matches a waiting CDR."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self._bundle: Any = None
        self._unavailable = False

    def release(self, session: Any, transactions: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
        from engine.service.waiting import release_all

        if self.args.no_release or not transactions or not _any_waiting(session, transactions):
            return []
        bundle = self._load_bundle()
        if bundle is None:
            return []
        from engine.pipeline import Pipeline
        from engine.store.reference import DbSource

        return release_all(session, Pipeline(bundle, DbSource(session)), transactions)

    def _load_bundle(self) -> Any:
        if self._bundle is None and not self._unavailable:
            from engine.commands._common import load_config

            root = Path(self.args.config)
            if not (root / "rules").is_dir():
                print(f"cdrflow load: note: loaded PSP transactions match CDRs waiting for them, but there is no "
                      f"rules/ under {root.resolve()} to decide them with (use --config DIR); they stay waiting",
                      file=sys.stderr)
                self._unavailable = True
                return None
            self._bundle = load_config(str(root))
            self._unavailable = self._bundle is None
        return self._bundle


def _any_waiting(session: Any, transactions: list[dict[str, Any]]) -> bool:
    from sqlalchemy import or_, select

    from engine.store.reference_models import WaitingCdr

    auths = {t["authorization_reference"] for t in transactions if t.get("authorization_reference")}
    sids = {t["session_id"] for t in transactions if t.get("session_id")}
    conditions = []
    if auths:
        conditions.append(WaitingCdr.authorization_reference.in_(sorted(auths)))
    if sids:
        conditions.append(WaitingCdr.session_id.in_(sorted(sids)))
    if not conditions:
        return False
    return session.execute(select(WaitingCdr.id).where(WaitingCdr.status.in_(("waiting", "expired")),
                                                       or_(*conditions)).limit(1)).first() is not None


def render(report: Report) -> str:
    lines = [f"cdrflow load — {report.files} file{'s' if report.files != 1 else ''}"]
    width = max([len(k) for k in report.kinds] + [16])
    lines.append(f"  {'kind':<{width}}  {'inserted':>8}  {'updated':>8}  {'unchanged':>9}  {'rejected':>8}")
    for kind in sorted(report.kinds):
        c = report.kinds[kind]
        lines.append(f"  {kind:<{width}}  {c['inserted']:>8}  {c['updated']:>8}  {c['unchanged']:>9}  "
                     f"{c['rejected']:>8}")
    if not report.kinds:
        lines.append("  (no records)")
    if report.rejected:
        lines += ["", "Rejected records:"]
        for r in report.rejected:
            where = f"{r['file']}:{r['line']}" if r["line"] else r["file"]
            what = f"{r['kind']}[{r['index']}]" + (f" ({r['key_fields']} {r['key']})" if r["key"] else "")
            for reason in r["reasons"] or ["invalid"]:
                lines.append(f"  {where}: {what}: {reason}")
    if report.errors:
        lines += ["", "Files not loaded:"]
        lines += [f"  {p.location()}: {p.code} {p.message}" for p in report.errors]
    if report.released:
        lines += ["", f"Released from waiting ({len(report.released)}):"]
        lines += [f"  {c}*{p} {i}" for c, p, i in report.released]
    return "\n".join(lines)
