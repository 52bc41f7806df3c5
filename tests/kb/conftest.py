"""Fixtures of the knowledge-base tests.

The real embedding model is loaded once per session (offline it is the packaged
MiniLM fallback), and two indexes are built once per session in temporary
folders: the shipped demo knowledge base and the two seed documents from
``../shared/seeds``. Tests that need the seeds skip with the reason when that
folder is missing.

Every test runs with ``$SOVETNIK_CONFIG`` pointing at a throw-away config whose
index lives in a temporary folder, so nothing here reads ``./config.yaml`` or
writes the repository's ``var/index``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner, Result

import bots.assembly
from bots.cli.app import app, main
from bots.config import ENV_CONFIG, EmbeddingSettings
from knowledge.embedder import Embedder, load_embedder
from knowledge.index import KnowledgeIndex
from knowledge.ru.lemmatizer import Lemmatizer
from pipelines.ingest.chunker import ChunkDraft, chunk_document
from pipelines.ingest.clean import clean
from pipelines.ingest.loaders import load
from pipelines.ingest.run import IngestReport, ingest
from tests.demo_index import DemoBuild

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT / ".." / "shared"
SEEDS_DIR = SHARED / "seeds"
DEV_QA = SHARED / "eval" / "dev_qa.jsonl"
DEMO_DOCS = REPO_ROOT / "knowledge" / "docs"
# What `sovetnik kb ingest` records for the default settings; the indexes built
# here use the same, so the command line treats them as its own.
EMBEDDER_CONFIG = EmbeddingSettings().model


def seed_path(prefix: str) -> Path:
    """The seed document `NNN_*.txt`, or skip the test when the shared folder is absent."""
    found = sorted(SEEDS_DIR.glob(f"{prefix}_*.txt"))
    if not found:
        pytest.skip(f"seed document {prefix}_*.txt not found in {SEEDS_DIR.resolve()} "
                    "(../shared is expected beside the clone)")
    return found[0]


def normal(text: str) -> str:
    """Lower-case, «ё» → «е», white space folded: how texts are compared here."""
    return " ".join(text.lower().replace("ё", "е").split())


# -- the embedding model ------------------------------------------------------


class CountingEmbedder:
    """The real embedder, recording every text it is asked to embed."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.passages: list[str] = []
        self.queries: list[str] = []

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.queries.extend(texts)
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.passages.extend(texts)
        return self.inner.embed_passages(texts)


class EmbedderFactory:
    """An embedder factory for `KnowledgeIndex` that counts how often the model is asked for."""

    def __init__(self, inner: Embedder) -> None:
        self.calls = 0
        self.embedder = CountingEmbedder(inner)

    def __call__(self) -> CountingEmbedder:
        self.calls += 1
        return self.embedder

    @property
    def passages(self) -> list[str]:
        """Every passage embedded through this factory."""
        return self.embedder.passages


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The configured embedding model, loaded once (offline: the packaged MiniLM)."""
    return load_embedder(EMBEDDER_CONFIG)


@pytest.fixture
def make_factory(embedder: Embedder) -> Callable[[], EmbedderFactory]:
    """Makes a fresh counting factory around the shared model."""
    return lambda: EmbedderFactory(embedder)


# -- indexes --------------------------------------------------------------------


@dataclass(frozen=True)
class BuiltIndex:
    """An index folder, an open index on it and the report of the ingest that built it."""

    folder: Path
    index: KnowledgeIndex
    report: IngestReport


def build_index(folder: Path, paths: Sequence[Path], factory: Callable[[], Embedder]) -> BuiltIndex:
    """Ingest `paths` into the index at `folder`, the way `kb ingest --index` does."""
    index = KnowledgeIndex(folder, factory)
    report = ingest(list(paths), index, embedder_config=EMBEDDER_CONFIG)
    return BuiltIndex(folder, index, report)


@pytest.fixture(scope="session")
def demo_kb(demo_build: DemoBuild, demo_copy: Callable[[str], Path], embedder: Embedder) -> BuiltIndex:
    """The shipped demo knowledge base (deposits/, loans/, general/): a copy of the run's one build."""
    folder = demo_copy("kb-demo-index")
    return BuiltIndex(folder, KnowledgeIndex(folder, lambda: embedder), demo_build.report)


@pytest.fixture(scope="session")
def seeds_kb(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> BuiltIndex:
    """Seed documents 001 (deposits) and 002 (loans, a dirty scraped page), indexed once."""
    paths = [seed_path("001"), seed_path("002")]
    return build_index(tmp_path_factory.mktemp("seeds-index"), paths, lambda: embedder)


# -- the ingestion pipeline without an index ------------------------------------------


@pytest.fixture(scope="session")
def lemmatizer() -> Lemmatizer:
    return Lemmatizer()


@pytest.fixture
def chunks_of(lemmatizer: Lemmatizer) -> Callable[[Path], list[ChunkDraft]]:
    """load → clean → chunk for one file, exactly as ingestion does it."""

    def run(path: Path) -> list[ChunkDraft]:
        doc, _ = clean(load(path), lemmatizer)
        return chunk_document(doc, path.name)

    return run


# -- the command line -------------------------------------------------------------


def write_config(folder: Path, text: str = "") -> Path:
    """A config.yaml in `folder`; by default its index is `folder/configured-index`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(text or "knowledge: {docs_dir: docs, index_dir: configured-index}\n",
                    encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def default_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_config(tmp_path_factory.mktemp("config"))


@pytest.fixture(autouse=True)
def _isolated_config(monkeypatch: pytest.MonkeyPatch, default_config: Path) -> None:
    monkeypatch.setenv(ENV_CONFIG, str(default_config))


@dataclass
class Cli:
    """Runs `sovetnik` in-process (CliRunner); stdout and stderr are kept apart."""

    runner: CliRunner

    def __call__(self, *args: object) -> Result:
        return self.runner.invoke(app, [str(a) for a in args])

    def json_lines(self, *args: object) -> list[dict]:
        """Run and parse stdout as JSON lines; the command must succeed."""
        result = self(*args)
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, embedder: Embedder) -> Cli:
    """The command line, with the session's model reused instead of loaded per command.

    Only the default model name is served from the session; anything else is
    loaded as the product would.
    """
    real = bots.assembly.load_embedder

    def shared(model: str, **kwargs: object) -> Embedder:
        if model == EMBEDDER_CONFIG and not any(v is not None for v in kwargs.values()):
            return embedder
        return real(model, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bots.assembly, "load_embedder", shared)
    return Cli(CliRunner())


@dataclass(frozen=True)
class MainResult:
    code: int | str | None
    stdout: str
    stderr: str


@pytest.fixture
def run_main(monkeypatch: pytest.MonkeyPatch,
             capsys: pytest.CaptureFixture[str]) -> Callable[..., MainResult]:
    """Runs the console-script entry point `bots.cli.app:main` in-process."""
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # the CLI framework replaces it

    def run(*args: object) -> MainResult:
        monkeypatch.setattr(sys, "argv", ["sovetnik", *(str(a) for a in args)])
        with pytest.raises(SystemExit) as exc:
            main()
        out = capsys.readouterr()
        return MainResult(exc.value.code, out.out, out.err)

    return run
