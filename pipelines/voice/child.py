"""Transcription in a child process that text turns pause: the only way to yield mid-step.

In-process pacing (`pipelines.voice.paced_whisper`) can only wait *between*
the model's steps: a text turn that arrives during an encoder pass over a
30-second window shares the cores with it for the whole pass, and with a
few notes queued a step is always running. It also shares the GIL with
the event loop (features, VAD and the decoding loop are Python).

`ChildTranscriber` runs `FasterWhisperTranscriber` in a child process of its
own (one per worker) and registers with `TextFirst`: when a text turn starts,
every child that is transcribing gets SIGSTOP; when the last one ends, SIGCONT
(and the worker waiting for a child stops it again while turns run on).
A note may stay stopped at most `yield_budget_s` in all, and never more than
`yield_share` of its time so far (the worker thread waiting for the result
lets it go on when either is spent), so a steady stream of text messages
delays a voice note by a bounded share and never starves it.

A child that dies (out of memory, a crash in native code) is replaced and
the note is transcribed once more by the new one; if that one dies too the
note fails with `VoiceError`, whose reply asks the customer to write instead.
Children ask Linux to kill them when the parent dies (PR_SET_PDEATHSIG), so a
stopped child never outlives the product, and run OpenMP with
`OMP_WAIT_POLICY=PASSIVE` (unless set otherwise): idle compute threads sleep
instead of spinning.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from pipelines.voice.audio import SAMPLE_RATE
from pipelines.voice.errors import VoiceError, VoiceUnavailable
from pipelines.voice.pacing import TextFirst
from pipelines.voice.transcriber import FasterWhisperTranscriber, Transcript, WhisperOptions

log = logging.getLogger(__name__)

POLL_S = 0.02  # how often a waiting worker checks the note's yield budget and the child
START_TIMEOUT_S = 300.0  # loading a large model from a slow disk
RETRIES = 1  # a note whose child died is transcribed once more by a fresh child
_PR_SET_PDEATHSIG = 1


class ChildDied(Exception):
    """The transcription process exited before answering."""


@dataclass(frozen=True)
class YieldBudget:
    """How long one note may be stopped for text turns: in all, and as a share of its time."""

    total_s: float
    share: float


def _serve(options: WhisperOptions, conn: Connection) -> None:
    """The child: load the model, then transcribe every audio array received until EOF."""
    if sys.platform == "linux":  # a stopped child must not outlive a killed parent
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    # CTranslate2's OpenMP threads otherwise spin between the decoder's steps (while Python
    # picks the next token), taking cores from text turns; read when ctranslate2 is loaded.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    transcriber = FasterWhisperTranscriber(options)  # no pacing inside: the parent stops this process
    try:
        transcriber.model()
    except VoiceUnavailable as exc:
        conn.send(("unavailable", str(exc)))
        return
    conn.send(("ready", None))
    while True:
        try:
            audio = conn.recv()
        except (EOFError, OSError):
            return
        try:
            conn.send(("ok", transcriber.transcribe(audio)))
        except Exception as exc:  # reported to the parent, which raises it as VoiceError
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class _Child:
    """One transcription process, its pipe, and whether text turns have it stopped now."""

    def __init__(self, options: WhisperOptions) -> None:
        context = multiprocessing.get_context("spawn")  # never fork a process with threads
        self.conn, child_end = context.Pipe()
        self.process = context.Process(target=_serve, args=(options, child_end),
                                       name="voice-transcriber", daemon=True)
        self.process.start()
        child_end.close()
        self.lock = threading.Lock()
        self.busy = False  # transcribing a note (only then may it be stopped)
        self.stopped_since: float | None = None
        self.stopped_s = 0.0  # this note's time stopped so far
        self.note_started = 0.0
        self.budget = YieldBudget(0.0, 0.0)

    def wait_ready(self) -> None:
        if not self.conn.poll(START_TIMEOUT_S):
            raise VoiceUnavailable(f"the speech model did not load within {START_TIMEOUT_S:.0f} s")
        kind, detail = self._receive()
        if kind == "unavailable":
            raise VoiceUnavailable(detail)

    def transcribe(self, audio: np.ndarray, budget: YieldBudget,
                   text_running: Callable[[], bool]) -> Transcript:
        with self.lock:
            self.busy, self.stopped_s, self.budget = True, 0.0, budget
            self.note_started = time.monotonic()
        try:
            self._send(audio)
            while not self.conn.poll(POLL_S):
                self._check_budget(text_running())
                if not self.process.is_alive():
                    raise ChildDied(f"exit code {self.process.exitcode}")
            kind, detail = self._receive()
        finally:
            with self.lock:
                self.busy = False
                self._go_on()
        if kind != "ok":
            raise VoiceError(f"transcription failed: {detail}")
        transcript: Transcript = detail
        return transcript

    def stop(self) -> None:
        """SIGSTOP, if transcribing and the note's budget allows (event loop: never blocks)."""
        with self.lock:
            if self.busy and self.stopped_since is None and self._allowance() > 0:
                self._signal(signal.SIGSTOP)
                self.stopped_since = time.monotonic()

    def go_on(self) -> None:
        """SIGCONT, if stopped."""
        with self.lock:
            self._go_on()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.close()
        if self.process.is_alive():
            self._signal(signal.SIGCONT)
            self.process.kill()
        self.process.join(timeout=5)

    def alive(self) -> bool:
        return self.process.is_alive()

    # -- under self.lock ------------------------------------------------------------------

    def _allowance(self) -> float:
        """Seconds this note may still be stopped now."""
        elapsed = time.monotonic() - self.note_started
        return min(self.budget.total_s, self.budget.share * elapsed) - self.stopped_s

    def _go_on(self) -> None:
        if self.stopped_since is None:
            return
        self.stopped_s += time.monotonic() - self.stopped_since
        self.stopped_since = None
        self._signal(signal.SIGCONT)

    def _check_budget(self, text_running: bool) -> None:
        """Go on when the allowance is spent; stop again while text turns still run and it has grown.

        Turns that began before the note, or ran on after its allowance was spent, send
        no further start signal: this check, every `POLL_S`, covers them.
        """
        with self.lock:
            if self.stopped_since is not None:
                if time.monotonic() - self.stopped_since >= self._allowance():
                    self._go_on()
            elif text_running and self._allowance() >= POLL_S:
                self._signal(signal.SIGSTOP)
                self.stopped_since = time.monotonic()

    def _signal(self, sig: int) -> None:
        if self.process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, sig)

    # -- the pipe -------------------------------------------------------------------------

    def _send(self, audio: np.ndarray) -> None:
        try:
            self.conn.send(audio)
        except (OSError, EOFError) as exc:
            raise ChildDied(f"{type(exc).__name__}: {exc}") from exc

    def _receive(self) -> tuple[str, Any]:
        try:
            message: tuple[str, Any] = self.conn.recv()
        except (OSError, EOFError) as exc:
            raise ChildDied(f"exit code {self.process.exitcode}") from exc
        return message


