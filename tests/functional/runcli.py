"""Run the real ``cdrflow`` CLI the way a user does: a subprocess in a working directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cdrflow(*args: str, cwd: Path = ROOT, stdin: str | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="200")
    env.pop("CDRFLOW_RULES_BACKEND", None)
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, env=env, timeout=timeout)
