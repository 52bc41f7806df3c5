"""Which messages also ask something, and what a question asks for."""

from __future__ import annotations

import pytest

from agents.answerers.focus import asked_for, product_compounds
from agents.intents import asks_question
from knowledge.ru.lemmatizer import Lemmatizer


@pytest.mark.parametrize("text", [
    "хочу открыть вклад, какие сейчас ставки",
    "хочу взять кредит на ремонт, как банк посчитает мой платёж",
    "хочу кредит 300 тысяч, справка о доходах нужна или паспорта хватит",
    "хочу вклад, можно ли его пополнять",
    "оформите ипотеку, а первый взнос какой?",
])
def test_an_application_that_also_asks_is_a_question(text: str) -> None:
    assert asks_question(text)


@pytest.mark.parametrize("text", [
    "хочу кредит 2 млн на 3 года, меня зовут Ольга",
    "хочу вклад, нужно на год",
    "хочу открыть вклад на полгода или на год",
    "оформите кредит наличными",
])
def test_an_application_with_facts_only_is_not_a_question(text: str) -> None:
    assert not asks_question(text)


@pytest.fixture(scope="module")
def lem() -> Lemmatizer:
    return Lemmatizer()


def test_the_word_asked_for_skips_adjectives_and_pronouns(lem: Lemmatizer) -> None:
    assert asked_for("какая у вас процентная ставка по вкладу?", lem) == ["ставка"]
    assert asked_for("какой кэшбэк по вашей карте", lem) == ["кэшбэк"]
    assert asked_for("пришлите реквизиты банка", lem) == ["реквизит"]
    assert asked_for("какой swift у банка", lem) == ["swift"]
    assert asked_for("какие бывают вклады", lem) == []  # a verb: nothing named
    assert asked_for("есть ли у вас 5 вкладов", lem) == []


def test_a_compound_of_a_product_word_is_a_product_of_its_own(lem: Lemmatizer) -> None:
    assert product_compounds("ставка по автокредиту на машину", lem) == ["автокредит"]
    assert product_compounds("ставка по кредиту наличными", lem) == []


def test_a_number_asked_for_is_not_answered_by_a_phone_number() -> None:
    from agents.answerers.offline import _unanswered

    hotline = "Звоните по номеру 8 800 000-00-00."
    assert _unanswered("какой номер лицензии у банка?", hotline, []) == "no_number"
    assert _unanswered("подскажите номер банка", hotline, []) is None  # «номер банка» is its phone
    assert _unanswered("номер карты где посмотреть", "Номер указан на карте.", []) is None
