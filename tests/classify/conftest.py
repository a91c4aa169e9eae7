"""Classification tests. ``engine.timezones`` imports ``engine.pricing.timezone``, which another
engineer owns; while it does not exist, a stub keeps ``engine.facts`` importable for these tests
(the stub is only installed when the real module cannot be imported)."""

from __future__ import annotations

import importlib
import sys
import types

# ``import engine.classify`` as the very first engine import fails with a circular ImportError
# (classify.rules -> engine.config/__init__ -> config.bundle -> classify.evaluate -> classify.rules,
# reported to the owners); importing engine.config first resolves the cycle in the working order.
import engine.config  # noqa: F401,E402


def _stub_pricing_timezone() -> None:
    try:
        importlib.import_module("engine.pricing.timezone")
        return
    except ImportError:
        pass
    stub = types.ModuleType("engine.pricing.timezone")
    zones = {"DE": "Europe/Berlin", "DEU": "Europe/Berlin", "AT": "Europe/Vienna", "AUT": "Europe/Vienna",
             "NL": "Europe/Amsterdam", "NLD": "Europe/Amsterdam", "FR": "Europe/Paris", "FRA": "Europe/Paris"}

    def zone_for_country(country):  # the real module's signature; None means "unknown"
        return zones.get(str(country).upper()) if country else None

    stub.zone_for_country = zone_for_country
    stub.__cdrflow_test_stub__ = True
    if "engine.pricing" not in sys.modules:
        try:
            importlib.import_module("engine.pricing")
        except ImportError:
            sys.modules["engine.pricing"] = types.ModuleType("engine.pricing")
    sys.modules["engine.pricing.timezone"] = stub


_stub_pricing_timezone()
