"""The configuration bundle: every YAML file under ``rules/`` and ``mappings/`` loaded strictly,
validated against its JSON Schema, cross-checked, compiled, frozen and hashed.

The hash is the *config version* stamped on every Decision, so an answer can always be traced
back to the exact rule files that produced it.

Names are re-exported lazily: ``engine.classify`` imports ``engine.config.yamlload`` while the
bundle imports ``engine.classify``, so importing the bundle eagerly here would make the import
order matter.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "Bundle": "engine.config.bundle", "load_bundle": "engine.config.bundle",
    "Loc": "engine.config.yamlload", "LocDict": "engine.config.yamlload",
    "LocList": "engine.config.yamlload", "load_yaml": "engine.config.yamlload",
    "location_of": "engine.config.yamlload",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'engine.config' has no attribute {name!r}")
