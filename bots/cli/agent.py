"""`sovetnik ask` and `sovetnik chat`: talk to an agent from the terminal."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bots import assembly
from bots.cli.common import fail, print_json, read_jsonl, state

if TYPE_CHECKING:
    from agents.agent import Agent
    from agents.turn import Reply

RoleOpt = Annotated[str | None, typer.Option("--role", help="Role id (default: agents.default_role).")]
IndexOpt = Annotated[Path | None,
                     typer.Option("--index", help="Index folder (default: knowledge.index_dir).")]


def _agent(ctx: typer.Context, index: Path | None) -> tuple[Agent, str]:
    from agents.errors import RoleError

    settings = state(ctx).settings
    try:
        roles = assembly.role_registry(settings)
    except RoleError as exc:
        raise fail(f"Ошибка в ролях: {exc}") from None
    agent = assembly.agent(settings, assembly.knowledge_index(settings, index), roles)
    return agent, settings.agents.default_role


def _check_role(agent: Agent, role: str) -> None:
    known = [r.id for r in agent.roles.all()]
    if role not in known:
        raise fail(f"--role: неизвестная роль {role!r}; доступны: {', '.join(known)}")


def reply_json(reply: Reply, qid: Any = None) -> dict[str, Any]:
    """The JSON contract of `sovetnik ask`, plus `notes`: how the answer came about."""
    out: dict[str, Any] = {} if qid is None else {"id": qid}
    return out | {
        "answer": "\n\n".join(reply.messages()), "sources": [s.as_dict() for s in reply.sources],
        "grounded": reply.grounded, "handoff": reply.handoff, "role": reply.role, "mode": reply.mode,
        "notes": reply_notes(reply),
    }


def reply_notes(reply: Reply) -> dict[str, Any]:
    """The answer's notes as an object: mode, fallback reason, retries, rejected items, tools."""
    notes: dict[str, Any] = {"mode": reply.mode, "fallback_reason": None, "retries": 0,
                             "rejected": [], "tools": [], "tools_refused": [], "other": []}
    for note in reply.notes:
        key, _, value = note.partition(":")
        if key == "llm_fallback":
            notes["fallback_reason"] = value
        elif key == "retries":
            notes["retries"] = int(value)
        elif key == "rejected":
            notes["rejected"].append(value)
        elif key == "tool":
            notes["tools"].append(value)
        elif key == "tool_refused":
            notes["tools_refused"].append(value)
        else:
            notes["other"].append(note)
    return notes


def ask_cmd(
    ctx: typer.Context,
    question: Annotated[str | None, typer.Argument(help="The question.")] = None,
    questions: Annotated[Path | None, typer.Option("--questions", help="JSONL with id, q.")] = None,
    role: RoleOpt = None, index: IndexOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """Answer one question, or every line of --questions (each as a new dialog)."""
    if (question is None) == (questions is None):
        raise fail("Укажите либо вопрос, либо --questions FILE.jsonl.")
    agent, default = _agent(ctx, index)
    role_id = role or default
    _check_role(agent, role_id)
    items: list[tuple[Any, str | None]] = [(None, question)] if questions is None else [
        (obj["id"], str(obj["q"])) for obj in read_jsonl(questions, ("id", "q"))]
    asyncio.run(_ask_all(agent, role_id, items, as_json or questions is not None))


async def _ask_all(agent: Agent, role_id: str, items: list[tuple[Any, str | None]], as_json: bool) -> None:
    """Every question on one event loop: the model client keeps its connections between them."""
    from agents.turn import TurnInput

    try:
        for qid, text in items:
            reply = await agent.respond(TurnInput(text=str(text), role_id=role_id))
            if as_json:
                print_json(reply_json(reply, qid))
            else:
                _print_reply(reply)
    finally:
        await agent.aclose()


def chat_cmd(ctx: typer.Context, role: RoleOpt = None, index: IndexOpt = None) -> None:
    """A terminal chat with an agent (/exit to leave)."""
    agent, default = _agent(ctx, index)
    role_id = role or default
    _check_role(agent, role_id)
    typer.echo(f"{agent.roles.get(role_id).greeting}\n(/exit — выход)")
    asyncio.run(_chat_loop(agent, role_id))


async def _chat_loop(agent: Agent, role_id: str) -> None:
    try:
        await _chat_turns(agent, role_id)
    finally:
        await agent.aclose()


async def _chat_turns(agent: Agent, role_id: str) -> None:
    from agents.turn import DialogState, HistoryItem, TurnInput

    history: list[HistoryItem] = []
    dialog = DialogState()
    while True:
        line = await asyncio.to_thread(_read_line)
        if line is None or line.strip() in ("/exit", "/quit"):
            return
        if not line.strip():
            continue
        reply = await agent.respond(TurnInput(line, role_id, tuple(history), dialog))
        history += [HistoryItem("customer", line), *(HistoryItem("agent", t) for t in reply.messages())]
        role_id, dialog = reply.role, reply.state
        _print_reply(reply)


def _read_line() -> str | None:
    try:
        return input("вы> ")
    except EOFError:
        return None


def _print_reply(reply: Reply) -> None:
    typer.echo(f"{reply.role}> {reply.text}")
    for src in reply.sources:
        typer.echo(f"   источник: {src.source} — {src.heading}")
    for followup in reply.followups:  # the lead form resuming after a side question
        typer.echo(f"{reply.role}> {followup}")
    if reply.quick_replies:
        typer.echo("   [" + "] [".join(reply.quick_replies) + "]")
    if reply.handoff:
        typer.echo(f"   (диалог передан менеджеру: {reply.handoff_reason})")
    sys.stdout.flush()
