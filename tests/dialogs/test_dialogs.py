"""Every dialog file of `cases/`, through the real engine, outbox and web chat channel.

The dialogs are written the way customers write (lowercase, typos, several
facts in one message, any order) and together cover every failure the
conversation issue lists. A dialog that sent card data is also checked for
the card data in the whole database and in the log records.
"""

from __future__ import annotations

import logging

import pytest

from tests.dialogs.runner import Case, ChatBench, card_secrets, cases, check_outcome, holds_secret, play

CASES = cases()
# Dialogs that show a bug not fixed yet: name -> the reason (strict xfail).
KNOWN_BUGS: dict[str, str] = {}


def test_the_suite_holds_at_least_thirty_dialogs() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", [
    pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[c.path.stem]))
    if c.path.stem in KNOWN_BUGS else c for c in CASES], ids=[c.path.stem for c in CASES])
async def test_dialog(case: Case, bench: ChatBench, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await play(bench, case)
    await check_outcome(bench, case)
    logged = [r.getMessage() for r in caplog.records]
    for secret in card_secrets(str(t["say"]) for t in case.turns):
        assert not any(holds_secret(line, secret) for line in logged), f"card data {secret} logged"
