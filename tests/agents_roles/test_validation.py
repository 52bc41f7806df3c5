"""Role validation: the model's rules and the admin-facing messages (file, key, fix)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agents.errors import AgentError, RoleError, RoleValidationError, UnknownRole
from agents.role_model import (
    DEFAULT_COMPLAINT_WORDS,
    KNOWN_LEAD_FIELDS,
    KNOWN_TOOLS,
    KnowledgeAccess,
    Role,
)
from agents.role_registry import parse_role
from tests.agents_roles.conftest import MINIMAL_ROLE

MINIMAL = MINIMAL_ROLE.format(id="front_desk")
LEAD_FORM = """\
tools: [knowledge_search, lead_form, handoff]
lead_form:
  product: deposit
  fields:
    - {name: name, label: Имя, ask: "Как к вам обращаться?"}
    - {name: phone, label: Телефон, ask: "Ваш телефон?"}
"""


def problem(text: str, file_name: str = "front_desk.yaml") -> RoleValidationError:
    with pytest.raises(RoleValidationError) as caught:
        parse_role(file_name, text)
    return caught.value


# --- the model ----------------------------------------------------------------------------


def test_a_minimal_role_gets_sensible_defaults() -> None:
    role = parse_role("front_desk.yaml", MINIMAL)
    assert role.tools == ["knowledge_search", "handoff"]
    assert role.knowledge.tags is None
    assert role.routing.keywords == [] and role.routing.routes_to == []
    assert role.lead_form is None
    assert role.instructions == ""
    assert role.handoff.on_request and role.handoff.on_lead_complete
    assert role.handoff.after_failed_answers == 2
    assert role.handoff.complaint_words == list(DEFAULT_COMPLAINT_WORDS)
    assert role.style.max_chars == 700 and role.style.formal


def test_known_names() -> None:
    assert sorted(KNOWN_TOOLS) == TOOLS.split(", ")
    assert sorted(KNOWN_LEAD_FIELDS) == FIELDS.split(", ")


def test_the_role_is_frozen() -> None:
    role = parse_role("front_desk.yaml", MINIMAL)
    with pytest.raises(ValidationError):
        role.greeting = "Привет"


def test_texts_are_trimmed_and_keywords_normalised() -> None:
    keywords = "routing:\n  keywords: ['  Вклад ', 'АСВ', 'асв', 'часы   работы']\n"
    role = parse_role("front_desk.yaml", MINIMAL + keywords)
    assert role.greeting == "Здравствуйте!"
    assert role.routing.keywords == ["вклад", "асв", "часы работы"]


def test_knowledge_access() -> None:
    assert KnowledgeAccess().allows(["loans"])
    limited = KnowledgeAccess(tags=["deposits", "general"])
    assert limited.allows(["deposits"])
    assert limited.allows([])  # untagged documents are visible to every role
    assert not limited.allows(["loans"])


def test_lead_form_lookup() -> None:
    role = parse_role("front_desk.yaml", MINIMAL + LEAD_FORM)
    assert role.lead_form is not None
    assert role.lead_form.consent_required
    phone = role.lead_form.field("phone")
    assert phone is not None and phone.required
    assert role.lead_form.field("city") is None
    assert role.can_use("lead_form") and not role.can_use("loan_calculator")


# --- messages: file name, key path, fix --------------------------------------------------


FD = "front_desk.yaml"
TOOLS = "deposit_calculator, handoff, insurance_check, knowledge_search, lead_form, loan_calculator"
FIELDS = "amount, city, comment, name, phone, product_type, term"
GREETING_FIX = "greeting: обязательное поле — добавьте приветствие"
CASES = {
    "unknown key": (
        MINIMAL + "greting: Добрый день\n", FD,
        f"{FD}: greting: неизвестный ключ 'greting' — возможно, имелось в виду 'greeting'",
    ),
    "unknown nested key": (
        MINIMAL + "routing:\n  keyword: [вклад]\n", FD,
        f"{FD}: routing.keyword: неизвестный ключ 'keyword' — возможно, имелось в виду 'keywords'; "
        "допустимые ключи: keywords, routes_to",
    ),
    "unknown tool": (
        MINIMAL + "tools: [knowledge_search, handoff, foo]\n", FD,
        f"{FD}: tools[2]: неизвестный инструмент 'foo'; допустимо: {TOOLS}",
    ),
    "bad id": (
        MINIMAL.replace("id: front_desk", "id: Front-Desk"), FD,
        f"{FD}: id: недопустимый id 'Front-Desk': нужны латинские строчные буквы",
    ),
    "id differs from the file": (
        MINIMAL.replace("id: front_desk", "id: loan_manager"), FD,
        f"{FD}: id: id 'loan_manager' не совпадает с именем файла — укажите id: front_desk "
        "или переименуйте файл в loan_manager.yaml",
    ),
    "missing greeting": (
        MINIMAL_ROLE.format(id="loan_manager").replace("greeting: Здравствуйте!\n", ""), "loan_manager.yaml",
        f"loan_manager.yaml: {GREETING_FIX}",
    ),
    "empty greeting": (MINIMAL.replace("greeting: Здравствуйте!", "greeting:"), FD, f"{FD}: {GREETING_FIX}"),
    "blank greeting": (
        MINIMAL.replace("greeting: Здравствуйте!", "greeting: '  '"), FD, f"{FD}: {GREETING_FIX}",
    ),
    "max_chars too small": (
        MINIMAL + "style:\n  max_chars: 100\n", FD,
        f"{FD}: style.max_chars: нужно число от 200 до 4000, сейчас 100",
    ),
    "max_chars too large": (
        MINIMAL + "style:\n  max_chars: 5000\n", FD,
        f"{FD}: style.max_chars: нужно число от 200 до 4000, сейчас 5000",
    ),
    "max_chars not a number": (
        MINIMAL + "style:\n  max_chars: много\n", FD, f"{FD}: style.max_chars: нужно целое число",
    ),
    "negative failed answers": (
        MINIMAL + "handoff:\n  after_failed_answers: -1\n", FD,
        f"{FD}: handoff.after_failed_answers: нужно число от 0 до 10, сейчас -1",
    ),
    "tools not a list": (MINIMAL + "tools: handoff\n", FD, f"{FD}: tools: нужен список"),
    "repeated tool": (
        MINIMAL + "tools: [handoff, handoff]\n", FD, f"{FD}: tools[1]: инструмент 'handoff' указан дважды",
    ),
    "repeated tag": (
        MINIMAL + "knowledge:\n  tags: [deposits, deposits]\n", FD,
        f"{FD}: knowledge.tags[1]: тег 'deposits' указан дважды",
    ),
    "no tags with knowledge search": (
        MINIMAL + "knowledge:\n  tags: []\n", FD,
        f"{FD}: knowledge.tags: пустой список тегов закрывает всю базу знаний",
    ),
    "knowledge not a map": (
        MINIMAL + "knowledge: all\n", FD, f"{FD}: knowledge: нужен раздел с вложенными ключами: tags",
    ),
    "routes to itself": (
        MINIMAL + "routing:\n  routes_to: [front_desk]\n", FD,
        f"{FD}: routing.routes_to: роль не может передавать диалог самой себе",
    ),
    "bad route id": (
        MINIMAL + "routing:\n  routes_to: [Loans]\n", FD,
        f"{FD}: routing.routes_to[0]: недопустимый id 'Loans'",
    ),
    "lead tool without a form": (
        MINIMAL + "tools: [lead_form]\n", FD,
        f"{FD}: lead_form: инструмент lead_form включён, но анкета не описана",
    ),
    "form without the lead tool": (
        MINIMAL + LEAD_FORM.replace("[knowledge_search, lead_form, handoff]", "[handoff]"), FD,
        f"{FD}: tools: анкета описана, но инструмент lead_form не включён",
    ),
    "unknown product": (
        MINIMAL + LEAD_FORM.replace("product: deposit", "product: card"), FD,
        f"{FD}: lead_form.product: недопустимое значение 'card'; допустимо: 'deposit', 'loan', 'other'",
    ),
    "unknown lead field": (
        MINIMAL + LEAD_FORM.replace("{name: name,", "{name: email,"), FD,
        f"{FD}: lead_form.fields[0].name: неизвестное поле анкеты 'email'; допустимо: {FIELDS}",
    ),
    "lead field without a question": (
        MINIMAL + LEAD_FORM.replace(', ask: "Ваш телефон?"', ""), FD,
        f"{FD}: lead_form.fields[1].ask: обязательное поле — добавьте вопрос",
    ),
    "repeated lead field": (
        MINIMAL + LEAD_FORM.replace("{name: phone,", "{name: name,"), FD,
        f"{FD}: lead_form.fields[1].name: поле 'name' указано дважды",
    ),
    "lead form without phone": (
        MINIMAL + LEAD_FORM.replace("{name: phone,", "{name: city,"), FD,
        f"{FD}: lead_form.fields: в анкете нет поля phone",
    ),
    "empty lead form": (
        MINIMAL + "lead_form:\n  product: loan\n  fields: []\ntools: [lead_form]\n", FD,
        f"{FD}: lead_form.fields: список пуст",
    ),
}


@pytest.mark.parametrize(("text", "file_name", "expected"), list(CASES.values()), ids=list(CASES))
def test_messages_name_file_key_and_fix(text: str, file_name: str, expected: str) -> None:
    error = problem(text, file_name)
    assert str(error).startswith(expected), str(error)
    assert error.file == file_name
    assert error.key is not None and str(error).startswith(f"{file_name}: {error.key}: ")


@pytest.mark.parametrize(
    ("text", "line", "explanation"),
    [
        pytest.param("id: front_desk\nname: Роль\npersona: Вы: помощник\ngreeting: Добрый день\n", 3,
                     "двоеточие в неожиданном месте", id="colon in a plain value"),
        pytest.param("id: front_desk\nname: 'Роль\npersona: p\ngreeting: g\n", 5, "не закрыта кавычка",
                     id="unclosed quote"),
        pytest.param("id: front_desk\nrouting:\n\tkeywords: [вклад]\n", 3, "табуляции", id="tab"),
        pytest.param("id: front_desk\nname: a\nname: b\npersona: p\ngreeting: g\n", 3,
                     "ключ 'name' повторяется", id="repeated key"),
    ],
)
def test_invalid_yaml_gives_the_line(text: str, line: int, explanation: str) -> None:
    error = problem(text)
    assert error.line == line
    assert str(error).startswith(f"front_desk.yaml: строка {line}, столбец ")
    assert explanation in str(error)


def test_every_problem_is_listed_with_its_key() -> None:
    text = MINIMAL.replace("greeting: Здравствуйте!\n", "") + "tools: [foo]\nstyle: {max_chars: 1}\n"
    error = problem(text)
    assert [key for key, _ in error.issues] == ["greeting", "tools[0]", "style.max_chars"]
    assert str(error).count("\n") == 2
    assert all(line.startswith("front_desk.yaml: ") for line in str(error).splitlines())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "front_desk.yaml: файл пуст"),
        ("- id\n- name\n", "front_desk.yaml: ожидается словарь ключей верхнего уровня"),
    ],
)
def test_a_file_that_is_not_a_role(text: str, expected: str) -> None:
    assert str(problem(text)).startswith(expected)


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        ("../front_desk.yaml", "нужно простое имя файла"),
        ("front_desk.yml", "расширение .yaml"),
        ("Front Desk.yaml", "имя файла не годится для роли"),
    ],
)
def test_bad_file_names(file_name: str, expected: str) -> None:
    error = problem(MINIMAL, file_name)
    assert str(error).startswith(f"{file_name}: ")
    assert expected in str(error)


def test_the_exception_tree() -> None:
    assert issubclass(RoleError, AgentError)
    assert issubclass(RoleValidationError, RoleError)
    assert issubclass(UnknownRole, RoleError)
    error = UnknownRole("mortgage", ["front_desk", "loan_manager"])
    assert error.role_id == "mortgage"
    assert str(error) == "роль 'mortgage' не найдена; доступны: front_desk, loan_manager"


def test_the_model_alone_also_speaks_russian() -> None:
    with pytest.raises(ValidationError) as caught:
        Role.model_validate({"id": "front_desk", "name": "Роль", "persona": "p", "greeting": "g",
                             "tools": ["foo"]})
    assert "неизвестный инструмент 'foo'" in str(caught.value)
