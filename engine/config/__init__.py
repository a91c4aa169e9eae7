"""The configuration bundle: every YAML file under ``rules/`` and ``mappings/`` loaded strictly,
validated against its JSON Schema, cross-checked, compiled, frozen and hashed.

The hash is the *config version* stamped on every Decision, so an answer can always be traced
back to the exact rule files that produced it.
"""

from engine.config.yamlload import Loc, LocDict, LocList, load_yaml, location_of
from engine.config.bundle import Bundle, load_bundle  # noqa: E402

__all__ = ["Bundle", "Loc", "LocDict", "LocList", "load_bundle", "load_yaml", "location_of"]
