"""Stream pricing: every classified CDR priced for its stream, right to the cent.

``price_for_stream`` is what the pipeline calls after classification; its ``to_json()`` becomes
``decision.pricing``. Period and cycle documents (``msp_period``, ``billing_cycle``) are built
from the same priced lines. Pure: no I/O, no clock — dates come from the CDR and its facts.

Importing this package registers the config kinds ``tariffs``, ``tariff_plans`` and
``msp_tariffs`` (``engine.rates.config``) and ``tax_rules`` (``engine.tax.config``).
"""

from __future__ import annotations

from typing import Any, Mapping

from engine.problems import Problem
from engine.rates import config as _config  # noqa: F401  (registers the kinds)
from engine.tax import config as _tax_config  # noqa: F401
from engine.rates.adhoc import price_adhoc
from engine.rates.credit import price_credit, reverse
from engine.rates.model import PriceLine, StreamPrice, failed
from engine.rates.msp import msp_period, price_msp_session
from engine.pricing.outofrange import out_of_range_problem
from engine.rates.subscription import CycleDocuments, billing_cycle, monthly_cycle, price_subscription_session

STREAMS = ("adhoc", "subscription", "msp")

__all__ = ["CycleDocuments", "PriceLine", "STREAMS", "StreamPrice", "billing_cycle", "monthly_cycle", "msp_period",
           "price_for_stream", "reverse"]


def _price_session(stream: str, cdr: dict[str, Any], facts: dict[str, Any], bundle: Any, *,
                   with_charge: bool = True) -> StreamPrice:
    if stream == "adhoc":
        return price_adhoc(cdr, facts, bundle, with_charge=with_charge)
    if stream == "subscription":
        return price_subscription_session(cdr, facts, bundle)
    if stream == "msp":
        return price_msp_session(cdr, facts, bundle)
    return failed(str(stream), [Problem("UNKNOWN_STREAM", f"no pricing for stream {stream!r} "
                                        f"(one of {', '.join(STREAMS)})", path="stream")], cdr_id=cdr.get("id"))


def _recompute(stream: str, cdr: dict[str, Any], facts: dict[str, Any], bundle: Any) -> StreamPrice:
    return _price_session(stream, cdr, facts, bundle, with_charge=False)


def price_for_stream(stream: str, cdr: dict, facts: dict, bundle: Any, *,
                     original: Mapping[str, Any] | StreamPrice | None = None) -> StreamPrice:
    """Price one normalised CDR for its stream.

    A credit CDR (``credit: true``) reverses ``original``: the original's stored pricing
    (``decision.pricing`` / a StreamPrice), or the original CDR (re-priced), or — unknown — its own
    charging periods, negated, with a warning. ``errors`` on the result mean "not priced": the
    caller routes the CDR to the exception queue. So does a CDR whose numbers are too large to
    compute with (outofrange.py says why this is caught here rather than bounded at intake).
    """
    facts = facts or {}
    try:
        if cdr.get("credit"):
            return price_credit(stream, cdr, facts, bundle, original, _recompute)
        return _price_session(stream, cdr, facts, bundle)
    except ArithmeticError as exc:  # decimal's InvalidOperation and Overflow, OverflowError
        return failed(str(stream), [out_of_range_problem(cdr, exc)], cdr_id=cdr.get("id"))
