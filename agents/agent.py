"""The agent turn: from a customer's message to a reply and the agent's decisions.

Order of decisions, the same in every mode:
1. an open lead form takes the message if it answers the form's question;
2. an explicit request for a person, or a complaint, hands off;
3. routing: the front desk passes the dialog to a specialist, and a customer
   may change topic mid-dialog;
4. greetings, thanks, live-market questions get their fixed answers;
5. «хочу открыть вклад» opens the role's lead form;
6. otherwise the answerer (LLM, or offline) answers from the knowledge base;
   repeated answers without information hand off.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import replace
from typing import Any

from agents import intents
from agents.answerers.base import Answer, Answerer
from agents.errors import UnknownRole
from agents.leadform import DEFAULT_CONSENT, ConsentText, FormStep, LeadForm
from agents.memory import recent, remember
from agents.role_registry import RoleRegistry
from agents.routing import Router
from agents.turn import DialogState, Reply, TurnInput
from knowledge.ru.lemmatizer import Lemmatizer

log = logging.getLogger(__name__)

HANDOFF_TEXT = "Передаю ваш вопрос менеджеру. Он ответит здесь же, в этом чате."
COMPLAINT_TEXT = ("Мне очень жаль, что так получилось. Передаю ваше обращение менеджеру — "
                  "он разберётся и ответит здесь же, в этом чате.")
LIVE_DATA_TEXT = ("У меня нет актуальных рыночных данных (курсов валют, котировок) и я не даю "
                  "инвестиционных советов. Могу передать вопрос менеджеру.")
NO_ANSWER_HANDOFF_TEXT = ("К сожалению, точного ответа в моей базе знаний нет. "
                          "Передаю ваш вопрос менеджеру — он ответит здесь же, в этом чате.")
THANKS_TEXT = "Пожалуйста! Если появятся вопросы — пишите, я на связи."
EMPTY_TEXT = "Напишите, пожалуйста, ваш вопрос текстом."
WHICH_PRODUCT = "Что вы хотели бы оформить?"
OFFER_MANAGER = ("Позвать менеджера",)


class Agent:
    """Runs agent turns for every role; one instance serves all dialogs."""

    def __init__(self, roles: RoleRegistry, answerer: Answerer, lemmatizer: Lemmatizer,
                 consent: ConsentText = DEFAULT_CONSENT) -> None:
        self.roles = roles
        self.consent = consent
        self.answerer = answerer
        self.lemmatizer = lemmatizer
        self.router = Router(lemmatizer)

    async def aclose(self) -> None:
        """Release the answerer's connections (an LLM client), if it holds any."""
        close = getattr(self.answerer, "aclose", None)
        if close is not None:
            await close()

    async def respond(self, turn: TurnInput) -> Reply:
        """The reply to one customer message."""
        state = copy.deepcopy(turn.state)
        state.turns += 1
        role = self._role(turn.role_id)
        text = " ".join(turn.text.split())
        if not text:
            return Reply(EMPTY_TEXT, role.id, "rules", grounded=True, state=state)
        if state.lead and not state.lead.completed:
            reply = await self._continue_form(role, text, turn, state)
            if reply is not None:
                return reply
        reply = self._handoff_request(role, text, state) or self._fixed_answer(role, text, state)
        if reply is not None:
            return reply
        role = self._route(role, text)
        if intents.wants_to_apply(text):
            return self._start_form(role, text, state)
        remember(state, text)
        return await self._answer(role, text, turn, state)

    # -- steps ------------------------------------------------------------

    def _role(self, role_id: str) -> Any:
        try:
            return self.roles.get(role_id)
        except UnknownRole:
            log.warning("dialog role %r is gone; using the default role", role_id)
            return self.roles.default()

    def _handoff_request(self, role: Any, text: str, state: DialogState) -> Reply | None:
        if role.handoff.on_request and intents.wants_human(text):
            return self._handoff(role, HANDOFF_TEXT, "request", state)
        word = intents.complaint_word(text, role.handoff.complaint_words, self.lemmatizer)
        if word and not intents.asks_how_to_complain(text):
            return self._handoff(role, COMPLAINT_TEXT, "complaint", state, note=f"complaint:{word}")
        return None

    def _fixed_answer(self, role: Any, text: str, state: DialogState) -> Reply | None:
        if intents.is_greeting(text):
            return Reply(role.greeting, role.id, "rules", grounded=True, state=state)
        if intents.is_thanks(text):
            return Reply(THANKS_TEXT, role.id, "rules", grounded=True, state=state)
        if intents.asks_live_data(text):
            return Reply(LIVE_DATA_TEXT, role.id, "rules", grounded=False, state=state,
                         quick_replies=OFFER_MANAGER, notes=("live_data",))
        return None

    def _route(self, role: Any, text: str) -> Any:
        allowed = set(role.routing.routes_to)
        candidates = {r.id: r.routing.keywords for r in self.roles.all()
                      if r.routing.keywords and r.id != role.id and (not allowed or r.id in allowed)}
        chosen = self.router.choose(text, role.id, candidates, role.routing.keywords)
        return role if chosen == role.id else self._role(chosen)

    def _start_form(self, role: Any, text: str, state: DialogState) -> Reply:
        if role.lead_form is None or not role.can_use("lead_form"):
            products = [r.name for r in self.roles.all() if r.lead_form is not None]
            return Reply(WHICH_PRODUCT, role.id, "rules", grounded=True, state=state,
                         quick_replies=tuple(products) or ("Вклад", "Кредит"))
        lead, step = LeadForm(role.lead_form, self.lemmatizer, self.consent).start(text)
        lead.role_id = role.id
        state.lead = lead
        return self._form_reply(role, step, state)

    async def _continue_form(self, role: Any, text: str, turn: TurnInput,
                             state: DialogState) -> Reply | None:
        lead = state.lead
        assert lead is not None
        owner = self._role(lead.role_id or role.id)
        if owner.lead_form is None:
            state.lead = None
            return None
        step = LeadForm(owner.lead_form, self.lemmatizer, self.consent).step(lead, text)
        if step.handled:
            return self._form_reply(owner, step, state)
        if intents.wants_human(text):
            return None
        answer = await self._answer(owner, text, turn, state)
        return replace(answer, text=f"{answer.text}\n\n{step.reminder}",
                       quick_replies=step.quick_replies or answer.quick_replies)

    def _form_reply(self, role: Any, step: FormStep, state: DialogState) -> Reply:
        if step.cancelled:
            state.lead = None
        completed = state.lead if step.completed else None
        handoff = bool(completed) and role.handoff.on_lead_complete
        return Reply(step.text, role.id, "rules", grounded=True, state=state,
                     handoff=handoff, handoff_reason="lead" if handoff else None,
                     quick_replies=step.quick_replies, request_phone=step.request_phone,
                     lead_completed=completed)

    async def _answer(self, role: Any, text: str, turn: TurnInput, state: DialogState) -> Reply:
        answer: Answer = await self.answerer.answer(role, text, recent(turn.history))
        if answer.handoff_requested:
            return self._handoff(role, answer.text or HANDOFF_TEXT, "llm", state,
                                 note=answer.handoff_requested)
        if answer.start_lead and role.lead_form is not None:
            return self._start_form(role, text, state)
        if answer.relevant:
            state.failed_answers = 0
        else:
            state.failed_answers += 1
        limit = role.handoff.after_failed_answers
        if not answer.relevant and limit and state.failed_answers >= limit:
            return self._handoff(role, NO_ANSWER_HANDOFF_TEXT, "no_answer", state,
                                 grounded=answer.grounded)
        return Reply(answer.text, role.id, answer.mode, answer.grounded, answer.sources,
                     state=state, quick_replies=() if answer.relevant else OFFER_MANAGER,
                     notes=answer.notes)

    def _handoff(self, role: Any, text: str, reason: str, state: DialogState, *,
                 note: str | None = None, grounded: bool = True) -> Reply:
        state.failed_answers = 0
        return Reply(text, role.id, "rules", grounded=grounded, handoff=True, handoff_reason=reason,
                     state=state, notes=(note,) if note else ())
