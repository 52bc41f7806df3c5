"""Scale-out of `sovetnik serve`: N processes in Telegram webhook mode on PostgreSQL + Redis.

Everything runs on this machine, on loopback:

- a fresh PostgreSQL database per deployment (migrated by the first `serve`, as
  in production) and a Redis key prefix of its own; `scale.lock`, `scale.events`
  and `scale.rate_limits` are all `redis`;
- one fake Bot API (`tests/fakes/telegram_server.py`) in a process of its own,
  so that recording the replies does not share a core with the load generator;
- N `sovetnik serve` processes, offline answerer, an empty knowledge base;
- this process, the load generator: it POSTs webhook updates to the processes
  round-robin, many dialogs at once, each dialog's messages in order but without
  waiting for the answers (ordering is the product's job); a POST that fails is
  retried on the next process, as a load balancer would, so a delivery may
  arrive twice and the product must deduplicate it.

Each customer message asks for a deposit calculation («Посчитайте доход по
вкладу 100 010 рублей на 12 месяцев под 10%»): a reply without retrieval whose
income figure (10 001 ₽ here) names the message, so the replies recorded by the
fake show which message each one answers.

Phase 1 (throughput): a 1-process and a 4-process deployment run side by side;
the same batch of updates is sent to each in turn, for `--rounds` rounds.
Throughput is the batch's answered updates over the time from its first POST to
its last reply recorded by the fake.

Phase 2 (kills): the 4-process deployment gets `--kill-updates` updates at
`--kill-rate` a second while one process (in turn) is SIGKILLed every
`--kill-every` seconds and started again at once — once the one whose turn it
is has finished starting (a start costs ~13 CPU seconds: on a busy machine it
can take longer than the rotation). Afterwards every update must have exactly
one reply, and each dialog's replies must follow its messages' order.

Telegram allows a bot 30 sends a second (one a second per chat); the benchmark
sets `channels.telegram.sends_per_s: 1000` (a bot with paid broadcasts) so that
it measures the product rather than that limit; the per-chat second holds, and
every dialog's messages are sent far enough apart not to wait on it. The number
of dialogs is odd, so that the round-robin sends a dialog's consecutive messages
to different processes (with a multiple of 4, each dialog would stay on one).

Each batch also reports the CPU seconds per update of the deployment's processes
and of the whole machine (other work included), which tells a product that got
slower from a machine that got busier.

    .venv/bin/python benchmarks/scale_out.py [--dialogs 151] [--per-dialog 4] [--rounds 3]
        [--kill-updates 2000] [--kill-dialogs 251] [--kill-rate 4] [--kill-every 10]
        [--skip-throughput] [--skip-kills]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import ROOT, machine

sys.path.insert(0, str(ROOT))  # the fakes and the test database helpers live under tests/

import aiohttp
import yaml
from aiohttp import web
from redis.asyncio import Redis

from tests.fakes.telegram_server import FakeBotAPI
from tests.store.conftest import postgres_server_url, temporary_postgres_database

SOVETNIK = Path(sys.executable).with_name("sovetnik")
REDIS_URL = os.environ.get("SOVETNIK_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
SECRET = "scale-bench-secret"
START_S = 300.0  # a start is ~13 CPU seconds; on a busy machine it takes minutes
STALL_S = 180.0  # a reply claimed by a killed process is sent again after the outbox's claim (120 s)
INCOME = re.compile(r"без капитализации:\s*(\d[\d\s\u202f\xa0]*?)(?:,\d\d)?\s*₽")
BASE_AMOUNT = 100_000


def question(seq: int) -> str:
    """Message number `seq`: its reply's income is 10 000 + seq roubles."""
    return f"Посчитайте доход по вкладу {BASE_AMOUNT + 10 * seq} рублей на 12 месяцев под 10%"


