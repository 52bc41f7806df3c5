"""A loopback fake of the OpenAI-compatible Chat Completions API.

The product talks to its LLM through LangChain's real ``ChatOpenAI``; tests point
that client at :class:`FakeOpenAI` and script what "the model" answers::

    async with FakeOpenAI() as llm:
        llm.script(tool_call("find_branch", {"city": "Казань"}), text("Отделение на Баумана, 1."))
        model = ChatOpenAI(base_url=llm.base_url, api_key="sk-test", model="local-model",
                           max_retries=0)
        ...
        assert llm.requests[1]["messages"][-1]["role"] == "tool"

Replies are consumed one per request from the queue filled by :meth:`FakeOpenAI.script`;
when the queue is empty :attr:`FakeOpenAI.responder` decides; when neither is set the
fake answers HTTP 500 explaining that it was not scripted.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import re
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeAlias

from aiohttp import web

from tests.fakes._server import LoopbackServer

__all__ = [
    "TEXT_CALL_FORMS",
    "Delay",
    "Error",
    "FakeOpenAI",
    "Message",
    "Reply",
    "Responder",
    "Slow",
    "ToolCall",
    "delay",
    "error",
    "slow",
    "text",
    "text_tool_call",
    "tool_call",
    "tool_calls",
]

DEFAULT_MODEL = "local-model"

# Deltas are cut this small so that a streaming client really has to reassemble them.
_ARGUMENT_PIECE_CHARS = 8
_WORD_PIECES = re.compile(r"\s*\S+\s*|\s+")

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


# --------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class ToolCall:
    """One function call requested by the model.

    ``args`` is normally a mapping (sent JSON-encoded); a ``str`` is sent verbatim,
    which lets a test feed the client malformed JSON arguments.
    """

    name: str
    args: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    @property
    def arguments(self) -> str:
        """The ``function.arguments`` string as the API transmits it."""
        if isinstance(self.args, str):
            return self.args
        return json.dumps(dict(self.args), ensure_ascii=False)


@dataclass(frozen=True)
class Message:
    """An assistant message: text, tool calls, or both."""

    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None

    @property
    def resolved_finish_reason(self) -> str:
        """``tool_calls`` when tools are called, else ``stop`` unless overridden."""
        if self.finish_reason is not None:
            return self.finish_reason
        return "tool_calls" if self.tool_calls else "stop"


@dataclass(frozen=True)
class Error:
    """An HTTP error in OpenAI's ``{"error": {...}}`` shape."""

    status: int = 500
    message: str = "The server had an error while processing your request."
    type: str | None = None
    code: str | None = None


@dataclass(frozen=True)
class Delay:
    """Wait ``seconds`` before answering with ``then`` (to make a client time out)."""

    seconds: float
    then: Reply


@dataclass(frozen=True)
class Slow:
    """Stream ``then`` with ``piece_delay_s`` between pieces (a model that writes slowly)."""

    piece_delay_s: float
    then: Message


Reply: TypeAlias = Message | Error | Delay | Slow
Responder: TypeAlias = Callable[[dict[str, Any]], "Reply | str | Awaitable[Reply | str]"]


def text(content: str, *, finish_reason: str = "stop") -> Message:
    """A plain text answer (``finish_reason="length"`` imitates a truncated one)."""
    return Message(content=content, finish_reason=finish_reason)


def tool_call(
    name: str,
    args: Mapping[str, Any] | str | None = None,
    id: str | None = None,
) -> Message:
    """A message that calls one tool; ``id`` is generated (``call_...``) when omitted."""
    return Message(tool_calls=(ToolCall(name, {} if args is None else args, id),))


ToolCallSpec: TypeAlias = (
    "Message | ToolCall | tuple[str, Mapping[str, Any] | str] | tuple[str, Mapping[str, Any] | str, str]"
)


def tool_calls(calls: Iterable[ToolCallSpec], *, content: str | None = None) -> Message:
    """Several tool calls in one message (parallel tool calling).

    Each item is a :func:`tool_call` result, a :class:`ToolCall`, or a
    ``(name, args)`` / ``(name, args, id)`` tuple.
    """
    collected: list[ToolCall] = []
    for call in calls:
        if isinstance(call, Message):
            collected.extend(call.tool_calls)
        elif isinstance(call, ToolCall):
            collected.append(call)
        else:
            collected.append(ToolCall(*call))
    if not collected:
        raise ValueError("tool_calls() needs at least one call")
    return Message(content=content, tool_calls=tuple(collected))


