"""Agent roles loaded from a folder of YAML files, reloaded on the fly when the admin edits them.

``RoleRegistry`` serves the roles of ``agents/roles/*.yaml``. Every ``get``, ``default``,
``all`` and ``errors`` call first looks at the folder (one ``os.scandir`` and a ``stat`` per
file, no reads when nothing changed) and re-reads only the files whose size, mtime or inode
changed. A file that no longer validates does not replace the last good version of its
role: that version keeps serving and the error is reported by ``errors()``. A deleted file
takes its role away, except the default role, which keeps serving its last good version
(and is reported) until the file comes back.

Error messages are Russian sentences for the bank's admin that name the file, the key
path and the fix: ``front_desk.yaml: tools[2]: неизвестный инструмент 'foo'; допустимо: ...``.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import os
import re
import threading
import time
import types
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from agents.errors import RoleError, RoleValidationError, UnknownRole
from agents.role_model import KNOWN_LEAD_FIELDS, ROLE_ID_PATTERN, RULE_ERROR_TYPE, Role

logger = logging.getLogger(__name__)

#: The suffix of role files; other files in the folder are ignored (``.yml`` is reported).
ROLE_SUFFIX = ".yaml"
#: A file modified less than this long before it was read may change again within the same
#: mtime tick, so it is re-read (and compared by content) until it is older than that.
RACY_WINDOW_NS = 2_000_000_000

# (inode, size, mtime, ctime) of a file, from ``stat``.
_Stamp = tuple[int, int, int, int]


# --- parsing and validation of one file ---------------------------------------------------


class _RoleLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that rejects a key repeated in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                repeated = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: the base class reports it
                continue
            if repeated:
                raise yaml.constructor.ConstructorError(
                    None, None, f"ключ '{key}' повторяется — оставьте одно значение", key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


_YAML_PROBLEMS: tuple[tuple[str, str], ...] = (
    ("mapping values are not allowed", "двоеточие в неожиданном месте — возьмите текст с двоеточием "
     "в кавычки или проверьте отступ"),
    ("could not find expected ':'", "после ключа нет двоеточия, или строка текста не взята в кавычки"),
    ("found character '\\t'", "символ табуляции — делайте отступы пробелами"),
    ("expected <block end>", "нарушены отступы — выровняйте ключи одного уровня"),
    ("did not find expected key", "нарушены отступы — здесь ожидался ключ"),
    ("did not find expected '-' indicator", "нарушены отступы в списке — каждый элемент начинайте с «- »"),
    ("found unexpected end of stream", "файл оборвался — не закрыта кавычка или скобка"),
    ("found undefined alias", "ссылка * на неизвестную метку & — уберите её"),
    ("found unexpected ':'", "двоеточие в неожиданном месте — возьмите текст в кавычки"),
)

_MISSING: dict[str, str] = {
    "id": "обязательное поле — добавьте id, равный имени файла без .yaml",
    "name": "обязательное поле — добавьте название роли, которое видит клиент "
    "(например, «Консультант по вкладам»)",
    "persona": "обязательное поле — опишите, кто такой агент и как он общается с клиентом",
    "greeting": "обязательное поле — добавьте приветствие",
    "lead_form.product": "обязательное поле — укажите продукт: deposit, loan или other",
    "lead_form.fields": "обязательное поле — перечислите поля анкеты (как минимум phone)",
    "lead_form.fields[].name": "обязательное поле — укажите, что спрашивать: "
    + ", ".join(sorted(KNOWN_LEAD_FIELDS)),
    "lead_form.fields[].label": "обязательное поле — добавьте подпись поля для менеджера "
    "(например, «Телефон»)",
    "lead_form.fields[].ask": "обязательное поле — добавьте вопрос, которым агент спросит это у клиента",
}
_TYPES: dict[str, str] = {
    "string_type": "нужна строка текста",
    "list_type": "нужен список: элементы с новой строки через «- » или в скобках [a, b]",
    "bool_type": "нужно true или false",
    "bool_parsing": "нужно true или false",
    "int_type": "нужно целое число",
    "int_parsing": "нужно целое число",
    "int_from_float": "нужно целое число",
    "too_short": "список пуст — добавьте хотя бы один элемент",
}


def parse_role(file_name: str, text: str) -> Role:
    """Validate the YAML ``text`` of the role file ``file_name`` without touching the disk.

    Raises ``RoleValidationError`` whose message names the file, the key and the fix.
    """
    stem = _file_stem(file_name)
    data = _load_yaml(file_name, text)
    issues: list[tuple[str | None, str]] = []
    role: Role | None = None
    try:
        role = Role.model_validate(data)
    except ValidationError as exc:
        issues.extend(_explain(exc))
    raw_id = data.get("id")
    if not re.fullmatch(ROLE_ID_PATTERN, stem):
        issues.insert(0, (None, f"имя файла не годится для роли: нужны латинские строчные буквы, цифры "
                                f"и _, первой — буква (например, deposit_consultant{ROLE_SUFFIX}) — "
                                "переименуйте файл"))
    elif isinstance(raw_id, str) and raw_id.strip() != stem and all(key != "id" for key, _ in issues):
        issues.insert(0, ("id", f"id '{raw_id.strip()}' не совпадает с именем файла — укажите id: {stem} "
                                f"или переименуйте файл в {raw_id.strip()}{ROLE_SUFFIX}"))
    if issues or role is None:
        first, *more = issues or [(None, "роль не прошла проверку")]
        raise RoleValidationError(file_name, first[0], first[1], more=more)
    return role


def _file_stem(file_name: str) -> str:
    path = PurePath(file_name)
    if file_name != path.name or "\\" in file_name or file_name.startswith("."):
        raise RoleValidationError(
            file_name, None, f"нужно простое имя файла вида <id>{ROLE_SUFFIX}, без папок и точки в начале"
        )
    if path.suffix != ROLE_SUFFIX:
        raise RoleValidationError(
            file_name, None, f"файл роли должен иметь расширение {ROLE_SUFFIX} — переименуйте его в "
            f"{path.stem}{ROLE_SUFFIX}"
        )
    return path.stem


def _load_yaml(file_name: str, text: str) -> dict[Any, Any]:
    try:
        data = yaml.load(text, Loader=_RoleLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(file_name, exc) from None
    except yaml.YAMLError as exc:
        raise RoleValidationError(file_name, None, f"ошибка YAML: {exc}") from None
    if data is None:
        raise RoleValidationError(file_name, None, "файл пуст — опишите роль: id, name, persona, greeting")
    if not isinstance(data, dict):
        raise RoleValidationError(
            file_name, None, "ожидается словарь ключей верхнего уровня (id, name, persona, greeting, ...), "
            "а в файле " + ("список" if isinstance(data, list) else "одно значение")
        )
    return data


def _yaml_error(file_name: str, exc: yaml.MarkedYAMLError) -> RoleValidationError:
    problem = exc.problem or str(exc)
    explained = next((fix for prefix, fix in _YAML_PROBLEMS if problem.startswith(prefix)), None)
    if explained is None:
        is_russian = any("а" <= ch <= "я" for ch in problem.lower())
        explained = problem if is_russian else (
            f"ошибка синтаксиса YAML ({problem}) — проверьте отступы, двоеточия и кавычки"
        )
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return RoleValidationError(file_name, None, explained)
    where = f"строка {mark.line + 1}, столбец {mark.column + 1}"
    context = exc.context_mark
    if context is not None and context.line != mark.line:
        where += f" (начало — строка {context.line + 1})"
    return RoleValidationError(file_name, None, f"{where}: {explained}", line=mark.line + 1)


def _explain(exc: ValidationError) -> list[tuple[str | None, str]]:
    """One ``(key path, Russian message)`` per pydantic error."""
    issues: list[tuple[str | None, str]] = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        ctx = err.get("ctx") or {}
        relative = ctx.get("key") if err["type"] == RULE_ERROR_TYPE else None
        issue = (_key(loc, relative), _message(err, loc))
        if issue not in issues:
            issues.append(issue)
    return issues


def _message(err: Any, loc: tuple[Any, ...]) -> str:
    kind: str = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if kind == RULE_ERROR_TYPE:
        return str(err["msg"])
    if kind == "missing" or kind == "string_too_short" or (value is None and kind.endswith("_type")):
        pattern = re.sub(r"\[\d+\]", "[]", _key(loc, None) or "")
        return _MISSING.get(pattern, "обязательное поле — заполните его")
    if kind == "extra_forbidden":
        return _unknown_key(loc)
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        allowed = _allowed_keys(loc)
        return "нужен раздел с вложенными ключами" + (f": {', '.join(allowed)}" if allowed else "")
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        low, high = _bounds(loc)
        if low is not None and high is not None:
            return f"нужно число от {low} до {high}, сейчас {value}"
        if "ge" in ctx or "gt" in ctx:
            return f"значение {value} слишком мало — нужно не меньше {ctx.get('ge', ctx.get('gt'))}"
        return f"значение {value} слишком велико — нужно не больше {ctx.get('le', ctx.get('lt'))}"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace(" or ", ", ")
        return f"недопустимое значение '{value}'; допустимо: {expected}"
    if kind in _TYPES:
        return _TYPES[kind]
    return f"недопустимое значение ({err['msg']})"


def _key(loc: tuple[Any, ...], relative: str | None) -> str | None:
    """``('lead_form', 'fields', 0, 'name')`` → ``lead_form.fields[0].name``."""
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    if relative:
        key += relative if relative.startswith("[") or not key else f".{relative}"
    return key or None


def _unknown_key(loc: tuple[Any, ...]) -> str:
    name = str(loc[-1]) if loc else ""
    allowed = _allowed_keys(loc[:-1])
    close = difflib.get_close_matches(name, allowed, n=1)
    advice = f"возможно, имелось в виду '{close[0]}'" if close else "проверьте написание или удалите его"
    listed = f"; допустимые ключи: {', '.join(allowed)}" if allowed else ""
    return f"неизвестный ключ '{name}' — {advice}{listed}"


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``| None`` from a field annotation."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            options = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation


def _walk(path: tuple[Any, ...]) -> tuple[Any, FieldInfo | None]:
    """The annotation found at ``path`` inside ``Role`` and the field that holds it."""
    annotation: Any = Role
    field: FieldInfo | None = None
    for part in path:
        annotation = _unwrap(annotation)
        if isinstance(part, int):
            args = get_args(annotation)
            annotation, field = (args[0] if args else None), None
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel) and part in (
            annotation.model_fields
        ):
            field = annotation.model_fields[part]
            annotation = field.annotation
        else:
            return None, None
    return _unwrap(annotation), field


def _allowed_keys(path: tuple[Any, ...]) -> list[str]:
    model, _ = _walk(path)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _bounds(path: tuple[Any, ...]) -> tuple[Any, Any]:
    _, field = _walk(path)
    low = high = None
    for item in field.metadata if field else ():
        low = getattr(item, "ge", low)
        high = getattr(item, "le", high)
    return low, high


# --- the registry -------------------------------------------------------------------------


@dataclass
class _Entry:
    """What the registry knows about one role file."""

    stamp: _Stamp | None  # None: the file is gone (kept only for the default role)
    digest: bytes | None = None
    racy: bool = True
    role: Role | None = None  # the last version that validated
    error: RoleValidationError | None = None


class RoleRegistry:
    """The roles in ``roles_dir``, reloaded when their files change; safe to share between threads.

    ``default_role`` is the id of the role that greets a new customer.
    """

    def __init__(self, roles_dir: Path, default_role: str) -> None:
        if not re.fullmatch(ROLE_ID_PATTERN, default_role):
            raise RoleError(
                f"agents.default_role: недопустимый id роли '{default_role}' — нужны латинские строчные "
                "буквы, цифры и _, первой — буква"
            )
        self._dir = Path(roles_dir)
        self._default_id = default_role
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._roles: dict[str, Role] = {}
        self._strays: list[str] = []
        self._folder_error: str | None = None
        with self._lock:
            self._refresh(log=False)

    @classmethod
    def load_or_raise(cls, roles_dir: Path, default_role: str) -> RoleRegistry:
        """Load the roles at start-up: raise when the default role cannot be served at all.

        Raises ``RoleValidationError`` when the folder is missing or the default role's
        file is missing or invalid; otherwise logs one warning per broken file and returns
        the registry.
        """
        registry = cls(roles_dir, default_role)
        note = (None, "это роль по умолчанию (agents.default_role в config.yaml): без неё продукт "
                      "не запускается")
        with registry._lock:
            folder_error = registry._folder_error
            entry = registry._entries.get(registry._default_file)
            loaded = default_role in registry._roles
        if folder_error:
            raise RoleValidationError(str(registry._dir), None, folder_error)
        if not loaded:
            if entry is not None and entry.error is not None:
                error = entry.error
                raise RoleValidationError(
                    error.file, error.key, error.message, more=[*error.issues[1:], note], line=error.line
                )
            raise RoleValidationError(
                registry._default_file, None,
                f"роль по умолчанию '{default_role}' не найдена в папке {registry._dir} — создайте файл "
                f"{registry._default_file} или укажите другую роль в agents.default_role (config.yaml)",
            )
        for message in registry.errors().values():
            logger.warning("role file problem, the other roles keep working: %s", message)
        return registry

    @property
    def roles_dir(self) -> Path:
        """The folder the roles are loaded from."""
        return self._dir

    @property
    def default_role(self) -> str:
        """The id of the role that greets a new customer."""
        return self._default_id

    def get(self, role_id: str) -> Role:
        """The current version of role ``role_id``; ``UnknownRole`` when there is none."""
        with self._lock:
            self._refresh()
            role = self._roles.get(role_id)
            if role is None:
                raise UnknownRole(role_id, list(self._roles))
            return role

    def default(self) -> Role:
        """The role that greets a new customer; ``UnknownRole`` when it never loaded."""
        return self.get(self._default_id)

    def all(self) -> list[Role]:
        """Every role being served, by id."""
        with self._lock:
            self._refresh()
            return [self._roles[key] for key in sorted(self._roles)]

    def errors(self) -> dict[str, str]:
        """Problems right now: file name → Russian message (one line per problem).

        Lists files that fail validation (their last good version, if any, keeps serving),
        routes to roles that do not exist, a missing default role and ``.yml`` files that
        are not read. Empty when everything is fine.
        """
        with self._lock:
            self._refresh()
            return self._problems()

    def validate_text(self, file_name: str, yaml_text: str) -> Role:
        """Validate ``yaml_text`` as the role file ``file_name`` without reading or writing files.

        Raises ``RoleValidationError``; routes to unknown roles are not an error here.
        """
        return parse_role(file_name, yaml_text)

    # --- internals ------------------------------------------------------------------------

    @property
    def _default_file(self) -> str:
        return f"{self._default_id}{ROLE_SUFFIX}"

    def _refresh(self, *, log: bool = True) -> None:
        """Re-read the files that changed since the last look; the caller holds the lock."""
        try:
            listing, strays = self._scan()
        except OSError as exc:
            message = (f"папка ролей {self._dir} не найдена — создайте её или исправьте agents.roles_dir "
                       "в config.yaml" if isinstance(exc, FileNotFoundError | NotADirectoryError)
                       else f"папку ролей {self._dir} не удалось прочитать: {exc.strerror or exc}")
            if message != self._folder_error and log:
                logger.warning("roles folder unavailable, serving the roles loaded before: %s", message)
            self._folder_error = message
            return
        self._folder_error = None
        self._strays = strays
        changed = False
        for name, stamp in listing.items():
            entry = self._entries.get(name)
            if entry is None or entry.stamp != stamp or entry.racy:
                changed |= self._load(name, stamp, entry, log=log)
        for name in [name for name in self._entries if name not in listing]:
            entry = self._entries[name]
            if name == self._default_file and entry.role is not None:
                if entry.stamp is not None and log:
                    logger.warning("the default role file %s was deleted; its last version keeps serving",
                                   name)
                entry.stamp, entry.digest, entry.error = None, None, None
            else:
                del self._entries[name]
                changed = True
                if log:
                    logger.info("role file %s was deleted", name)
        if changed:
            self._roles = {
                entry.role.id: entry.role for entry in self._entries.values() if entry.role is not None
            }

    def _scan(self) -> tuple[dict[str, _Stamp], list[str]]:
        listing: dict[str, _Stamp] = {}
        strays: list[str] = []
        with os.scandir(self._dir) as entries:
            for item in entries:
                if item.name.startswith("."):
                    continue
                if item.name.endswith(".yml"):
                    strays.append(item.name)
                    continue
                if not item.name.endswith(ROLE_SUFFIX):
                    continue
                try:
                    if not item.is_file():
                        continue
                    st = item.stat()
                except OSError:  # removed while we looked
                    continue
                listing[item.name] = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        return listing, sorted(strays)

    def _load(self, name: str, stamp: _Stamp, entry: _Entry | None, *, log: bool) -> bool:
        """Read one changed file; returns whether the served role changed."""
        started = time.time_ns()
        try:
            raw = (self._dir / name).read_bytes()
        except FileNotFoundError:  # removed while we looked: the next look drops it
            return False
        except OSError as exc:
            raw = None
            read_error = RoleValidationError(name, None, f"файл не удалось прочитать: {exc.strerror or exc}")
        if entry is None:
            entry = self._entries[name] = _Entry(stamp=None)
        entry.stamp = stamp
        entry.racy = started - stamp[2] < RACY_WINDOW_NS
        if raw is None:
            entry.digest, entry.error = None, read_error
            return False
        digest = hashlib.blake2b(raw, digest_size=16).digest()
        if digest == entry.digest:
            return False
        entry.digest = digest
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            error = RoleValidationError(name, None, "файл не в кодировке UTF-8 — сохраните его в UTF-8")
        else:
            try:
                role = parse_role(name, text)
            except RoleValidationError as exc:
                error = exc
            else:
                replaced = entry.role is not None
                entry.role, entry.error = role, None
                if log:
                    logger.info("role %s %s from %s", role.id, "reloaded" if replaced else "loaded", name)
                return True
        entry.error = error
        if log:
            kept = "its last good version keeps serving" if entry.role else "the role is not served"
            logger.warning("role file rejected, %s: %s", kept, error)
        return False

    def _problems(self) -> dict[str, str]:
        problems: dict[str, list[str]] = {}
        if self._folder_error:
            problems[str(self._dir)] = [self._folder_error]
        for name, entry in sorted(self._entries.items()):
            lines = problems.setdefault(name, [])
            if entry.error is not None:
                lines.append(str(entry.error))
            if entry.stamp is None:
                lines.append(f"{name}: файл роли по умолчанию удалён — пока он не вернётся, работает его "
                             "последняя загруженная версия; восстановите файл")
            elif name == self._default_file and entry.role is None:
                lines.append(f"{name}: это роль по умолчанию, и у неё нет рабочей версии — новые диалоги "
                             "не начнутся, пока файл не будет исправлен")
            if entry.role is not None:
                for index, target in enumerate(entry.role.routing.routes_to):
                    if target not in self._roles:
                        lines.append(f"{name}: routing.routes_to[{index}]: роль '{target}' не найдена — "
                                     f"создайте файл {target}{ROLE_SUFFIX} или уберите её из списка")
        if self._default_file not in self._entries and not self._folder_error:
            problems[self._default_file] = [
                f"{self._default_file}: роль по умолчанию '{self._default_id}' не найдена — создайте файл "
                f"{self._default_file} или укажите другую роль в agents.default_role (config.yaml)"
            ]
        for name in self._strays:
            problems[name] = [f"{name}: роли читаются только из файлов {ROLE_SUFFIX} — переименуйте файл в "
                              f"{name.removesuffix('.yml')}{ROLE_SUFFIX}"]
        return {name: "\n".join(lines) for name, lines in problems.items() if lines}