def answered_seq(text: str) -> int | None:
    """The message number a reply answers, or None for any other text."""
    found = INCOME.search(text)
    if found is None:
        return None
    roubles = int(re.sub(r"\D", "", found[1]))
    return roubles - BASE_AMOUNT // 10


# ---------------------------------------------------------------- the fake's process

class RecordingBotAPI(FakeBotAPI):
    """The fake Bot API, with its replies readable over HTTP by the load generator."""

    def __init__(self) -> None:
        super().__init__()
        self.stamps: list[float] = []

    def _setup_routes(self, app: web.Application) -> None:
        super()._setup_routes(app)
        app.router.add_get("/bench/sent", self._bench_sent)

    async def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        message = await super()._send_message(params)
        self.stamps.append(time.monotonic())  # one clock for every process of the machine
        return message

    async def _bench_sent(self, request: web.Request) -> web.Response:
        lo, hi = int(request.query["lo"]), int(request.query["hi"])
        full = request.query.get("full") == "1"
        rows = [(m["chat_id"], m["text"] if full else "", t)
                for m, t in zip(self.sent, self.stamps, strict=True) if lo <= m["chat_id"] < hi]
        last = max((t for _, _, t in rows), default=0.0)
        return web.json_response({"count": len(rows), "last": last, "rows": rows if full else []})


async def serve_fake() -> None:
    """Run the fake until SIGTERM; its port goes to stdout."""
    fake = RecordingBotAPI()
    fake.strict_formatting = True
    async with fake:
        print(fake.port, flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()


# ---------------------------------------------------------------- the product's processes

@dataclass
class Deployment:
    """N `sovetnik serve` processes sharing one database and one Redis prefix."""

    name: str
    size: int
    folder: Path
    store_url: str
    api_url: str
    prefix: str = field(default_factory=lambda: f"bench_scale_{uuid.uuid4().hex[:8]}")
    ports: list[int] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes] | None] = field(default_factory=list)
    configs: list[Path] = field(default_factory=list)

    def write_configs(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for n in range(self.size):
            port = _free_port()
            config = {
                "server": {"host": "127.0.0.1", "port": port, "secret_key": "one-key-for-every-process"},
                "store": {"url": self.store_url},
                "redis": {"url": REDIS_URL, "prefix": self.prefix},
                # A killed process's pending messages are taken over after 30 s (default 60) so
                # that its dialogs are answered within the run; its Redis locks free after 15 s.
                "scale": {"lock": "redis", "events": "redis", "rate_limits": "redis",
                          "lock_ttl_s": 15, "take_over_s": 30},
                "knowledge": {"index_dir": str(self.folder / "index")},
                "voice": {"model": str(self.folder / "no-speech-model"),
                          "audio_dir": str(self.folder / "voice")},
                "agents": {"roles_dir": str(ROOT / "agents" / "roles")},
                "channels": {
                    "webchat": {"enabled": False},
                    "telegram": {"enabled": True, "token": FakeBotAPI().token, "api_url": self.api_url,
                                 "mode": "webhook", "webhook_url": "https://bench.invalid/telegram/webhook",
                                 "webhook_secret": SECRET, "sends_per_s": 1000},
                },
            }
            path = self.folder / f"{self.name}-{n}.yaml"
            path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
            self.ports.append(port)
            self.configs.append(path)
            self.procs.append(None)

    def url(self, n: int) -> str:
        return f"http://127.0.0.1:{self.ports[n]}/telegram/webhook"

    def spawn(self, n: int) -> None:
        log = (self.folder / f"{self.name}-{n}.log").open("ab")
        env = {k: v for k, v in os.environ.items() if k != "SOVETNIK_CONFIG"}
        self.procs[n] = subprocess.Popen([str(SOVETNIK), "--config", str(self.configs[n]), "serve"],
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=self.folder, env=env)

    async def healthy(self, n: int) -> None:
        deadline = time.monotonic() + START_S
        async with aiohttp.ClientSession() as client:
            while True:
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with client.get(f"http://127.0.0.1:{self.ports[n]}/healthz") as response:
                        if response.status == 200:
                            return
                proc = self.procs[n]
                assert proc is not None and proc.poll() is None, self.log_tail(n)
                assert time.monotonic() < deadline, f"{self.name}-{n} not healthy:\n{self.log_tail(n)}"
                await asyncio.sleep(0.2)

    async def start(self) -> None:
        self.write_configs()
        self.spawn(0)  # the first one migrates the fresh database; the others find it migrated
        await self.healthy(0)
        for n in range(1, self.size):
            self.spawn(n)
        await asyncio.gather(*(self.healthy(n) for n in range(1, self.size)))

    def kill(self, n: int) -> None:
        proc = self.procs[n]
        assert proc is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def stop(self) -> None:
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            if proc is None:
                continue
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def log_tail(self, n: int) -> str:
        return (self.folder / f"{self.name}-{n}.log").read_text(errors="replace")[-3000:]

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p is not None and p.poll() is None]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------- the load generator

