"""An agent role as the bank's admin writes it in ``agents/roles/<id>.yaml``.

A role says who the agent is (``persona``, ``instructions``, ``greeting``), which part of
the knowledge base it may search, which tools it may call, which customer topics belong
to it and whom it may hand a dialog to, what a lead form asks, when a human manager takes
over and how long its answers are. Only ``id``, ``name``, ``persona`` and ``greeting`` are
required; everything else has a default, so a minimal role file is a few lines long.

Validation messages are Russian sentences for the admin; the registry
(``agents.role_registry``) adds the file name and the key path to them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

#: Tools a role may list in ``tools``.
KNOWN_TOOLS: frozenset[str] = frozenset(
    {
        "knowledge_search",
        "deposit_calculator",
        "loan_calculator",
        "insurance_check",
        "lead_form",
        "handoff",
    }
)
#: Fields a lead form may ask for.
KNOWN_LEAD_FIELDS: frozenset[str] = frozenset(
    {"name", "phone", "amount", "term", "city", "product_type", "comment"}
)
#: The pattern of a role id; the role file is named ``<id>.yaml``.
ROLE_ID_PATTERN = r"^[a-z][a-z0-9_]{1,40}$"
#: Words and phrases after which a dialog goes to a human manager, unless a role overrides them.
DEFAULT_COMPLAINT_WORDS: tuple[str, ...] = (
    "жалоба",
    "пожаловаться",
    "претензия",
    "безобразие",
    "обман",
    "обманули",
    "мошенники",
    "суд",
    "прокуратура",
    "роспотребнадзор",
    "ужасно",
    "верните деньги",
    "жалоба в цб",
    "пожалуюсь в цб",
)
#: Tools every role gets when its file has no ``tools`` key.
DEFAULT_TOOLS: tuple[str, ...] = ("knowledge_search", "handoff")

#: The pydantic error type of the rules above; ``ctx["key"]``, when present, locates the error
#: relative to the model that raised it (``fields[1].name``, ``[3]``).
RULE_ERROR_TYPE = "role_rule"


def _rule(message: str, key: str | None = None) -> PydanticCustomError:
    """A validation error with a ready Russian message; ``key`` locates a cross-field rule."""
    return PydanticCustomError(RULE_ERROR_TYPE, message, {"key": key} if key else None)


def _known_tool(name: str) -> str:
    if name not in KNOWN_TOOLS:
        raise _rule(f"неизвестный инструмент '{name}'; допустимо: {', '.join(sorted(KNOWN_TOOLS))}")
    return name


def _known_lead_field(name: str) -> str:
    if name not in KNOWN_LEAD_FIELDS:
        raise _rule(
            f"неизвестное поле анкеты '{name}'; допустимо: {', '.join(sorted(KNOWN_LEAD_FIELDS))}"
        )
    return name


def _role_id(value: str) -> str:
    if not re.fullmatch(ROLE_ID_PATTERN, value):
        raise _rule(
            f"недопустимый id '{value}': нужны латинские строчные буквы, цифры и _, первой — буква, "
            "длина от 2 до 41 символа (например, deposit_consultant)"
        )
    return value


def _phrase(value: str) -> str:
    """A keyword or complaint phrase: lower case, single spaces, not empty."""
    text = " ".join(value.split()).lower()
    if not text:
        raise _rule("пустая строка — удалите её или впишите слово")
    return text


def _tag(value: str) -> str:
    if not value:
        raise _rule("пустой тег — удалите его или впишите имя папки базы знаний (deposits, loans, ...)")
    return value


def _distinct(what: str) -> AfterValidator:
    """A list validator rejecting repeats; the error points at the repeated item."""

    def check(values: list[str]) -> list[str]:
        for index, value in enumerate(values):
            if value in values[:index]:
                raise _rule(f"{what} '{value}' указан дважды — оставьте одно упоминание", f"[{index}]")
        return values

    return AfterValidator(check)


def _dedupe(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


ToolName = Annotated[str, AfterValidator(_known_tool)]
LeadFieldName = Annotated[str, AfterValidator(_known_lead_field)]
RoleId = Annotated[str, AfterValidator(_role_id)]
Phrase = Annotated[str, AfterValidator(_phrase)]
Tag = Annotated[str, AfterValidator(_tag)]
Phrases = Annotated[list[Phrase], AfterValidator(_dedupe)]


class _Section(BaseModel):
    """Frozen, strict about unknown keys, trims whitespace around strings."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class KnowledgeAccess(_Section):
    """Which knowledge tags (first-level folders of ``knowledge/docs``) the role may search.

    ``tags: null`` (the default) opens the whole knowledge base. A document without tags is
    visible to every role.
    """

    tags: Annotated[list[Tag], _distinct("тег")] | None = None

    def allows(self, document_tags: Iterable[str]) -> bool:
        """Whether a document with ``document_tags`` may be shown to this role."""
        if self.tags is None:
            return True
        tags = set(document_tags)
        return not tags or bool(tags.intersection(self.tags))


