"""Extract and validate: from a completed lead form to typed, normalised deal data.

The form already asks again for a value it cannot read; this is the second line:
whatever reaches the store is normalised (phone in E.164, amount in kopecks,
term in months) or dropped, never stored as typed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from knowledge.ru.quantities import find_phone, parse_amount, parse_term
from store.leads import Product

#: Fields of a lead that identify a person; none of them is read without consent.
PERSONAL_FIELDS = frozenset({"name", "phone", "city", "comment"})
#: Products whose form shows the intent to buy (a general request still needs a person to qualify).
INTENT_PRODUCTS = frozenset({Product.DEPOSIT, Product.LOAN})

MAX_NAME_CHARS = 100
MAX_CITY_CHARS = 100
MAX_DETAIL_CHARS = 500
MAX_TERM_MONTHS = 1200
MAX_AMOUNT_MINOR = 10**15
_WORDS = re.compile(r"^[A-Za-zА-ЯЁа-яё][A-Za-zА-ЯЁа-яё .'-]*$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_STORED_AMOUNT = re.compile(r"(?P<value>\d+(?:\.\d+)?) (?P<currency>[A-Z]{3})")
# Form fields stored in a deal or contact column of their own.
_COLUMNS = {"name": "name", "phone": "phone", "amount": "amount_minor", "term": "term_months",
            "city": "city"}


@dataclass(frozen=True)
class LeadInput:
    """A completed lead form as the conversation hands it over; nothing here is trusted yet."""

    product: str
    role_id: str
    fields: Mapping[str, str]
    consent: bool
    consent_version: str | None
    channel: str
    user_ref: str
    dialog_id: int | None = None
    message_id: int | None = None
    required: frozenset[str] = frozenset({"phone"})
    #: Phones (E.164) the messenger proved belong to this account (a shared own contact).
    verified_phones: frozenset[str] = frozenset()


@dataclass(frozen=True)
class LeadData:
    """Normalised values of a lead; ``dropped`` names the fields that did not validate."""

    product: Product
    name: str | None = None
    phone: str | None = None
    amount_minor: int | None = None
    currency: str | None = None
    term_months: int | None = None
    city: str | None = None
    details: dict[str, str] = field(default_factory=dict)
    dropped: tuple[str, ...] = ()

    def has(self, name: str) -> bool:
        """Whether the form field ``name`` made it through validation."""
        column = _COLUMNS.get(name)
        if column is not None:
            return getattr(self, column) is not None
        return bool(self.details.get(name))


@dataclass(frozen=True)
class Verdict:
    """Whether a lead may be stored at all, and whether it is qualified."""

    accepted: bool
    reason: str = ""
    qualified: bool = False
    missing: tuple[str, ...] = ()


def extract(lead: LeadInput) -> LeadData:
    """Read every field of the form into its normalised form (or drop it)."""
    values = {k: " ".join(str(v).split()) for k, v in lead.fields.items() if v is not None}
    readers = {"name": _name, "phone": find_phone, "city": _city}
    found: dict[str, object] = {}
    dropped: list[str] = []
    for name, reader in readers.items():
        raw = values.get(name)
        if raw:
            found[name] = reader(raw)
            if found[name] is None:
                dropped.append(name)
    amount = _amount(values.get("amount", ""))
    term = _term(values.get("term", ""))
    dropped += [n for n, v in (("amount", amount), ("term", term)) if values.get(n) and v is None]
    details = {k: v[:MAX_DETAIL_CHARS] for k, v in values.items() if k not in _COLUMNS and v}
    return LeadData(
        product=_product(lead.product),
        name=found.get("name"),  # type: ignore[arg-type]
        phone=found.get("phone"),  # type: ignore[arg-type]
        amount_minor=amount[0] if amount else None,
        currency=amount[1] if amount else None,
        term_months=term,
        city=found.get("city"),  # type: ignore[arg-type]
        details=details,
        dropped=tuple(dropped),
    )


def validate(lead: LeadInput, data: LeadData) -> Verdict:
    """Consent, then a phone to call; qualified when required fields and intent are there too."""
    if not lead.consent or not lead.consent_version:
        return Verdict(False, "no_consent")
    if data.phone is None:
        return Verdict(False, "no_phone")
    missing = tuple(sorted(name for name in lead.required if not data.has(name)))
    qualified = not missing and data.product in INTENT_PRODUCTS
    return Verdict(True, qualified=qualified, missing=missing)


def _product(value: str) -> Product:
    try:
        return Product(value)
    except ValueError:
        return Product.OTHER


def _name(text: str) -> str | None:
    text = text.strip(" .,!")
    return text if 0 < len(text) <= MAX_NAME_CHARS and _WORDS.match(text) else None


def _city(text: str) -> str | None:
    text = text.strip(" .,!")
    return text if 0 < len(text) <= MAX_CITY_CHARS and _WORDS.match(text) else None


def _amount(text: str) -> tuple[int, str] | None:
    """«500000 RUB» (as the form stores it) or anything ``parse_amount`` reads → (kopecks, currency)."""
    stored = _STORED_AMOUNT.fullmatch(text.strip())
    if stored:
        value, currency = Decimal(stored["value"]), stored["currency"]
    else:
        money = parse_amount(text) if text else None
        if money is None:
            return None
        value, currency = money.value, (money.currency or "RUB").upper()
    minor = int((value * 100).to_integral_value())
    if not 0 < minor < MAX_AMOUNT_MINOR or not _CURRENCY.match(currency):
        return None
    return minor, currency


def _term(text: str) -> int | None:
    """«12 мес.» (as the form stores it) or anything ``parse_term`` reads → whole months."""
    match = re.fullmatch(r"(\d{1,4})\s*мес\.?", text.strip())
    if match:
        months = int(match[1])
    else:
        term = parse_term(text) if text else None
        months = term.in_months() if term else 0
    return months if 0 < months <= MAX_TERM_MONTHS else None
