"""Fixtures for every test folder: the demo knowledge base, indexed once per run.

Indexing the demo knowledge base embeds every chunk and calibrates the fusion
on pseudo-questions: tens of CPU seconds on a small machine. Folders that need
the index (agents, kb, telegram and what builds on it, voice) each get a copy
of one build, so no test can change another's index and the work is done once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.demo_index import DemoBuild, build_demo


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory: pytest.TempPathFactory) -> DemoBuild:
    """The demo knowledge base's index, built once per run (copy it before use)."""
    return build_demo(tmp_path_factory.mktemp("demo-build") / "index")


@pytest.fixture(scope="session")
def demo_copy(tmp_path_factory: pytest.TempPathFactory, demo_build: DemoBuild) -> Callable[[str], Path]:
    """Makes a private copy of the demo index in a new temporary folder named after `name`."""
    return lambda name: demo_build.copy_to(tmp_path_factory.mktemp(name) / "index")
