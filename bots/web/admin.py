"""The admins' console: agent roles, knowledge files, the playground, the audit log.

Every save is validated first, written atomically, recorded in the audit log
and live for the next message: roles are re-read by the registry on change,
knowledge is re-ingested incrementally (only what changed) into the index the
running agent searches.
"""

from __future__ import annotations

import asyncio
import difflib
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from agents.errors import RoleValidationError
from agents.turn import TurnInput
from bots.runtime import Runtime
from bots.web.audit import recent_events, record
from bots.web.auth import csrf_ok
from bots.web.guard import account, console, flash, page, posted, runtime_of
from bots.web.templating import render
from knowledge.errors import UnsafeFileName
from knowledge.files import resolve_inside
from pipelines.ingest.errors import UnreadableFile
from pipelines.ingest.loaders import READERS, parse
from pipelines.ingest.run import IngestReport, ingest

MAX_UPLOAD = 10 * 1024 * 1024
MAX_TEXT = 500_000
TEXT_TYPES = {".md", ".markdown", ".txt", ".html", ".htm"}


class _Knowledge:
    """Safe file operations inside the knowledge folder, and re-ingestion."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.root = runtime.settings.path(runtime.settings.knowledge.docs_dir).resolve()
        self._lock = asyncio.Lock()

    def resolve(self, rel: str) -> Path:
        """The file for a relative path; `UnsafeFileName` (a ValueError) for a bad name or a link."""
        return resolve_inside(self.root, rel, READERS)

    def files(self) -> list[dict[str, Any]]:
        """Every knowledge file with its size (links are not knowledge files: not listed)."""
        if not self.root.exists():
            return []
        return [{"path": p.relative_to(self.root).as_posix(), "size": p.stat().st_size,
                 "editable": p.suffix.lower() in TEXT_TYPES}
                for p in sorted(self.root.rglob("*"))
                if not p.is_symlink() and p.is_file() and not p.name.startswith(".")]

    async def reingest(self) -> IngestReport:
        """Bring the running index in line with the folder (only changed files)."""
        async with self._lock:
            settings = self.runtime.settings
            return await asyncio.to_thread(ingest, [self.root], self.runtime.index,
                                           embedder_config=settings.embeddings.model)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _diff(old: str, new: str, name: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        fromfile=f"было/{name}", tofile=f"стало/{name}"))


def _summary(report: IngestReport) -> str:
    parts = [f"добавлено {len(report.added)}", f"обновлено {len(report.updated)}",
             f"удалено {len(report.removed)}"]
    if report.skipped:
        parts.append("пропущено: " + "; ".join(f"{n} ({why})" for n, why in report.skipped))
    return "База знаний обновлена: " + ", ".join(parts) + "."


def knowledge_for(runtime: Runtime) -> _Knowledge:
    """The knowledge folder the admin pages edit (the app keeps one, for its lock)."""
    return _Knowledge(runtime)


def _knowledge(request: Request) -> _Knowledge:
    knowledge: _Knowledge = request.app.state.knowledge
    return knowledge


@console(admin=True)
async def roles(request: Request) -> Response:
    """Every role and the files that fail validation."""
    runtime = runtime_of(request)
    return render(request, "roles.html", page(request, account(request), roles=runtime.roles.all(),
                                                errors=runtime.roles.errors()))


@console(admin=True)
async def role_edit(request: Request) -> Response:
    """A role's YAML: shown, checked (with a diff) and saved."""
    runtime, user = runtime_of(request), account(request)
    role_id = request.path_params["role_id"]
    path = runtime.settings.path(runtime.settings.agents.roles_dir) / f"{role_id}.yaml"
    if not re.fullmatch(r"[a-z][a-z0-9_]{1,40}", role_id):
        return Response("Роль не найдена", status_code=404)
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    context: dict[str, Any] = {"role_id": role_id, "text": current, "error": None, "diff": None}
    status = 200
    if request.method == "POST":
        form = await posted(request)
        if isinstance(form, Response):
            return form
        text = form.get("text", "")[:MAX_TEXT].replace("\r\n", "\n")
        context.update(text=text, diff=_diff(current, text, path.name))
        try:
            runtime.roles.validate_text(path.name, text)
        except RoleValidationError as exc:
            context["error"], status = str(exc), 422
        else:
            if form.get("action") == "save":
                _write(path, text.encode("utf-8"))
                await record(runtime.db, user.name, "role.save", path.name, {"diff": context["diff"]})
                context["saved"] = True
    return render(request, "role_edit.html", page(request, user, **context), status_code=status)


def _refused(request: Request, reason: str, status: int = 400) -> Response:
    """The knowledge page again, with the reason in Russian and a 4xx status."""
    return render(request, "knowledge.html",
                  page(request, account(request), files=_knowledge(request).files(), flash=reason,
                       flash_error=True), status_code=status)


@console(admin=True)
async def knowledge_list(request: Request) -> Response:
    """The knowledge files."""
    return render(request, "knowledge.html",
                  page(request, account(request), files=_knowledge(request).files()))


