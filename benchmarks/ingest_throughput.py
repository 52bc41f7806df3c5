"""Ingest throughput (chunks/s) and the cost of re-ingesting unchanged files.

Both runs are measured as the operator runs them: the `sovetnik kb ingest`
command in a fresh process, start-up and model loading included.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, SEEDS, machine

SOVETNIK = str(Path(sys.executable).with_name("sovetnik"))


def run(args: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run([SOVETNIK, *args], capture_output=True, text=True, check=True, cwd=ROOT)
    return time.perf_counter() - start, out.stdout


def main() -> None:
    print(f"# {machine()}")
    print("| input | chunks | first ingest, s | chunks/s | unchanged re-ingest, s | ratio |")
    print("|---|---|---|---|---|---|")
    inputs = {"seeds 001+002": [str(p) for p in SEEDS], "demo knowledge base": [str(ROOT / "knowledge/docs")]}
    for name, paths in inputs.items():
        folder = Path(tempfile.mkdtemp())
        try:
            first, out = run(["kb", "ingest", *paths, "--index", str(folder)])
            chunks = int(out.split("chunks written:")[1].split()[0])
            again, out2 = run(["kb", "ingest", *paths, "--index", str(folder)])
            assert "updated: 0" in out2, out2
            print(f"| {name} | {chunks} | {first:.1f} | {chunks / first:.1f} | {again:.2f} | "
                  f"{again / first:.1%} |")
        finally:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
