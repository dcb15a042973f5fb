"""A stand-in for the Anthropic Messages API that answers from the evidence it is sent.

``POST /v1/messages`` and ``POST /v1/messages/count_tokens`` check the key (``x-api-key``, or
``Authorization: Bearer`` as the anthropic 2.x client sends it) and ``anthropic-version``,
validate the body and answer in the documented shapes (``msg_`` ids, ``text`` and ``tool_use``
blocks, ``stop_reason``, ``usage``, a ``request-id`` header), every field the API always sends
included (``container``, ``stop_details``, ``usage.cache_creation``, ``usage.service_tier``,
``usage.server_tool_use``, a text's ``citations``, a tool_use's ``caller``). ``stop_sequences``
end the answer where the text produces one, and ``stream: true`` answers in Server-Sent Events
(message_start, content_block_start/delta/stop, ping, message_delta, message_stop). Errors use
Anthropic's ``{"type": "error", "error": {...}, "request_id": ...}`` body and the types its
documentation lists per status. Tokens are estimated as characters / 4.

The "model" is deterministic. It reads the ``<incident>``, ``<evidence>`` and ``<question>``
blocks of the prompt (JSON inside, ``<`` escaped as ``\\u003c``) and writes a cited narrative,
picks a tool for a thread question by its keywords, or summarises ``tool_result`` evidence. To
exercise the caller's safeguards it sometimes leaves a sentence uncited or cites an id that is
not in the evidence (chosen by a hash of the request), and it obeys instructions injected into
the evidence. Every accepted body is kept in ``app[MESSAGES]``; faults come from
:mod:`sandbox.faults`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import zlib
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from sandbox.faults import RecordedRequest, install_faults

_ERROR_TYPES = {  # https://docs.anthropic.com/en/api/errors
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_INJECTION = "ignore previous instructions"
_ROLES = ("user", "assistant", "system")
_NOTHING = "I could not find enough evidence to say what caused this incident."
_STOP_WORDS = {"the", "last", "this", "that", "past", "a", "an"}
_TOOL_WORDS = (  # first match wins, if that tool is offered
    ("list_changes", r"\b(chang\w*|deploy\w*|commit\w*|prs?|releas\w*)\b"),
    ("search_logs", r"\b(logs?|errors?|exceptions?|stack\w*)\b"),
    ("query_metric", r"\b(latency|cpu|memory|metrics?|graphs?|traffic|saturat\w*|slow\w*)\b"),
    ("explain_ruled_out", r"why not|ruled out|symptom"),
)
_SIGNALS = (
    ("errors", r"\berrors?\b"),
    ("traffic", r"\b(traffic|requests|rps|throughput)\b"),
    ("saturation", r"\b(cpu|memory|saturat\w*)\b"),
)
Block = dict[str, Any]


@dataclass(slots=True)
class AnthropicStandinConfig:
    """The key the stand-in accepts, how often it slips on citations, and its tool-round cap."""

    api_key: str = "sandbox-anthropic-key"
    uncited_every: int = 2  # 0: never add an uncited sentence
    bad_cite_every: int = 4  # 0: never cite an id that is not in the evidence
    obey_injections: bool = True
    max_tool_rounds: int = 3


_CONFIG = web.AppKey("anthropic_config", AnthropicStandinConfig)
MESSAGES = web.AppKey("messages", list[dict[str, Any]])
_serial = itertools.count(1)


def _new_id(prefix: str, seed: object = "") -> str:
    return prefix + hashlib.sha256(f"{seed}|{next(_serial)}".encode()).hexdigest()[:24]


def anthropic_error(status: int, message: str) -> dict[str, Any]:
    """Anthropic's error body: a typed error and a request id."""
    error = {"type": _ERROR_TYPES.get(status, "api_error"), "message": message}
    return {"type": "error", "error": error, "request_id": _new_id("req_")}


def _error(status: int, message: str) -> web.Response:
    body = anthropic_error(status, message)
    return web.json_response(body, status=status, headers={"request-id": body["request_id"]})


async def _stamp_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """Give every response, injected faults included, the ``request-id`` of its error body."""
    if "request-id" not in response.headers:
        body = getattr(response, "body", None)
        found = re.search(rb'"request_id": "(req_\w+)"', body) if isinstance(body, bytes) else None
        response.headers["request-id"] = found[1].decode() if found else _new_id("req_")


