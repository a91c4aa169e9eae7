"""``cdrflow price``: recompute a CDR's price from its tariff (OCPI 2.2.1) and compare totals.

    cdrflow price [--tariff TARIFF.json] [--tz ZONE] [--format json|text] CDR.json

The CDR file may hold one CDR (object, array, OCPI envelope or JSON Lines; ``-`` reads stdin);
several are priced one after the other. Exit codes: 0 priced (a difference to the CDR's own
total is a finding in the output, not a failure), 1 some input could not be priced (unreadable,
invalid, no tariff), 2 usage (unknown zone, missing tariff file).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from engine.commands._common import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, print_problems
from engine.money import fmt, fmt_exact
from engine.problems import Problem


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("price", help="price a CDR with its (or a given) OCPI tariff",
                       description="Recompute the cost of a CDR from an OCPI 2.2.1 tariff: components, "
                                   "totals excl./incl. VAT, and the difference to the CDR's total_cost.")
    p.add_argument("--tariff", metavar="TARIFF.json",
                   help="tariff to price with (default: the tariff embedded in the CDR)")
    p.add_argument("--tz", metavar="ZONE",
                   help="IANA time zone for the tariff restrictions (default: from cdr_location.country)")
    p.add_argument("--tolerance", metavar="AMOUNT", default="0.01",
                   help="accepted difference to the CDR's total_cost (default: 0.01)")
    p.add_argument("--format", choices=("json", "text"), default="json", help="output format (default: json)")
    p.add_argument("cdr", metavar="CDR.json", help="CDR file, or - for stdin")
    p.set_defaults(func=run)


def _load_tariff_file(path: str) -> tuple[Any, list[Problem]] | None:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        print(f"cdrflow price: cannot read tariff {path}: {exc.strerror}", file=sys.stderr)
        return None
    try:
        return json.loads(text, parse_float=Decimal), []
    except json.JSONDecodeError as exc:
        return None, [Problem("json.invalid", f"line {exc.lineno}, column {exc.colno}: {exc.msg}",
                              file=path, line=exc.lineno, col=exc.colno)]


def run(args: argparse.Namespace) -> int:
    from engine import intake
    from engine.pricing import try_price_cdr
    from engine.pricing.outofrange import out_of_range_problem
    from engine.pricing.timezone import load_zone

    if args.tz:
        try:
            load_zone(args.tz)
        except ValueError:
            print(f"cdrflow price: unknown time zone {args.tz!r} (use an IANA name like Europe/Berlin)",
                  file=sys.stderr)
            return EXIT_USAGE
    try:
        tolerance = Decimal(args.tolerance)
        if not tolerance.is_finite() or tolerance < 0:
            raise ValueError
    except (ArithmeticError, ValueError):
        print(f"cdrflow price: --tolerance must be a non-negative amount, got {args.tolerance!r}", file=sys.stderr)
        return EXIT_USAGE
    if args.cdr != "-" and not Path(args.cdr).is_file():
        print(f"cdrflow price: no such file: {args.cdr}", file=sys.stderr)
        return EXIT_USAGE

    raw_tariff = None
    if args.tariff:
        loaded = _load_tariff_file(args.tariff)
        if loaded is None:
            return EXIT_USAGE
        raw_tariff, problems = loaded
        if problems:
            print(f"cdrflow price: {args.tariff} is not valid JSON:", file=sys.stderr)
            print_problems(problems, out=sys.stderr)
            return EXIT_FINDINGS

    outputs: list[dict[str, Any]] = []
    status = EXIT_OK
    for item in intake.read_paths([args.cdr]):
        source = item.source
        if item.problems or item.data is None:
            status = EXIT_FINDINGS
            _report(source, "cannot be read", item.problems)
            continue
        cdr, cdr_problems = intake.normalise_for_pricing(item.data)
        if cdr is None:
            status = EXIT_FINDINGS
            _report(source, "is not a CDR that can be priced", cdr_problems)
            continue
        tariff = None
        tariff_problems: list[Problem] = []
        if raw_tariff is not None:
            party = (cdr.get("country_code"), cdr.get("party_id"))
            tariff, tariff_problems = intake.normalise_tariff(
                raw_tariff, default_party=party if all(isinstance(x, str) for x in party) else None)
            if tariff is None:
                status = EXIT_FINDINGS
                _report(args.tariff, "is not a valid tariff", tariff_problems)
                continue
        try:
            result, problems = try_price_cdr(cdr, tariff, tz=args.tz, tolerance=tolerance)
            if result is not None:
                result.to_json()  # (amounts too large to show fail here, not after the other CDRs)
        except ArithmeticError as exc:
            result, problems = None, [out_of_range_problem(cdr, exc)]
        if result is None:
            status = EXIT_FINDINGS
            _report(source, "cannot be priced", problems)
            continue
        input_warnings = cdr_problems + tariff_problems
        if any(p.code == "tariff.vat_as_fraction" for p in input_warnings):  # intake said it already
            result = replace(result, warnings=tuple(w for w in result.warnings
                                                    if w.code != "VAT_LOOKS_LIKE_FRACTION"))
        outputs.append({"source": source, "cdr_id": cdr.get("id"), "result": result,
                        "input_warnings": input_warnings})

    out = sys.stdout
    if args.format == "json":
        docs = []
        for o in outputs:
            doc = {"cdr_id": o["cdr_id"], **o["result"].to_json()}
            if o["input_warnings"]:
                doc["input_warnings"] = [p.to_dict() for p in o["input_warnings"]]
            docs.append(doc)
        if len(docs) == 1:
            out.write(json.dumps(docs[0], indent=2, ensure_ascii=False) + "\n")
        elif docs:
            out.write(json.dumps(docs, indent=2, ensure_ascii=False) + "\n")
    else:
        for n, o in enumerate(outputs):
            if n:
                out.write("\n")
            write_text(o["result"], out, cdr_id=o["cdr_id"], input_warnings=o["input_warnings"])
    return status


def _report(source: str, what: str, problems: list[Problem]) -> None:
    print(f"cdrflow price: {source} {what}:", file=sys.stderr)
    print_problems(problems or [Problem("unknown", "no details")], out=sys.stderr)


def _table(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for r in rows:
        cells = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(r)]
        lines.append("  ".join(cells).rstrip())
    return lines


def write_text(result, out: TextIO, *, cdr_id: str | None = None, input_warnings: list[Problem] = ()) -> None:
    """A readable table of components and totals."""
    from engine.pricing.timezone import load_zone

    zone = load_zone(result.time_zone)
    out.write(f"CDR {cdr_id or '-'}   currency {result.currency or '-'}   tariff {result.tariff_id or '-'}   "
              f"time zone {result.time_zone} ({result.time_zone_source})\n\n")
    rows = [["dimension", "el.", "from (local)", "volume", "billed", "unit", "price", "step", "excl VAT", "VAT %",
             "incl VAT"]]
    for c in result.components:
        rows.append([c.dimension, str(c.element_index), c.period_start.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                     fmt_exact(c.volume), fmt_exact(c.billed_volume), c.unit, c.to_json()["unit_price"],
                     str(c.step_size), fmt(c.excl_vat), fmt_exact(c.vat_rate) if c.vat_rate is not None else "-",
                     fmt(c.incl_vat)])
    if len(rows) == 1:
        rows.append(["(nothing to pay)", "", "", "", "", "", "", "", "", "", ""])
    for line in _table(rows, right={3, 4, 6, 7, 8, 9, 10}):
        out.write(line + "\n")
    out.write("\n")
    totals = [["", "excl VAT", "incl VAT"]]
    for label, amount in (("energy", result.total_energy_cost), ("time", result.total_time_cost),
                          ("parking", result.total_parking_cost), ("fixed", result.total_fixed_cost),
                          ("reservation", result.total_reservation_cost)):
        if amount is not None:
            totals.append([label, fmt(amount.excl_vat), fmt(amount.incl_vat)])
    if result.adjustment is not None:
        totals.append([result.adjustment.kind.lower().replace("_", " "), fmt(result.adjustment.excl_vat),
                       fmt(result.adjustment.incl_vat)])
    totals.append(["TOTAL", fmt(result.total_cost.excl_vat), fmt(result.total_cost.incl_vat)])
    totals.append(["exact (unrounded)", fmt_exact(result.exact_total_cost.excl_vat),
                   fmt_exact(result.exact_total_cost.incl_vat)])
    d = result.difference
    if d is not None:
        totals.append(["CDR total_cost", fmt(d.cdr_excl_vat), fmt(d.cdr_incl_vat) or "-"])
        totals.append(["difference", fmt(d.excl_vat), fmt(d.incl_vat) or "-"])
    for line in _table(totals, right={1, 2}):
        out.write(line + "\n")
    if d is not None:
        verdict = "within" if d.within_tolerance else "OUTSIDE"
        out.write(f"\ndifference = recomputed (exact, rounded once) - CDR: {verdict} tolerance {fmt(d.tolerance)}\n")
    vat = ", ".join(f"{fmt_exact(v.rate) + ' %' if v.rate is not None else 'no VAT'} on {fmt(v.net)} = {fmt(v.vat)}"
                    for v in result.vat)
    if vat:
        out.write(f"VAT: {vat}\n")
    warnings = list(input_warnings) + list(result.warnings)
    if warnings:
        out.write("\nwarnings:\n")
        for w in warnings:
            out.write(f"  {w.location()}: {w.severity} {w.code} {w.message}\n")
