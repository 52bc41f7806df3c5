"""The lead pipeline's pure parts: reading the form, validation, scoring, signing, masking."""

from __future__ import annotations

import hashlib
import hmac
import random
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from bots.config import ConfigError, Settings, load_settings
from bots.leads import consent_text, crm_dispatcher
from pipelines.leads import (
    LeadInput,
    ManagerPicker,
    RetryPolicy,
    Scorer,
    deal_facts,
    extract,
    mask_phones,
    sign,
    validate,
    verify,
)
from pipelines.leads.privacy import mask_echoed_phones
from pipelines.leads.push import encode
from store import Database
from store.leads import Product
from tests.leads.conftest import lead_settings
from tests.leads.helpers import PHONE, PHONE_WAYS


def lead(consent: bool = True, required: frozenset[str] = frozenset({"name", "phone"}),
         product: str = "deposit", **fields: str) -> LeadInput:
    return LeadInput(product=product, role_id="deposit_consultant", fields=fields, consent=consent,
                     consent_version="2026-11-01" if consent else None, channel="webchat",
                     user_ref="u-1", required=required)


@pytest.mark.parametrize("written", PHONE_WAYS)
def test_every_way_of_writing_the_phone_reads_the_same(written: str) -> None:
    assert extract(lead(phone=written)).phone == PHONE


def test_values_are_normalised_or_dropped_never_stored_as_typed() -> None:
    data = extract(lead(name="  Анна  Петровна ", phone="+7 912 345 67 89", amount="1500000 RUB",
                        term="18 мес.", city="Нижний Новгород", comment="после обеда"))
    assert (data.name, data.amount_minor, data.currency, data.term_months, data.city) == (
        "Анна Петровна", 1_500_000_00, "RUB", 18, "Нижний Новгород")
    assert data.details == {"comment": "после обеда"} and data.dropped == ()
    junk = extract(lead(name="<script>", phone="12", amount="много", term="когда-нибудь", city="123"))
    assert junk.dropped == ("name", "phone", "city", "amount", "term")
    assert (junk.name, junk.phone, junk.amount_minor, junk.term_months, junk.city) == (None,) * 5


def test_russian_amounts_and_terms_typed_by_hand_are_read() -> None:
    assert extract(lead(amount="полтора миллиона")).amount_minor == 1_500_000_00
    assert extract(lead(amount="2 000 000 ₽")).amount_minor == 2_000_000_00
    assert extract(lead(term="3 года")).term_months == 36


def test_no_consent_no_lead_and_no_phone_no_lead() -> None:
    assert validate(lead(False), extract(lead(False, name="Анна", phone=PHONE))).reason == "no_consent"
    assert validate(lead(), extract(lead(name="Анна"))).reason == "no_phone"


def test_qualified_needs_the_required_fields_and_an_intent() -> None:
    full = lead(name="Анна", phone=PHONE)
    assert validate(full, extract(full)).qualified
    missing = lead(required=frozenset({"name", "phone", "amount"}), name="Анна", phone=PHONE)
    verdict = validate(missing, extract(missing))
    assert verdict.accepted and not verdict.qualified and verdict.missing == ("amount",)
    general = lead(product="other", name="Анна", phone=PHONE)
    assert not validate(general, extract(general)).qualified


def test_scoring_adds_matching_rules_within_bounds() -> None:
    rules = lead_settings().leads.scoring.rules
    scorer = Scorer(10, rules)
    facts = deal_facts(None, product=Product.DEPOSIT, amount_minor=1_200_000_00, term_months=12)
    assert scorer.score(facts) == 10 + 20 + 20 + 10
    assert scorer.score(deal_facts(None, product="deposit")) == 10
    loan = SimpleNamespace(field="product", points=200, equals="LOAN", min=None, max=None, present=None)
    assert Scorer(0, [loan]).score({"product": "loan"}) == 100
    capped = SimpleNamespace(field="amount", points=-50, equals=None, min=None, max=1000, present=None)
    assert Scorer(10, [capped]).score(deal_facts(None, amount_minor=500_00)) == 0


