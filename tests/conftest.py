"""Suite-wide set-up: tests/ on sys.path (for the shared helper modules) and the database
fixtures of ``tests/dbfixtures.py`` (SQLite always, PostgreSQL when DATABASE_URL is set)."""

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

pytest_plugins = ["dbfixtures"]
