"""A bounded pool of worker threads for CPU-heavy voice work.

`workers` threads run jobs; at most `queue_size` more voice notes may wait
(including those still downloading). Beyond that a note is refused at once
with `VoiceBusy`, so a burst of voice notes never builds an unbounded
backlog that customers would wait minutes for.

Jobs are the Python side of a transcription (decoding, features, the
decoding loop); the heavy compute runs on the model's own threads, at the
priority set in `pipelines.voice.priority`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from pipelines.voice.errors import VoiceBusy

T = TypeVar("T")


class WorkerPool:
    """Runs blocking jobs off the event loop, with admission control."""

    def __init__(self, workers: int, queue_size: int, *, name: str = "voice") -> None:
        self.workers = workers
        self.capacity = workers + queue_size
        self._admitted = 0  # changed on the event loop only
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix=name)

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

