"""RoleRegistry: lookups, hot reload without a restart, reported errors and start-up checks."""

from __future__ import annotations

import logging
import os
import pathlib
import shutil
import threading
import time
from pathlib import Path

import pytest

from agents.errors import RoleError, RoleValidationError, UnknownRole
from agents.role_model import Role
from agents.role_registry import RoleRegistry
from tests.agents_roles.conftest import MINIMAL_ROLE

HOUR_NS = 3600 * 10**9


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def age(folder: Path) -> None:
    """Date every file an hour back, as if it had been written long ago."""
    for path in folder.iterdir():
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns - HOUR_NS, st.st_mtime_ns - HOUR_NS))


# --- lookups ------------------------------------------------------------------------------


def test_get_default_and_all(registry: RoleRegistry, roles_dir: Path) -> None:
    assert registry.roles_dir == roles_dir
    assert registry.default_role == "front_desk"
    assert registry.default() is registry.get("front_desk")
    assert [role.id for role in registry.all()] == ["deposit_consultant", "front_desk", "loan_manager"]
    assert registry.errors() == {}


def test_an_unknown_role_names_the_known_ones(registry: RoleRegistry) -> None:
    with pytest.raises(UnknownRole) as caught:
        registry.get("mortgage_expert")
    assert caught.value.role_id == "mortgage_expert"
    assert "deposit_consultant, front_desk, loan_manager" in str(caught.value)


def test_an_invalid_default_role_id_is_refused(roles_dir: Path) -> None:
    with pytest.raises(RoleError, match=r"agents\.default_role"):
        RoleRegistry(roles_dir, "Front Desk")


def test_other_files_in_the_folder_are_ignored_or_reported(roles_dir: Path) -> None:
    (roles_dir / "README.md").write_text("# роли\n", encoding="utf-8")
    (roles_dir / ".front_desk.yaml.swp").write_text("мусор", encoding="utf-8")
    (roles_dir / "mortgage.yml").write_text(MINIMAL_ROLE.format(id="mortgage"), encoding="utf-8")
    registry = RoleRegistry(roles_dir, "front_desk")
    assert len(registry.all()) == 3
    assert registry.errors() == {
        "mortgage.yml": "mortgage.yml: роли читаются только из файлов .yaml — "
        "переименуйте файл в mortgage.yaml"
    }


# --- hot reload ---------------------------------------------------------------------------


def test_an_edit_is_served_on_the_next_get(registry: RoleRegistry, roles_dir: Path) -> None:
    before = registry.get("deposit_consultant")
    edit(roles_dir / "deposit_consultant.yaml", "max_chars: 700", "max_chars: 900")
    after = registry.get("deposit_consultant")
    assert before.style.max_chars == 700
    assert after.style.max_chars == 900
    assert registry.errors() == {}


def test_a_same_size_edit_right_after_a_read_is_seen(registry: RoleRegistry, roles_dir: Path) -> None:
    path = roles_dir / "loan_manager.yaml"
    current = 700
    for limit in (701, 702, 703):
        mtime = path.stat().st_mtime_ns
        edit(path, f"max_chars: {current}", f"max_chars: {limit}")
        os.utime(path, ns=(mtime, mtime))  # same size and same mtime as the version already read
        assert registry.get("loan_manager").style.max_chars == limit
        current = limit


