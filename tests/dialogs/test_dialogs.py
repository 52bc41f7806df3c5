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
# Consent and personal data in the same message: the engine masks the message's phone
# and name before the form sees the consent it carries, so the form asks for them
# again. The masking and the form must be ordered by consent; until then these fail.
_SAME_MESSAGE = "personal data given with the consent in one message is masked before the form reads it"
KNOWN_BUGS: dict[str, str] = {
    "02_consent_name_phone_together": _SAME_MESSAGE,
    "04_loan_intent_with_facts": _SAME_MESSAGE,
    "25_all_in_one_message": _SAME_MESSAGE,
    "27_declined_data_not_stored": "a phone typed outside the form is masked before the reply reads it",
}


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