#: How open models write a tool call as plain text (``finish_reason: stop``, no ``tool_calls``).
TEXT_CALL_FORMS: tuple[str, ...] = (
    "json_block",  # ```json {"name": ..., "arguments": {...}} ```
    "plain_block",  # ``` {"name": ..., "parameters": {...}} ``` without a language
    "bare_json",  # the whole content is the JSON object
    "json_list",  # [{"name": ..., "arguments": ...}]
    "tool_call_tag",  # <tool_call>{...}</tool_call> (Qwen, Hermes)
    "tools_tag",  # <tools>{...}</tools>
    "function_tag",  # <function=name>{...}</function> (Llama 3.1)
    "python_tag",  # <|python_tag|>{"name": ..., "parameters": ...}
    "openai_json",  # {"type": "function", "function": {"name": ..., "arguments": "<json string>"}}
    "pythonic",  # [name(key=value, ...)]
    "prose_json",  # a sentence, then the JSON object inline
)


def text_tool_call(name: str, args: Mapping[str, Any] | None = None, form: str = "json_block") -> Message:
    """A tool call written as text content in one of :data:`TEXT_CALL_FORMS`."""
    args = dict(args or {})
    call = {"name": name, "arguments": args}
    as_json = json.dumps(call, ensure_ascii=False)
    bodies = {
        "json_block": f"```json\n{as_json}\n```",
        "plain_block": "```\n" + json.dumps({"name": name, "parameters": args}, ensure_ascii=False) + "\n```",
        "bare_json": as_json,
        "json_list": json.dumps([call], ensure_ascii=False),
        "tool_call_tag": f"<tool_call>\n{as_json}\n</tool_call>",
        "tools_tag": f"<tools>\n{as_json}\n</tools>",
        "function_tag": f"<function={name}>{json.dumps(args, ensure_ascii=False)}</function>",
        "python_tag": "<|python_tag|>" + json.dumps({"name": name, "parameters": args}, ensure_ascii=False),
        "openai_json": json.dumps({"type": "function", "function": {
            "name": name, "arguments": json.dumps(args, ensure_ascii=False)}}, ensure_ascii=False),
        "pythonic": f"[{name}(" + ", ".join(f"{k}={v!r}" for k, v in args.items()) + ")]",
        "prose_json": f"Сейчас уточню. {as_json}",
    }
    if form not in bodies:
        raise ValueError(f"unknown text call form {form!r}; known: {', '.join(TEXT_CALL_FORMS)}")
    return text(bodies[form])


def slow(piece_delay_s: float, then: Message | str) -> Slow:
    """Stream ``then`` slowly: the first piece at once, each next after ``piece_delay_s``."""
    return Slow(piece_delay_s, text(then) if isinstance(then, str) else then)


def error(status: int = 500, message: str | None = None, *, code: str | None = None) -> Error:
    """An HTTP error reply; the openai client maps the status to its exception class."""
    if message is None:
        return Error(status=status, code=code)
    return Error(status=status, message=message, code=code)


def delay(seconds: float, then: Reply | None = None) -> Delay:
    """Answer ``then`` (an empty text by default) only after ``seconds``."""
    return Delay(seconds=seconds, then=text("") if then is None else then)


# --------------------------------------------------------------------------- server


