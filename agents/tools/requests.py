"""Reading calculator requests out of a customer's message.

«Сколько я получу по вкладу 500 тыс на год под 16%?» becomes a deposit
income calculation; «какой платёж по кредиту 1 млн на 3 года под 20%» a loan
payment. A request with a missing number yields the question to ask.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from agents.tools.calculators import (
    CalculatorError,
    deposit_income,
    deposit_insurance,
    loan_payment,
)
from knowledge.ru.quantities import find_amounts, parse_amount, parse_rate, parse_term

CalcKind = Literal["deposit", "loan", "insurance"]

_DEPOSIT = re.compile(r"вклад|депозит|накоп|сбереж|доход|получу|заработа|процент\w*\s+на\s+остаток",
                      re.IGNORECASE)
_LOAN = re.compile(r"кредит|заём|займ|ипотек|платеж|платёж|переплат|ссуд|рассрочк", re.IGNORECASE)
_INSURANCE = re.compile(r"застрах|страхов|асв|возмещ|вернут|сгорят|пропадут", re.IGNORECASE)
_ASKS_NUMBER = re.compile(r"сколько|посчита|рассчита|расчёт|расчет|какой\s+(?:будет\s+)?"
                          r"(?:доход|платеж|платёж|переплата)|какая\s+(?:будет\s+)?переплата"
                          r"|калькулятор|вернут\s+ли|застрахован\w*\s+ли|(?:все|всё)\s+ли",
                          re.IGNORECASE)
_EXPLICIT = re.compile(r"посчита|рассчита|калькулятор", re.IGNORECASE)
_SEPARATE_BANKS = re.compile(r"разных\s+банках|двух\s+банках|нескольких\s+банках", re.IGNORECASE)


@dataclass(frozen=True)
class CalcResult:
    """A calculation's answer text, or the question to ask for what is missing."""

    kind: CalcKind
    text: str
    complete: bool
    missing: tuple[str, ...] = ()


def detect(text: str, allowed: frozenset[str], rate: Decimal | None = None) -> CalcResult | None:
    """A calculation the message asks for, if the role may run that calculator.

    `rate` stands in when the message names none (the bank's own rate).
    """
    if not _ASKS_NUMBER.search(text):
        return None
    amounts = find_amounts(text)
    has_numbers = bool(amounts) or parse_rate(text) is not None or parse_term(text) is not None
    if not has_numbers and not _EXPLICIT.search(text):
        return None
    if "insurance_check" in allowed and _INSURANCE.search(text) and amounts and not parse_rate(text):
        return _insurance(text, [m.value for m in amounts if m.currency == "RUB"] or
                          [m.value for m in amounts])
    if "loan_calculator" in allowed and _LOAN.search(text):
        return _loan(text, rate)
    if "deposit_calculator" in allowed and _DEPOSIT.search(text):
        return _deposit(text, rate)
    return None


def wants_calculation(text: str) -> bool:
    """An explicit request to compute something, with numbers in it."""
    return bool(_EXPLICIT.search(text)) and (bool(find_amounts(text)) or parse_term(text) is not None)


def _missing(kind: CalcKind, what: list[str], example: str) -> CalcResult:
    listed = what[0] if len(what) == 1 else ", ".join(what[:-1]) + " и " + what[-1]
    return CalcResult(kind, f"Чтобы посчитать, укажите, пожалуйста, {listed}. "
                      f"Например: «{example}».", complete=False, missing=tuple(what))


def _numbers(text: str, default_rate: Decimal | None = None
             ) -> tuple[Decimal | None, Decimal | None, int | None, list[str]]:
    money, rate, term = parse_amount(text), parse_rate(text) or default_rate, parse_term(text)
    missing = [name for name, v in (("сумму", money), ("срок", term), ("ставку", rate)) if v is None]
    months = term.in_months() if term else None
    return (money.value if money else None), rate, months, missing


def _deposit(text: str, rate: Decimal | None) -> CalcResult:
    capitalised = re.search(r"капитализ|ежемесячн\w+\s+капитал", text, re.IGNORECASE)
    cap: Literal["none", "monthly"] = "monthly" if capitalised else "none"
    return _run("deposit", text, "500 тыс на год под 13,5%",
                lambda a, r, m: deposit_income(a, r, m, cap).describe(), rate)


def _loan(text: str, rate: Decimal | None) -> CalcResult:
    differentiated = re.search(r"дифференц", text, re.IGNORECASE)
    kind: Literal["annuity", "differentiated"] = "differentiated" if differentiated else "annuity"
    return _run("loan", text, "кредит 1 млн на 3 года под 20%",
                lambda a, r, m: loan_payment(a, r, m, kind).describe(), rate)


def _run(kind: CalcKind, text: str, example: str,
         calculate: Callable[[Decimal, Decimal, int], str], default_rate: Decimal | None) -> CalcResult:
    """Amount, rate and term from the message through a calculator, or ask for what is missing."""
    amount, rate, months, missing = _numbers(text, default_rate)
    if missing or amount is None or rate is None or months is None:
        return _missing(kind, missing, example)
    try:
        return CalcResult(kind, calculate(amount, rate, months), True)
    except CalculatorError as exc:
        return CalcResult(kind, str(exc), False)


def _insurance(text: str, amounts: list[Decimal]) -> CalcResult:
    accounts: list[tuple[str, Decimal | int | float | str]]
    if _SEPARATE_BANKS.search(text):
        accounts = [(f"банк {i + 1}", a) for i, a in enumerate(amounts)]
    else:
        accounts = [("Ваш банк", a) for a in amounts]
    try:
        return CalcResult("insurance", deposit_insurance(accounts).describe(), True)
    except CalculatorError as exc:
        return CalcResult("insurance", str(exc), False)
