"""The machine a benchmark ran on, for RESULTS.md: CPUs, CPU model, memory, Python, databases, date."""
from __future__ import annotations

import os
import platform
import re
import sqlite3
import subprocess
from datetime import datetime, timezone
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return re.sub(r"\s+", " ", line.split(":", 1)[1]).strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gb() -> float:
    import psutil

    return psutil.virtual_memory().total / 2**30


def postgres_version() -> str:
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        try:
            out = subprocess.run([str(d / "postgres"), "--version"], capture_output=True, text=True, timeout=10)
            return out.stdout.strip().replace("postgres (PostgreSQL) ", "")
        except OSError:
            continue
    return "not installed"


def machine() -> dict[str, str]:
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu_model(),
        "memory": f"{memory_gb():.1f} GiB",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgres_version(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def machine_line(m: dict[str, str] | None = None) -> str:
    m = m or machine()
    return (f"Machine: {m['nproc']} CPUs (nproc), {m['cpu']}, {m['memory']} RAM, Python {m['python']}, "
            f"SQLite {m['sqlite']}, PostgreSQL {m['postgresql']}; run {m['date']}")


def replace_section(text: str, heading: str, body: str) -> str:
    """Put ``## heading`` + ``body`` in place of that section (or append it), leaving others alone."""
    section = f"## {heading}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        return pattern.sub(lambda _: section + "\n", text, count=1).rstrip() + "\n"
    return text.rstrip() + "\n\n" + section
