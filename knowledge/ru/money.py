"""Money: the value type, currency vocabulary and Russian formatting of sums and percents."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext

#: Separates groups of thousands in formatted numbers (narrow no-break space, U+202F).
THOUSANDS_SEPARATOR = "\u202f"
#: Separates a number from its sign «₽» or «%» (no-break space, U+00A0).
UNIT_SEPARATOR = "\u00a0"

KOPECK = Decimal("0.01")

#: Currency signs used when formatting, by ISO code.
CURRENCY_SIGNS: dict[str, str] = {"RUB": "₽", "USD": "$", "EUR": "€", "CNY": "¥"}

#: Currency words, abbreviations and signs (normal forms, lower case) by ISO code.
CURRENCY_WORDS: dict[str, str] = {
    "рубль": "RUB", "руб": "RUB", "р": "RUB", "rub": "RUB", "rur": "RUB", "₽": "RUB",
    "доллар": "USD", "долл": "USD", "дол": "USD", "бакс": "USD", "usd": "USD", "$": "USD",
    "евро": "EUR", "eur": "EUR", "€": "EUR",
    "юань": "CNY", "cny": "CNY", "rmb": "CNY", "¥": "CNY",
}  # fmt: skip

#: Signs and codes that may stand before the number: «$1000», «USD 500».
CURRENCY_PREFIXES: dict[str, str] = {
    "$": "USD", "€": "EUR", "¥": "CNY", "₽": "RUB",
    "usd": "USD", "eur": "EUR", "cny": "CNY", "rub": "RUB",
}  # fmt: skip


@dataclass(frozen=True)
class Money:
    """An amount of money: ``value`` in units of ``currency`` (ISO code: RUB, USD, EUR, CNY)."""

    value: Decimal
    currency: str = "RUB"

    def __str__(self) -> str:
        return format_money(self.value, self.currency)


def to_kopecks(value: Decimal) -> Decimal:
    """Round to hundredths (kopecks, cents) half up: 0.005 → 0.01."""
    with localcontext() as context:
        context.prec = max(context.prec, value.adjusted() + 4)  # room for every digit
        return value.quantize(KOPECK, rounding=ROUND_HALF_UP)


def _finite(value: Decimal | int | str | float) -> Decimal:
    """Convert ``value`` to a finite Decimal or raise ``ValueError``."""
    try:
        number = Decimal(str(value))
    except InvalidOperation as error:
        raise ValueError(f"not a number: {value!r}") from error
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return number


def _group_thousands(value: Decimal, places: int) -> str:
    """Write ``value`` with ``places`` decimals, grouped thousands and a decimal comma."""
    text = f"{value:,.{places}f}"
    return text.replace(",", THOUSANDS_SEPARATOR).replace(".", ",").replace("-", "−")


def format_money(value: Decimal | int | str | float, currency: str = "RUB") -> str:
    """Format a sum the Russian way: «1 400 000 ₽», «12 345,67 ₽», «1 000 $».

    Kopecks are shown only when there are any; thousands are separated by
    ``THOUSANDS_SEPARATOR`` and the sign follows after ``UNIT_SEPARATOR``. An unknown
    currency is written by its code. Raises ``ValueError`` when ``value`` is not a number.
    """
    amount = to_kopecks(_finite(value))
    places = 0 if amount == amount.to_integral_value() else 2
    sign = CURRENCY_SIGNS.get(currency.upper(), currency)
    return f"{_group_thousands(amount, places)}{UNIT_SEPARATOR}{sign}"


def format_percent(value: Decimal | int | str | float) -> str:
    """Format a percentage with at most two decimals: «16 %», «16,5 %», «17,23 %»."""
    rounded = to_kopecks(_finite(value))
    places = next(places for places in (0, 1, 2) if rounded == round(rounded, places))
    return f"{_group_thousands(rounded, places)}{UNIT_SEPARATOR}%"
