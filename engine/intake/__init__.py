"""CDR intake: bytes in, normalised OCPI 2.2.1 CDRs (or Problems) out.

* :func:`read_items` / :func:`read_paths` (reader.py) turn files, directories and stdin in any of
  the four shapes (one object, an array, JSON Lines, the OCPI response envelope) into a lazy
  stream of :class:`RawItem` — constant memory, numbers as Decimal, malformed input as Problems.
* :func:`accept` (accept.py) turns one parsed CDR into an :class:`IntakeResult`: OCPI 2.1.1 is
  converted (v211.py), wire leniencies applied (normalise.py), the schema checked
  (schemas/cdr.schema.json via schema.py), types converted, and cross-field rules checked
  (checks.py).
* :func:`normalise_tariff` does the same for a Tariff, :func:`normalise_for_pricing` a lenient
  version for ``cdrflow price`` that requires only what pricing needs.
"""

from engine.intake.accept import IntakeResult, accept, normalise_for_pricing, normalise_tariff
from engine.intake.reader import RawItem, read_items, read_paths

__all__ = [
    "IntakeResult",
    "RawItem",
    "accept",
    "normalise_for_pricing",
    "normalise_tariff",
    "read_items",
    "read_paths",
]
