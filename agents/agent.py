"""The agent turn: from a customer's message to a reply and the agent's decisions.

Order of decisions, the same in every mode:
1. card data or a one-time code in the message: an immediate warning with the
   hotline from the knowledge base (the engine has already masked the values);
2. an explicit request for a person hands off; an angry or complaining message
   (complaint words, or the sentiment classifier) gets an empathetic reply, the
   complaints address and a handoff marked as a complaint;
3. an open lead form reads the message (every field, corrections, cancel); a
   side question is answered and the form resumes in a message of its own;
4. routing: the front desk passes the dialog to a specialist, and a customer
   may change topic mid-dialog;
5. greetings, thanks, live-market questions get their fixed answers;
6. «хочу открыть вклад», «нужен кредит 2 млн» open the role's lead form — in a
   `redirect` channel (a foreign messenger) it asks for no name or phone: it
   keeps the non-personal fields and offers a lawful channel instead;
7. otherwise the answerer (LLM, or offline) answers from the knowledge base;
   repeated answers without information hand off.

A completed application does not hand the dialog over: the deal waits for a
manager in the deal store while the customer keeps talking to the bot.
"""

from __future__ import annotations

import copy
import logging
import re
from dataclasses import replace

from agents import intents
from agents.answerers.base import Answer, Answerer
from agents.bank_contacts import BankContacts
from agents.card_data import masked_kinds
from agents.errors import UnknownRole
from agents.leadform import DEFAULT_CONSENT, ELSEWHERE, PRODUCT_NAMES, ConsentText, FormStep, LeadForm
from agents.memory import recent, remember
from agents.output_guard import asks_for_instructions
from agents.role_model import Role
from agents.role_registry import RoleRegistry
from agents.routing import Router
from agents.sentiment import SentimentClassifier
from agents.sentiment.ahead import MoodsAhead
from agents.slots import SlotReader
from agents.turn import DialogState, Reply, TurnInput
from knowledge.ru.lemmatizer import Lemmatizer

log = logging.getLogger(__name__)

HANDOFF_TEXT = "Передаю ваш вопрос менеджеру. Он ответит здесь же, в этом чате."
COMPLAINT_TEXT = ("Мне очень жаль, что так получилось, — понимаю, как это неприятно. Передаю ваше "
                  "обращение менеджеру как жалобу: он разберётся и ответит здесь же, в этом чате.")
COMPLAINT_CHANNEL_TEXT = "Письменную жалобу или претензию можно также направить на {address}."
LIVE_DATA_TEXT = ("У меня нет актуальных рыночных данных (курсов валют, котировок) и я не даю "
                  "инвестиционных советов. Могу передать вопрос менеджеру.")
NO_ANSWER_HANDOFF_TEXT = ("К сожалению, точного ответа в моей базе знаний нет. "
                          "Передаю ваш вопрос менеджеру — он ответит здесь же, в этом чате.")
THANKS_TEXT = "Пожалуйста! Если появятся вопросы — пишите, я на связи."
THANKS_AFTER_LEAD_TEXT = ("Пожалуйста! Менеджер свяжется с вами по заявке в рабочее время. "
                          "Если появятся вопросы — пишите, я на связи.")
NOTHING_TO_CANCEL_TEXT = "Хорошо, ничего не оформляем. Если понадобится помощь — просто напишите."
CARD_WARNING_TEXT = ("Пожалуйста, никогда не отправляйте номер карты, срок её действия, CVV/CVC и коды "
                     "из СМС или push-уведомлений — ни в чат, ни кому-либо ещё. Эти данные скрыты из "
                     "переписки и не сохранены.")
CARD_BLOCK_TEXT = ("Если карта утеряна, вы отправили эти данные кому-то ещё или сомневаетесь, сразу "
                   "заблокируйте её в мобильном приложении или по телефону горячей линии{hotline} — "
                   "она работает круглосуточно. Заблокировать карту из чата я не могу.")
