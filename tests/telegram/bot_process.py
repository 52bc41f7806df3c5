"""The product as a separate process, for crash tests: `python bot_process.py CONFIG [--after FILE]`.

Builds the runtime from a config file, starts it (channels included), prints
`ready` and runs until SIGTERM or SIGINT (then stops cleanly) — or until it is
killed outright, which is the point. With `--after FILE` it is a standby: it
imports the product's modules (the slow part of a start) and only builds and
starts the runtime once FILE exists, so a restart takes a moment.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import signal
import sys
import time
from pathlib import Path

from bots.config import load_settings
from bots.runtime import Runtime

# Imported lazily by Runtime.build; loaded up front so that a standby is warm.
WARM_MODULES = ("bots.channels.telegram", "bots.channels.telegram_managers", "bots.channels.vk",
                "bots.channels.max", "langchain_openai")


async def run(config: Path) -> None:
    runtime = Runtime.build(load_settings(config, required=True))
    await runtime.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    try:
        await stop.wait()
    finally:
        await runtime.stop()
    print("stopped", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("config", type=Path)
    parser.add_argument("--after", type=Path, help="start only once this file exists")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in WARM_MODULES:
        importlib.import_module(name)
    if args.after is not None:
        print("standing by", flush=True)
        while not args.after.exists():
            time.sleep(0.05)
    asyncio.run(run(args.config))


if __name__ == "__main__":
    main()
