"""What every benchmark prints about the machine it ran on, so figures from different runs (and
different machines) can be told apart: cores, CPU model, Python, load and the UTC time; and the
small things the PostgreSQL benchmarks share."""

from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from pathlib import Path


def machine() -> dict[str, str]:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else ()
    return {"nproc": str(os.cpu_count()), "cpu": model, "python": platform.python_version(),
            "platform": platform.platform(), "load": " ".join(f"{x:.2f}" for x in load) or "?",
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def psycopg_url(url: str) -> str:
    """The SQLAlchemy URL as a libpq conninfo URL."""
    return url.replace("postgresql+psycopg://", "postgresql://")
