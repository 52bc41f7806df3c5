"""What an agent turn takes and gives: channel-neutral values, JSON-friendly."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

AnswerMode = Literal["offline", "llm", "rules"]


@dataclass(frozen=True)
class HistoryItem:
    """One earlier message of the dialog, as the agent sees it."""

    author: Literal["customer", "agent", "manager", "system"]
    text: str


@dataclass
class LeadState:
    """The lead form of one dialog: what is collected, what is being asked."""

    product: str
    role_id: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    asking: str | None = None
    consent: bool = False
    consent_version: str | None = None
    completed: bool = False
    failures: int = 0  # failed readings of the current question in a row
    offered_early: list[str] = field(default_factory=list)  # personal fields seen before consent


@dataclass
class DialogState:
    """Per-dialog memory the engine stores between turns."""

    failed_answers: int = 0
    summary: str = ""
    lead: LeadState | None = None
    handed_back_at_turn: int | None = None
    turns: int = 0
    manager_thread: int | None = None  # the managers' forum topic of this dialog, once created
    #: The one-time code of the latest link that carries this dialog over to the web chat
    #: (a `redirect` channel's offer); cleared when the link is used.
    handover: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain dict for the dialog's JSON column."""
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> DialogState:
        """Read back what `to_json` wrote; unknown keys are ignored."""
        raw = dict(raw or {})
        lead = raw.pop("lead", None)
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        state = cls(**known)
        if isinstance(lead, dict):
            state.lead = LeadState(**{k: v for k, v in lead.items()
                                      if k in LeadState.__dataclass_fields__})
        return state


@dataclass(frozen=True)
class TurnInput:
    """A customer's message with the dialog's context.

    `text` is the message as the agent may use it: before consent, phones and
    names are masked in it. `form_text`, when set, is the same message before
    that masking. Only the lead form reads it, and it takes personal values from
    it only when this very message gives the consent («согласна. Мария,
    8916...»); otherwise it only notes that such data was offered too early.
    It is never stored and never sent to a model.

    `personal_data` is the channel's policy: in a `redirect` channel the lead
    form asks for no name or phone and offers a lawful channel instead.
    """

    text: str
    role_id: str
    history: tuple[HistoryItem, ...] = ()
    state: DialogState = field(default_factory=DialogState)
    channel: str = "cli"
    form_text: str = ""
    personal_data: Literal["collect", "redirect"] = "collect"


@dataclass(frozen=True)
class Source:
    """A knowledge passage an answer stands on."""

    source: str
    heading: str
    text: str = ""

    def as_dict(self) -> dict[str, str]:
        """Plain form for JSON output and message metadata."""
        return {"source": self.source, "heading": self.heading}


@dataclass(frozen=True)
class Reply:
    """The agent's answer and what it decided."""

    text: str
    role: str
    mode: AnswerMode
    grounded: bool
    sources: tuple[Source, ...] = ()
    handoff: bool = False
    handoff_reason: str | None = None
    state: DialogState = field(default_factory=DialogState)
    quick_replies: tuple[str, ...] = ()
    request_phone: bool = False
    lead_completed: LeadState | None = None
    notes: tuple[str, ...] = ()
    followups: tuple[str, ...] = ()  # further messages sent after `text`, each on its own
    sentiment: str | None = None  # the customer's message: negative, neutral or positive

    def meta(self) -> dict[str, Any]:
        """What is stored with the reply message and shown to managers."""
        return {
            "role": self.role, "mode": self.mode, "grounded": self.grounded,
            "handoff": self.handoff, "handoff_reason": self.handoff_reason,
            "sources": [s.as_dict() for s in self.sources], "notes": list(self.notes),
        }

    def messages(self) -> tuple[str, ...]:
        """Every message of the reply, in sending order."""
        return (self.text, *[f for f in self.followups if f])
