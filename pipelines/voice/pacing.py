"""How a transcription shares the CPU with text dialogs: text first, voice never starved.

A voice note costs seconds of CPU; a text reply tens of milliseconds. On a
machine that is busy anyway (other services, other tenants) the two rules
that keep both honest are:

- **Text first, within a budget.** While a text turn runs (`TextFirst.turn`,
  entered by the conversation engine), a transcription waits before its next
  step — the encoder pass over a 30-second window, or one decode — instead
  of competing for the cores. Each note may wait at most `yield_budget_s` in
  all; after that it no longer waits, so a steady stream of text messages
  delays a voice note by a bounded amount and never starves it.
- **A deadline per note for the fallback ladder.** Whisper re-decodes a
  window at higher temperatures when a decode looks bad (repetitive or
  unlikely text). On a model that hears synthetic or noisy speech poorly that
  is most windows, up to six decodes each. Once a note has taken
  `ladder_deadline_s`, no further fallback decodes run: the best decode so far
  is kept, and the customer gets an answer (or «Я расслышал…») in time.

Both rules run in worker threads, inside `PacedWhisperModel`; `NoteClock` is
the per-note state (start time, yield budget left), one per transcription.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


class TextFirst:
    """Counts text turns in progress; transcriptions wait for none (within their budget)."""

    def __init__(self) -> None:
        self._running = 0
        self._idle = threading.Condition()
        self._listeners: list[tuple[Callable[[], None], Callable[[], None]]] = []

    def listen(self, on_first: Callable[[], None], on_last: Callable[[], None]) -> None:
        """Call `on_first` when a turn starts with none running, `on_last` when the last one ends.

        Both are called on the event loop and must not block (`pipelines.voice.child`
        stops and continues its processes there).
        """
        self._listeners.append((on_first, on_last))

    @property
    def running(self) -> int:
        """Text turns in progress now."""
        return self._running

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Around one text turn (on the event loop: entering never blocks)."""
        with self._idle:
            self._running += 1
            first = self._running == 1
        if first:
            for on_first, _ in self._listeners:
                on_first()
        try:
            yield
        finally:
            with self._idle:
                self._running -= 1
                last = not self._running
                if last:
                    self._idle.notify_all()
            if last:
                for _, on_last in self._listeners:
                    on_last()

    def wait(self, clock: NoteClock) -> None:
        """Block (a worker thread) while text turns run, charging the note's yield budget."""
        if clock.yield_left_s <= 0:
            return
        start = time.monotonic()
        with self._idle:
            self._idle.wait_for(lambda: not self._running, timeout=clock.yield_left_s)
        clock.yield_left_s -= time.monotonic() - start


@dataclass
class NoteClock:
    """One transcription's time: when it started, and how much more it may yield to text."""

    yield_left_s: float
    ladder_deadline_s: float | None
    started: float = field(default_factory=time.monotonic)

    def ladder_closed(self) -> bool:
        """Whether fallback decodes should stop (the note has run past its deadline)."""
        return (self.ladder_deadline_s is not None
                and time.monotonic() - self.started >= self.ladder_deadline_s)
