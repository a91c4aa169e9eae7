"""VAT rates by country, category and date.

Rates change (FI 24 -> 25.5 on 2024-09-01, DE 16 % in the second half of 2020), and a credit
note issued next year must use the rate of the original supply, so rates live in a versioned
table (``rules/tax_rules.yaml``) and every priced line snapshots the rate it used.

Countries arrive as OCPI alpha-3 (``cdr_location.country``) or alpha-2 (reference data, VAT id
prefixes); the table is keyed by alpha-2. Greece's VAT prefix ``EL`` is accepted as ``GR``.
"""

from __future__ import annotations


from dataclasses import dataclass
from functools import lru_cache
from datetime import date
from decimal import Decimal

from engine.config.yamlload import Loc
from engine.pricing.timezone import COUNTRY_ZONES, alpha3
from engine.tax.periods import Period

STANDARD = "standard"
_VAT_PREFIX_ALIASES = {"EL": "GR", "XI": "GB"}  # VAT-id prefixes that are not ISO codes


@lru_cache(maxsize=1024)
def alpha2(country: str | None) -> str | None:
    """ISO alpha-2 for an alpha-2 / alpha-3 code (or a VAT prefix like EL); None when unknown."""
    if not country or not isinstance(country, str):
        return None
    code = country.strip().upper()
    code = _VAT_PREFIX_ALIASES.get(code, code)
    a3 = alpha3(code)
    if a3 is not None:
        return COUNTRY_ZONES[a3][0]
    return code if len(code) == 2 and code.isalpha() else None


@dataclass(frozen=True)
class VatRate:
    country: str          # alpha-2
    category: str         # "standard" unless the table says otherwise
    rate: Decimal         # percent
    period: Period
    loc: Loc | None = None

    def source(self) -> dict[str, object]:
        """Where this rate was defined (snapshotted on priced documents)."""
        out: dict[str, object] = {"country": self.country, "category": self.category,
                                  "rate": self.rate, **self.period.to_json()}
        if self.loc is not None:
            out.update(file=self.loc.file, line=self.loc.line)
        return out


@dataclass(frozen=True)
class RateTable:
    rates: tuple[VatRate, ...] = ()

    def lookup(self, country: str | None, on: date, category: str = STANDARD) -> VatRate | None:
        """The rate for ``country`` (alpha-2 or alpha-3) and ``category`` valid on ``on``."""
        code = alpha2(country)
        if code is None:
            return None
        for rate in self.rates:
            if rate.country == code and rate.category == category and rate.period.contains(on):
                return rate
        return None

    def countries(self) -> frozenset[str]:
        return frozenset(r.country for r in self.rates)
