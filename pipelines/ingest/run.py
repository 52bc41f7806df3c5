"""Incremental ingestion of files and folders into a knowledge index.

Only files whose bytes changed are re-read; only chunks whose text changed
are re-embedded; files that disappeared from an ingested folder lose their
chunks. A file that cannot be read is reported and skipped; the run goes on.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from knowledge.errors import UnsafeFileName
from knowledge.files import check_name, refuse_links
from knowledge.index import KnowledgeIndex
from knowledge.manifest import Manifest, SourceEntry
from knowledge.types import Chunk
from pipelines.ingest.chunker import chunk_document
from pipelines.ingest.clean import CleanReport, clean
from pipelines.ingest.errors import UnreadableFile
from pipelines.ingest.loaders import READERS, load

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    """What one ingest run did, file by file."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    chunks: int = 0
    cleaned: dict[str, int] = field(default_factory=dict)
    weights: str = ""

    @property
    def changed(self) -> bool:
        """Whether the index was written."""
        return bool(self.added or self.updated or self.removed)


@dataclass(frozen=True)
class _Candidate:
    key: str
    path: Path
    source: str
    tags: tuple[str, ...]


def ingest(paths: Sequence[Path], index: KnowledgeIndex, *, embedder_config: str,
           rebuild: bool = False) -> IngestReport:
    """Bring the index in line with `paths` (files and folders)."""
    manifest = Manifest.load(index.folder)
    # The model actually loaded decides, not the configured name: a fallback or a newly
    # installed model changes the vector space, and spaces must never mix. Loading a
    # model costs seconds, so an unchanged run with an unchanged setting loads none.
    reembed = rebuild or (_setting_changed(manifest, embedder_config) and index.model_changed())
    report, upserts, missing = _scan(paths, manifest, reembed, index)
    if not reembed and (upserts or missing) and index.model_changed():
        reembed = True
        report, upserts, missing = _scan(paths, manifest, reembed, index)
    if reembed and manifest.embedder:
        log.info("embedding model changed (%s -> %s): re-embedding every chunk",
                 manifest.embedder, index.embedder.name)
    if upserts or missing:
        index.apply(upserts, missing, embedder_config, reembed_all=reembed)
        report.removed.extend(manifest.sources[k].source for k in missing if k in manifest.sources)
        report.weights = index.calibrate().reason
    return report


def _setting_changed(manifest: Manifest, embedder_config: str) -> bool:
    # A manifest without `embedder_config` predates it: its `embedder` may be a configured name.
    if manifest.embedder_config is None:
        return manifest.embedder is not None
    return manifest.embedder_config != embedder_config


def _scan(paths: Sequence[Path], manifest: Manifest, reembed: bool, index: KnowledgeIndex
          ) -> tuple[IngestReport, list[tuple[str, SourceEntry, list[Chunk]]], list[str]]:
    report = IngestReport()
    candidates, missing = _collect(paths, manifest, report)
    upserts = []
    for cand in candidates:
        item = _prepare(cand, manifest, reembed, index, report)
        if item is not None:
            upserts.append(item)
    return report, upserts, missing


def _prepare(cand: _Candidate, manifest: Manifest, reembed: bool, index: KnowledgeIndex,
             report: IngestReport) -> tuple[str, SourceEntry, list[Chunk]] | None:
    try:
        digest = hashlib.sha256(cand.path.read_bytes()).hexdigest()
    except OSError as exc:
        report.skipped.append((cand.source, f"не удалось прочитать: {exc.strerror}"))
        return None
    old = manifest.sources.get(cand.key)
    if old and old.sha256 == digest and not reembed:
        report.unchanged.append(cand.source)
        return None
    try:
        chunks, cleaned = _chunks_of(cand, index)
    except UnreadableFile as exc:
        report.skipped.append((cand.source, exc.reason))
        log.warning("skipped %s: %s", cand.source, exc.reason)
        return None
    for name, count in vars(cleaned).items():
        report.cleaned[name] = report.cleaned.get(name, 0) + count
    (report.updated if old else report.added).append(cand.source)
    report.chunks += len(chunks)
    return cand.key, SourceEntry(cand.source, digest, [c.id for c in chunks]), chunks


def _chunks_of(cand: _Candidate, index: KnowledgeIndex) -> tuple[list[Chunk], CleanReport]:
    doc, cleaned = clean(load(cand.path), index.lemmatizer)
    if not doc.blocks:
        raise UnreadableFile(cand.path, "после очистки не осталось текста")
    tags = tuple(dict.fromkeys((*cand.tags, *doc.tags)))
    drafts = chunk_document(doc, cand.source)
    chunks = [Chunk(d.id, d.text, cand.source, d.headings, tags, d.position) for d in drafts]
    return chunks, cleaned


def _collect(paths: Sequence[Path], manifest: Manifest,
             report: IngestReport) -> tuple[list[_Candidate], list[str]]:
    """Files to look at, and manifest keys whose files are gone."""
    candidates: dict[str, _Candidate] = {}
    missing: list[str] = []
    for raw in paths:
        path = raw.expanduser().resolve()
        if path.is_dir():
            found = {cand.key: cand for cand in _walk(path, report)}
            for key, cand in found.items():
                candidates.setdefault(key, cand)
            # Gone, or no longer acceptable (replaced by a link, renamed badly): out of the index.
            prefix = str(path) + "/"
            missing += [k for k in manifest.sources if k.startswith(prefix) and k not in found]
        elif raw.expanduser().is_symlink():
            report.skipped.append((str(raw), "символическая ссылка не принимается"))
        elif path.is_file():
            candidates.setdefault(str(path), _Candidate(str(path), path, path.name, ()))
        elif str(path) in manifest.sources:
            missing.append(str(path))
        else:
            report.skipped.append((str(raw), "нет такого файла или папки"))
    return list(candidates.values()), sorted(set(missing))


def _walk(root: Path, report: IngestReport) -> Iterator[_Candidate]:
    """Acceptable knowledge files under `root`; links and bad names are reported, never read."""
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.is_symlink():
            report.skipped.append((rel.as_posix(), "символическая ссылка не принимается"))
            continue
        if not path.is_file():
            continue
        if path.suffix.lower() not in READERS:
            report.skipped.append((rel.as_posix(), f"формат {path.suffix or '(нет)'} не поддерживается"))
            continue
        try:
            check_name(rel.as_posix(), READERS)
            refuse_links(root, path)
        except UnsafeFileName as exc:
            report.skipped.append((rel.as_posix(), str(exc)))
            continue
        tags = (rel.parts[0],) if len(rel.parts) > 1 else ()
        yield _Candidate(str(path), path, rel.as_posix(), tags)
