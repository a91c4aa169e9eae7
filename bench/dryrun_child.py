"""Stand-in for ``cdrflow dry-run`` in the memory benchmark, used only when the real command
cannot start in this tree (run.py probes it first and says which one it measured).

It does what ``engine/commands/dry_run.py`` does, line for line: load the bundle and the reference
data, stream the inputs with ``intake.read_paths``, ``Pipeline.decide_item`` each item and write
``dumps(decision.to_json())`` per line to stdout. Differences: the configuration kinds of
pricing/tax are registered the way ``cdrflow lint`` does (``engine.lint.load_kinds``) and the
default (compiled Python) classifier is used directly instead of ``make_classifier``.

usage: python bench/dryrun_child.py CONFIG_DIR REFERENCE_DIR INPUT...
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str]) -> int:
    config, reference, *inputs = argv
    try:
        from engine.lint import load_kinds
        load_kinds()
    except ImportError:
        pass
    from engine import intake
    from engine.config.bundle import load_bundle
    from engine.jsonable import dumps
    from engine.pipeline import Pipeline
    from engine.reference import load_reference

    bundle, problems = load_bundle(config)
    if bundle is None:
        for p in problems:
            if p.is_error:
                print(f"{p.location()}: {p.code} {p.message}", file=sys.stderr)
        return 2
    source, _ = load_reference(reference)
    pipeline = Pipeline(bundle, source)
    outcomes: Counter[str] = Counter()
    out = sys.stdout
    for item in intake.read_paths(inputs):
        decision = pipeline.decide_item(item)
        outcomes[decision.outcome] += 1
        out.write(dumps(decision.to_json()) + "\n")
    print(f"{sum(outcomes.values())} CDRs", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
