"""Benchmark the detectors: throughput on one core, per-message latency, memory the detector adds.

    .venv/bin/python benchmarks/bench_detect.py                 # detector figures, updates RESULTS.md
    .venv/bin/python benchmarks/bench_detect.py --analyzers     # also time SudachiPy / fugashi, if installed

Each figure is printed beside its goal. The ``## Detectors`` section of benchmarks/RESULTS.md is
rewritten with the figures and the machine; other sections are left alone.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEV_SET = ROOT / "tests" / "data" / "detect_dev.jsonl"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
GOAL_RATE, GOAL_P99_MS, GOAL_RSS_MB = 20_000, 1.0, 120


def _messages() -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(r["text"], r["lang"]) for r in rows]


def _rss_mb() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


def measure_detector() -> dict[str, float]:
    """Throughput, latency and added RSS of the real detector over the dev set."""
    messages = _messages()
    before = _rss_mb()
    from bot.detect import load_detector  # imported here so its modules count towards the RSS delta

    detector = load_detector(ROOT / "content")
    added = _rss_mb() - before
    for text, lang in messages:  # warm up
        detector.detect(text, lang)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < 2.5:
        for text, lang in messages:
            detector.detect(text, lang)
        count += len(messages)
    elapsed = time.perf_counter() - started
    latencies = []
    for _ in range(20):
        for text, lang in messages:
            t0 = time.perf_counter_ns()
            detector.detect(text, lang)
            latencies.append(time.perf_counter_ns() - t0)
    latencies.sort()
    return {
        "messages": len(messages),
        "rate": count / elapsed,
        "p50_ms": latencies[len(latencies) // 2] / 1e6,
        "p99_ms": latencies[int(len(latencies) * 0.99)] / 1e6,
        "rss_mb": added,
    }


_ANALYZER_PROBE = r'''
import gc, json, sys, time, psutil
texts = json.loads(sys.stdin.read())
gc.collect(); before = psutil.Process().memory_info().rss
name = sys.argv[1]
if name == "sudachipy":
    from sudachipy import Dictionary, SplitMode
    tok = Dictionary(dict="core").create(); mode = SplitMode.C
    run = lambda t: [m.dictionary_form() for m in tok.tokenize(t, mode)]
else:
    import fugashi
    tagger = fugashi.Tagger()
    run = lambda t: [w.feature.lemma for w in tagger(t)]
for t in texts: run(t)
gc.collect(); added = (psutil.Process().memory_info().rss - before) / 2**20
n, start = 0, time.perf_counter()
while time.perf_counter() - start < 2:
    for t in texts: run(t)
    n += len(texts)
print(json.dumps({"rate": n / (time.perf_counter() - start), "rss_mb": added}))
'''


def measure_analyzers() -> dict[str, dict[str, float] | str]:
    """Tokenising alone (no matching) with each Japanese analyser, in a fresh process each."""
    texts = [t for t, lang in _messages() if lang == "ja"]
    out: dict[str, dict[str, float] | str] = {}
    for name in ("sudachipy", "fugashi"):
        proc = subprocess.run([sys.executable, "-c", _ANALYZER_PROBE, name], input=json.dumps(texts),
                              capture_output=True, text=True)
        out[name] = json.loads(proc.stdout) if proc.returncode == 0 else f"not available: {proc.stderr.strip()[-120:]}"
    return out


def _machine() -> str:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs (nproc), {cpu}, Python {platform.python_version()}"


def _section(figures: dict[str, float], analyzers: dict | None) -> str:
    lines = [
        "## Detectors",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_detect.py`  ",
        f"Machine: {_machine()}  ",
        f"Workload: the {figures['messages']} messages of tests/data/detect_dev.jsonl (ja and en), one core.",
        "",
        "| figure | measured | goal |",
        "|---|---|---|",
        f"| throughput | {figures['rate']:,.0f} msg/s | ≥ {GOAL_RATE:,} msg/s |",
        f"| latency p50 | {figures['p50_ms'] * 1000:.1f} µs | |",
        f"| latency p99 | {figures['p99_ms'] * 1000:.1f} µs | < {GOAL_P99_MS:g} ms |",
        f"| RSS added by the loaded detector | {figures['rss_mb']:.1f} MB | < {GOAL_RSS_MB} MB |",
    ]
    if analyzers:
        lines += ["", "Japanese analysers, tokenising the Japanese dev messages only (no matching), "
                  "`--analyzers`:", "", "| analyser | msg/s | RSS added |", "|---|---|---|"]
        for name, res in analyzers.items():
            if isinstance(res, dict):
                lines.append(f"| {name} | {res['rate']:,.0f} | {res['rss_mb']:.1f} MB |")
            else:
                lines.append(f"| {name} | {res} | |")
    return "\n".join(lines) + "\n"


def write_results(section: str) -> None:
    """Replace the ``## Detectors`` section of RESULTS.md (or add it), keeping the rest."""
    existing = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(r"^## Detectors\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(existing):
        updated = pattern.sub(lambda _: section + "\n", existing, count=1)
    else:
        updated = existing.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(updated.rstrip("\n") + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--analyzers", action="store_true", help="also time SudachiPy and fugashi")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    figures = measure_detector()
    print(f"throughput   {figures['rate']:>10,.0f} msg/s   (goal ≥ {GOAL_RATE:,})")
    print(f"latency p50  {figures['p50_ms'] * 1000:>10.1f} µs")
    print(f"latency p99  {figures['p99_ms'] * 1000:>10.1f} µs      (goal < {GOAL_P99_MS:g} ms)")
    print(f"RSS added    {figures['rss_mb']:>10.1f} MB      (goal < {GOAL_RSS_MB} MB)")
    print(f"machine      {_machine()}")
    analyzers = measure_analyzers() if args.analyzers else None
    if analyzers:
        for name, res in analyzers.items():
            shown = res if isinstance(res, str) else f"{res['rate']:,.0f} msg/s, +{res['rss_mb']:.1f} MB"
            print(f"{name:<12} {shown}")
    if not args.no_write:
        write_results(_section(figures, analyzers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
