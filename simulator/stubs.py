"""Stub endpoints for Connected Content: an outside API a scenario declares with its answers, so personalization
from such an API can be tested without it (and without any server of the harness's own).

A stub is a URL whose path may hold `{name}` segments, a method, and a fixed answer (status, JSON or text,
headers) in which `{name}` stands for the segment the request had there: `/offers/{user}` answers
`/offers/user-3` with `{"code": "OFFER-{user}"}` filled in as `OFFER-user-3`. A simulated run registers one
small WSGI app per stub host on its in-process transport, which is where the fake Braze's Connected Content
calls go (`harness.transport`): no socket, no thread, the run's clock. The first stub that matches a request
answers it; a path no stub has is a 404, a known path with another method a 405, as a real API would say.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from harness.transport import Transport

SEGMENT = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
STACK_HOSTS = frozenset({"braze.local", "sendbird.local", "bridge.local"})  # the simulated stack's own


def host_of(url: str) -> str:
    """`host[:port]` as the transport registers it, lower case."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port is not None else host


def path_pattern(path: str) -> re.Pattern[str]:
    """`/offers/{user}` as a regular expression that captures each `{name}` as one path segment."""
    pieces, last = [], 0
    for segment in SEGMENT.finditer(path):
        pieces += [re.escape(path[last:segment.start()]), f"(?P<{segment.group(1)}>[^/]+)"]
        last = segment.end()
    return re.compile("".join(pieces) + re.escape(path[last:]))


def placeholders(value: Any) -> set[str]:
    """The `{name}`s an answer uses, in its strings (keys and values) at any depth."""
    if isinstance(value, str):
        return set(SEGMENT.findall(value))
    if isinstance(value, Mapping):
        return set().union(*map(placeholders, value.keys()), *map(placeholders, value.values()))
    if isinstance(value, list | tuple):
        return set().union(*map(placeholders, value))
    return set()


def fill(value: Any, captured: Mapping[str, str]) -> Any:
    """The answer with each `{name}` replaced by the request's segment."""
    if isinstance(value, str):
        return SEGMENT.sub(lambda m: captured.get(m.group(1), m.group(0)), value)
    if isinstance(value, Mapping):
        return {fill(k, captured): fill(v, captured) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [fill(v, captured) for v in value]
    return value


@dataclass(frozen=True)
class Answer:
    """One stub: what it matches (method, host, path) and what it answers."""

    method: str
    url: str
    status: int = 200
    json: Any = None
    text: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return host_of(self.url)

    @property
    def path(self) -> re.Pattern[str]:
        return path_pattern(urlsplit(self.url).path or "/")

    def body(self, captured: Mapping[str, str]) -> tuple[bytes, str]:
        if self.text is not None:
            return fill(self.text, captured).encode("utf-8"), "text/plain; charset=utf-8"
        if self.json is not None:
            return json.dumps(fill(self.json, captured)).encode("utf-8"), "application/json"
        return b"", "text/plain; charset=utf-8"


class StubApp:
    """The WSGI app of one host's stubs."""

    def __init__(self, answers: Iterable[Answer]) -> None:
        self.answers = [(answer, answer.path) for answer in answers]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO") or "/"
        matching = [(answer, found.groupdict()) for answer, pattern in self.answers
                    if (found := pattern.fullmatch(path)) is not None]
        chosen = next(((a, c) for a, c in matching if a.method == method), None)
        if chosen is None:
            status = "405 METHOD NOT ALLOWED" if matching else "404 NOT FOUND"
            body = json.dumps({"error": f"no stub answers {method} {path}"}).encode("utf-8")
            start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        answer, captured = chosen
        body, content_type = answer.body(captured)
        headers = {"Content-Type": content_type, **fill(answer.headers, captured), "Content-Length": str(len(body))}
        start_response(f"{answer.status} STUB", list(headers.items()))
        return [body]


def register(transport: Transport, answers: Iterable[Answer]) -> None:
    """One `StubApp` per host on a simulated transport, its stubs in the file's order."""
    by_host: dict[str, list[Answer]] = {}
    for answer in answers:
        by_host.setdefault(answer.host, []).append(answer)
    for host, host_answers in by_host.items():
        transport.register(host, StubApp(host_answers))
