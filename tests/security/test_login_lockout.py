"""Lock-out holds one attempt at a time and in parallel; sign-ins never stall the chats."""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx
import pytest

from bots.web.auth import (
    LOCKED,
    MAX_FAILURES,
    WRONG,
    LoginRefused,
    PasswordChecker,
    authenticate,
    create_user,
)
from store import Database
from store.accounts import UserRepository
from tests.security.conftest import MANAGER, Serve, login_form, sign_in
from tests.store.conftest import database, pg_database, store_url  # noqa: F401 - fixtures

PARALLEL_GUESSES = 24
PARALLEL_LOGINS = 40


def _refusal(response: httpx.Response) -> str:
    assert response.status_code == 401, response.text[:300]
    if LOCKED in response.text:
        return "locked"
    assert WRONG in response.text, response.text[:300]
    return "wrong"


async def test_six_wrong_passwords_in_a_row_lock_the_account(serve: Serve) -> None:
    served = await serve()
    name, password = MANAGER
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
        refusals = [_refusal(await sign_in(client, name, f"guess-{n}")) for n in range(6)]
        right = await sign_in(client, name, password)

    assert refusals == ["wrong"] * MAX_FAILURES + ["locked"]
    assert _refusal(right) == "locked"  # the right password too, while the lock lasts
    [(failed, locked_until)] = served.rows(
        "SELECT failed_logins, locked_until FROM console_users WHERE name = ?", name)
    assert failed == MAX_FAILURES + 1 and locked_until is not None


async def test_parallel_guesses_are_checked_no_more_than_the_limit(serve: Serve) -> None:
    served = await serve()
    name, password = MANAGER
    async with httpx.AsyncClient(base_url=served.url, timeout=60) as client:
        csrf = await login_form(client)
        responses = await asyncio.gather(*(sign_in(client, name, f"guess-{n}", csrf)
                                           for n in range(PARALLEL_GUESSES)))
        right = await sign_in(client, name, password, csrf)

    refusals = [_refusal(r) for r in responses]
    assert refusals.count("wrong") <= MAX_FAILURES, refusals  # no more guesses were checked
    assert refusals.count("locked") >= PARALLEL_GUESSES - MAX_FAILURES
    assert _refusal(right) == "locked"


async def test_a_right_password_within_the_limit_signs_in_and_clears_the_count(serve: Serve) -> None:
    served = await serve()
    name, password = MANAGER
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
        for n in range(MAX_FAILURES - 1):
            assert _refusal(await sign_in(client, name, f"guess-{n}")) == "wrong"
        signed_in = await sign_in(client, name, password)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/console/queue"
    assert served.rows("SELECT failed_logins FROM console_users WHERE name = ?", name) == [(0,)]


async def test_healthz_stays_fast_during_forty_parallel_logins(serve: Serve) -> None:
    served = await serve()
    async with httpx.AsyncClient(base_url=served.url, timeout=60) as client:
        csrf = await login_form(client)
        logins = [asyncio.create_task(sign_in(client, f"nobody-{n}", "some-password", csrf))
                  for n in range(PARALLEL_LOGINS)]
        latencies: list[float] = []
        async with httpx.AsyncClient(base_url=served.url, timeout=30) as probe:
            while not all(task.done() for task in logins) or len(latencies) < 20:
                started = time.perf_counter()
                assert (await probe.get("/healthz")).status_code == 200
                latencies.append(time.perf_counter() - started)
                await asyncio.sleep(0.02)
        results = await asyncio.gather(*logins)

    assert all(_refusal(r) == "wrong" for r in results)
    p95 = statistics.quantiles(latencies, n=20)[-1]
    assert p95 < 0.100, f"/healthz p95 {p95 * 1000:.0f} ms over {len(latencies)} probes"


async def test_the_attempt_counter_holds_under_concurrency_on_every_backend(
        database: Database) -> None:  # noqa: F811 - the fixture
    await create_user(database, "ivan", "manager", "ivan-password-1")
    checker = PasswordChecker(workers=4)
    try:
        outcomes = await asyncio.gather(
            *(authenticate(database, checker, "ivan", f"guess-{n}") for n in range(PARALLEL_GUESSES)),
            return_exceptions=True)
        with pytest.raises(LoginRefused, match="заблокирован"):
            await authenticate(database, checker, "ivan", "ivan-password-1")
    finally:
        checker.close()

    messages = [str(o) for o in outcomes if isinstance(o, LoginRefused)]
    assert len(messages) == PARALLEL_GUESSES  # every guess refused, none failed otherwise
    assert sum(m == WRONG for m in messages) <= MAX_FAILURES
    async with database.session() as session:
        user = await UserRepository(session).by_name("ivan")
    assert user is not None and user.locked_until is not None
