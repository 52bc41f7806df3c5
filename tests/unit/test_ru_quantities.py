"""Reading amounts, rates, terms and phones from Russian customer text."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from knowledge.ru.money import THOUSANDS_SEPARATOR as T
from knowledge.ru.money import UNIT_SEPARATOR as U
from knowledge.ru.money import format_percent
from knowledge.ru.quantities import (
    Money,
    Term,
    find_amounts,
    find_phone,
    format_money,
    normalize_phone,
    parse_amount,
    parse_rate,
    parse_term,
)

# --- amounts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "currency"),
    [
        ("500 тыс", "500000", "RUB"),
        ("500 тыс.", "500000", "RUB"),
        ("500 тысяч рублей", "500000", "RUB"),
        ("1,5 млн", "1500000", "RUB"),
        ("1.5 млн ₽", "1500000", "RUB"),
        ("2 000 000 ₽", "2000000", "RUB"),
        ("2000000 руб", "2000000", "RUB"),
        ("полтора миллиона", "1500000", "RUB"),
        ("пятьсот тысяч", "500000", "RUB"),
        ("сто двадцать тысяч рублей", "120000", "RUB"),
        ("3 млн", "3000000", "RUB"),
        ("1 млрд", "1000000000", "RUB"),
        ("10к", "10000", "RUB"),
        ("300 000 р.", "300000", "RUB"),
        ("$1000", "1000", "USD"),
        ("1000 долларов", "1000", "USD"),
        ("5 000 евро", "5000", "EUR"),
        ("миллион", "1000000", "RUB"),
        ("100 юаней", "100", "CNY"),
        ("2\u2009000\u2009000 ₽", "2000000", "RUB"),
        ("2\u00a0000\u00a0000 руб.", "2000000", "RUB"),
        ("2\u202f000\u202f000 ₽", "2000000", "RUB"),
        ("12 345,67 ₽", "12345.67", "RUB"),
        ("1 млн 200 тыс", "1200000", "RUB"),
        ("две тысячи пятьсот рублей", "2500", "RUB"),
        ("два с половиной миллиона", "2500000", "RUB"),
        ("полмиллиона", "500000", "RUB"),
        ("пол миллиона", "500000", "RUB"),
        ("пол-ляма", "500000", "RUB"),
        ("80 т.р.", "80000", "RUB"),
        ("1.500.000 руб", "1500000", "RUB"),
        ("Хочу положить 750000", "750000", "RUB"),
    ],
)
def test_parse_amount_reads_common_spellings(text: str, value: str, currency: str) -> None:
    assert parse_amount(text) == Money(Decimal(value), currency)


@pytest.mark.parametrize(
    "text",
    ["", "привет", "под 16%", "на 3 года", "18 мес", "10 000 баллов", "позвоните 8 912 345 67 89"],
)
def test_parse_amount_finds_nothing_where_there_is_no_sum(text: str) -> None:
    assert parse_amount(text) is None


def test_a_lone_number_is_read_as_a_sum() -> None:
    assert parse_amount("18") == Money(Decimal(18), "RUB")


def test_find_amounts_skips_rates_and_terms() -> None:
    assert find_amounts("вклад 500 тыс на год под 16%") == [Money(Decimal(500000))]
    assert find_amounts("кредит 3 млн на 5 лет под 18 процентов, 18 мес") == [
        Money(Decimal(3000000))
    ]


def test_find_amounts_keeps_order_and_currencies() -> None:
    text = "от 100 000 до 500 000 рублей или $2000, звоните 89123456789, 12.05.2024"
    assert find_amounts(text) == [
        Money(Decimal(100000)),
        Money(Decimal(500000)),
        Money(Decimal(2000), "USD"),
    ]


def test_a_multiplier_does_not_swallow_a_following_term() -> None:
    assert find_amounts("500 тыс 12 мес") == [Money(Decimal(500000))]


# --- rates -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("под 16%", "16"),
        ("16,5 %", "16.5"),
        ("16.5 процентов", "16.5"),
        ("ставка 12 годовых", "12"),
        ("под шестнадцать процентов", "16"),
        ("16 % годовых", "16"),
        ("под 16", "16"),
        ("ставкой 7,5", "7.5"),
        ("вклад 500 тыс на год под 16%", "16"),
    ],
)
def test_parse_rate(text: str, rate: str) -> None:
    assert parse_rate(text) == Decimal(rate)


@pytest.mark.parametrize("text", ["", "под 150%", "под 500 тыс", "ставка не нужна", "на 3 года"])
def test_parse_rate_finds_nothing(text: str) -> None:
    assert parse_rate(text) is None


# --- terms -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("на год", Term(months=12)),
        ("год", Term(months=12)),
        ("на полгода", Term(months=6)),
        ("на пол года", Term(months=6)),
        ("пол-года", Term(months=6)),
        ("18 мес", Term(months=18)),
        ("18 месяцев", Term(months=18)),
        ("3 года", Term(months=36)),
        ("на 5 лет", Term(months=60)),
        ("полтора года", Term(months=18)),
        ("на 90 дней", Term(days=90)),
        ("на три месяца", Term(months=3)),
        ("на 2 года и 6 месяцев", Term(months=30)),
        ("1 год 6 мес.", Term(months=18)),
        ("на 2 недели", Term(days=14)),
        ("на полгода и 10 дней", Term(months=6, days=10)),
        ("вклад 500 тыс на год под 16%", Term(months=12)),
    ],
)
def test_parse_term(text: str, term: Term) -> None:
    assert parse_term(text) == term


@pytest.mark.parametrize("text", ["", "привет", "платёж в месяц", "в 2024 году", "на 0 дней"])
def test_parse_term_finds_nothing(text: str) -> None:
    assert parse_term(text) is None


def test_term_conversions() -> None:
    assert Term(months=12).in_days() == 365
    assert Term(months=18).in_days() == 365 + 6 * 30
    assert Term(days=90).in_months() == 3
    assert Term(days=45).in_months() == 2  # 1.5 months, rounded half up
    assert Term(months=6, days=10).in_days() == 190
    assert Term(months=24).in_months() == 24


def test_the_sentence_reads_as_amount_term_and_rate() -> None:
    text = "вклад 500 тыс на год под 16%"
    assert parse_amount(text) == Money(Decimal(500000), "RUB")
    assert parse_term(text) == Term(months=12)
    assert parse_rate(text) == Decimal(16)


# --- phones ------------------------------------------------------------------------------

ONE_PHONE_SPELLINGS = [
    "+7 (912) 345-67-89",
    "8 912 345 67 89",
    "89123456789",
    "7-912-345-67-89",
    "+7 912 3456789",
    "(912) 345-67-89",
    "9123456789",
    "8(912)345-67-89",
    "+7-912-345-67-89",
    "т. 8 912 345-67-89",
]


def test_ten_spellings_of_one_phone_give_one_number() -> None:
    assert {normalize_phone(text) for text in ONE_PHONE_SPELLINGS} == {"+79123456789"}


@pytest.mark.parametrize("text", ONE_PHONE_SPELLINGS)
def test_find_phone_inside_a_sentence(text: str) -> None:
    assert find_phone(f"Перезвоните мне: {text}, после обеда") == "+79123456789"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "912345678",  # too short
        "891234567890",  # too long
        "+7 (912) 345-67-8",
        "+1 912 345 67 89",  # not Russian
        "+8 912 345 67 89",
        "5123456789",  # no such code
        "8 512 345 67 89",
        "телефон",
        "8-912-345-67-89-1",
    ],
)
def test_invalid_phones_give_none(text: str) -> None:
    assert normalize_phone(text) is None
    assert find_phone(text) is None


def test_toll_free_number() -> None:
    assert normalize_phone("8 800 555-35-35") == "+78005553535"


# --- formatting --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "currency", "text"),
    [
        (Decimal(1400000), "RUB", f"1{T}400{T}000{U}₽"),
        (Decimal("12345.67"), "RUB", f"12{T}345,67{U}₽"),
        (1000, "USD", f"1{T}000{U}$"),
        ("580000.00", "RUB", f"580{T}000{U}₽"),
        (Decimal("0.005"), "RUB", f"0,01{U}₽"),
        (Decimal("999.5"), "EUR", f"999,50{U}€"),
    ],
)
def test_format_money(value: Decimal | int | str, currency: str, text: str) -> None:
    assert format_money(value, currency) == text


def test_format_percent() -> None:
    assert format_percent(Decimal(16)) == f"16{U}%"
    assert format_percent(Decimal("16.50")) == f"16,5{U}%"
    assert format_percent(Decimal("17.227")) == f"17,23{U}%"


def test_money_prints_formatted() -> None:
    assert str(Money(Decimal(500000))) == f"500{T}000{U}₽"


# --- garbage -----------------------------------------------------------------------------

GARBAGE = [
    "",
    "   ",
    "%%%$$$",
    "....,,,,",
    "\x00\x01\x02",
    "9" * 3000,
    "1e10",
    "NaN руб",
    "пол",
    "с половиной",
    "года и и и",
    "тыс тыс млн",
    "к к к 10 к",
    "+++7",
    "🙂" * 50,
]


@pytest.mark.parametrize("text", [*GARBAGE, None, 123, b"500 tys"])
def test_garbage_never_raises(text: object) -> None:
    parse_amount(text)  # type: ignore[arg-type]
    find_amounts(text)  # type: ignore[arg-type]
    parse_rate(text)  # type: ignore[arg-type]
    parse_term(text)  # type: ignore[arg-type]
    normalize_phone(text)  # type: ignore[arg-type]
    find_phone(text)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["", "%%%$$$", "\x00\x01\x02", "пол", "привет, как дела?"])
def test_garbage_gives_none(text: str) -> None:
    assert parse_amount(text) is None
    assert find_amounts(text) == []
    assert parse_rate(text) is None
    assert parse_term(text) is None
    assert normalize_phone(text) is None


def test_random_text_never_raises() -> None:
    alphabet = "0123456789 ,.-+()%$₽€тысмлнрубгодмесднйпоа\u00a0\u202f"
    generator = random.Random(20240501)
    for _ in range(500):
        text = "".join(generator.choice(alphabet) for _ in range(generator.randint(0, 40)))
        parse_amount(text)
        find_amounts(text)
        parse_rate(text)
        parse_term(text)
        normalize_phone(text)
        find_phone(text)
