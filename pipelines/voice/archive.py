"""Received voice audio, kept on disk for `retention_days` (0: not kept at all).

Managers may need to listen to what the customer actually said; a bank may
not keep it longer than its policy allows. Files are named
`YYYYmmddTHHMMSS_<channel>_<dialog>_<update>.<ext>` and only such files are
ever removed, so a misconfigured folder loses nothing else.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)

DAY_S = 86_400
PRUNE_EVERY_S = 3_600  # how often saving also removes expired files
_OURS = re.compile(r"^\d{8}T\d{6}_[\w.-]+\.\w+$")
_UNSAFE = re.compile(r"[^\w.-]+")
_EXTENSIONS = {"ogg": ".ogg", "opus": ".ogg", "mpeg": ".mp3", "mp3": ".mp3", "mp4": ".m4a",
               "m4a": ".m4a", "aac": ".aac", "wav": ".wav", "wave": ".wav", "webm": ".webm"}


class AudioArchive:
    """A folder of received audio with time-based retention."""

    def __init__(self, folder: Path, retention_days: int) -> None:
        self.folder = folder
        self.retention_days = retention_days
        self._last_prune = float("-inf")

    def save(self, key: str, data: bytes, mime_type: str | None) -> Path | None:
        """Write one voice note (blocking); None when audio is not kept."""
        if self.retention_days <= 0:
            return None
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = self.folder / f"{stamp}_{_UNSAFE.sub('-', key)[:120]}{_extension(mime_type)}"
        self.folder.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if time.monotonic() - self._last_prune > PRUNE_EVERY_S:
            self.prune()
        return path

    def prune(self, now: float | None = None) -> int:
        """Remove files older than the retention period (all of ours at 0 days); returns how many."""
        self._last_prune = time.monotonic()
        if not self.folder.is_dir():
            return 0
        cutoff = (now if now is not None else time.time()) - self.retention_days * DAY_S
        removed = 0
        for path in self.folder.iterdir():
            if _OURS.match(path.name) and path.is_file() and path.stat().st_mtime < cutoff:
                try:
                    path.unlink()
                    removed += 1
                except OSError as exc:  # another process pruned it, or permissions
                    log.warning("could not remove expired voice audio %s: %s", path, exc)
        if removed:
            log.info("removed %d voice audio file(s) older than %d day(s)", removed, self.retention_days)
        return removed


def _extension(mime_type: str | None) -> str:
    subtype = (mime_type or "").split(";", 1)[0].split("/")[-1].strip().lower()
    return _EXTENSIONS.get(subtype.removeprefix("x-"), ".bin")
