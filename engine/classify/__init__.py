"""Classification: which billing stream a CDR belongs to, and which rule said so.

Rules are parsed once into a small condition tree (``rules.py``) and compiled into plain Python
closures (``evaluate.py``). An optional durable_rules backend (``durable.py``) must give the
same answers; the differential tests prove it.
"""

from engine.classify.rules import All, Any_, Cmp, Condition, Fallback, Not, Rule, parse_rules
from engine.classify.evaluate import Classifier, Match, compile_classifier

__all__ = [
    "All", "Any_", "Classifier", "Cmp", "Condition", "Fallback", "Match", "Not", "Rule",
    "compile_classifier", "parse_rules",
]
