"""The database fixtures (tests/dbfixtures.py) for the service tests; see that module."""

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from dbfixtures import *  # noqa: E402,F401,F403
