"""Card data found and masked: what the engine writes instead of a card number, a CVV or a code."""

from __future__ import annotations

import pytest

from agents.card_data import CARD_MASK, mask_card_data
from bots.engine import mask_secrets
from bots.messages import InboundMessage


@pytest.mark.parametrize(("text", "kinds"), [
    ("моя карта 4276 1234 5678 9012 срок 12/27 заблокируйте её срочно", {"card", "expiry"}),
    ("4111111111111111", {"card"}),  # Luhn-valid, no word about a card needed
    ("карта 5469-3800-1234-5678, действует до 03/29, cvc 987", {"card", "expiry", "cvv"}),
    ("код из смс 4821", {"code"}),
    ("пришёл пуш-код 123456", {"code"}),
    ("мой пин 1234", {"code"}),
])
def test_card_data_is_found(text: str, kinds: set[str]) -> None:
    masked = mask_card_data(text)
    assert masked.kinds == kinds
    assert not any(run in masked.text for run in ("4276", "1111", "5469", "987", "4821", "123456", "1234"))


@pytest.mark.parametrize("text", [
    "телефон 8 912 345 67 89", "хочу кредит 2 000 000 на 36 месяцев", "вклад на 500000 под 16%",
    "офис работает 12/27 декабря с 10:00", "кредит 300 тысяч на 12 месяцев",
    "номер договора 4111111111111112",
])
def test_ordinary_numbers_are_left_alone(text: str) -> None:
    assert mask_card_data(text).text == text


def test_the_raw_update_is_masked_too() -> None:
    card = "4111 1111 1111 1111"
    raw = {"message": {"text": f"карта {card}", "chat": {"id": 42}}}
    message = InboundMessage(channel="telegram", external_update_id="1", dialog_key="42", user_ref="7",
                             text=f"карта {card}", raw=raw)
    masked = mask_secrets(message)
    assert masked.text == f"карта {CARD_MASK}"
    assert masked.raw == {"message": {"text": f"карта {CARD_MASK}", "chat": {"id": 42}}}
    assert "1111" not in masked.model_dump_json()