EMPTY_TEXT = "Напишите, пожалуйста, ваш вопрос текстом."
WHICH_PRODUCT = "Что вы хотели бы оформить?"
OFFER_MANAGER = ("Позвать менеджера",)
LAWFUL_OFFER_TEXT = ("С удовольствием помогу оформить {product}. Только имя, телефон и другие личные "
                     "данные здесь я принять не могу: по закону банк не получает персональные данные "
                     "клиентов через иностранные мессенджеры. Давайте продолжим в защищённом канале банка.")
NOT_KEPT_TEXT = ("Личные данные, которые вы написали, скрыты и не сохранены: здесь я не могу "
                 "их принять.")
AGAIN_TEXT = "Продолжим оформление заявки в защищённом канале банка."
CARRIED_OVER_TEXT = "Продолжим здесь. Чем могу помочь?"


class Agent:
    """Runs agent turns for every role; one instance serves all dialogs."""

    def __init__(self, roles: RoleRegistry, answerer: Answerer, lemmatizer: Lemmatizer,
                 consent: ConsentText = DEFAULT_CONSENT, *, contacts: BankContacts | None = None,
                 sentiment: SentimentClassifier | None = None) -> None:
        self.roles = roles
        self.consent = consent
        self.answerer = answerer
        self.lemmatizer = lemmatizer
        self.router = Router(lemmatizer)
        self.contacts = contacts or BankContacts(None)
        self.sentiment = sentiment
        self._moods = MoodsAhead(sentiment) if sentiment is not None else None
        self._slots = SlotReader(lemmatizer)

    def read_mood_ahead(self, text: str) -> None:
        """Start reading the mood of a message whose turn comes soon (`agents.sentiment.ahead`)."""
        if self._moods is not None:
            self._moods.start(text)

    async def aclose(self) -> None:
        """Release the answerer's connections (an LLM client), if it holds any."""
        close = getattr(self.answerer, "aclose", None)
        if close is not None:
            await close()

    def personal_names(self, text: str) -> tuple[str, ...]:
        """Names of people in `text` (tagged name words, «зовут …»), for masking where none may be kept."""
        name = self._slots.read_name(text)
        return (name,) if name else ()

    def carry_over(self, state: DialogState, role_id: str) -> Reply:
        """The first message in a lawful channel a dialog was carried over to: its parked form goes on."""
        state = copy.deepcopy(state)
        role = self._role(role_id)
        lead = state.lead
        owner = self._role(lead.role_id or role.id) if lead is not None else role
        if lead is None or lead.asking != ELSEWHERE or owner.lead_form is None:
            return Reply(CARRIED_OVER_TEXT, role.id, "rules", grounded=True, state=state)
        step = LeadForm(owner.lead_form, self.lemmatizer, self.consent).resume(lead)
        return self._form_reply(owner, step, state)

    async def respond(self, turn: TurnInput) -> Reply:
        """The reply to one customer message."""
        state = copy.deepcopy(turn.state)
        state.turns += 1
        role = self._role(turn.role_id)
        text = " ".join(turn.text.split())
        if not text:
            return Reply(EMPTY_TEXT, role.id, "rules", grounded=True, state=state)
        mood = None
        if self._moods is not None:  # an embedding per message: CPU work, off the event loop
            felt = await self._moods.take(text)
            mood = felt.label if felt is not None else None
        form_text = " ".join(turn.form_text.split()) or text
        reply = await self._decide(role, text, form_text, turn, state, negative=mood == "negative")
        return replace(reply, sentiment=mood)

    async def _decide(self, role: Role, text: str, form_text: str, turn: TurnInput,
                      state: DialogState, *, negative: bool) -> Reply:
        """`form_text` is `text` before consent masking: only the lead form reads it."""
        kinds = masked_kinds(text)
        if kinds:
            return self._card_warning(role, state)
        # «меня зовут Вера», «Пётр Мошенников»: an answer to the form, not a complaint.
        open_form = state.lead is not None and not state.lead.completed
        answering = open_form and self._form_reads(role, state, form_text)
        # «Repeat your instructions» reads as hostile to the mood model; it is a probe the
        # answerer refuses politely, not a customer's complaint.
        probing = asks_for_instructions(text)
        reply = self._handoff_request(role, text, state, negative=negative and not answering and not probing,
                                      complaints=not answering)
        if reply is not None:
            return reply
        redirect = turn.personal_data == "redirect"
        if state.lead and not state.lead.completed:
            if redirect:
                reply = self._parked_form(role, text, turn, state)
            else:
                reply = await self._continue_form(role, text, form_text, turn, state)
            if reply is not None:
                return reply
        reply = self._fixed_answer(role, text, state)
        if reply is not None:
            return reply
        role = self._route(role, text)
        # «хочу взять денег на ремонт, как банк посчитает платёж?» to a role without a form:
        # the question is answered rather than met with «что вы хотели бы оформить?».
        applies = intents.wants_to_apply(text) or intents.wants_product(text)
        if applies and intents.asks_question(text):
            return await self._answer_then_form(role, text, form_text, turn, state, redirect=redirect)
        if applies and (_has_form(role) or not intents.is_side_question(text)):
            return self._start_form(role, form_text, state, redirect=redirect,
                                    not_kept=redirect and form_text != text)
        remember(state, text)
        return await self._answer(role, text, turn, state)

    # -- steps ------------------------------------------------------------

    def _role(self, role_id: str) -> Role:
        try:
            return self.roles.get(role_id)
        except UnknownRole:
            log.warning("dialog role %r is gone; using the default role", role_id)
            return self.roles.default()

    def _handoff_request(self, role: Role, text: str, state: DialogState, *,
                         negative: bool = False, complaints: bool = True) -> Reply | None:
        if role.handoff.on_request and intents.wants_human(text):
            return self._handoff(role, HANDOFF_TEXT, "request", state)
        if intents.wants_to_cancel(text):
            return None  # «передумала» is not a complaint
        word = intents.complaint_word(text, role.handoff.complaint_words, self.lemmatizer)
        if not complaints or intents.asks_how_to_complain(text):
            return None  # «куда писать жалобу?» is answered from the knowledge base
        if word or negative:
            address = self.contacts.complaints()
            reply = COMPLAINT_TEXT
            if address:
                reply += " " + COMPLAINT_CHANNEL_TEXT.format(address=address)
            return self._handoff(role, reply, "complaint", state,
                                 note=f"complaint:{word or 'sentiment'}")
        return None

    def _form_reads(self, role: Role, state: DialogState, text: str) -> bool:
        """Whether the open form finds a field value in the message."""
        assert state.lead is not None
        owner = self._role(state.lead.role_id or role.id)
        if owner.lead_form is None:
            return False
        return LeadForm(owner.lead_form, self.lemmatizer, self.consent).reads(state.lead, text)

    def _card_warning(self, role: Role, state: DialogState) -> Reply:
        hotline = self.contacts.hotline()
        text = f"{CARD_WARNING_TEXT}\n\n{CARD_BLOCK_TEXT.format(hotline=f' {hotline}' if hotline else '')}"
        followups: tuple[str, ...] = ()
        lead = state.lead
        if lead is not None and not lead.completed and lead.asking and lead.asking != ELSEWHERE:
            followups = (f"Вернёмся к заявке: {self._form_question(role, lead.asking, lead.role_id)}",)
        return Reply(text, role.id, "rules", grounded=True, state=state, followups=followups,
                     quick_replies=OFFER_MANAGER, notes=("card_data",))

    def _form_question(self, role: Role, asking: str, owner_id: str | None) -> str:
        owner = self._role(owner_id or role.id)
        field = owner.lead_form.field(asking) if owner.lead_form else None
        if field is not None:
            return field.ask[:1].lower() + field.ask[1:]
        if asking == "confirm":
            return "всё ли в ней верно?"
        return "вы согласны на обработку персональных данных?"

    def _fixed_answer(self, role: Role, text: str, state: DialogState) -> Reply | None:
        if intents.is_greeting(text):
            return Reply(role.greeting, role.id, "rules", grounded=True, state=state)
        if intents.is_thanks(text):
            after_lead = state.lead is not None and state.lead.completed
            return Reply(THANKS_AFTER_LEAD_TEXT if after_lead else THANKS_TEXT, role.id, "rules",
                         grounded=True, state=state)
        if intents.wants_to_cancel(text) and not intents.wants_product(text):
            return Reply(NOTHING_TO_CANCEL_TEXT, role.id, "rules", grounded=True, state=state)
        if intents.asks_live_data(text):
            return Reply(LIVE_DATA_TEXT, role.id, "rules", grounded=False, state=state,
                         quick_replies=OFFER_MANAGER, notes=("live_data",))
        return None

    def _route(self, role: Role, text: str) -> Role:
        allowed = set(role.routing.routes_to)
        candidates = {r.id: r.routing.keywords for r in self.roles.all()
                      if r.routing.keywords and r.id != role.id and (not allowed or r.id in allowed)}
        chosen = self.router.choose(text, role.id, candidates, role.routing.keywords)
        return role if chosen == role.id else self._role(chosen)

    def _start_form(self, role: Role, text: str, state: DialogState, *, redirect: bool = False,
                    not_kept: bool = False) -> Reply:
        if role.lead_form is None or not _has_form(role):
            products = [r.name for r in self.roles.all() if r.lead_form is not None]
            return Reply(WHICH_PRODUCT, role.id, "rules", grounded=True, state=state,
                         quick_replies=tuple(products) or ("Вклад", "Кредит"))
        if redirect:
            return self._lawful_offer(role, text, state, not_kept=not_kept)
        lead, step = LeadForm(role.lead_form, self.lemmatizer, self.consent).start(text)
        lead.role_id = role.id
        state.lead = lead
        return self._form_reply(role, step, state)

    async def _answer_then_form(self, role: Role, text: str, form_text: str, turn: TurnInput,
                                state: DialogState, *, redirect: bool) -> Reply:
        """«Хочу кредит на ремонт, нужна справка о доходах?»: the answer first, then the form.

        The question is what the customer waits for; the form's first step
        follows in a message of its own.
        """
        remember(state, text)
        lead_before = state.lead
        answer = await self._answer(role, text, turn, state)
        if answer.handoff or not _has_form(role) or state.lead is not lead_before:
            return answer  # handed off, nothing to apply for here, or the answerer opened the form
        offer = self._start_form(role, form_text, state, redirect=redirect,
                                 not_kept=redirect and form_text != text)
        return replace(answer, state=offer.state, followups=(*answer.followups, offer.text),
                       quick_replies=offer.quick_replies, request_phone=offer.request_phone,
                       notes=(*answer.notes, *offer.notes))

    def _lawful_offer(self, role: Role, text: str, state: DialogState, *, not_kept: bool = False) -> Reply:
        """No personal data here: park the form's non-personal fields and offer a lawful channel.

        The `lawful_channel` note makes the runtime add the ways to go on (a
        one-time link to the web chat, the bank's MAX or VK bot).
        """
        assert role.lead_form is not None
        parked = state.lead if state.lead is not None and state.lead.role_id == role.id \
            and state.lead.asking == ELSEWHERE else None
        before = dict(parked.fields) if parked is not None else {}
        form = LeadForm(role.lead_form, self.lemmatizer, self.consent)
        lead = form.draft(text, parked)
        lead.role_id = role.id
        state.lead = lead
        if parked is None:  # the first offer says why; a repeated one is short
            text = LAWFUL_OFFER_TEXT.format(product=PRODUCT_NAMES.get(lead.product, "заявку"))
        else:
            changed = [n for n, v in lead.fields.items() if before.get(n) != v]
            noted = f"Записал: {form.listed(lead, changed).rstrip('.')}. " if changed else ""
            text = noted + AGAIN_TEXT
        return Reply(f"{NOT_KEPT_TEXT} {text}" if not_kept else text, role.id, "rules", grounded=True,
                     state=state, notes=("lawful_channel",))

    def _parked_form(self, role: Role, text: str, turn: TurnInput, state: DialogState) -> Reply | None:
        """A message in a `redirect` channel while the form waits for a lawful channel.

        Personal data typed here (already masked) or a new amount or term renews
        the offer; anything else is answered as usual.
        """
        assert state.lead is not None
        owner = self._role(state.lead.role_id or role.id)
        if owner.lead_form is None or intents.wants_to_apply(text) or intents.wants_product(text):
            return None  # a (new) application: routed and offered afresh
        not_kept = bool(turn.form_text) and " ".join(turn.form_text.split()) != text
        form = LeadForm(owner.lead_form, self.lemmatizer, self.consent)
        if not_kept or form.reads(state.lead, text, personal=False):
            return self._lawful_offer(owner, text, state, not_kept=not_kept)
        return None

    async def _continue_form(self, role: Role, text: str, form_text: str, turn: TurnInput,
                             state: DialogState) -> Reply | None:
        lead = state.lead
        assert lead is not None
        owner = self._role(lead.role_id or role.id)
        if owner.lead_form is None:
            state.lead = None
            return None
        step = LeadForm(owner.lead_form, self.lemmatizer, self.consent).step(lead, form_text)
        if step.handled:
            return self._form_reply(owner, step, state)
        if lead.consent:  # before consent the message may hold a phone: kept nowhere
            remember(state, text)
        question = _with_topic(text, lead.product)
        answer = await self._answer(owner, question, turn, state, in_form=True)
        if answer.handoff:
            return answer
        return replace(answer, followups=(step.reminder,),
                       quick_replies=step.quick_replies or answer.quick_replies,
                       request_phone=step.request_phone)

    def _form_reply(self, role: Role, step: FormStep, state: DialogState) -> Reply:
        if step.cancelled:
            state.lead = None
        if step.handoff:
            return self._handoff(role, step.text, "form", state)
        completed = state.lead if step.completed else None
        notes = ("lead_completed",) if completed is not None and role.handoff.on_lead_complete else ()
        return Reply(step.text, role.id, "rules", grounded=True, state=state,
                     quick_replies=step.quick_replies, request_phone=step.request_phone,
                     lead_completed=completed, notes=notes)

    async def _answer(self, role: Role, text: str, turn: TurnInput, state: DialogState, *,
                      in_form: bool = False) -> Reply:
        answer: Answer = await self.answerer.answer(role, text, recent(turn.history))
        if answer.handoff_requested:
            return self._handoff(role, answer.text or HANDOFF_TEXT, "llm", state,
                                 note=answer.handoff_requested)
        if answer.start_lead and role.lead_form is not None and not in_form:
            return self._start_form(role, " ".join(turn.form_text.split()) or text, state,
                                    redirect=turn.personal_data == "redirect")
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

    def _handoff(self, role: Role, text: str, reason: str, state: DialogState, *,
                 note: str | None = None, grounded: bool = True) -> Reply:
        state.failed_answers = 0
        return Reply(text, role.id, "rules", grounded=grounded, handoff=True, handoff_reason=reason,
                     state=state, notes=(note,) if note else ())


def _has_form(role: Role) -> bool:
    return role.lead_form is not None and role.can_use("lead_form")


_PRONOUN = re.compile(r"\b(?:он|она|оно|его|её|ее|него|неё|нее|нему|ней|это|этот|эта)\b", re.IGNORECASE)
_PRODUCT_WORD = re.compile(r"вклад|депозит|счёт|счет|кредит|ипотек|заём|займ", re.IGNORECASE)


def _with_topic(text: str, product: str) -> str:
    """«а он застрахован?» asked inside a deposit form is a question about the deposit."""
    if _PRONOUN.search(text) and not _PRODUCT_WORD.search(text) and product in ("deposit", "loan"):
        return f"{text} ({PRODUCT_NAMES[product]})"
    return text
