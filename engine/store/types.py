"""Column types that keep the money and time rules of cdrflow true in every backend.

* ``Money`` / ``Quantity`` / ``UnitPrice`` / ``Rate``: NUMERIC(p, s) on PostgreSQL. SQLite has no
  decimal type - a NUMERIC column there silently becomes a binary float - so on SQLite the value
  is kept as exact text. Either way Python sees a ``Decimal`` quantized to the column's scale,
  and a float is refused on the way in (money is never float).
* ``UTCDateTime``: an aware UTC ``datetime`` in and out. PostgreSQL stores ``timestamptz``;
  SQLite stores the UTC wall time and gets the zone back on read.
* ``JSONData``: JSON on SQLite, JSONB on PostgreSQL (indexable). Values are the output of
  ``engine.jsonable.to_jsonable`` - amounts as strings - and SQL NULL stands for ``None``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, DateTime, Numeric, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from engine.money import to_decimal

# Text width of a decimal stored on SQLite: sign, 18 digits, point - with room to spare.
_SQLITE_DECIMAL_WIDTH = 40


class _Exact(TypeDecorator[Decimal]):
    """NUMERIC(precision, scale) as ``Decimal``; exact text on SQLite."""

    impl = Numeric
    cache_ok = True
    precision = 18
    scale = 2

    def __init__(self) -> None:
        super().__init__(precision=self.precision, scale=self.scale, asdecimal=True)
        self._quantum = Decimal(1).scaleb(-self.scale)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(_SQLITE_DECIMAL_WIDTH))
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = to_decimal(value, field=type(self).__name__.lower())
        exact = amount.quantize(self._quantum)
        if exact != amount:
            # Rounding is the money policy's job (engine.money), never a side effect of storage.
            raise ValueError(f"{value} has more than {self.scale} decimal places")
        return format(exact, "f") if dialect.name == "sqlite" else exact

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        # PostgreSQL hands back a Decimal already (no detour through str), SQLite the exact text
        return (value if type(value) is Decimal else Decimal(str(value))).quantize(self._quantum)


class Money(_Exact):
    """An amount: NUMERIC(18, 2)."""

    cache_ok = True  # SQLAlchemy reads it from each class's own namespace
    precision, scale = 18, 2


class UnitPrice(_Exact):
    """A unit price: NUMERIC(18, 4) (EN 16931 allows up to 4 decimals)."""

    cache_ok = True  # SQLAlchemy reads it from each class's own namespace
    precision, scale = 18, 4


class Quantity(_Exact):
    """A quantity (kWh, minutes, sessions): NUMERIC(18, 6)."""

    cache_ok = True  # SQLAlchemy reads it from each class's own namespace
    precision, scale = 18, 6


class Rate(_Exact):
    """A tax rate in percent (19, 25.5): NUMERIC(7, 4)."""

    cache_ok = True  # SQLAlchemy reads it from each class's own namespace
    precision, scale = 7, 4


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes only; a naive datetime is a bug and is refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"expected an aware datetime, got {value!r}")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def JSONData() -> TypeEngine[Any]:
    """JSON (SQLite) / JSONB (PostgreSQL); Python ``None`` is stored as SQL NULL."""
    return JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
