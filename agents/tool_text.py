"""Tool calls that a model wrote as text instead of as structured calls.

Open models behind OpenAI-compatible servers often return a call as plain
content with ``finish_reason: stop``: a fenced JSON block, bare JSON,
``<tool_call>…</tool_call>`` (Qwen/Hermes), ``<tools>…</tools>``,
``<function=name>{…}</function>`` (Llama 3.1), ``<|python_tag|>`` or a
Python-like ``name(key=value)``. `extract_calls` reads every such call so the
loop can execute it; `looks_like_call` tells whether a text that is about to
be sent to a customer still resembles one (it must then never be sent).
"""

from __future__ import annotations

import ast
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

_FENCE = re.compile(r"```[ \t]*([\w-]*)[ \t]*\n?(.*?)```", re.DOTALL)
_TAGGED = re.compile(r"<(tool_call|tools|tool|function_call|functioncall)>(.*?)(?:</\1>|$)",
                     re.DOTALL | re.IGNORECASE)
_FUNCTION_TAG = re.compile(r"<function=([A-Za-z_][\w.-]*)>(.*?)(?:</function>|$)", re.DOTALL)
_PYTHON_TAG = "<|python_tag|>"
_PY_CALL = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(([^()]*)\)")
_NAME_KEYS = ("name", "function", "tool", "tool_name")
_ARG_KEYS = ("arguments", "parameters", "args", "input")
_SUSPECT = re.compile(
    r"<\s*/?\s*(tool_call|tools|tool|function_call|functioncall)\b|<function=|<\|python_tag\|>"
    r"|[\"']?(name|function)[\"']?\s*:\s*[\"'][A-Za-z_][\w.-]*[\"']\s*,\s*[\"']?(arguments|parameters|args)"
    r"|```\s*(json|tool_call|tool|python)",
    re.IGNORECASE)


@dataclass(frozen=True)
class TextCall:
    """One call read from text, in LangChain's ``tool_calls`` shape."""

    name: str
    args: dict[str, Any]
    id: str = field(default_factory=lambda: f"call_{uuid.uuid4().hex[:24]}")

    def as_dict(self) -> dict[str, Any]:
        """The ``AIMessage.tool_calls`` item."""
        return {"name": self.name, "args": self.args, "id": self.id, "type": "tool_call"}


def extract_calls(text: str, tool_names: frozenset[str]) -> list[TextCall]:
    """Every tool call written in `text`, in order of appearance.

    JSON forms are recognised by their shape (a name and arguments), whatever
    the name: a call to a tool the role lacks is still a call, to be refused,
    never shown. The Python-like form counts only for names in `tool_names`,
    so prose with parentheses is not mistaken for a call.
    """
    calls: list[TextCall] = []
    for body in _candidates(text):
        calls.extend(_json_calls(body))
    if not calls:
        calls.extend(_python_calls(text.replace(_PYTHON_TAG, ""), tool_names))
    return calls


def looks_like_call(text: str, tool_names: frozenset[str]) -> bool:
    """True when `text` still resembles a tool call (a tag, a JSON call, a tool's name)."""
    if _SUSPECT.search(text):
        return True
    return any(re.search(rf"\b{re.escape(name)}\b", text) for name in tool_names)


def _candidates(text: str) -> list[str]:
    """Pieces of `text` that may hold a JSON call, most specific forms first."""
    found: list[str] = []
    for m in _FUNCTION_TAG.finditer(text):
        found.append(json.dumps({"name": m.group(1), "arguments": _loads(m.group(2)) or {}}))
    found += [m.group(2) for m in _TAGGED.finditer(text)]
    found += [m.group(2) for m in _FENCE.finditer(text)]
    stripped = text.replace(_PYTHON_TAG, "").strip()
    if not found and stripped[:1] in "[{":
        found.append(stripped)
    if not found:
        found += _embedded_objects(text)
    return found


def _embedded_objects(text: str) -> list[str]:
    """Balanced ``{…}`` objects inside prose that mention a name key."""
    out: list[str] = []
    decoder = json.JSONDecoder()
    for m in re.finditer(r"\{\s*\"(?:name|function|tool)\"", text):
        try:
            obj, _ = decoder.raw_decode(text[m.start():])
        except ValueError:
            continue
        out.append(json.dumps(obj, ensure_ascii=False))
    return out


def _json_calls(body: str) -> list[TextCall]:
    calls: list[TextCall] = []
    for value in _json_values(body):
        items = value if isinstance(value, list) else [value]
        for item in items:
            call = _as_call(item)
            if call is not None:
                calls.append(call)
    return calls


def _json_values(body: str) -> list[Any]:
    """Every JSON value in `body`: one, or several one after another (one per line)."""
    whole = _loads(body)
    if whole is not None:
        return [whole]
    decoder, values, pos = json.JSONDecoder(), [], 0
    body = body.strip()
    while pos < len(body):
        start = min((i for i in (body.find("{", pos), body.find("[", pos)) if i >= 0), default=-1)
        if start < 0:
            break
        try:
            value, pos = decoder.raw_decode(body, start)
        except ValueError:
            pos = start + 1
            continue
        values.append(value)
    return values


def _as_call(item: Any) -> TextCall | None:
    if not isinstance(item, dict):
        return None
    if isinstance(item.get("function"), dict):  # the OpenAI wire shape written as text
        item = item["function"]
    name = next((item[k] for k in _NAME_KEYS if isinstance(item.get(k), str)), None)
    if not name or not re.fullmatch(r"[A-Za-z_][\w.-]*", name):
        return None
    raw: Any = next((item[k] for k in _ARG_KEYS if k in item), {})
    args = _loads(raw) if isinstance(raw, str) else raw
    return TextCall(name, args if isinstance(args, dict) else {})


def _python_calls(text: str, tool_names: frozenset[str]) -> list[TextCall]:
    calls = []
    for m in _PY_CALL.finditer(text):
        if m.group(1) in tool_names:
            calls.append(TextCall(m.group(1), _python_args(m.group(2))))
    return calls


def _python_args(source: str) -> dict[str, Any]:
    """``amount=500000, kind="annuity"`` as a dict; what cannot be read is left out."""
    try:
        call = ast.parse(f"f({source})", mode="eval").body
    except SyntaxError:
        return {}
    args: dict[str, Any] = {}
    if isinstance(call, ast.Call):
        for kw in call.keywords:
            try:
                args[str(kw.arg)] = ast.literal_eval(kw.value)
            except ValueError:
                continue
    return args


def _loads(text: str) -> Any:
    try:
        return json.loads(text.strip())
    except ValueError:
        return None
