"""The tools an LLM may call during a turn, filtered by the role's allowlist.

Every tool writes what it found into the turn's `ToolContext`: its output is
evidence for the grounding check, retrieved passages become the answer's
sources, and handoff/lead requests become the agent's decisions. Outputs are
handed to the model as data, never as instructions.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from agents.output_guard import split_planted
from agents.tools.calculators import CalculatorError, deposit_income, deposit_insurance, loan_payment
from agents.turn import Source
from knowledge.index import KnowledgeIndex
from knowledge.types import SearchFilter


@dataclass
class ToolContext:
    """What the tools of one turn share and report."""

    index: KnowledgeIndex
    search_filter: SearchFilter
    evidence: list[str] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    handoff_reason: str | None = None
    lead_fields: dict[str, str] = field(default_factory=dict)
    start_lead: bool = False
    calls: list[str] = field(default_factory=list)
    planted: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def add_passages(self, query: str, k: int = 4) -> str:
        """Search, record the passages as evidence and sources, return them as quoted data.

        Sentences of a passage that address the model (a planted instruction)
        are kept out of the evidence and remembered in `planted`.
        """
        hits = self.index.search(query, k=k, flt=self.search_filter)
        blocks = []
        for n, hit in enumerate(hits, start=1):
            c = hit.chunk
            clean, planted = split_planted(c.text)
            self.evidence.append(f"{c.heading}\n{clean}")
            self.planted.extend(planted)
            src = Source(c.source, c.heading, c.text)
            if all((s.source, s.heading) != (src.source, src.heading) for s in self.sources):
                self.sources.append(src)  # one entry per section, however many chunks it gave
            blocks.append(quote_passage(n, c.source, c.heading, c.text))
        return "\n".join(blocks) if blocks else "Ничего не найдено в базе знаний."

    def search_tool(self, query: str) -> str:
        """`knowledge_search` as the model calls it: recorded among the turn's calls."""
        self.calls.append("knowledge_search")
        return self.add_passages(query)


def quote_passage(n: int, source: str, heading: str, text: str) -> str:
    """A passage as quoted data: tags inside it are neutralised so it cannot close the quote."""
    body = text.replace("<", "‹").replace(">", "›")
    return f'<passage n="{n}" source="{_attr(source)}" heading="{_attr(heading)}">\n{body}\n</passage>'


def _attr(value: str) -> str:
    return value.replace('"', "'").replace("<", "‹").replace(">", "›")


class _SearchArgs(BaseModel):
    query: str = Field(description="Вопрос или ключевые слова на русском языке")


class _DepositArgs(BaseModel):
    amount: Decimal = Field(description="Сумма вклада в рублях")
    rate_percent: Decimal = Field(description="Годовая ставка, %")
    months: int = Field(description="Срок в месяцах")
    capitalization: Literal["none", "monthly", "quarterly"] = "none"


class _LoanArgs(BaseModel):
    amount: Decimal = Field(description="Сумма кредита в рублях")
    rate_percent: Decimal = Field(description="Годовая ставка, %")
    months: int = Field(description="Срок в месяцах")
    kind: Literal["annuity", "differentiated"] = "annuity"


class _Account(BaseModel):
    bank: str
    amount: Decimal


class _InsuranceArgs(BaseModel):
    accounts: list[_Account] = Field(description="Вклады и счета клиента: банк и сумма с процентами")


class _LeadArgs(BaseModel):
    start: bool = Field(False, description="Клиент хочет оформить продукт: начать заявку")
    amount: str | None = None
    term: str | None = None
    comment: str | None = None


class _HandoffArgs(BaseModel):
    reason: str = Field(description="Почему нужен менеджер")


def build_tools(ctx: ToolContext, allowed: frozenset[str]) -> list[BaseTool]:
    """The role's tools, bound to this turn's context."""
    every = {
        "knowledge_search": StructuredTool.from_function(
            coroutine=_in_thread(ctx.search_tool), name="knowledge_search",
            description="Поиск в базе знаний банка. Используйте для любых фактов, ставок и условий.",
            args_schema=_SearchArgs),
        "deposit_calculator": _calc_tool(ctx, "deposit_calculator", _DepositArgs,
                                         "Доход по вкладу: простые проценты или капитализация.",
                                         lambda a: deposit_income(a.amount, a.rate_percent, a.months,
                                                                  a.capitalization)),
        "loan_calculator": _calc_tool(ctx, "loan_calculator", _LoanArgs,
                                      "Платёж по кредиту: аннуитетный или дифференцированный.",
                                      lambda a: loan_payment(a.amount, a.rate_percent, a.months, a.kind)),
        "insurance_check": _calc_tool(ctx, "insurance_check", _InsuranceArgs,
                                      "Проверка страхового покрытия вкладов (1,4 млн ₽ на банк).",
                                      lambda a: deposit_insurance([(x.bank, x.amount) for x in a.accounts])),
        "lead_form": StructuredTool.from_function(
            coroutine=_async(lambda **kw: _lead(ctx, _LeadArgs(**kw))), name="lead_form",
            description="Начать заявку или записать сумму/срок. Личные данные спрашивает сама форма.",
            args_schema=_LeadArgs),
        "handoff": StructuredTool.from_function(
            coroutine=_async(lambda reason: _handoff(ctx, reason)), name="handoff",
            description="Передать диалог менеджеру.", args_schema=_HandoffArgs),
    }
    return [tool for name, tool in every.items() if name in allowed]


def _calc_tool(ctx: ToolContext, name: str, schema: type[BaseModel], description: str,
               run: Any) -> BaseTool:
    def call(**kwargs: Any) -> str:
        ctx.calls.append(name)
        try:
            result = run(schema(**kwargs)).describe()
        except CalculatorError as exc:
            return f"Ошибка расчёта: {exc}"
        # The figures the calculation was run on are part of its result.
        result = f"{result} Исходные данные расчёта: {_inputs(kwargs)}."
        ctx.evidence.append(result)
        return result

    return StructuredTool.from_function(coroutine=_async(call), name=name, description=description,
                                        args_schema=schema)


def _lead(ctx: ToolContext, args: _LeadArgs) -> str:
    ctx.calls.append("lead_form")
    ctx.start_lead = ctx.start_lead or args.start
    for key in ("amount", "term", "comment"):
        value = getattr(args, key)
        if value:
            ctx.lead_fields[key] = str(value)
    return "Заявка будет оформлена: форма сама спросит согласие и контактные данные."


def _handoff(ctx: ToolContext, reason: str) -> str:
    ctx.calls.append("handoff")
    ctx.handoff_reason = reason[:200] or "llm"
    return "Диалог будет передан менеджеру."


def _in_thread(fn: Any) -> Any:
    # Search is CPU work (BM25, embedding): keep it off the event loop.
    async def run(**kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, **kwargs)

    return run


def _async(fn: Any) -> Any:
    async def run(**kwargs: Any) -> Any:
        return fn(**kwargs)

    return run


def _inputs(kwargs: dict[str, Any]) -> str:
    """Calculator arguments in words a grounding check can read («amount: 500000»)."""
    parts = []
    for key, value in kwargs.items():
        if isinstance(value, list):
            value = "; ".join(f"{getattr(v, 'bank', v)} {getattr(v, 'amount', '')}" for v in value)
        parts.append(f"{key} {value}")
    return ", ".join(parts)