class ChildTranscriber:
    """`Transcriber` whose model runs in child processes that text turns stop (see the module)."""

    def __init__(self, options: WhisperOptions, text_first: TextFirst | None = None, *,
                 yield_share: float = 0.7) -> None:
        # The child transcribes without in-process pacing: stopping it replaces that.
        self.options = replace(options, yield_budget_s=0.0)
        self.budget = YieldBudget(options.yield_budget_s, yield_share)
        self.local = FasterWhisperTranscriber(self.options)  # checks the folder; loads nothing here
        self.name = self.local.name
        self._idle: list[_Child] = []
        self._busy: set[_Child] = set()
        self._lock = threading.Lock()
        self._failure: str | None = None
        self._closed = False
        self.text_first = text_first
        if text_first is not None:
            text_first.listen(self.stop_all, self.go_on_all)

    def unavailable_reason(self) -> str | None:
        """None when the model folder is on disk (or a child failed to load it: why)."""
        return self._failure or self.local.unavailable_reason()

    def transcribe(self, audio: np.ndarray) -> Transcript:
        """Transcribe in a child process (blocking: a worker thread); once more if it dies."""
        for attempt in range(RETRIES + 1):
            child = self._take()
            try:
                transcript = child.transcribe(audio, self.budget, self._text_running)
            except ChildDied as exc:
                self._drop(child)
                last = attempt == RETRIES
                log.warning("speech process died (%s) during a %.1f s note; %s", exc,
                            audio.size / SAMPLE_RATE, "giving up on it" if last else "transcribing it again")
                if last:
                    raise VoiceError(f"the speech process died twice: {exc}") from exc
                continue
            except BaseException:
                self._give_back(child)
                raise
            self._give_back(child)
            return transcript
        raise AssertionError("unreachable")

    def stop_all(self) -> None:
        """A text turn started: stop every child that is transcribing (within its budget)."""
        for child in self._children_busy():
            child.stop()

    def go_on_all(self) -> None:
        """The last text turn ended: let every stopped child go on."""
        for child in self._children_busy():
            child.go_on()

    def _children_busy(self) -> list[_Child]:
        with self._lock:
            return list(self._busy)

    def _text_running(self) -> bool:
        return self.text_first is not None and self.text_first.running > 0

    def close(self) -> None:
        """End every child (one transcribing is killed: its note gets the failure reply)."""
        with self._lock:
            self._closed = True
            children = [*self._idle, *self._busy]
            self._idle.clear()
        for child in children:
            child.close()

    def _take(self) -> _Child:
        with self._lock:
            child = self._idle.pop() if self._idle else None
        if child is None or not child.alive():
            child = self._start()
        with self._lock:
            self._busy.add(child)
        return child

    def _give_back(self, child: _Child) -> None:
        with self._lock:
            self._busy.discard(child)
            self._idle.append(child)

    def _drop(self, child: _Child) -> None:
        with self._lock:
            self._busy.discard(child)
        child.close()

    def _start(self) -> _Child:
        if self._failure is not None:
            raise VoiceUnavailable(self._failure)
        if self._closed:  # the product is stopping: no new processes
            raise VoiceError("the voice pipeline is closed")
        child = _Child(self.options)
        try:
            child.wait_ready()
        except VoiceUnavailable as exc:
            self._failure = str(exc)
            child.close()
            raise
        except ChildDied as exc:
            child.close()
            raise VoiceError(f"the speech process did not start: {exc}") from exc
        return child
