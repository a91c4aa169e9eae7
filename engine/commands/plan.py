"""``cdrflow plan``: what would change if the working-tree config replaced the one at a git ref.

Exit codes (a contract for CI): 0 nothing changes, 2 something changes, 1 the plan could not be
made (bad ref, broken config).
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from engine.commands._common import add_backend_option, add_reference_option, load_config, load_source, progress
from engine.commands._originals import SpilledPricing
from engine.config.bundle import CONFIG_DIRS

EXIT_SAME, EXIT_FAILED, EXIT_CHANGES = 0, 1, 2


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan", help="show what a config change does to a corpus of CDRs",
                       description="Run the config at --base and the working tree over --corpus and print "
                                   "the CDRs whose stream, rule or amount changes. Exit 0: no change, "
                                   "2: changes, 1: error.")
    p.add_argument("--base", metavar="GIT_REF", default="HEAD", help="git ref of the old config (default: HEAD)")
    p.add_argument("--corpus", metavar="PATH", action="append",
                   help="CDR files or directories (repeatable; default: samples/cdrs)")
    p.add_argument("--config", metavar="DIR", default=".", help="the working tree's config root (default: .)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    add_reference_option(p)
    add_backend_option(p)
    p.set_defaults(func=run)


def export_config(ref: str, repo: Path, dest: Path) -> tuple[Path | None, str | None]:
    """Write rules/ and mappings/ as they are at ``ref`` below ``dest``.

    Returns (the exported config root, None) or (None, an error message)."""
    top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=repo, capture_output=True, text=True)
    if top.returncode != 0:
        return None, f"{repo.resolve()} is not inside a git repository"
    toplevel = Path(top.stdout.strip())
    prefix = str(repo.resolve().relative_to(toplevel.resolve()))
    prefix = "" if prefix == "." else prefix + "/"
    wanted = [f"{prefix}{d}" for d in CONFIG_DIRS]
    listed = subprocess.run(["git", "ls-tree", "--name-only", ref, "--", *wanted], cwd=toplevel,
                            capture_output=True, text=True)
    if listed.returncode != 0:
        return None, f"unknown git ref {ref!r}: {listed.stderr.strip()}"
    present = [w for w in wanted if w in listed.stdout.split()]
    if not present:
        return None, f"{ref} has no rules/ or mappings/"
    archive = subprocess.run(["git", "archive", "--format=tar", ref, "--", *present], cwd=toplevel,
                             capture_output=True)
    if archive.returncode != 0:
        return None, archive.stderr.decode(errors="replace").strip()
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest / prefix, None


def run(args: argparse.Namespace) -> int:
    from engine import intake
    from engine.commands._common import make_classifier
    from engine.pipeline import Pipeline
    from engine.plan import compare

    root = Path(args.config)
    corpus = args.corpus or [str(root / "samples" / "cdrs")]
    with tempfile.TemporaryDirectory(prefix="cdrflow-plan-") as tmp:
        base_root, error = export_config(args.base, root, Path(tmp))
        if base_root is None:
            print(f"cdrflow plan: {error}", file=sys.stderr)
            return EXIT_FAILED
        old = load_config(str(base_root))
        new = load_config(str(root))
    source = load_source(args)
    if old is None or new is None or source is None:
        return EXIT_FAILED
    old_classifier, new_classifier = make_classifier(old, args.rules_backend), make_classifier(new, args.rules_backend)
    if old_classifier is None or new_classifier is None:
        return EXIT_FAILED
    before = Pipeline(old, source, classifier=old_classifier, priced=SpilledPricing())
    after = Pipeline(new, source, classifier=new_classifier, priced=SpilledPricing())
    pairs = ((before.decide_item(item), after.decide_item(item))
             for item in progress(intake.read_paths(corpus), desc="plan"))
    plan = compare(pairs)

    if args.format == "json":
        json.dump(dict(plan.to_json(), base=args.base, config_before=old.version, config_after=new.version),
                  sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for group in plan.ordered():
            label = {"stream": "stream", "rule": "rule", "amount": "amount"}[group.kind]
            if group.kind == "amount":
                print(f"~ {label} changes in {group.before}: {len(group.cdr_ids)} CDR(s)")
                for ex in group.examples:
                    print(f"    {ex['cdr_id']}: {ex['amount_before']} -> {ex['amount_after']}")
            else:
                print(f"~ {group.before} -> {group.after}: {len(group.cdr_ids)} CDR(s)")
                print(f"    e.g. {', '.join(ex['cdr_id'] for ex in group.examples)}")
        s = plan.to_json()["summary"]
        print(f"\nPlan: {s['changed']} of {s['cdrs']} CDRs change "
              f"({s['stream_changes']} stream, {s['rule_changes']} rule, {s['amount_changes']} amount); "
              f"{args.base} (config {old.version}) -> working tree (config {new.version})")
    return EXIT_CHANGES if plan.changed else EXIT_SAME
