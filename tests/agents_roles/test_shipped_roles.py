"""The roles shipped in ``agents/roles`` load, validate and say what the bank requires."""

from __future__ import annotations

import ast

import pytest

from agents.role_model import KNOWN_LEAD_FIELDS, KNOWN_TOOLS, Role
from agents.role_registry import RoleRegistry
from tests.agents_roles.conftest import SHIPPED_ROLES

REPO = SHIPPED_ROLES.parents[1]
KNOWLEDGE_TAGS = {path.name for path in (REPO / "knowledge" / "docs").iterdir() if path.is_dir()}
SHIPPED_IDS = ("front_desk", "deposit_consultant", "loan_manager")


@pytest.fixture(scope="module")
def shipped() -> RoleRegistry:
    return RoleRegistry.load_or_raise(SHIPPED_ROLES, "front_desk")


@pytest.fixture(scope="module")
def roles(shipped: RoleRegistry) -> dict[str, Role]:
    return {role.id: role for role in shipped.all()}


def test_the_three_roles_load_without_errors(shipped: RoleRegistry, roles: dict[str, Role]) -> None:
    assert set(SHIPPED_IDS) <= set(roles)
    assert shipped.errors() == {}
    assert shipped.default().id == "front_desk"


@pytest.mark.parametrize("role_id", SHIPPED_IDS)
def test_each_file_validates_on_its_own(role_id: str, shipped: RoleRegistry) -> None:
    path = SHIPPED_ROLES / f"{role_id}.yaml"
    role = shipped.validate_text(path.name, path.read_text(encoding="utf-8"))
    assert role == shipped.get(role_id)


@pytest.mark.parametrize("role_id", SHIPPED_IDS)
def test_tools_and_lead_fields_are_known(role_id: str, roles: dict[str, Role]) -> None:
    role = roles[role_id]
    assert set(role.tools) <= KNOWN_TOOLS
    if role.lead_form is not None:
        assert {field.name for field in role.lead_form.fields} <= KNOWN_LEAD_FIELDS


@pytest.mark.parametrize("role_id", SHIPPED_IDS)
def test_knowledge_tags_are_folders_of_the_knowledge_base(role_id: str, roles: dict[str, Role]) -> None:
    tags = roles[role_id].knowledge.tags
    assert tags is None or set(tags) <= KNOWLEDGE_TAGS


def test_front_desk(roles: dict[str, Role]) -> None:
    role = roles["front_desk"]
    assert role.tools == ["knowledge_search", "handoff"]
    assert role.knowledge.tags is None
    assert role.lead_form is None
    assert set(role.routing.routes_to) == {"deposit_consultant", "loan_manager"}
    for topic in ("вклад", "кредит", "ипотек", "страхован", "отделени"):
        assert topic in role.greeting
    for notice in ("номер карты", "CVC", "СМС", "согласия"):
        assert notice in role.greeting


def test_deposit_consultant(roles: dict[str, Role]) -> None:
    role = roles["deposit_consultant"]
    assert role.knowledge.tags == ["deposits", "general"]
    assert set(role.tools) == {"knowledge_search", "deposit_calculator", "insurance_check", "lead_form",
                               "handoff"}
    assert role.lead_form is not None
    assert role.lead_form.product == "deposit"
    assert role.lead_form.consent_required
    assert [(f.name, f.required) for f in role.lead_form.fields] == [
        ("name", True), ("phone", True), ("amount", False), ("term", False),
    ]
    for word in ("вклад", "депозит", "накопительный", "асв", "страхование вкладов"):
        assert word in role.routing.keywords


def test_loan_manager(roles: dict[str, Role]) -> None:
    role = roles["loan_manager"]
    assert role.knowledge.tags == ["loans", "general"]
    assert set(role.tools) == {"knowledge_search", "loan_calculator", "lead_form", "handoff"}
    assert role.lead_form is not None
    assert role.lead_form.product == "loan"
    assert [(f.name, f.required) for f in role.lead_form.fields] == [
        ("name", True), ("phone", True), ("amount", True), ("term", False), ("city", False),
    ]
    for word in ("кредит", "ипотека", "заём", "рассрочка", "платёж", "кредитная история"):
        assert word in role.routing.keywords


@pytest.mark.parametrize("role_id", SHIPPED_IDS)
def test_personas_and_instructions_carry_the_bank_rules(role_id: str, roles: dict[str, Role]) -> None:
    role = roles[role_id]
    text = f"{role.persona}\n{role.instructions}"
    for rule in (
        "только на основе базы знаний",  # answers only from the knowledge base and tools
        "Не придумывайте ставки",  # never invents rates or figures
        "честно скажите",  # says when there is no exact information...
        "связаться с менеджером",  # ...and offers a manager
        "CVC",  # never asks for card data or SMS codes
        "коды из СМС",
        "после того, как клиент дал согласие",  # personal data only after consent
        "«вы»",
        "коротко",
    ):
        assert rule in text, rule
    assert role.style.formal
    assert role.handoff.on_request


@pytest.mark.parametrize("role_id", SHIPPED_IDS)
def test_texts_name_only_products_of_the_knowledge_base(role_id: str, roles: dict[str, Role]) -> None:
    docs = "\n".join(path.read_text(encoding="utf-8")
                     for path in (REPO / "knowledge" / "docs").rglob("*.md"))
    role = roles[role_id]
    for text in (role.persona, role.instructions, role.greeting):
        for tail in text.split("«Вершина ")[1:]:
            name = "Вершина " + tail.split("»")[0]
            assert name in docs, name


def test_the_agents_package_never_imports_bots() -> None:
    for path in (REPO / "agents").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(name == "bots" or name.startswith("bots.") for name in names), path
