"""Shared helpers of the benchmarks: paths, the machine's description, timing."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The shared eval data lies beside the clone; SOVETNIK_SHARED points elsewhere (a worktree).
SHARED = Path(os.environ.get("SOVETNIK_SHARED") or ROOT.parent / "shared")
SEEDS = sorted((SHARED / "seeds").glob("00[12]_*.txt"))
DEV_SET = SHARED / "eval" / "dev_qa.jsonl"


def machine() -> str:
    """CPU model, cores and memory, for the figures' caption."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = subprocess.run(["free", "-g"], capture_output=True, text=True).stdout.split("\n")[1].split()[1]
    except (OSError, IndexError):
        mem = "?"
    return f"{cpu}, {os.cpu_count()} cores, {mem} GiB RAM, Python {platform.python_version()}"


def percentiles(samples_ms: list[float]) -> tuple[float, float]:
    """p50 and p95 of a list of milliseconds."""
    ordered = sorted(samples_ms)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def timed(fn: Callable[[], object]) -> float:
    """Wall time of one call in milliseconds."""
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000
