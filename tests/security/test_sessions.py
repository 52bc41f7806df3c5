"""Console sessions: signing out kills the cookie everywhere; cookie flags follow the config."""

from __future__ import annotations

from pathlib import Path

import httpx

from bots.config import Settings
from bots.runtime import Runtime
from bots.web.app import create_app
from tests.security.conftest import MANAGER, Serve, csrf_of, sign_in
from tests.telegram.conftest import REPO_ROOT

COOKIE = "sovetnik_console"


async def test_a_cookie_replayed_after_logout_is_refused(serve: Serve) -> None:
    served = await serve()
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as manager:
        assert (await sign_in(manager, *MANAGER)).status_code == 303
        queue = await manager.get("/console/queue")
        assert queue.status_code == 200
        stolen = manager.cookies[COOKIE]
        async with httpx.AsyncClient(base_url=served.url, timeout=30,
                                     cookies={COOKIE: stolen}) as copy:
            assert (await copy.get("/console/queue")).status_code == 200  # the copy works...
            logout = await manager.post("/console/logout", data={"csrf": csrf_of(queue.text)})
            assert logout.status_code == 303
            replayed = await copy.get("/console/queue")
            api = await copy.get("/console/api/queue")

    assert replayed.status_code == 303 and replayed.headers["location"] == "/console/login"
    assert api.status_code == 401  # ...and after the sign-out it opens nothing


async def test_signing_in_again_after_logout_works(serve: Serve) -> None:
    served = await serve()
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as manager:
        await sign_in(manager, *MANAGER)
        queue = await manager.get("/console/queue")
        await manager.post("/console/logout", data={"csrf": csrf_of(queue.text)})
        assert (await sign_in(manager, *MANAGER)).status_code == 303
        assert (await manager.get("/console/queue")).status_code == 200


def _app(tmp_path: Path, **server: object) -> httpx.AsyncClient:
    """The app in-process (no lifespan: the sign-in page needs neither store nor channels)."""
    settings = Settings.model_validate({
        "server": server, "base_dir": tmp_path, "agents": {"roles_dir": str(REPO_ROOT / "agents" / "roles")},
        "knowledge": {"index_dir": str(tmp_path / "index")},
        "store": {"url": f"sqlite+aiosqlite:///{tmp_path}/db.sqlite"}})
    transport = httpx.ASGITransport(app=create_app(Runtime.build(settings)))
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080")


async def test_cookie_flags_come_from_the_config(tmp_path: Path) -> None:
    async with _app(tmp_path) as default:
        plain = (await default.get("/console/login")).headers["set-cookie"].lower()
    async with _app(tmp_path, cookie_secure=True, cookie_samesite="lax") as behind_tls:
        secure = (await behind_tls.get("/console/login")).headers["set-cookie"].lower()

    assert "httponly" in plain and "samesite=strict" in plain and "secure" not in plain
    assert "httponly" in secure and "samesite=lax" in secure and "; secure" in secure
