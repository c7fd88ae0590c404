"""Connected Content: the HTTP call a Braze template makes while it renders.

Braze calls the URL at send time, parses a JSON answer into a Liquid variable (text is written into
the message instead), caches GET answers per URL for at least five minutes, and with `:retry` tries a
failing call again before giving up on the message. The harness makes the same call through the
`requests.Session` it is handed (the in-process transport in simulated mode) and keeps the cache on
the harness clock, so a simulated campaign sees the same hits and expiries a real one would. The session's
transport asks the outbound policy on every connection: a refused URL aborts the message at once, with
the policy's reason, as a call that failed every retry does (the same call would be refused again).

Limits (docs/braze-fake.md, "Liquid limits"): an answer is read as it arrives and only up to
`MAX_ANSWER_BYTES` (Braze caches at most 1 MB, and an answer is inserted in a message: a larger one aborts
the message, naming the limit); a call ends `TIMEOUT` seconds after it started however slowly its answer
trickles in; and one render makes at most `MAX_CALLS_PER_RENDER` requests (retries included), so a template
with a thousand tags does not make a thousand calls.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.structures import CaseInsensitiveDict

from harness.outbound import OutboundRefused
from mocks.braze.liquid.base import AbortMessage, BrazeLiquidError, RenderState
from mocks.braze.liquid.filters import to_output

OPTIONS = frozenset({"method", "headers", "body", "content_type", "save", "cache", "cache_max_age", "no_cache",
                     "retry", "basic_auth"})
FLAGS = frozenset({"no_cache", "retry"})
# "Connected Content requests support GET and POST requests only" (making_an_api_call.md, braze-docs); any other
# method fails the render, as the other bad markup does, so the message is not sent.
METHODS = frozenset({"GET", "POST"})
DEFAULT_CACHE_SECONDS = 300  # Braze's default, and its minimum
MAX_CACHE_SECONDS = 4 * 3600
MAX_CACHED_BODY = 1024 * 1024
RETRIES = 5  # ":retry" tries up to five more times, then aborts the message
TIMEOUT = 2.0  # Braze drops answers slower than two seconds
MAX_ANSWER_BYTES = 1024 * 1024
MAX_CALLS_PER_RENDER = 20
_CHUNK = 64 * 1024
DEFAULT_VARIABLE = "connected"

# An option is `:name` after whitespace, followed by whitespace or the end (so `"a":"b"` in a body is not one).
_OPTION = re.compile(r"(?:^|\s+):([A-Za-z_]\w*)(?=\s|$)")
_VARIABLE = re.compile(r"[A-Za-z_][\w-]*")


@dataclass(frozen=True, slots=True)
class Request:
    url: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: str | None = None
    content_type: str | None = None
    save: str | None = None
    cache_seconds: int | None = None
    no_cache: bool = False
    retry: bool = False
    basic_auth: str | None = None

    @property
    def cache_key(self) -> str:
        return f"{self.method} {self.url}\n{self.body or ''}"

    @property
    def cacheable(self) -> bool:
        """GETs unless `:no_cache`; other methods only with an explicit cache age."""
        return not self.no_cache and (self.method == "GET" or self.cache_seconds is not None)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    text: str
    expires_at: datetime | None = None


class ConnectedContentCache(MutableMapping[str, Any]):
    """A bounded, thread-safe response cache: the least recently used entry goes first when it is full.

    `render(cache=...)` accepts any mutable mapping (a plain dict works); this one keeps memory flat
    over a campaign whose URLs differ per user.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def __getitem__(self, key: str) -> Any:
        with self._lock:
            self._entries.move_to_end(key)
            return self._entries[key]

    def __setitem__(self, key: str, value: Any) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def __delitem__(self, key: str) -> None:
        with self._lock:
            del self._entries[key]

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)


def parse_markup(text: str) -> Request:
    """The URL and options of a rendered `connected_content` tag."""
    head, *rest = _OPTION.split(text.strip())
    url = head.strip()
    if not url:
        raise BrazeLiquidError("connected_content needs a URL")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in url):
        raise BrazeLiquidError(f"connected_content: {url!r} is not an http(s) URL")
    options: dict[str, Any] = {}
    for name, value in zip(rest[::2], rest[1::2], strict=True):
        value = value.strip()
        if name not in OPTIONS:
            raise BrazeLiquidError(f"connected_content: unknown option ':{name}'")
        if name in FLAGS:
            if value:
                raise BrazeLiquidError(f"connected_content: ':{name}' takes no value, found {value!r}")
            options[name] = True
        elif not value:
            raise BrazeLiquidError(f"connected_content: ':{name}' needs a value")
        else:
            options[name] = value
    return Request(url=url, method=_method(options), headers=_headers(options), body=options.get("body"),
                   content_type=options.get("content_type"), save=_save(options), cache_seconds=_cache(options),
                   no_cache="no_cache" in options, retry="retry" in options, basic_auth=options.get("basic_auth"))


def _method(options: dict[str, Any]) -> str:
    method = options.get("method", "GET").upper()
    if method not in METHODS:
        raise BrazeLiquidError(f"connected_content: unsupported :method {options['method']!r}: Connected Content "
                               "supports GET and POST requests only")
    return method


