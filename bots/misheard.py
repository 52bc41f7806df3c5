"""When a voice note may have been misheard, say what was heard instead of «нет ответа».

A customer who gets «нет точного ответа» to a voice note cannot tell a
missing answer from a misheard question. So a voice note is answered with
«Я расслышал: «…». Верно? Можно написать текстом» when

- the speech model itself was unsure (`VoiceTranscript.unsure`: a low
  average log-probability or a high no-speech probability, see
  `bots.voice`) — then the agent is not asked at all; or
- the agent found nothing to answer it with (no sources, not grounded, no
  handoff): a misheard word is the likeliest reason.

The transcript goes through the same parsing as typed text either way: it is
the message's text, so numbers, amounts and phones in it are read as typed.
"""

from __future__ import annotations

from dataclasses import replace

from agents.turn import Reply
from bots.messages import InboundMessage, VoiceTranscript

HEARD_TEXT = "Я расслышал: «{text}». Верно? Можно написать текстом — так я пойму точнее."
# Inside an open application a «Верно?» would be answered «да», and the form would take
# that «да» as its own answer (consent, the summary): ask for the answer in text instead.
HEARD_IN_FORM_TEXT = ("Я расслышал: «{text}», но не уверен, что правильно. Напишите, пожалуйста, "
                      "ответ текстом — так в заявке ничего не перепутается.")
HEARD_BUTTONS = ("Позвать менеджера",)
HEARD_NOTE = "voice_misheard"
MAX_QUOTED_CHARS = 300


def transcript_of(message: InboundMessage) -> VoiceTranscript | None:
    """The transcript of the message's voice note, when speech recognition produced text."""
    for attachment in message.attachments:
        if attachment.transcript is not None and attachment.transcript.text:
            return attachment.transcript
    return None


def found_nothing(reply: Reply) -> bool:
    """Whether the agent's reply is an honest «no answer» (nothing retrieved to ground it)."""
    return (reply.mode != "rules" and not reply.grounded and not reply.sources
            and not reply.handoff and reply.lead_completed is None)


def heard_text(heard: str, *, in_form: bool = False) -> str:
    """«Я расслышал: «…». Верно? …» for the words as heard (cut when very long)."""
    text = " ".join(heard.split())
    if len(text) > MAX_QUOTED_CHARS:
        text = text[:MAX_QUOTED_CHARS].rsplit(" ", 1)[0] + "…"
    return (HEARD_IN_FORM_TEXT if in_form else HEARD_TEXT).format(text=text.rstrip(".!?"))


def heard_reply(reply: Reply, heard: str) -> Reply:
    """`reply` with its text replaced by what was heard (state and decisions kept)."""
    lead = reply.state.lead
    in_form = lead is not None and not lead.completed
    return replace(reply, text=heard_text(heard, in_form=in_form), quick_replies=HEARD_BUTTONS,
                   followups=(), notes=(*reply.notes, HEARD_NOTE))