class Routing(_Section):
    """Which customer topics belong to the role and whom it may hand a dialog to.

    ``keywords`` are Russian words, lemmas or short phrases (stored lower-cased; «ё» is kept,
    so matching should fold it); ``routes_to`` lists the ids of roles this one may pass
    the dialog to (the front desk routes to the specialists).
    """

    keywords: Phrases = Field(default_factory=list)
    routes_to: Annotated[list[RoleId], _distinct("id роли")] = Field(default_factory=list)


class LeadField(_Section):
    """One question of a lead form: the field, its label for the manager and how to ask it."""

    name: LeadFieldName
    label: str = Field(min_length=1)
    required: bool = True
    ask: str = Field(min_length=1)


class LeadForm(_Section):
    """A qualified lead the agent collects: product, the questions, and whether consent comes first."""

    product: Literal["deposit", "loan", "other"]
    fields: list[LeadField] = Field(min_length=1)
    consent_required: bool = True

    @model_validator(mode="after")
    def _sound(self) -> LeadForm:
        names = [field.name for field in self.fields]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise _rule(
                    f"поле '{name}' указано дважды — оставьте одно", f"fields[{index}].name"
                )
        if "phone" not in names:
            raise _rule(
                "в анкете нет поля phone — без телефона менеджер не сможет связаться с клиентом; "
                "добавьте его",
                "fields",
            )
        return self

    def field(self, name: str) -> LeadField | None:
        """The field named ``name``, or ``None`` when the form does not ask for it."""
        return next((field for field in self.fields if field.name == name), None)


class HandoffRules(_Section):
    """When the dialog goes to a human manager.

    ``on_request``: the customer asks for a person; ``after_failed_answers``: after this many
    answers in a row the agent could not give (0 = never); ``complaint_words``: words and
    phrases of a complaint or conflict; ``on_lead_complete``: a lead form has been filled in.
    """

    on_request: bool = True
    after_failed_answers: int = Field(default=2, ge=0, le=10)
    complaint_words: Phrases = Field(default_factory=lambda: list(DEFAULT_COMPLAINT_WORDS))
    on_lead_complete: bool = True


class AnswerStyle(_Section):
    """How the agent writes: the longest answer in characters and the formal «вы»."""

    max_chars: int = Field(default=700, ge=200, le=4000)
    formal: bool = True


class Role(_Section):
    """An agent role; the file ``agents/roles/<id>.yaml`` holds one.

    ``name`` is the display name a customer may see, ``persona`` who the agent is,
    ``instructions`` the rules it follows, ``greeting`` its first message. ``tools`` is an
    allowlist from ``KNOWN_TOOLS``; ``lead_form`` needs the ``lead_form`` tool and the other
    way round.
    """

    id: RoleId
    name: str = Field(min_length=1)
    persona: str = Field(min_length=1)
    instructions: str = ""
    greeting: str = Field(min_length=1)
    knowledge: KnowledgeAccess = KnowledgeAccess()
    tools: Annotated[list[ToolName], _distinct("инструмент")] = Field(
        default_factory=lambda: list(DEFAULT_TOOLS)
    )
    routing: Routing = Routing()
    lead_form: LeadForm | None = None
    handoff: HandoffRules = HandoffRules()
    style: AnswerStyle = AnswerStyle()

    @model_validator(mode="after")
    def _consistent(self) -> Role:
        if "lead_form" in self.tools and self.lead_form is None:
            raise _rule(
                "инструмент lead_form включён, но анкета не описана — добавьте раздел lead_form "
                "или уберите инструмент из tools",
                "lead_form",
            )
        if self.lead_form is not None and "lead_form" not in self.tools:
            raise _rule(
                "анкета описана, но инструмент lead_form не включён — добавьте 'lead_form' в tools "
                "или удалите раздел lead_form",
                "tools",
            )
        if self.knowledge.tags == [] and "knowledge_search" in self.tools:
            raise _rule(
                "пустой список тегов закрывает всю базу знаний, а инструмент knowledge_search включён — "
                "перечислите теги или удалите ключ tags, чтобы открыть всю базу",
                "knowledge.tags",
            )
        if self.id in self.routing.routes_to:
            raise _rule("роль не может передавать диалог самой себе — уберите свой id", "routing.routes_to")
        return self

    def can_use(self, tool: str) -> bool:
        """Whether ``tool`` is on this role's allowlist."""
        return tool in self.tools