@dataclass
class Sent:
    """What the generator sent: each dialog's message numbers in order."""

    order: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    retries: int = 0
    posts: int = 0


class Generator:
    """POSTs updates to a deployment's processes round-robin, retrying a failure on the next."""

    def __init__(self, client: aiohttp.ClientSession, deployment: Deployment) -> None:
        self.client = client
        self.deployment = deployment
        self.fake = FakeBotAPI()  # builds updates only; never started
        self.next = 0
        self.sent = Sent()

    async def post(self, chat: int, seq: int) -> None:
        update = self.fake.text_update(chat, question(seq))
        update["update_id"] = seq
        body = json.dumps(update).encode()
        headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
        self.sent.order[chat].append(seq)
        delay = 0.05
        while True:
            n = self.next % self.deployment.size
            self.next += 1
            try:
                async with self.client.post(self.deployment.url(n), data=body, headers=headers,
                                            timeout=aiohttp.ClientTimeout(total=10)) as response:
                    await response.read()
                    if response.status == 200:
                        self.sent.posts += 1
                        return
            except (aiohttp.ClientError, OSError, TimeoutError):
                pass
            self.sent.retries += 1  # on the next process, as a load balancer would
            await asyncio.sleep(delay)
            delay = min(1.0, delay * 2)


async def fake_sent(client: aiohttp.ClientSession, api_url: str, lo: int, hi: int,
                    full: bool = False) -> dict[str, Any]:
    params = {"lo": str(lo), "hi": str(hi), "full": "1" if full else "0"}
    async with client.get(f"{api_url}/bench/sent", params=params) as response:
        return dict(await response.json())


async def wait_answered(client: aiohttp.ClientSession, api_url: str, lo: int, hi: int,
                        expected: int, stall_s: float) -> dict[str, Any]:
    """The fake's record once `expected` replies are in, or once none came for `stall_s`."""
    count, progress = -1, time.monotonic()
    while True:
        state = await fake_sent(client, api_url, lo, hi)
        if state["count"] != count:
            count, progress = state["count"], time.monotonic()
        if count >= expected or time.monotonic() - progress > stall_s:
            return state
        await asyncio.sleep(0.1)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes have used so far (all their threads)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has spent busy so far (all processes, ours or not)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@dataclass
class Batch:
    """One batch's figures."""

    updates: int
    seconds: float
    answered: int
    retries: int
    product_cpu_s: float = 0.0  # the deployment's processes
    machine_cpu_s: float = 0.0  # every process of the machine, other work included

    @property
    def per_s(self) -> float:
        return self.answered / self.seconds


