"""The summary of every benchmark: each figure that has a goal, its goal, and pass/fail.

    .venv/bin/python benchmarks/summary.py            # print it and rewrite "## Summary" in RESULTS.md

Reads the tables the benchmarks wrote into benchmarks/RESULTS.md (any table with a "goal"
column; a "pass" column, when there is one, is taken as is), decides pass/fail from the goal text
("< 50 ms", "≥ 20,000 msg/s", "0 / 0", ...) with units converted (µs/ms/s, KB/MB/GB), and puts
the summary first in RESULTS.md with the machine. Exits 1 if any figure misses its goal.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from _machine import machine_line  # noqa: E402

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
UNITS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0, "KB": 1e3, "kB": 1e3, "MB": 1e6, "MiB": 2**20,
         "GB": 1e9, "%": 1.0}
_NUM = r"(-?[\d][\d,]*(?:\.\d+)?)\s*(ns|µs|us|ms|s|KB|kB|MB|MiB|GB|%)?"
_GOAL = re.compile(r"^\s*(<=|>=|≤|≥|<|>)\s*" + _NUM)


def _value(text: str, *, last: bool = True) -> tuple[float, float] | None:
    """(number, unit factor) of the last (or first) number in ``text``."""
    found = re.findall(_NUM, text)
    if not found:
        return None
    number, unit = found[-1] if last else found[0]
    return float(number.replace(",", "")), UNITS.get(unit, 1.0)


def verdict(measured: str, goal: str) -> bool | None:
    """True/False when the goal can be read, None when it is informational."""
    goal = goal.strip()
    if not goal or goal in ("—", "-"):
        return None
    m = _GOAL.match(goal)
    if m:
        op, number, unit = m.groups()
        target = float(number.replace(",", "")) * UNITS.get(unit, 1.0)
        got = _value(measured)
        if got is None:
            return False
        value = got[0] * (got[1] if unit else 1.0)
        return {"<": value < target, "<=": value <= target, "≤": value <= target,
                ">": value > target, ">=": value >= target, "≥": value >= target}[op]
    if re.fullmatch(r"[\d\s/.,]+", goal):
        return re.sub(r"\s", "", measured) == re.sub(r"\s", "", goal)
    return None


def rows(text: str) -> list[tuple[str, str, str, str, bool | None]]:
    """(section, figure, measured, goal, passed) for every table row that has a goal."""
    out = []
    section = ""
    header: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("## "):
            section, header = line[3:].strip(), None
            continue
        if section == "Summary":
            continue
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = [c.lower() for c in cells]
            continue
        if set(line) <= set("|-: "):
            continue
        if "goal" not in header:
            continue
        get = dict(zip(header, cells))
        figure = cells[0]
        measured = get.get("measured", cells[1] if len(cells) > 1 else "")
        goal = get.get("goal", "")
        passed = verdict(measured, goal)
        if get.get("pass") in ("yes", "NO"):
            passed = get["pass"] == "yes"
        if goal:
            out.append((section, figure, measured, goal, passed))
    return out


def summary_section(text: str) -> tuple[str, int]:
    found = rows(text)
    lines = [machine_line() + "  ",
             "Every figure the benchmarks hold a goal for (`make bench` runs them all, then this summary). "
             "Sections below have the details and the machine each was measured on.", "",
             "| benchmark | figure | measured | goal | pass |", "|---|---|---|---|---|"]
    failed = 0
    for section, figure, measured, goal, passed in found:
        mark = "" if passed is None else ("yes" if passed else "**NO**")
        failed += passed is False
        lines.append(f"| {section} | {figure} | {measured} | {goal} | {mark} |")
    lines.append("")
    lines.append(f"{len(found)} figures with goals; {sum(1 for r in found if r[4])} met, {failed} missed.")
    return "\n".join(lines), failed


def put_first(text: str, body: str) -> str:
    """Replace (or insert, right after the title) the ``## Summary`` section."""
    text = re.sub(r"^## Summary\n.*?(?=^## |\Z)", "", text, flags=re.S | re.M)
    title, _, rest = text.partition("\n")
    if not title.startswith("# "):
        title, rest = "# Benchmark results", text
    return f"{title}\n\n## Summary\n\n{body.strip()}\n\n{rest.lstrip()}"


def main() -> int:
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    body, failed = summary_section(text)
    width = 0
    found = rows(text)
    if found:
        width = max(len(f"{s}: {f}") for s, f, *_ in found)
    print("== summary (benchmarks/RESULTS.md)")
    for section, figure, measured, goal, passed in found:
        mark = "" if passed is None else ("ok" if passed else "MISSED")
        print(f"{section + ': ' + figure:<{width}}  {measured:>24}   goal {goal:<28} {mark}")
    if "--no-write" not in sys.argv:
        RESULTS.write_text(put_first(text, body), encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