@console(admin=True)
async def knowledge_edit(request: Request) -> Response:
    """A text knowledge file: shown, saved and re-ingested."""
    knowledge, user = _knowledge(request), account(request)
    form = await posted(request) if request.method == "POST" else dict(request.query_params)
    if isinstance(form, Response):
        return form
    rel = form.get("path", "")
    try:
        path = knowledge.resolve(rel)
        if path.suffix.lower() not in TEXT_TYPES:
            raise UnsafeFileName("Этот файл не текстовый: замените его загрузкой.")
    except UnsafeFileName as exc:
        return _refused(request, str(exc))
    current = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    if request.method == "GET":
        return render(request, "knowledge_edit.html", page(request, user, path=rel, text=current))
    text = form.get("text", "")[:MAX_TEXT].replace("\r\n", "\n")
    if not text.strip():
        flash(request, "Пустой файл не сохранён: удалите его, если он больше не нужен.", error=True)
        return RedirectResponse(f"/console/admin/knowledge/edit?path={quote(rel)}", status_code=303)
    _write(path, text.encode("utf-8"))
    report = await knowledge.reingest()
    await record(runtime_of(request).db, user.name, "knowledge.save", rel,
                 {"diff": _diff(current, text, rel)})
    flash(request, _summary(report))
    return RedirectResponse("/console/admin/knowledge", status_code=303)


@console(admin=True)
async def knowledge_upload(request: Request) -> Response:
    """A new or replaced knowledge file, uploaded and re-ingested."""
    knowledge, user = _knowledge(request), account(request)
    async with request.form(max_files=1, max_fields=10, max_part_size=MAX_UPLOAD) as form:
        if not csrf_ok(request, form.get("csrf")):
            return Response("Форма устарела: обновите страницу.", status_code=403)
        upload = form.get("file")
        folder = str(form.get("folder") or "").strip("/ ")
        if upload is None or isinstance(upload, str) or not upload.filename:
            return _refused(request, "Выберите файл.")
        data = await upload.read(MAX_UPLOAD + 1)
        filename = Path(upload.filename).name
    if len(data) > MAX_UPLOAD:
        return _refused(request, "Файл больше 10 МБ.", 413)
    rel = f"{folder}/{filename}" if folder else filename
    try:
        path = knowledge.resolve(rel)
        # Read (bounded, in a worker) before anything is written: a bomb never lands on disk.
        await asyncio.to_thread(parse, path, data)
    except UnsafeFileName as exc:
        return _refused(request, str(exc))
    except UnreadableFile as exc:
        return _refused(request, f"Файл не принят: {exc.reason}.", 422)
    _write(path, data)
    report = await knowledge.reingest()
    await record(runtime_of(request).db, user.name, "knowledge.upload", rel, {"bytes": len(data)})
    flash(request, _summary(report), error=bool(report.skipped))
    return RedirectResponse("/console/admin/knowledge", status_code=303)


@console(admin=True)
async def knowledge_delete(request: Request) -> Response:
    """A knowledge file removed, and the index with it."""
    knowledge, user = _knowledge(request), account(request)
    form = await posted(request)
    if isinstance(form, Response):
        return form
    rel = form.get("path", "")
    try:
        path = knowledge.resolve(rel)
    except UnsafeFileName as exc:
        return _refused(request, str(exc))
    if path.exists():
        path.unlink()
    report = await knowledge.reingest()
    await record(runtime_of(request).db, user.name, "knowledge.delete", rel, {})
    flash(request, _summary(report))
    return RedirectResponse("/console/admin/knowledge", status_code=303)


@console(admin=True)
async def playground(request: Request) -> Response:
    """Ask a role a question as a customer would, without a dialog."""
    runtime = runtime_of(request)
    context: dict[str, Any] = {"roles": runtime.roles.all(), "reply": None, "question": "",
                               "role_id": runtime.settings.agents.default_role}
    if request.method == "POST":
        form = await posted(request)
        if isinstance(form, Response):
            return form
        question = form.get("question", "").strip()[:4000]
        role_id = form.get("role", context["role_id"])
        if role_id not in {r.id for r in context["roles"]}:
            role_id = context["role_id"]
        context.update(question=question, role_id=role_id)
        if question:
            context["reply"] = await runtime.agent.respond(TurnInput(question, role_id))
    return render(request, "playground.html", page(request, account(request), **context))


@console(admin=True)
async def audit(request: Request) -> Response:
    """The newest audit events."""
    events = await recent_events(runtime_of(request).db)
    return render(request, "audit.html", page(request, account(request), events=events))


def routes() -> list[Route]:
    """Admin-only console routes."""
    return [
        Route("/console/admin/roles", roles),
        Route("/console/admin/roles/{role_id:str}", role_edit, methods=["GET", "POST"]),
        Route("/console/admin/knowledge", knowledge_list),
        Route("/console/admin/knowledge/edit", knowledge_edit, methods=["GET", "POST"]),
        Route("/console/admin/knowledge/upload", knowledge_upload, methods=["POST"]),
        Route("/console/admin/knowledge/delete", knowledge_delete, methods=["POST"]),
        Route("/console/admin/playground", playground, methods=["GET", "POST"]),
        Route("/console/admin/audit", audit),
    ]