async def throughput_batch(client: aiohttp.ClientSession, deployment: Deployment, api_url: str,
                           first_chat: int, first_seq: int, dialogs: int, per_dialog: int,
                           in_flight: int) -> Batch:
    """Every dialog's message j, then every dialog's message j+1...; as fast as they are taken."""
    generator = Generator(client, deployment)
    gate = asyncio.Semaphore(in_flight)
    chats = range(first_chat, first_chat + dialogs)

    async def one(chat: int, seq: int) -> None:
        async with gate:
            await generator.post(chat, seq)

    seqs = iter(range(first_seq, first_seq + dialogs * per_dialog))
    pids = deployment.pids()
    cpu_before, busy_before = cpu_seconds(pids), machine_busy_seconds()
    start = time.monotonic()
    # A dialog's message j+1 is started only after its message j was taken (ordering is by arrival).
    for _ in range(per_dialog):
        await asyncio.gather(*(one(chat, next(seqs)) for chat in chats))
    expected = dialogs * per_dialog
    state = await wait_answered(client, api_url, first_chat, first_chat + dialogs, expected, STALL_S)
    return Batch(expected, state["last"] - start, state["count"], generator.sent.retries,
                 cpu_seconds(pids) - cpu_before, machine_busy_seconds() - busy_before)


# ---------------------------------------------------------------- checks

@dataclass
class Verdict:
    updates: int
    answered: int
    lost: int
    duplicated: int
    out_of_order: int
    other_replies: int
    other_texts: tuple[str, ...] = ()


def verify(order: dict[int, list[int]], rows: list[list[Any]]) -> Verdict:
    """Every message answered once, each dialog's replies in its messages' order."""
    replies: dict[int, list[int]] = defaultdict(list)
    other: list[str] = []
    for chat, text, _ in rows:
        seq = answered_seq(text)
        if seq is None:
            other.append(text)
        else:
            replies[chat].append(seq)
    lost = duplicated = out_of_order = 0
    for chat, seqs in order.items():
        got = replies.get(chat, [])
        counts = {s: got.count(s) for s in set(got)}
        lost += sum(1 for s in seqs if s not in counts)
        duplicated += sum(c - 1 for c in counts.values())
        firsts = list(dict.fromkeys(got))
        position = {s: i for i, s in enumerate(seqs)}
        out_of_order += sum(1 for a, b in itertools.pairwise(firsts)
                            if position.get(a, -1) > position.get(b, -1))
    answered = sum(len(v) for v in replies.values())
    return Verdict(sum(len(v) for v in order.values()), answered, lost, duplicated, out_of_order, len(other),
                   tuple(dict.fromkeys(other))[:3])


# ---------------------------------------------------------------- phases

async def phase_throughput(args: argparse.Namespace, one: Deployment, four: Deployment,
                           api_url: str) -> dict[str, list[Batch]]:
    results: dict[str, list[Batch]] = {one.name: [], four.name: []}
    chat, seq = 1_000_000, 1
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as client:
        # Warm-up: lazy imports, first queries, connection pools.
        for deployment in (one, four):
            await throughput_batch(client, deployment, api_url, chat, seq, 20 * deployment.size, 1,
                                   args.in_flight)
            chat += 20 * deployment.size
            seq += 20 * deployment.size
        for r in range(args.rounds):
            order = (one, four) if r % 2 == 0 else (four, one)
            for deployment in order:
                batch = await throughput_batch(client, deployment, api_url, chat, seq, args.dialogs,
                                               args.per_dialog, args.in_flight)
                chat += args.dialogs
                seq += args.dialogs * args.per_dialog
                results[deployment.name].append(batch)
                print(f"  round {r + 1} {deployment.name}: {batch.answered}/{batch.updates} answered "
                      f"in {batch.seconds:.2f} s = {batch.per_s:.1f}/s, {batch.retries} retried POSTs; "
                      f"CPU per update: product {1000 * batch.product_cpu_s / batch.answered:.0f} ms, "
                      f"machine {1000 * batch.machine_cpu_s / batch.answered:.0f} ms",
                      flush=True)
    return results


