"""Benchmark the detector pipeline: throughput on one core, per-message latency, memory the loaded
detector adds, start-up time.

    .venv/bin/python benchmarks/bench_detect.py                 # figures, updates RESULTS.md
    .venv/bin/python benchmarks/bench_detect.py --analyzers     # also time SudachiPy / fugashi alone

The whole pipeline is timed (normalise, lexicon matches, SudachiPy, features, the linear model,
thresholds, evidence), pinned to one CPU, over the training corpus's messages (every row of
content/detect/corpus, both languages). Throughput is given by wall clock and by CPU time: the
box is shared, and CPU time is the fairer figure when other work runs on it. A reference loop
(ten million Python additions) and the load average are recorded beside the figures so a run on
a busy machine can be told from a slow detector. The ``## Detectors`` section of
benchmarks/RESULTS.md is rewritten; other sections are left alone.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from _machine import machine_line, replace_section  # noqa: E402

CORPUS = ROOT / "content" / "detect" / "corpus"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
GOAL_RATE, GOAL_P99_MS, GOAL_RSS_MB, GOAL_STARTUP_S = 5_000, 2.0, 200, 3.0


def _messages() -> list[tuple[str, str]]:
    rows = []
    for path in sorted(CORPUS.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                rows.append((row["text"], row["lang"]))
    return rows


def _rss_mb() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


def _reference_seconds() -> float:
    started = time.process_time()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.process_time() - started


_STARTUP_PROBE = r'''
import json, sys, time
started = time.perf_counter()
from pathlib import Path
from bot.detect import load_detector
detector = load_detector(Path(sys.argv[1]))
loaded = time.perf_counter()
detector.detect("頼まれると断れなくて、毎晩2時まで作業してます", "ja")
detector.detect("I can't say no", "en")
print(json.dumps({"load_s": loaded - started, "first_answer_s": time.perf_counter() - started}))
'''


def measure_startup() -> dict[str, float]:
    """A fresh interpreter: import, load lexicons, model and dictionary, answer the first messages."""
    runs = []
    for _ in range(3):
        proc = subprocess.run([sys.executable, "-c", _STARTUP_PROBE, str(ROOT / "content")], cwd=ROOT,
                              capture_output=True, text=True, check=True)
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {key: sorted(r[key] for r in runs)[1] for key in runs[0]}  # the median of three


def measure_detector() -> dict[str, float]:
    """Throughput, latency and added RSS of the real detector, pinned to one CPU."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    messages = _messages()
    before = _rss_mb()
    from bot.detect import load_detector  # imported here so its modules count towards the RSS delta

    detector = load_detector(ROOT / "content")
    for text, lang in messages:  # warm up: the analyser's caches grow on first use
        detector.detect(text, lang)
    added = _rss_mb() - before
    count, started, cpu_started = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - started < 10:
        for text, lang in messages:
            detector.detect(text, lang)
        count += len(messages)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    latencies = []
    for text, lang in messages * 2:
        t0 = time.perf_counter_ns()
        detector.detect(text, lang)
        latencies.append(time.perf_counter_ns() - t0)
    latencies.sort()
    return {
        "messages": len(messages),
        "ja": sum(lang == "ja" for _, lang in messages),
        "mean_chars": sum(len(t) for t, _ in messages) / len(messages),
        "rate": count / elapsed,
        "cpu_rate": count / cpu,
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
    d = Dictionary(dict="core")
    tok = (getattr(d, "tokenizer", None) or d.create)(SplitMode.C)
    run = lambda t: [m.normalized_form() for m in tok.tokenize(t)]
else:
    import fugashi
    tagger = fugashi.Tagger()
    run = lambda t: [w.feature.lemma for w in tagger(t)]
for t in texts: run(t)
gc.collect(); added = (psutil.Process().memory_info().rss - before) / 2**20
n, start = 0, time.process_time()
while time.process_time() - start < 3:
    for t in texts: run(t)
    n += len(texts)
print(json.dumps({"rate": n / (time.process_time() - start), "rss_mb": added}))
'''


def measure_analyzers() -> dict[str, dict[str, float] | str]:
    """Tokenising alone (CPU time) with each Japanese analyser, in a fresh process each."""
    texts = [t for t, lang in _messages() if lang == "ja"]
    out: dict[str, dict[str, float] | str] = {}
    for name in ("sudachipy", "fugashi"):
        proc = subprocess.run([sys.executable, "-c", _ANALYZER_PROBE, name], input=json.dumps(texts),
                              capture_output=True, text=True)
        out[name] = json.loads(proc.stdout) if proc.returncode == 0 else f"not available: {proc.stderr.strip()[-120:]}"
    return out


def _section(figures: dict, startup: dict, reference: float, load: tuple, analyzers: dict | None) -> str:
    lines = [
        "Command: `.venv/bin/python benchmarks/bench_detect.py`  ",
        f"{machine_line()}  ",
        f"Load average (1 min) {load[0]:.1f} before, {load[1]:.1f} after; reference loop (10 M Python additions) "
        f"{reference:.2f} s of CPU.  ",
        f"Workload: the {figures['messages']:,} messages of content/detect/corpus ({figures['ja']:,} Japanese, "
        f"mean {figures['mean_chars']:.0f} characters), the whole pipeline, pinned to one CPU.",
        "",
        "| figure | measured | goal |",
        "|---|---|---|",
        f"| throughput (CPU time) | {figures['cpu_rate']:,.0f} msg/s | ≥ {GOAL_RATE:,} msg/s |",
        f"| throughput (wall clock) | {figures['rate']:,.0f} msg/s | |",
        f"| latency p50 | {figures['p50_ms'] * 1000:.0f} µs | |",
        f"| latency p99 | {figures['p99_ms']:.2f} ms | < {GOAL_P99_MS:g} ms |",
        f"| RSS added by the loaded detector | {figures['rss_mb']:.1f} MB | < {GOAL_RSS_MB} MB |",
        f"| start-up (fresh process to loaded detector, median of 3) | {startup['load_s']:.2f} s | < {GOAL_STARTUP_S:g} s |",
        f"| start-up to the first two answers | {startup['first_answer_s']:.2f} s | |",
    ]
    if analyzers:
        lines += ["", "Japanese analysers alone, tokenising the Japanese corpus messages (CPU time), "
                  "`--analyzers`:", "", "| analyser | msg/s | RSS added |", "|---|---|---|"]
        for name, res in analyzers.items():
            if isinstance(res, dict):
                lines.append(f"| {name} | {res['rate']:,.0f} | {res['rss_mb']:.1f} MB |")
            else:
                lines.append(f"| {name} | {res} | |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--analyzers", action="store_true", help="also time SudachiPy and fugashi alone")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    reference = _reference_seconds()
    startup = measure_startup()
    analyzers = measure_analyzers() if args.analyzers else None
    figures = measure_detector()
    load_after = os.getloadavg()[0]
    print(f"throughput   {figures['cpu_rate']:>10,.0f} msg/s CPU time, {figures['rate']:,.0f} wall  (goal ≥ {GOAL_RATE:,})")
    print(f"latency p50  {figures['p50_ms'] * 1000:>10.0f} µs")
    print(f"latency p99  {figures['p99_ms']:>10.2f} ms      (goal < {GOAL_P99_MS:g} ms)")
    print(f"RSS added    {figures['rss_mb']:>10.1f} MB      (goal < {GOAL_RSS_MB} MB)")
    print(f"start-up     {startup['load_s']:>10.2f} s       (goal < {GOAL_STARTUP_S:g} s)")
    print(f"reference    {reference:>10.2f} s CPU for 10 M additions; load {load_before:.1f} → {load_after:.1f}")
    if analyzers:
        for name, res in analyzers.items():
            shown = res if isinstance(res, str) else f"{res['rate']:,.0f} msg/s, +{res['rss_mb']:.1f} MB"
            print(f"{name:<12} {shown}")
    if not args.no_write:
        text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
        body = _section(figures, startup, reference, (load_before, load_after), analyzers)
        RESULTS.write_text(replace_section(text, "Detectors", body), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