def _headers(options: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    if "headers" not in options:
        return ()
    try:
        headers = json.loads(options["headers"])
    except ValueError:
        headers = None
    if not isinstance(headers, dict):
        raise BrazeLiquidError(f"connected_content: :headers must be a JSON object, found {options['headers']!r}")
    return tuple((str(k), to_output(v)) for k, v in headers.items())


def _save(options: dict[str, Any]) -> str | None:
    name = options.get("save")
    if name is not None and not _VARIABLE.fullmatch(name):
        raise BrazeLiquidError(f"connected_content: :save needs a variable name, found {name!r}")
    return name


def _cache(options: dict[str, Any]) -> int | None:
    value = options.get("cache_max_age", options.get("cache"))
    if value is None:
        return None
    try:
        seconds = int(value)
    except ValueError:
        raise BrazeLiquidError(f"connected_content: cache age must be whole seconds, found {value!r}") from None
    return min(max(seconds, DEFAULT_CACHE_SECONDS), MAX_CACHE_SECONDS)


def _prepare(request: Request) -> tuple[CaseInsensitiveDict[str], bytes | None]:
    """Braze's defaults: JSON for GET, a form for a body; `:content_type` sets Content-Type and Accept."""
    if request.content_type:
        headers = CaseInsensitiveDict({"Content-Type": request.content_type, "Accept": request.content_type})
    elif request.method == "GET":
        headers = CaseInsensitiveDict({"Content-Type": "application/json", "Accept": "*/*"})
    else:
        headers = CaseInsensitiveDict({"Content-Type": "application/x-www-form-urlencoded", "Accept": "*/*"})
    headers.update(dict(request.headers))
    body = request.body
    if body is not None and "json" in (request.content_type or "") and body[:1] not in ("{", "[") and "=" in body:
        body = json.dumps(dict(parse_qsl(body, keep_blank_values=True)))
    return headers, body.encode("utf-8") if body is not None else None


def fetch(request: Request, state: RenderState) -> Response | None:
    """The answer to `request` (from the cache when fresh); None when the host could not be reached."""
    if state.session is None:
        raise BrazeLiquidError("connected_content needs an HTTP session: pass transport_session= to render()")
    now = state.now()
    cache = state.cache if request.cacheable else None
    if cache is not None:
        hit = cache.get(request.cache_key)
        if isinstance(hit, Response) and hit.expires_at is not None and hit.expires_at > now:
            return hit
    auth = None
    if request.basic_auth is not None:
        auth = (state.credentials or {}).get(request.basic_auth)
        if auth is None:
            raise AbortMessage(f"connected_content: no basic auth credential named {request.basic_auth!r}")
    headers, body = _prepare(request)
    attempts = 1 + (RETRIES if request.retry else 0)
    response: Response | None = None
    for _ in range(attempts):
        if state.calls >= MAX_CALLS_PER_RENDER:
            raise AbortMessage(f"connected_content {request.url} not called: a render makes at most "
                               f"{MAX_CALLS_PER_RENDER} Connected Content calls")
        state.calls += 1
        try:
            response = _call(state.session, request, headers, body, auth)
        except OutboundRefused as exc:
            raise AbortMessage(f"connected_content {request.url} not called: {exc}") from None
        except requests.RequestException:
            response = None
            continue
        if response.status < 500:
            break
    if request.retry and (response is None or response.status >= 500):
        outcome = "no answer" if response is None else f"HTTP {response.status}"
        raise AbortMessage(f"connected_content {request.url} failed {attempts} times ({outcome})")
    if (cache is not None and response is not None and 200 <= response.status < 300
            and len(response.text) <= MAX_CACHED_BODY):
        ttl = request.cache_seconds or DEFAULT_CACHE_SECONDS
        response = Response(response.status, response.text, now + timedelta(seconds=ttl))
        cache[request.cache_key] = response
    return response


def _call(session: requests.Session, request: Request, headers: CaseInsensitiveDict[str], body: bytes | None,
          auth: tuple[str, str] | None) -> Response:
    """One request; its answer read up to `MAX_ANSWER_BYTES` and within `TIMEOUT` of the start (a
    `requests.Timeout` past it). An answer over the size limit aborts the message."""
    started = time.monotonic()
    answer = session.request(request.method, request.url, headers=headers, data=body, auth=auth,
                             allow_redirects=False, timeout=TIMEOUT, stream=True)
    try:
        declared = answer.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
            raise _too_large(request.url)
        received = bytearray()
        for chunk in answer.iter_content(_CHUNK):
            received += chunk
            if len(received) > MAX_ANSWER_BYTES:
                raise _too_large(request.url)
            if time.monotonic() - started > TIMEOUT:
                raise requests.Timeout(f"connected_content {request.url}: no whole answer within {TIMEOUT} s")
        return Response(answer.status_code, bytes(received).decode(answer.encoding or "utf-8", errors="replace"))
    finally:
        answer.close()


def _too_large(url: str) -> AbortMessage:
    return AbortMessage(f"connected_content {url}: the answer is larger than {MAX_ANSWER_BYTES} bytes")


def parse_json(text: str) -> dict[str, Any] | list[Any] | None:
    """A JSON object or array, or None for anything Braze would insert as text."""
    if text.lstrip()[:1] not in ("{", "["):
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict | list) else None