async def phase_kills(args: argparse.Namespace, four: Deployment,
                      api_url: str) -> tuple[Verdict, list[float], int, float]:
    """Steady load on the 4 processes while one is SIGKILLed every `kill_every` s and restarted."""
    first_chat, dialogs = 5_000_000, args.kill_dialogs
    per_dialog = -(-args.kill_updates // dialogs)
    kills: list[float] = []  # when each SIGKILL was sent
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as client:
        generator = Generator(client, four)
        stop = asyncio.Event()
        killing = asyncio.create_task(killer(four, args.kill_every, stop, kills))
        tasks: list[asyncio.Task[None]] = []
        start = time.monotonic()
        try:
            seq = 40_000  # amounts stay six-digit: a longer number would be masked as a phone
            last: dict[int, asyncio.Task[None]] = {}
            # Open loop at `kill_rate` updates a second; a dialog's next message waits for its last POST.
            for _ in range(per_dialog):
                for d in range(dialogs):
                    chat, seq = first_chat + d, seq + 1
                    last[chat] = asyncio.create_task(_after(last.get(chat), generator.post(chat, seq)))
                    tasks.append(last[chat])
                    await asyncio.sleep(max(0.0, start + len(tasks) / args.kill_rate - time.monotonic()))
            await asyncio.gather(*tasks)
        finally:
            posted_s = time.monotonic() - start
            stop.set()
            for task in (*tasks, killing):
                task.cancel()
            await asyncio.gather(*tasks, killing, return_exceptions=True)
        await asyncio.gather(*(four.healthy(n) for n in range(four.size)))
        expected = dialogs * per_dialog
        await wait_answered(client, api_url, first_chat, first_chat + dialogs, expected, STALL_S)
        await asyncio.sleep(5.0)  # a late duplicate would show by now
        state = await fake_sent(client, api_url, first_chat, first_chat + dialogs, full=True)
        return verify(generator.sent.order, state["rows"]), kills, generator.sent.retries, posted_s


async def killer(four: Deployment, every_s: float, stop: asyncio.Event, kills: list[float]) -> None:
    """SIGKILL the processes in turn, one every `every_s` seconds, and start each again at once.

    The one whose turn it is must have finished starting: on a busy machine a start
    can take longer than the rotation, and killing processes that never came up
    would test nothing but start-up.
    """
    n = 0
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
            return
        await four.healthy(n)
        four.kill(n)
        kills.append(time.monotonic())
        print(f"  {time.strftime('%H:%M:%S')} SIGKILL {four.name}-{n}; started again", flush=True)
        four.spawn(n)
        n = (n + 1) % four.size


async def _after(previous: asyncio.Task[None] | None, post: Any) -> None:
    if previous is not None:
        await previous
    await post


# ---------------------------------------------------------------- main

@contextlib.contextmanager
def fake_process() -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, __file__, "--fake-bot-api"], stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


async def drop_prefix(prefix: str) -> None:
    client = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def summarize(results: dict[str, list[Batch]]) -> tuple[float, float]:
    rates = {name: sum(b.answered for b in batches) / sum(b.seconds for b in batches)
             for name, batches in results.items()}
    one, four = rates["1 process"], rates["4 processes"]
    return one, four


async def run(args: argparse.Namespace) -> None:
    server = postgres_server_url()
    with (tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp, fake_process() as api_url,
          temporary_postgres_database(server, prefix="sovetnik_scale1") as url1,
          temporary_postgres_database(server, prefix="sovetnik_scale4") as url4):
        one = Deployment("1 process", 1, Path(tmp) / "one", url1.render_as_string(hide_password=False),
                         api_url)
        four = Deployment("4 processes", 4, Path(tmp) / "four", url4.render_as_string(hide_password=False),
                          api_url)
        try:
            await phases(args, one, four, api_url)
        finally:
            one.stop()
            four.stop()
            await drop_prefix(one.prefix)
            await drop_prefix(four.prefix)