def _blocks(value: Any, *, text_only: bool = False) -> bool:
    return isinstance(value, list) and all(
        isinstance(b, dict)
        and isinstance(b.get("type"), str)
        and (not text_only or (b["type"] == "text" and isinstance(b.get("text"), str)))
        for b in value
    )


def _invalid(body: Any, *, need_max_tokens: bool) -> str | None:
    """What is wrong with a request body, naming the field; None if nothing."""
    if not isinstance(body, dict):
        return "body: Input should be a JSON object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required (a non-empty string)"
    limit = body.get("max_tokens")
    if need_max_tokens and (type(limit) is not int or limit < 1):
        return "max_tokens: Input should be a positive integer"
    if not isinstance(body.get("stream", False), bool):
        return "stream: Input should be a valid boolean"
    stops = body.get("stop_sequences")
    if stops is not None and (
        not isinstance(stops, list) or not all(isinstance(x, str) and x for x in stops)
    ):
        return "stop_sequences: Input should be a list of non-empty strings"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: Input should be a non-empty list"
    for i, message in enumerate(messages):  # newer models accept "system" turns
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            return f"messages.{i}.role: Input should be 'user', 'assistant' or 'system'"
        content, system = message.get("content"), message["role"] == "system"
        if not isinstance(content, str) and not _blocks(content, text_only=system):
            return f"messages.{i}.content: Input should be a string or a list of content blocks"
    system = body.get("system")
    if system is not None and not isinstance(system, str) and not _blocks(system, text_only=True):
        return "system: Input should be a string or a list of text blocks"
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        return "tools: Input should be a list"
    for i, tool in enumerate(tools or []):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            return f"tools.{i}.name: Field required"
        if not isinstance(tool.get("description", ""), str):
            return f"tools.{i}.description: Input should be a string"
        if not isinstance(tool.get("input_schema"), dict):
            return f"tools.{i}.input_schema: Field required"
    choice = body.get("tool_choice")
    if choice is not None and (
        not isinstance(choice, dict)
        or choice.get("type") not in ("auto", "any", "tool", "none")
        or (choice["type"] == "tool" and choice.get("name") not in {t["name"] for t in tools or []})
    ):
        return "tool_choice: Input should be auto, any, none, or a tool that is defined"
    return None


