"""Choosing the rule evaluator: the default compiled-Python ``Classifier`` or durable_rules.

The choice is a setting, never a code change: the CLI option ``--rules-backend`` wins, then the
environment variable ``CDRFLOW_RULES_BACKEND``, then the default ``python``. Both backends make
the same decisions (tests/classify/test_differential.py proves it); durable_rules is optional
because it does not install on Python >= 3.13.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from engine.classify.evaluate import Classifier

ENV_VAR = "CDRFLOW_RULES_BACKEND"
DEFAULT_BACKEND = "python"
BACKENDS = ("python", "durable")


class UnknownBackend(ValueError):
    """A backend name that is not one of ``BACKENDS``."""


def selected_backend(option: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The backend to use: ``option`` (``--rules-backend``), else ``$CDRFLOW_RULES_BACKEND``, else python."""
    env = os.environ if environ is None else environ
    raw = option if option else env.get(ENV_VAR) or DEFAULT_BACKEND
    name = raw.strip().lower()
    if name not in BACKENDS:
        source = "--rules-backend" if option else ENV_VAR
        raise UnknownBackend(f"unknown rules backend {raw!r} (from {source}); choose one of {', '.join(BACKENDS)}")
    return name


def make_classifier(bundle: Any, backend: str | None = None) -> Any:
    """The classifier of ``bundle`` for ``backend`` (None: from the environment, default python).

    ``python`` returns the bundle's own compiled ``Classifier``; ``durable`` a ``DurableClassifier``
    over the same rules (its durable ruleset is compiled once per rule content and reused).
    Raises ``DurableUnavailable`` (an ImportError whose message names ``pip install '.[durable]'``)
    when durable_rules is not installed, and ``UnknownBackend`` for any other name.
    """
    name = selected_backend(backend)
    if name == "python":
        classifier = getattr(bundle, "classifier", None)
        return classifier if isinstance(classifier, Classifier) else Classifier(bundle.rules, bundle.fallback)
    from engine.classify.durable import DurableClassifier

    return DurableClassifier(bundle.rules, bundle.fallback)
