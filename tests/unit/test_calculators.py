"""The bank's calculators: known values, formulas and polite errors."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction

import pytest

from agents.tools.calculators import (
    CalculatorError,
    deposit_income,
    deposit_insurance,
    loan_payment,
)
from knowledge.ru.money import THOUSANDS_SEPARATOR as T
from knowledge.ru.money import UNIT_SEPARATOR as U


def rub(text: str) -> str:
    """«80 000 ₽» with the separators format_money uses."""
    return text.replace(" ₽", f"{U}₽").replace(" ", T)


# --- deposit income ----------------------------------------------------------------------


def test_simple_deposit_income() -> None:
    result = deposit_income(Decimal(500000), Decimal(16), 12)
    assert result.interest == Decimal("80000")
    assert result.final_amount == Decimal("580000")
    assert result.effective_rate_percent == Decimal("16")
    assert result.describe() == (
        f"Доход за 12 мес. под 16{U}% годовых без капитализации: {rub('80 000 ₽')}. "
        f"Сумма в конце срока: {rub('580 000 ₽')}."
    )


def test_simple_income_for_odd_months_is_rounded_to_kopecks() -> None:
    # 100 000 · 10 % · 7/12 = 5 833.333…
    assert deposit_income(100000, 10, 7).interest == Decimal("5833.33")


def test_monthly_capitalization() -> None:
    # 500 000 · (1 + 0.16/12)^12 = 586 135.399…
    result = deposit_income(500000, 16, 12, "monthly")
    expected = Fraction(500000) * (1 + Fraction(16, 1200)) ** 12
    assert abs(Fraction(result.final_amount) - expected) <= Fraction(1, 200)
    assert result.final_amount == Decimal("586135.40")
    assert result.interest == Decimal("86135.40")
    assert result.effective_rate_percent == Decimal("17.23")
    assert f"Эффективная ставка: 17,23{U}% годовых." in result.describe()


def test_quarterly_capitalization_full_quarters() -> None:
    # 500 000 · 1.04^4 = 584 929.28 exactly
    result = deposit_income(500000, 16, 12, "quarterly")
    assert result.final_amount == Decimal("584929.28")
    assert "с ежеквартальной капитализацией" in result.describe()


def test_quarterly_capitalization_with_months_left_over() -> None:
    # 4 quarters compound, then 2 months simple: 584 929.28 · (1 + 0.16 · 2/12) = 600 527.394…
    result = deposit_income(500000, 16, 14, "quarterly")
    assert result.final_amount == Decimal("600527.39")
    # 100 527.39 / 500 000 · 12/14 · 100 = 17.233…
    assert result.effective_rate_percent == Decimal("17.23")


def test_zero_rate_deposit() -> None:
    result = deposit_income(1000, 0, 6, "monthly")
    assert result.interest == 0
    assert result.final_amount == 1000


# --- loan payments -----------------------------------------------------------------------


def test_annuity_known_value() -> None:
    result = loan_payment(Decimal(1000000), Decimal(12), 12)
    assert result.monthly_payment == Decimal("88848.79")
    assert result.first_payment == Decimal("88848.79")
    # Monthly interest rounded to kopecks; the last payment settles the remaining balance.
    assert result.last_payment == Decimal("88848.76")
    assert result.total_paid == Decimal("1066185.45")
    assert result.overpayment == Decimal("66185.45")
    assert rub("88 848,79 ₽") in result.describe()


@pytest.mark.parametrize(
    ("amount", "rate", "months"), [(1000000, 12, 12), (3000000, 18, 60), (250000, 9.9, 36)]
)
def test_annuity_matches_the_closed_form(amount: int, rate: float, months: int) -> None:
    i = Fraction(str(rate)) / 1200
    closed_form = amount * i / (1 - (1 + i) ** -months)
    result = loan_payment(amount, rate, months)
    assert abs(Fraction(result.monthly_payment) - closed_form) <= Fraction(1, 200)
    assert abs(result.total_paid - result.monthly_payment * months) < Decimal("0.01") * months


def test_annuity_at_zero_rate() -> None:
    result = loan_payment(1000000, 0, 12)
    assert result.monthly_payment == Decimal("83333.33")
    assert result.last_payment == Decimal("83333.37")
    assert result.total_paid == Decimal("1000000")
    assert result.overpayment == 0


def test_differentiated_payments() -> None:
    # Principal 1 000 000 / 12 = 83 333.33 a month; interest 1 % of the balance.
    result = loan_payment(1000000, 12, 12, "differentiated")
    assert result.first_payment == Decimal("93333.33")  # 83 333.33 + 10 000
    assert result.monthly_payment == result.first_payment
    assert result.last_payment == Decimal("84166.70")  # 83 333.37 + 833.33
    # Total interest S · i · (n + 1) / 2 = 1 000 000 · 0.01 · 6.5 = 65 000
    assert result.overpayment == Decimal("65000")
    assert result.total_paid == Decimal("1065000")
    assert "уменьшаются с" in result.describe()


def test_differentiated_costs_less_than_annuity() -> None:
    annuity = loan_payment(500000, 10, 24)
    differentiated = loan_payment(500000, 10, 24, "differentiated")
    assert differentiated.overpayment < annuity.overpayment
    assert differentiated.first_payment > annuity.monthly_payment


# --- deposit insurance -------------------------------------------------------------------


def test_insurance_sums_per_bank_ignoring_case_and_spaces() -> None:
    result = deposit_insurance(
        [
            ("Сбербанк", Decimal("1000000")),
            ("  СБЕРБАНК ", Decimal("1000000")),
            ("ВТБ", Decimal("500000")),
        ]
    )
    assert [line.bank for line in result.lines] == ["Сбербанк", "ВТБ"]
    sber, vtb = result.lines
    assert (sber.total, sber.insured, sber.uninsured) == (2000000, 1400000, 600000)
    assert (vtb.total, vtb.insured, vtb.uninsured) == (500000, 500000, 0)
    assert (result.total, result.insured, result.uninsured) == (2500000, 1900000, 600000)
    text = result.describe()
    assert f"сверх лимита {rub('600 000 ₽')}" in text
    assert "ВТБ: " + rub("500 000 ₽") + ", застраховано полностью." in text


def test_insurance_with_a_custom_limit() -> None:
    result = deposit_insurance([("Банк", Decimal("10000000"))], limit=Decimal("10000000"))
    assert result.uninsured == 0


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: deposit_income(-1, 16, 12), "сумму вклада больше нуля"),
        (lambda: deposit_income(0, 16, 12), "сумму вклада больше нуля"),
        (lambda: deposit_income(1000, 101, 12), "ставку от 0 до 100"),
        (lambda: deposit_income(1000, -1, 12), "ставку от 0 до 100"),
        (lambda: deposit_income(1000, 16, 0), "срок"),
        (lambda: deposit_income(1000, 16, -3), "срок"),
        (lambda: deposit_income(1000, 16, 1.5), "целых месяцах"),
        (lambda: deposit_income(1000, 16, 12, "daily"), "капитализацию"),  # type: ignore[arg-type]
        (lambda: deposit_income("много", 16, 12), "сумму вклада числом"),
        (lambda: loan_payment(-5, 12, 12), "сумму кредита больше нуля"),
        (lambda: loan_payment(1000, 12, 601), "не больше 600 месяцев"),
        (lambda: loan_payment(1000, 12, 12, "balloon"), "схему платежей"),  # type: ignore[arg-type]
        (lambda: loan_payment(1000, "NaN", 12), "ставку числом"),
        (lambda: deposit_insurance([]), "хотя бы один"),
        (lambda: deposit_insurance([("  ", Decimal(1))]), "название банка"),
        (lambda: deposit_insurance([("Банк", Decimal(-1))]), "не меньше нуля"),
    ],
)
def test_invalid_input_raises_a_polite_russian_error(
    call: Callable[[], object], words: str
) -> None:
    with pytest.raises(CalculatorError, match=words) as caught:
        call()
    assert isinstance(caught.value, ValueError)
    assert str(caught.value).startswith("Пожалуйста")