class FakeOpenAI(LoopbackServer):
    """Loopback server for ``POST /v1/chat/completions`` and ``GET /v1/models``.

    :param models: model ids listed by ``/v1/models``; requests may name any model.
    :param api_key: when set, requests with another bearer token get a 401.
    :param strict: reject conversations the real API rejects (a ``tool`` message that
        answers no pending call, tool calls left without results) with a 400.
    """

    def __init__(
        self,
        *,
        models: Iterable[str] = (DEFAULT_MODEL,),
        api_key: str | None = None,
        strict: bool = True,
    ) -> None:
        super().__init__()
        self.models = list(models)
        self.api_key = api_key
        self.strict = strict
        self.responder: Responder | None = None
        self.requests: list[dict[str, Any]] = []
        self.unscripted: list[dict[str, Any]] = []
        self.responder_errors: list[BaseException] = []
        #: Requests whose handler was cancelled because the client went away mid-answer.
        self.cancelled = 0
        self._queue: deque[Reply] = deque()
        self._ids = itertools.count(1)

    # ----------------------------------------------------------------- test API

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` — pass as ``ChatOpenAI(base_url=...)``."""
        return f"{self.root_url}/v1"

    def script(self, *replies: Reply | str) -> None:
        """Queue replies, consumed one per chat-completion request (a ``str`` is text)."""
        self._queue.extend(_as_reply(reply) for reply in replies)

    @property
    def pending(self) -> int:
        """How many scripted replies have not been consumed yet."""
        return len(self._queue)

    @property
    def last_request(self) -> dict[str, Any]:
        """The most recent request body."""
        if not self.requests:
            raise AssertionError("FakeOpenAI received no request")
        return self.requests[-1]

    async def wait_requests(self, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until at least ``n`` requests arrived; raise ``AssertionError`` otherwise."""
        if not await self._wait_until(lambda: len(self.requests) >= n, timeout):
            raise AssertionError(
                f"expected {n} chat-completion request(s) within {timeout}s, got {len(self.requests)}"
            )
        return self.requests

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await super().__aexit__(exc_type, exc, tb)
        # A broken responder only shows up as a 500 to the client; surface it to
        # the test unless the test is already failing for another reason.
        if exc_type is None and self.responder_errors:
            raise AssertionError("FakeOpenAI.responder raised") from self.responder_errors[0]

    # ----------------------------------------------------------------- routes

    def _setup_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._chat_completions)
        app.router.add_get("/v1/models", self._list_models)
        app.router.add_get("/v1/models/{model}", self._get_model)

    async def _list_models(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._check_auth(request)) is not None:
            return denied
        return web.json_response({"object": "list", "data": [_model(m) for m in self.models]})

    async def _get_model(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._check_auth(request)) is not None:
            return denied
        model = request.match_info["model"]
        if model not in self.models:
            return _error_response(Error(404, f"The model '{model}' does not exist", code="model_not_found"))
        return web.json_response(_model(model))

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._check_auth(request)) is not None:
            return denied
        try:
            body = await request.json()
        except json.JSONDecodeError as exc:
            return _error_response(Error(400, f"We could not parse the JSON body: {exc}"))
        if not isinstance(body, dict):
            return _error_response(Error(400, "The request body must be a JSON object."))
        self.requests.append(body)
        self._notify()
        if (problem := self._validate(body)) is not None:
            return _error_response(Error(400, problem))

        try:
            return await self._answer(request, body)
        except asyncio.CancelledError:
            self.cancelled += 1
            self._notify()
            raise

    async def _answer(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        reply = await self._next_reply(body)
        while isinstance(reply, Delay):
            await asyncio.sleep(reply.seconds)
            reply = reply.then
        if isinstance(reply, Error):
            return _error_response(reply)
        pause = 0.0
        if isinstance(reply, Slow):
            pause, reply = reply.piece_delay_s, reply.then
        completion_id = f"chatcmpl-fake{next(self._ids):06d}"
        if body.get("stream"):
            return await self._stream(request, body, reply, completion_id, pause)
        await asyncio.sleep(pause * len(_WORD_PIECES.findall(reply.content or "")))
        return web.json_response(_completion(body, reply, completion_id))

    # ----------------------------------------------------------------- internals

    def _check_auth(self, request: web.Request) -> web.Response | None:
        if self.api_key is None:
            return None
        if request.headers.get("Authorization") == f"Bearer {self.api_key}":
            return None
        return _error_response(
            Error(401, "Incorrect API key provided.", type="invalid_request_error", code="invalid_api_key")
        )

    def _validate(self, body: dict[str, Any]) -> str | None:
        if not body.get("model"):
            return "you must provide a model parameter"
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "'messages' is a required property and must be a non-empty array"
        return _check_tool_sequence(messages) if self.strict else None

    async def _next_reply(self, body: dict[str, Any]) -> Reply:
        if self._queue:
            return self._queue.popleft()
        if self.responder is None:
            self.unscripted.append(body)
            return Error(
                500,
                f"FakeOpenAI was not scripted: request #{len(self.requests)} found no queued "
                f"reply and no responder (last message: {_last_message_preview(body)}). "
                "Queue replies with llm.script(...) or set llm.responder.",
                type="fake_not_scripted",
            )
        try:
            result = self.responder(body)
            if inspect.isawaitable(result):
                result = await result
            return _as_reply(result)
        except Exception as exc:  # reported to the test on exit, see __aexit__
            self.responder_errors.append(exc)
            return Error(500, f"FakeOpenAI.responder raised {exc!r}", type="fake_responder_error")

    async def _stream(
        self, request: web.Request, body: dict[str, Any], reply: Message, completion_id: str,
        pause: float = 0.0,
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        for n, chunk in enumerate(_stream_chunks(body, reply, completion_id, include_usage)):
            if pause and n > 1:
                await asyncio.sleep(pause)
            await response.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


# --------------------------------------------------------------------------- payloads


def _as_reply(reply: Reply | str) -> Reply:
    if isinstance(reply, str):
        return text(reply)
    if isinstance(reply, Message | Error | Delay | Slow):
        return reply
    raise TypeError(f"not a FakeOpenAI reply: {reply!r} (use text(), tool_call(), error()...)")


def _model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 1_700_000_000, "owned_by": "sovetnik"}


def _error_response(err: Error) -> web.Response:
    payload = {
        "error": {
            "message": err.message,
            "type": err.type or _ERROR_TYPES.get(err.status, "server_error"),
            "param": None,
            "code": err.code,
        }
    }
    return web.json_response(payload, status=err.status)


def _check_tool_sequence(messages: list[dict[str, Any]]) -> str | None:
    """Apply the API's rule: tool calls and their results must pair up, in order."""
    awaiting: list[str] = []
    for message in messages:
        role = message.get("role")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in awaiting:
                return (
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'."
                )
            awaiting.remove(call_id)
            continue
        if awaiting:
            return _unanswered(awaiting)
        if role == "assistant":
            awaiting = [call.get("id") for call in message.get("tool_calls") or []]
    return _unanswered(awaiting) if awaiting else None


def _unanswered(call_ids: list[str]) -> str:
    return (
        "An assistant message with 'tool_calls' must be followed by tool messages responding "
        "to each 'tool_call_id'. The following tool_call_ids did not have response messages: "
        + ", ".join(call_ids)
    )


def _last_message_preview(body: dict[str, Any]) -> str:
    messages = body.get("messages") or [{}]
    last = messages[-1]
    return f"{last.get('role')}: {_content_text(last.get('content'))[:80]!r}"


def _content_text(content: Any) -> str:
    """Text of a message ``content``: a string or a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _count_tokens(value: str) -> int:
    # A word count stands in for a tokenizer: deterministic and good enough for
    # code that only sums or reports usage.
    return len(value.split())


def _usage(body: dict[str, Any], reply: Message) -> dict[str, Any]:
    prompt = sum(_count_tokens(_content_text(m.get("content"))) + 1 for m in body.get("messages", []))
    completion = _count_tokens(reply.content or "") + sum(
        1 + _count_tokens(call.arguments) for call in reply.tool_calls
    )
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _call_ids(reply: Message, completion_id: str) -> list[str]:
    # Deterministic per completion so a test can predict them if it needs to.
    return [
        call.id or f"call_{uuid.uuid5(uuid.NAMESPACE_OID, f'{completion_id}/{i}').hex[:24]}"
        for i, call in enumerate(reply.tool_calls)
    ]


def _completion(body: dict[str, Any], reply: Message, completion_id: str) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": reply.content,
        "refusal": None,
        "annotations": [],
    }
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": call_id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            for call, call_id in zip(reply.tool_calls, _call_ids(reply, completion_id), strict=True)
        ]
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": reply.resolved_finish_reason}
        ],
        "usage": _usage(body, reply),
        "service_tier": "default",
        "system_fingerprint": "fp_sovetnik_fake",
    }


def _stream_chunks(
    body: dict[str, Any], reply: Message, completion_id: str, include_usage: bool
) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` sequence for ``reply``, as the API streams it."""
    head = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body["model"],
        "service_tier": "default",
        "system_fingerprint": "fp_sovetnik_fake",
    }
    extra = {"usage": None} if include_usage else {}

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {**head, "choices": [choice], **extra}

    first_content = "" if reply.content is not None else None
    chunks = [chunk({"role": "assistant", "content": first_content, "refusal": None})]
    chunks += [chunk({"content": piece}) for piece in _WORD_PIECES.findall(reply.content or "")]
    chunks += [chunk({"tool_calls": [d]}) for d in _tool_call_deltas(reply, completion_id)]
    chunks.append(chunk({}, reply.resolved_finish_reason))
    if include_usage:
        chunks.append({**head, "choices": [], "usage": _usage(body, reply)})
    return chunks


def _tool_call_deltas(reply: Message, completion_id: str) -> list[dict[str, Any]]:
    """Per call: a delta with id and name, then the arguments in small pieces."""
    deltas: list[dict[str, Any]] = []
    for index, (call, call_id) in enumerate(
        zip(reply.tool_calls, _call_ids(reply, completion_id), strict=True)
    ):
        deltas.append(
            {
                "index": index,
                "id": call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
        )
        arguments = call.arguments
        for start in range(0, len(arguments), _ARGUMENT_PIECE_CHARS):
            piece = arguments[start : start + _ARGUMENT_PIECE_CHARS]
            deltas.append({"index": index, "function": {"arguments": piece}})
    return deltas
