"""The bank's calculators: deposit income, loan payments and deposit insurance.

All arithmetic is in ``Decimal``; sums are rounded to kopecks half up (``ROUND_HALF_UP``).
Results are frozen dataclasses whose ``describe()`` gives a short Russian explanation for a
customer. Invalid input raises ``CalculatorError`` with a polite Russian message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from knowledge.ru.money import format_money, format_percent, to_kopecks

Capitalization = Literal["none", "monthly", "quarterly"]
PaymentKind = Literal["annuity", "differentiated"]
Number = Decimal | int | float | str

#: The deposit insurance limit per person in one bank, roubles.
INSURANCE_LIMIT = Decimal("1400000")
#: The longest term the calculators accept, months (50 years).
MAX_MONTHS = 600

_CAPITALIZATION_WORDS: dict[str, str] = {
    "none": "без капитализации",
    "monthly": "с ежемесячной капитализацией",
    "quarterly": "с ежеквартальной капитализацией",
}
_CAPITALIZATION_ERROR = (
    "Пожалуйста, выберите капитализацию: без капитализации, ежемесячную или ежеквартальную."
)
_KIND_ERROR = "Пожалуйста, выберите схему платежей: аннуитетную или дифференцированную."
_PERIODS_PER_YEAR: dict[str, int] = {"monthly": 12, "quarterly": 4}
_MONTHS_PER_PERIOD: dict[str, int] = {"monthly": 1, "quarterly": 3}


class CalculatorError(ValueError):
    """Invalid calculator input; the message is a polite Russian sentence for the customer."""


# --- input checks ------------------------------------------------------------------------


def _decimal(value: Number, what: str) -> Decimal:
    """Convert ``value`` to a finite Decimal; ``what`` names it in the error («сумму вклада»)."""
    if isinstance(value, bool):
        raise CalculatorError(f"Пожалуйста, укажите {what} числом.")
    try:
        number = Decimal(str(value).replace(",", ".").replace(" ", "").strip())
    except (InvalidOperation, ValueError):
        raise CalculatorError(f"Пожалуйста, укажите {what} числом.") from None
    if not number.is_finite():
        raise CalculatorError(f"Пожалуйста, укажите {what} числом.")
    return number


def _amount(value: Number, what: str) -> Decimal:
    """A sum of money greater than zero."""
    amount = _decimal(value, what)
    if amount <= 0:
        raise CalculatorError(f"Пожалуйста, укажите {what} больше нуля.")
    return amount


def _rate(value: Number) -> Decimal:
    """An annual rate from 0 to 100 percent."""
    rate = _decimal(value, "ставку")
    if not 0 <= rate <= 100:
        raise CalculatorError("Пожалуйста, укажите ставку от 0 до 100 % годовых.")
    return rate


def _months(value: Number) -> int:
    """A whole number of months from 1 to ``MAX_MONTHS``."""
    months = _decimal(value, "срок в месяцах")
    if months != months.to_integral_value() or months < 1:
        raise CalculatorError("Пожалуйста, укажите срок в целых месяцах, не меньше одного.")
    if months > MAX_MONTHS:
        raise CalculatorError(f"Пожалуйста, укажите срок не больше {MAX_MONTHS} месяцев.")
    return int(months)


def _choice(value: object, allowed: Iterable[str], message: str) -> str:
    """``value`` when it is one of ``allowed``, else ``CalculatorError(message)``."""
    if not isinstance(value, str) or value not in allowed:
        raise CalculatorError(message)
    return value


# --- deposit income ----------------------------------------------------------------------


@dataclass(frozen=True)
class DepositIncome:
    """Income from a deposit; sums in roubles, rates in percent per year."""

    amount: Decimal
    rate_percent: Decimal
    months: int
    capitalization: Capitalization
    interest: Decimal
    final_amount: Decimal
    effective_rate_percent: Decimal

    def describe(self) -> str:
        """«Доход за 12 мес. под 16 % годовых без капитализации: 80 000 ₽. Сумма …»."""
        text = (
            f"Доход за {self.months} мес. под {format_percent(self.rate_percent)} годовых "
            f"{_CAPITALIZATION_WORDS[self.capitalization]}: {format_money(self.interest)}. "
            f"Сумма в конце срока: {format_money(self.final_amount)}."
        )
        if self.capitalization != "none":
            text += f" Эффективная ставка: {format_percent(self.effective_rate_percent)} годовых."
        return text


def _compound(amount: Decimal, rate: Decimal, months: int, capitalization: str) -> Decimal:
    """Amount at the end: compound for every full period, simple for the months left over."""
    per_period = _MONTHS_PER_PERIOD[capitalization]
    periods, left = divmod(months, per_period)
    grown = amount * (1 + rate / 100 / _PERIODS_PER_YEAR[capitalization]) ** periods
    return grown * (1 + rate / 100 * left / 12)


def deposit_income(
    amount: Number, rate_percent: Number, months: Number, capitalization: Capitalization = "none"
) -> DepositIncome:
    """Income from a deposit of ``amount`` at ``rate_percent`` a year for ``months``.

    Without capitalization: interest = amount · rate/100 · months/12.
    Monthly: final = amount · (1 + rate/100/12)^months.
    Quarterly: final = amount · (1 + rate/100/4)^quarters, then simple interest on it for the
    months after the last full quarter. The effective rate is the simple annual rate giving
    the same income: interest/amount · 12/months · 100, rounded to hundredths.
    """
    principal, rate = _amount(amount, "сумму вклада"), _rate(rate_percent)
    term = _months(months)
    kind = _choice(capitalization, _CAPITALIZATION_WORDS, _CAPITALIZATION_ERROR)
    if kind == "none":
        interest = to_kopecks(principal * rate / 100 * term / 12)
    else:
        interest = to_kopecks(_compound(principal, rate, term, kind) - principal)
    effective = to_kopecks(interest / principal * 12 / term * 100)
    return DepositIncome(
        amount=principal,
        rate_percent=rate,
        months=term,
        capitalization=capitalization,
        interest=interest,
        final_amount=principal + interest,
        effective_rate_percent=effective,
    )


# --- loan payments -----------------------------------------------------------------------


@dataclass(frozen=True)
class LoanPayment:
    """Payments on a loan; ``monthly_payment`` is the annuity payment or the first one."""

    amount: Decimal
    rate_percent: Decimal
    months: int
    kind: PaymentKind
    monthly_payment: Decimal
    first_payment: Decimal
    last_payment: Decimal
    total_paid: Decimal
    overpayment: Decimal

    def describe(self) -> str:
        """A short Russian explanation of the payments, the total and the overpayment."""
        terms = f"на {self.months} мес. под {format_percent(self.rate_percent)} годовых"
        if self.kind == "annuity":
            text = f"Ежемесячный платёж {terms}: {format_money(self.monthly_payment)}."
            if self.last_payment != self.monthly_payment:
                text += f" Последний платёж: {format_money(self.last_payment)}."
        else:
            text = (
                f"Платежи {terms} уменьшаются с {format_money(self.first_payment)} "
                f"до {format_money(self.last_payment)}."
            )
        return (
            f"{text} Всего выплат: {format_money(self.total_paid)}, "
            f"переплата: {format_money(self.overpayment)}."
        )


def annuity_payment(amount: Decimal, monthly_rate: Decimal, months: int) -> Decimal:
    """P = S · i / (1 − (1 + i)^−n), rounded to kopecks; with i = 0 it is S / n."""
    if monthly_rate == 0:
        return to_kopecks(amount / months)
    return to_kopecks(amount * monthly_rate / (1 - (1 + monthly_rate) ** -months))


def _schedule(amount: Decimal, rate: Decimal, months: int, kind: str) -> list[Decimal]:
    """Monthly payments. Interest each month is the balance · i, rounded to kopecks; the
    last payment repays whatever balance is left, which absorbs the rounding."""
    monthly_rate = rate / 12 / 100
    annuity = annuity_payment(amount, monthly_rate, months)
    principal_part = to_kopecks(amount / months)
    balance, payments = amount, []
    for month in range(1, months + 1):
        interest = to_kopecks(balance * monthly_rate)
        if month == months:
            principal = balance
        elif kind == "annuity":
            principal = annuity - interest
        else:
            principal = principal_part
        payments.append(principal + interest)
        balance -= principal
    return payments


def loan_payment(
    amount: Number, rate_percent: Number, months: Number, kind: PaymentKind = "annuity"
) -> LoanPayment:
    """Payments on a loan of ``amount`` at ``rate_percent`` a year for ``months``.

    Annuity: equal payments P = S · i / (1 − (1 + i)^−n), i = rate/12/100 (S/n at zero rate).
    Differentiated: principal S/n plus interest on the remaining balance, so payments fall.
    Interest is rounded to kopecks every month and the last payment settles the balance.
    """
    principal, rate = _amount(amount, "сумму кредита"), _rate(rate_percent)
    term = _months(months)
    scheme = _choice(kind, ("annuity", "differentiated"), _KIND_ERROR)
    payments = _schedule(principal, rate, term, scheme)
    total = sum(payments, Decimal(0))
    return LoanPayment(
        amount=principal,
        rate_percent=rate,
        months=term,
        kind=kind,
        monthly_payment=payments[0],
        first_payment=payments[0],
        last_payment=payments[-1],
        total_paid=total,
        overpayment=total - principal,
    )


# --- deposit insurance -------------------------------------------------------------------


@dataclass(frozen=True)
class InsuranceLine:
    """Coverage in one bank: all balances there, the insured part and the rest."""

    bank: str
    total: Decimal
    insured: Decimal
    uninsured: Decimal


@dataclass(frozen=True)
class InsuranceCoverage:
    """Deposit insurance over all banks; ``lines`` keep the order banks were first named."""

    lines: tuple[InsuranceLine, ...]
    limit: Decimal
    total: Decimal
    insured: Decimal
    uninsured: Decimal

    def describe(self) -> str:
        """A short Russian explanation: the limit, each bank, and the totals."""
        parts = [f"Вклады застрахованы до {format_money(self.limit)} в каждом банке."]
        parts += [_describe_line(line) for line in self.lines]
        parts.append(
            f"Итого застраховано {format_money(self.insured)} из {format_money(self.total)}."
        )
        return " ".join(parts)


def _describe_line(line: InsuranceLine) -> str:
    if not line.uninsured:
        return f"{line.bank}: {format_money(line.total)}, застраховано полностью."
    return (
        f"{line.bank}: {format_money(line.total)}, застраховано {format_money(line.insured)}, "
        f"сверх лимита {format_money(line.uninsured)}."
    )


def _bank_name(name: object) -> str:
    """The bank name trimmed, inner spaces collapsed; an empty one is an error."""
    cleaned = " ".join(name.split()) if isinstance(name, str) else ""
    if not cleaned:
        raise CalculatorError("Пожалуйста, укажите название банка для каждого счёта.")
    return cleaned


def _totals_by_bank(accounts: Iterable[tuple[str, Number]]) -> dict[str, tuple[str, Decimal]]:
    """Sum balances per bank, keyed case-insensitively; keeps the first spelling of a name."""
    banks: dict[str, tuple[str, Decimal]] = {}
    for name, balance in accounts:
        bank = _bank_name(name)
        amount = _decimal(balance, "остаток на счёте")
        if amount < 0:
            raise CalculatorError("Пожалуйста, укажите остаток на счёте не меньше нуля.")
        shown, total = banks.get(bank.casefold(), (bank, Decimal(0)))
        banks[bank.casefold()] = (shown, total + amount)
    return banks


def deposit_insurance(
    accounts: list[tuple[str, Number]], limit: Number = INSURANCE_LIMIT
) -> InsuranceCoverage:
    """Insurance of deposits: per bank, insured = min(sum of balances, limit).

    ``accounts`` are (bank name, balance including interest); names are compared
    case-insensitively after trimming. Uninsured = sum − insured; totals add up all banks.
    """
    cap = to_kopecks(_amount(limit, "лимит страхования"))
    if not accounts:
        raise CalculatorError("Пожалуйста, укажите хотя бы один вклад или счёт.")
    lines = tuple(_line(bank, total, cap) for bank, total in _totals_by_bank(accounts).values())
    return InsuranceCoverage(
        lines=lines,
        limit=cap,
        total=sum((line.total for line in lines), Decimal(0)),
        insured=sum((line.insured for line in lines), Decimal(0)),
        uninsured=sum((line.uninsured for line in lines), Decimal(0)),
    )


def _line(bank: str, total: Decimal, limit: Decimal) -> InsuranceLine:
    """Coverage in one bank: insured = min(total, limit), the rest is uninsured."""
    total = to_kopecks(total)
    insured = min(total, limit)
    return InsuranceLine(bank, total, insured, total - insured)
