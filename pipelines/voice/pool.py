"""A bounded pool of worker threads for CPU-heavy voice work.

`workers` threads run jobs; at most `queue_size` more voice notes may wait
(including those still downloading). Beyond that a note is refused at once
with `VoiceBusy`, so a burst of voice notes never builds an unbounded
backlog that customers would wait minutes for.

The worker threads run at a lower CPU priority (`nice`): on a small machine
the event loop and text dialogs then keep their share of the CPU while a
long transcription runs. On Linux a thread's nice value is its own and is
inherited by the threads it starts, so the model's compute threads, created
when the model is first used from a worker, run at the same priority.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from pipelines.voice.errors import VoiceBusy

T = TypeVar("T")


class WorkerPool:
    """Runs blocking jobs off the event loop, with admission control."""

    def __init__(self, workers: int, queue_size: int, *, nice: int = 0, name: str = "voice") -> None:
        self.workers = workers
        self.capacity = workers + queue_size
        self._admitted = 0  # changed on the event loop only
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix=name,
                                            initializer=_lower_priority, initargs=(nice,))

    @property
    def admitted(self) -> int:
        """Voice notes being fetched, waiting or transcribed now."""
        return self._admitted

    @contextlib.contextmanager
    def admission(self) -> Iterator[None]:
        """Hold a place for one voice note; `VoiceBusy` when every place is taken."""
        if self._admitted >= self.capacity:
            raise VoiceBusy(f"{self._admitted} voice notes in progress")
        self._admitted += 1
        try:
            yield
        finally:
            self._admitted -= 1

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run `fn(*args)` on a worker thread and wait for it without blocking the loop."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def close(self) -> None:
        """Drop queued jobs; a running one finishes in its thread."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def _lower_priority(nice: int) -> None:
    """Raise this thread's nice value by `nice` (Linux; elsewhere it is left as is)."""
    if nice <= 0 or sys.platform != "linux":  # elsewhere a thread id is not a process id
        return
    with contextlib.suppress(AttributeError, OSError):
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + nice))