def test_managers_by_product_fall_back_to_everyone() -> None:
    managers = [SimpleNamespace(id="ivanova", products=("deposit",)),
                SimpleNamespace(id="petrov", products=("loan",)), SimpleNamespace(id="sidorov", products=())]
    assert ManagerPicker("by_product", managers).candidates("deposit") == ["ivanova", "sidorov"]
    assert ManagerPicker("round_robin", managers).candidates("loan") == ["ivanova", "petrov", "sidorov"]
    only_loans = [SimpleNamespace(id="petrov", products=("loan",))]
    assert ManagerPicker("by_product", only_loans).candidates("deposit") == ["petrov"]


def test_phones_are_masked_digit_by_digit() -> None:
    assert mask_phones("звоните 8 (912) 345-67-89 или +49 30 1234567") == (
        "звоните * (***) ***-**-** или +** ** *******")
    assert mask_phones("вклад на 500 000 на 12 месяцев") == "вклад на 500 000 на 12 месяцев"
    reply = "Ваш номер +7 912 345-67-89? Горячая линия: 8 800 555-35-35."
    assert mask_echoed_phones(reply, "мой 89123456789") == (
        "Ваш номер +* *** ***-**-**? Горячая линия: 8 800 555-35-35.")


def test_the_signature_is_hmac_sha256_of_the_exact_body() -> None:
    body = encode({"event": "deal.created", "deal": {"id": 1, "city": "Тверь"}})
    assert body == '{"deal":{"city":"Тверь","id":1},"event":"deal.created"}'.encode()
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert sign("s3cret", body) == f"sha256={expected}"
    assert verify("s3cret", body, f"sha256={expected}")
    assert not verify("s3cret", body + b" ", f"sha256={expected}") and not verify("s3cret", body, None)


def test_backoff_grows_is_capped_and_honours_retry_after() -> None:
    policy, rng = RetryPolicy(base_s=1, cap_s=8, jitter=0), random.Random(1)
    assert [policy.delay(n, rng) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 8]
    assert policy.delay(1, rng, retry_after=3) == 3 and policy.delay(1, rng, retry_after=60) == 8
    jittered = RetryPolicy(base_s=1, cap_s=8, jitter=0.5).delay(3, rng)
    assert 2 <= jittered <= 4


# -- configuration ----------------------------------------------------------------------------


def _config(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Settings:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, env=env or {})


def test_the_shipped_config_has_leads_and_no_webhook_without_its_variables() -> None:
    settings = load_settings(Path(__file__).resolve().parents[2] / "config.yaml", env={})
    assert settings.leads.consent_version == "2026-11-01" and settings.leads.crm.url is None
    assert consent_text(settings).version == "2026-11-01"
    assert crm_dispatcher(settings, Database.from_url("sqlite+aiosqlite://")).client is None


def test_the_webhook_comes_from_the_environment(tmp_path: Path) -> None:
    text = 'leads: {crm: {url: "${CRM_URL}", secret: "${CRM_SECRET}", max_attempts: 5}}\n'
    settings = _config(tmp_path, text, {"CRM_URL": "https://crm.example/hook", "CRM_SECRET": "s3cret-value"})
    crm = crm_dispatcher(settings, Database.from_url("sqlite+aiosqlite://"))
    assert crm.client is not None and crm.client.url == "https://crm.example/hook"
    assert crm.policy.max_attempts == 5
    assert "s3cret-value" not in repr(settings.leads.crm)


@pytest.mark.parametrize(("text", "message"), [
    ('leads: {crm: {url: "https://crm.example"}}', "leads.crm: задан url, но нет secret"),
    ('leads: {crm: {url: "ftp://crm.example", secret: x}}', "leads.crm: url должен начинаться"),
    ("leads: {scoring: {rules: [{field: amount, min: 1, present: true, points: 5}]}}",
     "ровно одно условие"),
    ("leads: {consent_text: Новый текст}", "не задан consent_version"),
    ("leads: {distribution: randomly}", "leads.distribution: недопустимое значение"),
    ("leads: {managers: [{id: a}, {id: a}]}", "повторяются"),
])
def test_a_wrong_leads_setting_says_what_and_how(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        _config(tmp_path, text + "\n")


def test_a_new_consent_version_needs_its_text() -> None:
    with pytest.raises(ConfigError, match=re.escape("leads.consent_version")):
        consent_text(lead_settings(consent_version="2027-01-01"))
    custom = consent_text(lead_settings(consent_version="2027-01-01", consent_text="Согласны?"))
    assert (custom.text, custom.version) == ("Согласны?", "2027-01-01")
