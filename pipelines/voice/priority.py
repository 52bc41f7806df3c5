"""CPU priority of the speech model's compute threads.

On a small machine a transcription must not slow down text dialogs. The
model's compute threads (CTranslate2 and its OpenMP team) do nearly all of
the work and never hold Python's GIL, so they are the ones made cheap:

- `idle` (default): Linux's SCHED_IDLE. The threads run only on CPU time no
  other thread of the machine wants, and a thread that wakes up takes the
  CPU from them at once. A higher nice value is not enough: a waking thread
  may still wait for a low-priority thread's time slice, and a text message
  hops between threads (event loop, database, search) several times.
  Measured with 10 voice notes in flight on 2 cores, text-message p95 rose
  +14–17 % at `idle`, +26 % at `low`, +185 % at `normal`
  (docs/benchmarks.md, «Voice»).
- `low`: nice +10. `normal`: as the rest of the process.

The Python side of a transcription (decoding, features, the decoding loop)
stays at normal priority on purpose: it holds the GIL at times, and a
starved GIL holder would stall the event loop (priority inversion).

On Linux a thread's policy and nice value are its own and are inherited by
the threads it starts, so the model is built on a short-lived thread at the
chosen priority and its compute threads keep it. Elsewhere nothing changes.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable
from typing import Literal, TypeVar

T = TypeVar("T")
Priority = Literal["idle", "low", "normal"]
LOW_NICE = 10


def lower_priority(priority: Priority) -> None:
    """Lower the calling thread's CPU priority (Linux; elsewhere it is left as is)."""
    if priority == "normal" or sys.platform != "linux":  # elsewhere a thread id is not a process id
        return
    tid = threading.get_native_id()
    if priority == "idle":
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
            return
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + LOW_NICE))


def build_at(priority: Priority, build: Callable[[], T]) -> T:
    """`build()` on a new thread at `priority`, so the threads it starts inherit that priority."""
    result: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        lower_priority(priority)
        try:
            result.append(build())
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=target, name="voice-model-loader")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]
