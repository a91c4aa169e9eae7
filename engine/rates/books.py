"""The built forms of the three price kinds (``tariffs``, ``tariff_plans``, ``msp_tariffs``) and
their lookups: which version applies on a session's local date, which row prices a power type
and location category. Built once per bundle by ``engine.rates.config``; immutable.

Every built object keeps the ``Loc`` of its YAML node, so a priced line can say which line of
which file set its price (``source()``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Mapping

from engine.config.yamlload import Loc
from engine.memo import remembered
from engine.rates.ratecard import RateCard
from engine.tax.periods import Period

ANY_CATEGORY = "*"
LOOKUP_LIMIT = 4096   # remembered session lookups per plan or MSP tariff (cleared when full)
DEFAULT_CATEGORIES = ("urban", "highway", "destination", "depot", "residential", "retail")


def _where(loc: Loc | None) -> dict[str, Any]:
    return {"file": loc.file, "line": loc.line} if loc is not None else {}


# --------------------------------------------------------------------------- public OCPI tariffs

@dataclass(frozen=True)
class PublicTariff:
    id: str
    currency: str
    data: Mapping[str, Any]           # plain OCPI dict, datetimes parsed: what price_cdr takes
    start: datetime | None = None     # inclusive (UTC)
    end: datetime | None = None       # exclusive (UTC)
    loc: Loc | None = None

    def active_at(self, instant: datetime) -> bool:
        return (self.start is None or self.start <= instant) and (self.end is None or instant < self.end)

    def source(self) -> dict[str, Any]:
        version = self.start.isoformat().replace("+00:00", "Z") if self.start else None
        return {"kind": "tariff", "id": self.id, "version": version, **_where(self.loc)}


@dataclass(frozen=True)
class TariffBook:
    tariffs: Mapping[str, tuple[PublicTariff, ...]] = field(default_factory=dict)

    def find(self, tariff_id: str, at: datetime | None) -> PublicTariff | None:
        """The version of ``tariff_id`` active at the session start (the only one if unversioned)."""
        versions = self.tariffs.get(str(tariff_id), ())
        if at is None or len(versions) == 1 and versions[0].start is None and versions[0].end is None:
            return versions[0] if versions else None
        return next((t for t in versions if t.active_at(at)), None)


# --------------------------------------------------------------------------- subscription plans

@dataclass(frozen=True)
class PlanVersion:
    version: str
    period: Period
    base_fee: Decimal
    cards: Mapping[str, RateCard]     # AC / DC
    loc: Loc | None = None


@dataclass(frozen=True)
class Plan:
    id: str
    name: str
    currency: str
    prices_include_vat: bool
    versions: tuple[PlanVersion, ...]
    billing_cycle: str = "monthly"
    customer_type: str | None = None
    loc: Loc | None = None

    def version_on(self, day: date) -> PlanVersion | None:
        return next((v for v in self.versions if v.period.contains(day)), None)

    def source(self, version: PlanVersion) -> dict[str, Any]:
        return {"kind": "plan", "id": self.id, "version": version.version, **_where(version.loc)}

    _lookups: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def session_lookup(self, day: date) -> tuple[PlanVersion | None, Mapping[str, Any] | None]:
        """(version valid on ``day``, its source) — remembered per day, as every session asks.

        The source is shared: callers copy it before handing it out.
        """
        found = self._lookups.get((day,))  # remembered's first step, without making its closure
        return found if found is not None else \
            remembered(self._lookups, (day,), lambda: self._lookup(day), LOOKUP_LIMIT)

    def _lookup(self, day: date) -> tuple[PlanVersion | None, Mapping[str, Any] | None]:
        version = self.version_on(day)
        return version, (self.source(version) if version is not None else None)


@dataclass(frozen=True)
class PlanBook:
    plans: Mapping[str, Plan] = field(default_factory=dict)

    def get(self, plan_id: str | None) -> Plan | None:
        return self.plans.get(str(plan_id)) if plan_id is not None else None


# --------------------------------------------------------------------------- MSP tariffs

@dataclass(frozen=True)
class Scope:
    power_type: str | None = None
    categories: frozenset[str] | None = None
    products: frozenset[str] | None = None

    def matches(self, power_type: str | None, category: str | None, product: str) -> bool:
        return ((self.power_type is None or self.power_type == power_type)
                and (self.categories is None or category in self.categories)
                and (self.products is None or product in self.products))


@dataclass(frozen=True)
class Discount:
    id: str
    type: str                                   # volume | percentage | cap
    description: str | None = None
    scope: Scope = field(default_factory=Scope)
    basis: str = "kwh"                          # volume: kwh | sessions
    mode: str = "whole"                         # volume: whole | graduated
    tiers: tuple[tuple[Decimal, Decimal], ...] = ()  # (from, percent), ascending
    percent: Decimal | None = None
    max_net: Decimal | None = None
    loc: Loc | None = None


@dataclass(frozen=True)
class MspPriceRow:
    power_type: str
    category: str                               # a category or "*"
    card: RateCard
    loc: Loc | None = None


@dataclass(frozen=True)
class MspVersion:
    version: str
    period: Period
    rows: tuple[MspPriceRow, ...]
    discounts: tuple[Discount, ...] = ()
    loc: Loc | None = None

    def row_for(self, power_type: str, category: str | None) -> MspPriceRow | None:
        """The row for (power type, category), else the power type's '*' row."""
        exact = next((r for r in self.rows if r.power_type == power_type and r.category == category), None)
        return exact or next((r for r in self.rows if r.power_type == power_type and r.category == ANY_CATEGORY),
                             None)


@dataclass(frozen=True)
class MspTariff:
    id: str
    currency: str
    versions: tuple[MspVersion, ...]
    name: str | None = None
    loc: Loc | None = None

    def version_on(self, day: date) -> MspVersion | None:
        return next((v for v in self.versions if v.period.contains(day)), None)

    def source(self, version: MspVersion, row: MspPriceRow | None = None) -> dict[str, Any]:
        return {"kind": "msp_tariff", "id": self.id, "version": version.version,
                **_where(row.loc if row is not None else version.loc)}

    _lookups: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def session_lookup(self, day: date, power_type: str | None,
                       category: str | None) -> tuple[MspVersion | None, MspPriceRow | None, Mapping[str, Any] | None]:
        """(version valid on ``day``, its row for power type and category, the row's source).

        Remembered per (day, power type, category) — everything the answer reads besides this
        tariff — as every session asks. The source is shared: callers copy it before handing it out.
        """
        if category is not None and type(category) is not str:   # odd facts (a list...): not remembered
            return self._lookup(day, power_type, category)
        key = (day, power_type, category)
        found = self._lookups.get(key)  # remembered's first step, without making its closure
        return found if found is not None else \
            remembered(self._lookups, key, lambda: self._lookup(day, power_type, category), LOOKUP_LIMIT)

    def _lookup(self, day: date, power_type: str | None,
                category: str | None) -> tuple[MspVersion | None, MspPriceRow | None, Mapping[str, Any] | None]:
        version = self.version_on(day)
        if version is None or power_type is None:
            return version, None, None
        row = version.row_for(power_type, category)
        return version, row, (self.source(version, row) if row is not None else None)


@dataclass(frozen=True)
class MspTariffBook:
    tariffs: Mapping[str, MspTariff] = field(default_factory=dict)
    categories: frozenset[str] = frozenset(DEFAULT_CATEGORIES)

    def get(self, tariff_id: str | None) -> MspTariff | None:
        return self.tariffs.get(str(tariff_id)) if tariff_id is not None else None