async def phases(args: argparse.Namespace, one: Deployment, four: Deployment, api_url: str) -> None:
    if not args.skip_throughput:
        await one.start()
    await four.start()
    print(f"started: 1 process {one.pids()}, 4 processes {four.pids()}", flush=True)
    if not args.skip_throughput:
        print(f"phase 1: {args.dialogs} dialogs × {args.per_dialog} messages per batch, "
              f"{args.rounds} alternating rounds, ≤ {args.in_flight} POSTs in flight", flush=True)
        results = await phase_throughput(args, one, four, api_url)
        rate1, rate4 = summarize(results)
        print_throughput(results, rate1, rate4)
        one.stop()  # the idle deployment leaves the cores to phase 2
    if not args.skip_kills:
        print(f"phase 2: {args.kill_updates}+ updates at {args.kill_rate}/s to 4 processes, "
              f"one SIGKILLed every {args.kill_every} s and restarted", flush=True)
        verdict, kills, retries, posted_s = await phase_kills(args, four, api_url)
        print_kills(verdict, kills, retries, posted_s)


def print_throughput(results: dict[str, list[Batch]], rate1: float, rate4: float) -> None:
    print("\n| deployment | batches | updates | answered/s (all batches) | per batch |")
    print("|---|---|---|---|---|")
    for name, batches in results.items():
        per = ", ".join(f"{b.per_s:.1f}" for b in batches)
        total = sum(b.answered for b in batches)
        rate = rate1 if name == "1 process" else rate4
        print(f"| {name} | {len(batches)} | {total} | {rate:.1f} | {per} |")
    medians = [statistics.median(b.per_s for b in results[n]) for n in ("1 process", "4 processes")]
    print(f"\nthroughput 4 / 1: {rate4 / rate1:.2f}× (all batches), {medians[1] / medians[0]:.2f}× "
          f"(medians); target ≥ 1.7×")


def print_kills(verdict: Verdict, kills: list[float], retries: int, posted_s: float) -> None:
    gaps = [b - a for a, b in itertools.pairwise(kills)]
    spacing = (f"{min(gaps):.0f}–{max(gaps):.0f} s apart, median {statistics.median(gaps):.1f} s"
               if gaps else "")
    print(f"\nkills: {len(kills)} SIGKILLs over {posted_s:.0f} s of posting ({spacing}), "
          f"{retries} POSTs retried on another process")
    print("| updates | answered | lost | duplicated | out of order | other replies |")
    print("|---|---|---|---|---|---|")
    print(f"| {verdict.updates} | {verdict.answered} | {verdict.lost} | {verdict.duplicated} | "
          f"{verdict.out_of_order} | {verdict.other_replies} |")
    for text in verdict.other_texts:
        print(f"  other reply: {text[:200]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fake-bot-api", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dialogs", type=int, default=151, help="dialogs per throughput batch")
    parser.add_argument("--per-dialog", type=int, default=4, help="messages per dialog in a batch")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of phase 1")
    parser.add_argument("--in-flight", type=int, default=64, help="POSTs in flight at most (phase 1)")
    parser.add_argument("--kill-updates", type=int, default=2000, help="updates of phase 2")
    parser.add_argument("--kill-dialogs", type=int, default=251, help="dialogs of phase 2")
    parser.add_argument("--kill-rate", type=float, default=4.0, help="updates a second in phase 2")
    parser.add_argument("--kill-every", type=float, default=10.0, help="seconds between SIGKILLs")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-kills", action="store_true")
    args = parser.parse_args()
    if args.fake_bot_api:
        asyncio.run(serve_fake())
        return
    print(f"machine: {machine()}")
    print(f"load before: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    print(f"command: {shlex.join([Path(sys.executable).name, *sys.argv])}", flush=True)
    asyncio.run(run(args))
    print(f"load after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")


if __name__ == "__main__":
    main()
