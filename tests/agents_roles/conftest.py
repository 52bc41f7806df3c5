"""Fixtures for the role tests: a writable copy of the shipped roles folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agents.role_registry import RoleRegistry

SHIPPED_ROLES = Path(__file__).resolve().parents[2] / "agents" / "roles"
MINIMAL_ROLE = """\
id: {id}
name: Тестовая роль
persona: Вы — тестовый помощник.
greeting: Здравствуйте!
"""


@pytest.fixture
def roles_dir(tmp_path: Path) -> Path:
    """A copy of ``agents/roles`` that a test may edit."""
    target = tmp_path / "roles"
    shutil.copytree(SHIPPED_ROLES, target)
    return target


@pytest.fixture
def registry(roles_dir: Path) -> RoleRegistry:
    """A registry over the copied roles, with ``front_desk`` as the default role."""
    return RoleRegistry(roles_dir, "front_desk")
