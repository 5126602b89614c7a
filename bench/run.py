"""Run every benchmark side by side in one go and print one table: figure, measured, goal, PASS/FAIL.

Usage: ``python -m bench.run [--quick] [--only NAME ...] [--json FILE] [--markdown FILE]`` from the repository
root (``make bench`` installs first). ``--quick`` shrinks every workload for a smoke run; its numbers are
not the ones the goals are about.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict

from bench import (
    batch_transform,
    code_staging,
    endpoint_latency,
    first_day,
    job_isolation,
    local_overhead,
    parse_cost,
    triggerer_logs,
    triggerer_scale,
    tuning,
    worker_slots,
)
from bench.common import Figure

FULL: dict[str, Callable[[], list[Figure]]] = {
    "parse": lambda: parse_cost.measure(samples=11),
    "slots": lambda: worker_slots.measure(seconds=60.0, poll_interval=2.0),
    "triggerer": lambda: triggerer_scale.measure(jobs=1000, interval=10.0, latency=0.05, spread=40.0),
    "triggerer_logs": lambda: triggerer_logs.measure(sizes=(1000, 5000), interval=10.0, latency=0.02),
    "staging": lambda: code_staging.measure(megabytes=50, files=50),
    "local": lambda: local_overhead.measure(epochs=140, rounds=3),
    "first_day": lambda: first_day.measure(examples=True),
    "transform": lambda: batch_transform.measure(rows=200_000, rounds=3),
    "endpoint": lambda: endpoint_latency.measure(requests=400),
    "tuning": lambda: tuning.measure(jobs=8, seconds=5.0, search_jobs=20, seeds=10),
    "isolation": lambda: job_isolation.measure(megabytes=100, files=10, rounds=5),
}
QUICK: dict[str, Callable[[], list[Figure]]] = {
    "parse": lambda: parse_cost.measure(samples=3),
    "slots": lambda: worker_slots.measure(seconds=8.0, poll_interval=1.0),
    "triggerer": lambda: triggerer_scale.measure(jobs=200, interval=3.0, latency=0.05, spread=8.0),
    "triggerer_logs": lambda: triggerer_logs.measure(sizes=(200,), interval=3.0, latency=0.02),
    "staging": lambda: code_staging.measure(megabytes=10, files=10),
    "local": lambda: local_overhead.measure(epochs=10, rounds=1),
    "first_day": lambda: first_day.measure(examples=False),
    "transform": lambda: batch_transform.measure(rows=20_000, rounds=1),
    "endpoint": lambda: endpoint_latency.measure(requests=40),
    "tuning": lambda: tuning.measure(jobs=4, seconds=1.0, search_jobs=6, seeds=2),
    "isolation": lambda: job_isolation.measure(megabytes=10, files=5, rounds=1, lines=1000),
}


def table(figures: list[Figure], markdown: bool = False) -> str:
    """Render the figures as an aligned text table, or as a Markdown table."""
    header = ("figure", "measured", "goal", "result")
    rows = [(f.name, f.measured, f.goal, "PASS" if f.ok else "FAIL") for f in figures]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    render = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in [header, *rows]]
    render.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(render)


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks, print the table and the details; exit 1 if a figure failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small workloads (smoke run, not the goals' numbers)")
    parser.add_argument("--only", nargs="*", choices=sorted(FULL), help="run only these benchmarks")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--markdown", help="also write the table and details to this Markdown file")
    args = parser.parse_args(argv)
    chosen = QUICK if args.quick else FULL
    figures: list[Figure] = []
    started = time.perf_counter()
    for name, run in chosen.items():
        if args.only and name not in args.only:
            continue
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        begun = time.perf_counter()
        try:
            figures.extend(run())
        except Exception as exc:  # a broken benchmark is a failed figure, not a crash of the whole run
            figures.append(Figure(f"{name}: benchmark error", type(exc).__name__, "runs", False, str(exc)[:500]))
        print(f"[bench] {name} took {time.perf_counter() - begun:.0f} s", file=sys.stderr, flush=True)
    total = time.perf_counter() - started
    machine = f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.system()}"
    print()
    print(table(figures))
    print()
    for figure in figures:
        print(f"* {figure.name}: {figure.details}")
    summary = f"{sum(f.ok for f in figures)}/{len(figures)} figures met their goal; {total:.0f} s in all ({machine})"
    print(f"\n{summary}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"seconds": total, "machine": machine, "figures": [asdict(f) for f in figures]}, fh, indent=2)
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(table(figures, markdown=True) + "\n\n")
            fh.write("\n".join(f"* **{f.name}**: {f.details}" for f in figures) + "\n\n")
            fh.write(summary + ".\n")
    return 0 if all(f.ok for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