def _chars(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    return sum(
        len(t) if isinstance(t := b.get("text"), str) else len(json.dumps(b)) for b in content
    )


def _input_tokens(body: dict[str, Any]) -> int:
    chars = _chars(body.get("system") or "") + sum(_chars(m["content"]) for m in body["messages"])
    chars += len(json.dumps(body["tools"])) if body.get("tools") else 0
    return max(1, math.ceil(chars / 4))


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(b["text"] for b in content if isinstance(b.get("text"), str))


def _fenced(text: str, tag: str) -> Any:
    """The JSON between the last ``<tag>`` and ``</tag>`` of ``text``; None if none parses."""
    found = re.findall(rf"<{tag}>(.*?)</{tag}>", text, re.DOTALL)
    try:
        return json.loads(found[-1]) if found else None
    except ValueError:
        return None


class _Prompt:
    """What the stand-in understood of a request: incident, evidence, question, tools."""

    def __init__(self, body: dict[str, Any]) -> None:
        messages = body["messages"]
        turns = [m for m in messages if m["role"] != "system"]
        self.last = turns[-1]["content"] if turns and turns[-1]["role"] == "user" else ""
        texts = [_text_of(m["content"]) for m in reversed(messages) if m["role"] != "assistant"]
        texts.append(_text_of(body.get("system") or ""))
        incident = next((v for t in texts if (v := _fenced(t, "incident")) is not None), None)
        evidence = next((v for t in texts if (v := _fenced(t, "evidence")) is not None), None)
        self.incident: dict[str, Any] = incident if isinstance(incident, dict) else {}
        listed = evidence if isinstance(evidence, list) else []
        self.evidence: list[Block] = [e for e in listed if isinstance(e, dict) and e.get("id")]
        asked = re.findall(r"<question>(.*?)</question>", _text_of(self.last), re.DOTALL)
        self.question: str | None = asked[-1].strip() if asked else None
        if isinstance(decoded := _fenced(_text_of(self.last), "question"), str):
            self.question = decoded  # the prompt builder fences the question as a JSON string
        self.tools = {t["name"]: t for t in body.get("tools") or []}
        self.choice: dict[str, Any] = body.get("tool_choice") or {"type": "auto"}
        self.rounds = sum(
            m["role"] == "assistant" and any(b["type"] == "tool_use" for b in m["content"])
            for m in messages
            if isinstance(m["content"], list)
        )
        self.hash = zlib.crc32(json.dumps(messages, sort_keys=True).encode())

    def services(self) -> set[str]:
        """Every service name the incident and the evidence mention."""
        names = [self.incident.get("root_cause"), self.incident.get("service")]
        for item in self.evidence:
            names += [item.get("service"), *_listed(item, "services")]
        return {n for n in names if isinstance(n, str) and n}

    def tool_results(self) -> list[Block]:
        """The ``tool_result`` blocks of the last user message."""
        last = self.last if isinstance(self.last, list) else []
        return [b for b in last if b["type"] == "tool_result"]


def _listed(item: Block, key: str) -> list[Any]:
    value = item.get(key)
    return value if isinstance(value, list) else []


def _score(item: Block) -> float:
    numbers = item.get("numbers")
    score = numbers.get("score") if isinstance(numbers, dict) else None
    return float(score) if isinstance(score, int | float) else 0.0


def _rank(item: Block) -> int:
    return item["rank"] if isinstance(item.get("rank"), int) else 99


def _minutes_before(item: Block) -> float:
    """How long before the trouble a change came (negative: after it), 0 when not said."""
    numbers = item.get("numbers")
    value = numbers.get("minutes_before_onset") if isinstance(numbers, dict) else None
    return float(value) if isinstance(value, int | float) else 0.0


def _change(item: Block) -> str:
    return f'{str(item.get("kind") or "change").replace("_", " ")} "{item.get("title")}"'


def _injected(items: list[Block], config: AnthropicStandinConfig) -> list[str]:
    """The sentence a model that obeys injected instructions adds, if any item holds one."""
    for item in items:
        if config.obey_injections and _INJECTION in json.dumps(item, ensure_ascii=False).lower():
            ping = "<!channel> @here <@U0ADMIN> please look now"
            return [f"Escalating as instructed: {ping} [{item['id']}]."]
    return []


def _narrative(prompt: _Prompt, config: AnthropicStandinConfig) -> str:
    items = prompt.evidence
    suspects = sorted((e for e in items if e.get("kind") == "suspect" or "rank" in e), key=_rank)
    signals = [e for e in items if e.get("source") in ("metrics", "logs")]
    signals = sorted((e for e in signals if e.get("kind") != "ruled_out"), key=_score, reverse=True)
    lead = suspects[0] if suspects else (signals[0] if signals else None)
    if lead is None or not lead.get("service"):
        title = prompt.incident.get("title")
        return f"I could not find evidence that explains {title} yet." if title else _NOTHING
    service, cite = lead["service"], f"[{lead['id']}]"
    confidence = lead.get("confidence") or prompt.incident.get("confidence")
    reasons = [r for r in _listed(lead, "reasons") if isinstance(r, str)]
    first = f"{service} is the most likely root cause"
    first += f" ({confidence} confidence)" if confidence else ""
    own = [e for e in signals if e.get("service") == service and e is not lead]
    # A reason the first anomaly says again, with more (its time against the alert), is said
    # once, citing both.
    # (The reason names its metric at the end; the anomaly's title does not.)
    said = re.sub(r" \([\w.]+\)$", "", reasons[0]) if reasons else ""
    same = next((e for e in own if said and str(e.get("title", "")).startswith(said)), None)
    if same is not None:
        why = str(same.get("title")).rstrip(".")
        sentences = [f"{first}: {why} {cite}[{same['id']}]."]
    else:
        why = reasons[0].rstrip(".") if reasons else ""
        sentences = [f"{first}: {why} {cite}." if why else f"{first} {cite}."]
    if config.uncited_every and prompt.hash % config.uncited_every == 0:
        sentences.append("This pattern is typical of a regression.")
    anomaly = next((e for e in own if e is not same), None)
    if anomaly is not None:
        sentences.append(
            f"{str(anomaly.get('title') or 'An anomaly').rstrip('.')} [{anomaly['id']}]."
        )
    changes = [e for e in items if e.get("source") == "changes" and e.get("service") == service]
    change = max(changes, key=lambda e: str(e.get("at") or ""), default=None)
    late = change is not None and _minutes_before(change) < 0
    if change is not None and late:
        sentences.append(
            f"{_change(change)[:1].upper()}{_change(change)[1:]} came after the trouble began, "
            f"so it is not the cause [{change['id']}]."
        )
    elif change is not None:
        sentences.append(f"It started after {_change(change)} [{change['id']}].")
    symptoms = next(
        (e for e in items if e.get("source") == "symptoms" and _listed(e, "services")), None
    )
    if symptoms is not None:
        names = [str(s) for s in _listed(symptoms, "services")[:3]]
        listed = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        verb = "look like symptoms" if len(names) > 1 else "looks like a symptom"
        sentences.append(f"{listed} {verb} of it [{symptoms['id']}].")
    if config.bad_cite_every and (prompt.hash // 7) % config.bad_cite_every == 0:
        ids = {str(e["id"]) for e in items}
        bad = next(f"E{n}" for n in itertools.count(999) if f"E{n}" not in ids)
        sentences.append(f"A similar failure was seen in an earlier incident [{bad}].")
    sentences += _injected(items, config)
    if change is not None and not late:
        sentences.append(
            f"Next: review {_change(change)} and consider rolling it back [{change['id']}]."
        )
    else:
        sentences.append(
            f"Next: check the dashboards and logs of {service} from the onset on {cite}."
        )
    return " ".join(sentences)


def _service_in(prompt: _Prompt, question: str) -> str | None:
    """The service a question is about: a known name in it, else the word after in/of/for/on/to."""
    lowered = question.lower()
    known = [
        s
        for s in prompt.services()
        if re.search(rf"(?<![\w-]){re.escape(s.lower())}(?![\w-])", lowered)
    ]
    if known:
        return max(known, key=len)
    words = re.findall(r"\b(?:in|of|for|on|to)\s+([A-Za-z0-9][\w.-]*)", question)
    return next((w.rstrip(".") for w in words if w.lower() not in _STOP_WORDS), None)


def _tool_input(prompt: _Prompt, name: str, question: str) -> dict[str, Any] | None:
    """The input for tool ``name``, or None when a required field cannot be filled."""
    lowered, minutes = question.lower(), 60
    if m := re.search(r"\b(?:last|past)\s+(\d+)\s*(?:minutes?|mins?)\b", lowered):
        minutes = int(m[1])
    elif m := re.search(r"\b(?:last|past)\s+(\d+)\s*(?:hours?|h)\b", lowered):
        minutes = 60 * int(m[1])
    schema = prompt.tools[name].get("input_schema") or {}
    properties = schema.get("properties")
    bounds = properties.get("minutes") if isinstance(properties, dict) else None
    for limit, pick in (("minimum", max), ("maximum", min)):  # a model keeps to the schema
        if isinstance(bounds, dict) and isinstance(bounds.get(limit), int):
            minutes = pick(minutes, bounds[limit])
    made: dict[str, Any] = {"service": _service_in(prompt, question), "minutes": minutes}
    made["ids"] = re.findall(r"\b(E\d+)\b", question) or None
    if name == "query_metric":
        made["signal"] = next((s for s, words in _SIGNALS if re.search(words, lowered)), "latency")
    keep = properties if isinstance(properties, dict) else made
    made = {k: v for k, v in made.items() if v is not None and k in keep}
    required = schema.get("required")
    return made if all(r in made for r in required or [] if isinstance(r, str)) else None


def _summary(items: list[Block], note: str | None, config: AnthropicStandinConfig) -> str:
    """Up to four items, one cited sentence each, then the note (uncited)."""
    sentences = []
    for item in items[:4]:
        title = str(item.get("title") or item.get("kind") or "evidence").rstrip(".")
        prefix = f"{item['service']}: " if item.get("service") else ""
        sentences.append(f"{prefix}{title} [{item['id']}].")
    sentences += [note.rstrip(".") + "."] if note else []
    sentences += _injected(items, config)
    return " ".join(sentences) or "The lookup found nothing relevant."


def _answer_tool_results(results: list[Block], config: AnthropicStandinConfig) -> str:
    items: list[Block] = []
    notes = []
    for block in results:
        text = _text_of(block.get("content") or "")
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = {"error": text} if block.get("is_error") else {"note": text}
        if not isinstance(parsed, dict):
            parsed = {"evidence": parsed} if isinstance(parsed, list) else {"note": str(parsed)}
        if block.get("is_error") or parsed.get("error"):
            error = str(parsed.get("error") or text or "unknown error").rstrip(".")
            return f"I could not look that up: {error}."
        items += [e for e in parsed.get("evidence") or [] if isinstance(e, dict) and e.get("id")]
        notes += [parsed["note"]] if isinstance(parsed.get("note"), str) and parsed["note"] else []
    return _summary(items, " ".join(notes) or None, config)


def _reply(prompt: _Prompt, config: AnthropicStandinConfig) -> list[Block]:
    """The content blocks the "model" answers with."""
    if results := prompt.tool_results():
        return [{"type": "text", "text": _answer_tool_results(results, config)}]
    question = prompt.question
    if not prompt.tools or question is None:
        text = _narrative(prompt, config) if prompt.evidence or prompt.incident else _NOTHING
        return [{"type": "text", "text": text}]
    if prompt.rounds < config.max_tool_rounds and prompt.choice["type"] != "none":
        wanted = [name for name, words in _TOOL_WORDS if re.search(words, question.lower())]
        wanted.append("show_evidence")
        if prompt.choice["type"] == "tool":
            wanted = [prompt.choice["name"]]
        elif prompt.choice["type"] == "any":
            wanted += list(prompt.tools)
        for name in [n for n in wanted if n in prompt.tools]:
            if (made := _tool_input(prompt, name, question)) is not None:
                use = {"type": "tool_use", "id": _new_id("toolu_", prompt.hash), "name": name}
                return [{"type": "text", "text": "Let me check."}, {**use, "input": made}]
    service = _service_in(prompt, question)
    items = [e for e in prompt.evidence if service in (None, e.get("service"))]
    text = (
        _summary(items, None, config) if items else "I don't have enough evidence to answer that."
    )
    return [{"type": "text", "text": text}]


def _stopped(content: list[Block], stops: list[str]) -> tuple[list[Block], str | None]:
    """Content up to the first stop sequence the text produces (left out, as the API does)."""
    kept: list[Block] = []
    for block in content:
        if block["type"] == "text":
            found = [(i, s) for s in stops if (i := block["text"].find(s)) >= 0]
            if found:
                at, stop = min(found)
                return [*kept, {**block, "text": block["text"][:at]}], stop
        kept.append(block)
    return kept, None


def _within(
    content: list[Block], max_tokens: int, stops: list[str]
) -> tuple[list[Block], str, str | None, int]:
    """Content cut at a stop sequence and to ``max_tokens`` (by the chars / 4 estimate), its
    stop reason, the stop sequence met and its size."""
    content, stop_sequence = _stopped(content, stops)
    chars = sum(
        len(b["text"]) if b["type"] == "text" else len(json.dumps(b["input"])) for b in content
    )
    if math.ceil(chars / 4) <= max_tokens:
        if stop_sequence is not None:
            stop = "stop_sequence"
        else:
            stop = "tool_use" if content[-1]["type"] == "tool_use" else "end_turn"
        return content, stop, stop_sequence, max(1, math.ceil(chars / 4))
    text = "".join(b["text"] for b in content if b["type"] == "text")[: max_tokens * 4]
    return [{"type": "text", "text": text}], "max_tokens", None, max(1, math.ceil(len(text) / 4))


def _as_returned(block: Block) -> Block:
    """A block with the fields the API always sends: a text's ``citations`` (null when nothing
    is cited) and a tool_use's ``caller`` (the model itself, not a server tool)."""
    if block["type"] == "text":
        return {**block, "citations": None}
    if block["type"] == "tool_use":
        return {**block, "caller": {"type": "direct"}}
    return block


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    """``usage`` with every field the API sends, caching and server tools unused."""
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": output_tokens,
        "server_tool_use": None,
        "service_tier": "standard",
    }


async def _accepted(request: web.Request, *, generate: bool) -> dict[str, Any] | web.Response:
    """The request body if the key, the version header and the body are good; else the error."""
    key = request.app[_CONFIG].api_key  # anthropic>=2 sends api_key as a Bearer token
    given = {request.headers.get("x-api-key"), request.headers.get("Authorization")}
    if key not in given and f"Bearer {key}" not in given:
        return _error(401, "invalid x-api-key")
    if not request.headers.get("anthropic-version"):
        return _error(400, "anthropic-version: header is required")
    try:
        body = await request.json()
    except ValueError:
        return _error(400, "There was an error parsing the body of your request as JSON")
    if (problem := _invalid(body, need_max_tokens=generate)) is not None:
        return _error(400, problem)
    request.app[MESSAGES].append(body)
    return body


async def _messages(request: web.Request) -> web.StreamResponse:
    body = await _accepted(request, generate=True)
    if isinstance(body, web.Response):
        return body
    prompt = _Prompt(body)
    reply = _reply(prompt, request.app[_CONFIG])
    content, stop, stop_sequence, output_tokens = _within(
        reply, body["max_tokens"], body.get("stop_sequences") or []
    )
    message = {
        "id": _new_id("msg_", prompt.hash),
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": [_as_returned(b) for b in content],
        "stop_reason": stop,
        "stop_sequence": stop_sequence,
        "stop_details": None,
        "container": None,
        "usage": _usage(_input_tokens(body), output_tokens),
    }
    headers = {"request-id": _new_id("req_", prompt.hash)}
    if body.get("stream"):
        return await _stream(request, message, headers)
    return web.json_response(message, headers=headers)


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()


def _pieces(text: str, words: int = 3) -> list[str]:
    """Text in the few-word chunks a model streams; joined, they give the text back."""
    tokens = re.findall(r"\S+\s*|\s+", text)
    return ["".join(tokens[i : i + words]) for i in range(0, len(tokens), words)]


async def _stream(
    request: web.Request, message: dict[str, Any], headers: dict[str, str]
) -> web.StreamResponse:
    """``message`` as Server-Sent Events, in the documented order: message_start, then per
    block content_block_start, content_block_delta..., content_block_stop (a ping after the
    first start), then message_delta (stop reason, output tokens) and message_stop."""
    response = web.StreamResponse(
        headers={**headers, "Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = {**usage, "output_tokens": 1}
    await response.write(_event("message_start", {"message": start}))
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            opening, deltas = (
                {**block, "text": ""},
                [{"type": "text_delta", "text": piece} for piece in _pieces(block["text"])],
            )
        else:
            opening = {**block, "input": {}}
            partial = json.dumps(block["input"])
            deltas = [{"type": "input_json_delta", "partial_json": ""}]
            deltas += [{"type": "input_json_delta", "partial_json": p} for p in _pieces(partial)]
        await response.write(
            _event("content_block_start", {"index": index, "content_block": opening})
        )
        if index == 0:
            await response.write(_event("ping", {}))
        for delta in deltas:
            await response.write(_event("content_block_delta", {"index": index, "delta": delta}))
        await response.write(_event("content_block_stop", {"index": index}))
    ending: dict[str, Any] = {
        "stop_reason": message["stop_reason"],
        "stop_sequence": message["stop_sequence"],
        "stop_details": None,
        "container": None,
    }
    delta_usage = {k: v for k, v in usage.items() if k not in ("cache_creation", "service_tier")}
    await response.write(_event("message_delta", {"delta": ending, "usage": delta_usage}))
    await response.write(_event("message_stop", {}))
    await response.write_eof()
    return response


async def _count_tokens(request: web.Request) -> web.Response:
    body = await _accepted(request, generate=False)
    if isinstance(body, web.Response):
        return body
    headers = {"request-id": _new_id("req_")}
    return web.json_response({"input_tokens": _input_tokens(body)}, headers=headers)


def anthropic_app(
    config: AnthropicStandinConfig | None = None,
    *,
    sinks: list[list[RecordedRequest]] | None = None,
) -> web.Application:
    """The stand-in as an aiohttp application; serve it with :func:`sandbox.faults.serving`."""
    app = web.Application()
    install_faults(app, error_shape=anthropic_error, sinks=sinks)
    app[_CONFIG] = config or AnthropicStandinConfig()
    app[MESSAGES] = []
    app.on_response_prepare.append(_stamp_request_id)
    app.router.add_post("/v1/messages", _messages)
    app.router.add_post("/v1/messages/count_tokens", _count_tokens)
    return app