def test_coarse_timestamps_do_not_hide_an_edit(
    roles_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a file system whose clock ticks slowly an edit may leave size and times unchanged."""
    registry = RoleRegistry(roles_dir, "front_desk")
    real_scan = registry._scan
    frozen_ns = time.time_ns()

    def coarse_scan() -> tuple[dict[str, tuple[int, int, int, int]], list[str]]:
        listing, strays = real_scan()
        return {name: (0, stamp[1], frozen_ns, frozen_ns) for name, stamp in listing.items()}, strays

    monkeypatch.setattr(registry, "_scan", coarse_scan)
    assert registry.get("loan_manager").style.max_chars == 700
    edit(roles_dir / "loan_manager.yaml", "max_chars: 700", "max_chars: 701")
    assert registry.get("loan_manager").style.max_chars == 701

    # once the stamp is older than the window, an unchanged stamp means an unchanged file
    monkeypatch.setattr("agents.role_registry.RACY_WINDOW_NS", 0)
    registry.get("loan_manager")
    edit(roles_dir / "loan_manager.yaml", "max_chars: 701", "max_chars: 702")
    assert registry.get("loan_manager").style.max_chars == 701


def test_a_broken_edit_keeps_the_last_good_role_until_fixed(registry: RoleRegistry, roles_dir: Path) -> None:
    path = roles_dir / "front_desk.yaml"
    good = registry.get("front_desk")

    edit(path, "  - handoff\n", "  - handoff\n  - foo\n")
    assert registry.get("front_desk") is good
    assert registry.default() is good
    errors = registry.errors()
    assert list(errors) == ["front_desk.yaml"]
    assert errors["front_desk.yaml"].startswith("front_desk.yaml: tools[2]: неизвестный инструмент 'foo'")

    edit(path, "  - foo\n", "")
    edit(path, "max_chars: 600", "max_chars: 650")
    fixed = registry.get("front_desk")
    assert fixed.style.max_chars == 650
    assert registry.errors() == {}


def test_broken_yaml_keeps_the_last_good_role(registry: RoleRegistry, roles_dir: Path) -> None:
    good = registry.get("loan_manager")
    edit(roles_dir / "loan_manager.yaml", "name: Кредитный менеджер", "name: 'Кредитный менеджер")
    assert registry.get("loan_manager") is good
    assert "строка" in registry.errors()["loan_manager.yaml"]


def test_a_role_broken_from_the_start_is_not_served(roles_dir: Path) -> None:
    edit(roles_dir / "loan_manager.yaml", "greeting: |", "greetings: |")
    registry = RoleRegistry(roles_dir, "front_desk")
    with pytest.raises(UnknownRole):
        registry.get("loan_manager")
    message = registry.errors()["loan_manager.yaml"]
    assert "loan_manager.yaml: greeting: обязательное поле — добавьте приветствие" in message
    assert "loan_manager.yaml: greetings: неизвестный ключ 'greetings'" in message
    # the front desk routes to it, and says so
    assert "front_desk.yaml: routing.routes_to[1]: роль 'loan_manager' не найдена" in registry.errors()[
        "front_desk.yaml"]


def test_a_new_file_appears(registry: RoleRegistry, roles_dir: Path) -> None:
    with pytest.raises(UnknownRole):
        registry.get("mortgage_expert")
    text = MINIMAL_ROLE.format(id="mortgage_expert")
    (roles_dir / "mortgage_expert.yaml").write_text(text, encoding="utf-8")
    role = registry.get("mortgage_expert")
    assert role.name == "Тестовая роль"
    assert "mortgage_expert" in [r.id for r in registry.all()]


def test_a_deleted_file_disappears(registry: RoleRegistry, roles_dir: Path) -> None:
    registry.get("loan_manager")
    (roles_dir / "loan_manager.yaml").unlink()
    with pytest.raises(UnknownRole):
        registry.get("loan_manager")
    assert [role.id for role in registry.all()] == ["deposit_consultant", "front_desk"]
    errors = registry.errors()  # the roles that route to it say so
    assert sorted(errors) == ["deposit_consultant.yaml", "front_desk.yaml"]
    assert "routing.routes_to[1]: роль 'loan_manager' не найдена" in errors["front_desk.yaml"]
    assert "routing.routes_to[0]: роль 'loan_manager' не найдена" in errors["deposit_consultant.yaml"]


def test_a_deleted_broken_file_takes_its_error_away(registry: RoleRegistry, roles_dir: Path) -> None:
    path = roles_dir / "mortgage_expert.yaml"
    path.write_text("id: mortgage_expert\n", encoding="utf-8")
    assert "mortgage_expert.yaml" in registry.errors()
    path.unlink()
    assert registry.errors() == {}


def test_the_deleted_default_role_keeps_serving_and_is_reported(
    registry: RoleRegistry, roles_dir: Path, tmp_path: Path
) -> None:
    good = registry.default()
    backup = tmp_path / "front_desk.yaml"
    shutil.move(roles_dir / "front_desk.yaml", backup)
    assert registry.default() is good
    assert registry.get("front_desk") is good
    assert "файл роли по умолчанию удалён" in registry.errors()["front_desk.yaml"]

    shutil.move(backup, roles_dir / "front_desk.yaml")
    assert registry.default() == good
    assert registry.errors() == {}


def test_a_default_role_that_never_loaded(roles_dir: Path) -> None:
    (roles_dir / "front_desk.yaml").unlink()
    registry = RoleRegistry(roles_dir, "front_desk")
    with pytest.raises(UnknownRole):
        registry.default()
    assert "роль по умолчанию 'front_desk' не найдена" in registry.errors()["front_desk.yaml"]


def test_a_renamed_file_must_match_its_id(registry: RoleRegistry, roles_dir: Path) -> None:
    (roles_dir / "deposit_consultant.yaml").rename(roles_dir / "deposits.yaml")
    with pytest.raises(UnknownRole):
        registry.get("deposit_consultant")
    assert registry.errors()["deposits.yaml"].startswith(
        "deposits.yaml: id: id 'deposit_consultant' не совпадает с именем файла — укажите id: deposits"
    )


def test_nothing_is_read_when_nothing_changed(
    roles_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    age(roles_dir)
    registry = RoleRegistry(roles_dir, "front_desk")
    reads: list[Path] = []
    original = pathlib.Path.read_bytes

    def counting(self: Path) -> bytes:
        reads.append(self)
        return original(self)

    monkeypatch.setattr(pathlib.Path, "read_bytes", counting)
    for _ in range(5):
        registry.get("front_desk")
        registry.all()
        registry.default()
        registry.errors()
    assert reads == []

    edit(roles_dir / "loan_manager.yaml", "max_chars: 700", "max_chars: 800")
    assert registry.get("loan_manager").style.max_chars == 800
    assert [path.name for path in reads] == ["loan_manager.yaml"]


def test_unchanged_content_is_not_revalidated(roles_dir: Path) -> None:
    age(roles_dir)
    registry = RoleRegistry(roles_dir, "front_desk")
    first = registry.get("front_desk")
    (roles_dir / "front_desk.yaml").touch()
    assert registry.get("front_desk") is first


def test_a_missing_folder_keeps_the_roles_loaded_before(registry: RoleRegistry, roles_dir: Path) -> None:
    good = registry.get("loan_manager")
    hidden = roles_dir.with_name("hidden")
    roles_dir.rename(hidden)
    assert registry.get("loan_manager") is good
    assert "папка ролей" in registry.errors()[str(roles_dir)]
    hidden.rename(roles_dir)
    assert registry.errors() == {}


def test_concurrent_readers_see_whole_versions(registry: RoleRegistry, roles_dir: Path) -> None:
    path = roles_dir / "deposit_consultant.yaml"
    seen: set[int] = set()
    failures: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        try:
            while not stop.is_set():
                seen.add(registry.get("deposit_consultant").style.max_chars)
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    text = path.read_text(encoding="utf-8")
    for limit in range(701, 741):
        tmp = path.with_name(".deposit_consultant.tmp")
        tmp.write_text(text.replace("max_chars: 700", f"max_chars: {limit}"), encoding="utf-8")
        tmp.replace(path)
    stop.set()
    for thread in threads:
        thread.join()
    assert failures == []
    assert seen <= {700, *range(701, 741)}
    assert registry.get("deposit_consultant").style.max_chars == 740


# --- validate_text ------------------------------------------------------------------------


def test_validate_text_does_not_touch_the_disk(
    registry: RoleRegistry, roles_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listing = sorted((p.name, p.stat().st_mtime_ns) for p in roles_dir.iterdir())

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("validate_text touched the disk")

    with monkeypatch.context() as patched:
        for name in ("read_bytes", "read_text", "write_text", "write_bytes", "open", "stat", "exists"):
            patched.setattr(pathlib.Path, name, forbidden)
        patched.setattr(os, "scandir", forbidden)
        patched.setattr("builtins.open", forbidden)
        role = registry.validate_text("mortgage_expert.yaml", MINIMAL_ROLE.format(id="mortgage_expert"))
        with pytest.raises(RoleValidationError, match=r"mortgage_expert\.yaml: greeting"):
            registry.validate_text("mortgage_expert.yaml", "id: mortgage_expert\nname: a\npersona: p\n")
    assert isinstance(role, Role) and role.id == "mortgage_expert"
    assert sorted((p.name, p.stat().st_mtime_ns) for p in roles_dir.iterdir()) == listing
    with pytest.raises(UnknownRole):
        registry.get("mortgage_expert")


def test_validate_text_accepts_routes_to_roles_that_do_not_exist_yet(registry: RoleRegistry) -> None:
    text = MINIMAL_ROLE.format(id="mortgage_expert") + "routing:\n  routes_to: [insurance_expert]\n"
    assert registry.validate_text("mortgage_expert.yaml", text).routing.routes_to == ["insurance_expert"]


# --- start-up -----------------------------------------------------------------------------


def test_load_or_raise_warns_once_per_broken_file(roles_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    edit(roles_dir / "loan_manager.yaml", "max_chars: 700", "max_chars: 7000")
    (roles_dir / "mortgage_expert.yaml").write_text("id: mortgage_expert\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="agents.role_registry"):
        registry = RoleRegistry.load_or_raise(roles_dir, "front_desk")
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    # loan_manager, mortgage_expert, and the two roles that route to the unloaded loan_manager
    assert len(warnings) == 4
    assert any("loan_manager.yaml: style.max_chars: нужно число от 200 до 4000" in w for w in warnings)
    assert any("mortgage_expert.yaml: name: обязательное поле" in w for w in warnings)
    assert registry.default().id == "front_desk"


def test_load_or_raise_stops_on_a_broken_default_role(roles_dir: Path) -> None:
    edit(roles_dir / "front_desk.yaml", "  - handoff\n", "  - handoff\n  - foo\n")
    with pytest.raises(RoleValidationError) as caught:
        RoleRegistry.load_or_raise(roles_dir, "front_desk")
    error = caught.value
    assert (error.file, error.key) == ("front_desk.yaml", "tools[2]")
    assert "роль по умолчанию" in str(error)


def test_load_or_raise_stops_on_a_missing_default_role(roles_dir: Path) -> None:
    with pytest.raises(RoleValidationError, match="роль по умолчанию 'concierge' не найдена"):
        RoleRegistry.load_or_raise(roles_dir, "concierge")


def test_load_or_raise_stops_on_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(RoleValidationError, match=r"папка ролей .* не найдена"):
        RoleRegistry.load_or_raise(tmp_path / "nowhere", "front_desk")
