"""The contract suite's fixture: every channel adapter, each against its loopback fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.channels.harnesses import HARNESSES, Harness


@pytest.fixture(params=sorted(HARNESSES))
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    """The product serving one channel (the parameter), its messenger faked over loopback."""
    async with HARNESSES[request.param](tmp_path) as running:
        yield running
