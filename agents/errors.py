"""The agents' exception tree: everything the package raises on purpose is an ``AgentError``.

Messages of role errors are Russian sentences for the bank's admin: they name the role
file, the key path inside it and how to fix the problem.
"""

from __future__ import annotations

from collections.abc import Sequence


class AgentError(Exception):
    """Base class of every error raised by the ``agents`` package."""


class RoleError(AgentError):
    """Something is wrong with an agent role or with the folder of roles."""


class RoleValidationError(RoleError, ValueError):
    """A role file (or YAML text meant for one) is invalid.

    ``file`` is the file name (``front_desk.yaml``), ``key`` the key path of the first
    problem (``tools[2]``, ``lead_form.fields[0].ask``; ``None`` for the file as a whole,
    e.g. broken YAML) and ``message`` what is wrong and how to fix it. ``issues`` holds
    every problem found as ``(key, message)`` pairs, the first one included; ``line`` is the
    line of a YAML syntax error (1-based), ``None`` otherwise. ``str()``
    gives one line per issue: ``front_desk.yaml: tools[2]: неизвестный инструмент ...``.
    """

    def __init__(
        self,
        file: str,
        key: str | None,
        message: str,
        *,
        more: Sequence[tuple[str | None, str]] = (),
        line: int | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.key = key
        self.message = message
        self.issues: tuple[tuple[str | None, str], ...] = ((key, message), *more)
        super().__init__("\n".join(_line(file, k, m) for k, m in self.issues))


class UnknownRole(RoleError, LookupError):
    """No role with the requested id is loaded; ``role_id`` is the id asked for."""

    def __init__(self, role_id: str, known: Sequence[str] = ()) -> None:
        self.role_id = role_id
        hint = f"; доступны: {', '.join(sorted(known))}" if known else "; ни одна роль не загружена"
        super().__init__(f"роль '{role_id}' не найдена{hint}")


def _line(file: str, key: str | None, message: str) -> str:
    return f"{file}: {key}: {message}" if key else f"{file}: {message}"
