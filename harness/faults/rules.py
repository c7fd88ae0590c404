"""Fault rules: which requests a service answers badly, how, how often and when.

QA needs to see what an integration does when Braze or Sendbird misbehave, and the misbehaviour must
replay: a rule matches requests (method, path glob, host glob for outbound calls, a user or template named
in the body), then answers with an error, adds latency, hangs, drops the connection or cuts the body, with a
probability drawn from the rule's own seeded generator, for at most `count` firings, inside a time window on
the service's clock. One store per service; the gateway, the in-process WSGI layer and the transport ask it
(`decide`), so every way into or out of a service obeys the same rules.

Every firing is a journal record (`fault.fired`), so a report or the console can say what a rule did.
"""

from __future__ import annotations

import contextlib
import fnmatch
import itertools
import json
import math
import random
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.journal import Journal

MAX_LATENCY_MS = 600_000  # ten minutes: past every client's timeout, and a timer the loop can still hold
MAX_RULES = 1000
EFFECTS = ("status", "hang", "drop", "malformed")
RELATIVE = re.compile(r"^\+([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)$")
UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}
USER_KEYS = frozenset({"user_id", "external_user_id", "external_id", "receiver"})
USER_LIST_KEYS = frozenset({"targets", "user_ids", "external_ids"})
TEMPLATE_KEYS = frozenset({"template_key"})
BODY_DEPTH = 4  # how deep the user and template matchers look into a JSON body


class FaultInputError(ValueError):
    """A rule the API cannot take, said in one line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Match(_Strict):
    method: Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[A-Za-z]+$")] | None = None
    path: Annotated[str, Field(min_length=1, max_length=500, pattern=r"^/")] | None = None
    host: Annotated[str, Field(min_length=1, max_length=300)] | None = None
    user: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    template: Annotated[str, Field(min_length=1, max_length=255)] | None = None


class FixedLatency(_Strict):
    distribution: Literal["fixed"]
    ms: Annotated[float, Field(ge=0, le=MAX_LATENCY_MS)]


class UniformLatency(_Strict):
    distribution: Literal["uniform"]
    min_ms: Annotated[float, Field(ge=0, le=MAX_LATENCY_MS)]
    max_ms: Annotated[float, Field(ge=0, le=MAX_LATENCY_MS)]

    @model_validator(mode="after")
    def ordered(self) -> UniformLatency:
        if self.min_ms > self.max_ms:
            raise ValueError("min_ms must not be above max_ms")
        return self


class LogNormalLatency(_Strict):
    distribution: Literal["lognormal"]
    median_ms: Annotated[float, Field(gt=0, le=MAX_LATENCY_MS)]
    sigma: Annotated[float, Field(ge=0, le=5)]


Fixed, Uniform, LogNormal = FixedLatency, UniformLatency, LogNormalLatency  # their first names, for importers

Latency = Annotated[float, Field(ge=0, le=MAX_LATENCY_MS)] | Annotated[
    FixedLatency | UniformLatency | LogNormalLatency, Field(discriminator="distribution")]


class Effect(_Strict):
    status: Annotated[int, Field(ge=100, le=599)] | None = None
    headers: dict[Annotated[str, Field(pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")],
                  Annotated[str, Field(max_length=1000, pattern=r"^[^\r\n]*$")]] | None = None
    latency_ms: Latency | None = None
    hang: Literal[True] | None = None
    drop: Literal[True] | None = None
    malformed: Literal[True] | None = None

    @model_validator(mode="after")
    def one_kind(self) -> Effect:
        kinds = [name for name in ("hang", "drop", "malformed") if getattr(self, name)]
        if len(kinds) > 1:
            raise ValueError(f"an effect takes one of hang, drop and malformed, not {' and '.join(kinds)}")
        if kinds and kinds != ["malformed"] and self.status is not None:
            raise ValueError(f"{kinds[0]} sends no answer, so it takes no status")
        if not kinds and self.status is None and self.latency_ms is None:
            raise ValueError("an effect needs one of status, latency_ms, hang, drop and malformed")
        if self.headers and self.status is None:
            raise ValueError("headers go with a status")
        return self


class RuleInput(_Strict):
    match: Match = Match()
    effect: Effect
    direction: Literal["inbound", "outbound"] = "inbound"
    probability: Annotated[float, Field(gt=0, le=1)] = 1.0
    count: Annotated[int, Field(ge=1)] | None = None
    start: str | None = None
    end: str | None = None
    name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] | None = None

    @model_validator(mode="after")
    def fits_direction(self) -> RuleInput:
        if self.direction == "inbound" and self.match.host is not None:
            raise ValueError("match.host is for outbound rules (a service's calls to others)")
        if self.direction == "outbound" and self.effect.latency_ms is not None:
            raise ValueError("latency cannot be added to an outbound call without holding its caller's "
                             "thread: put the rule on the service that answers it")
        return self


def _problem(exc: ValidationError) -> str:
    """pydantic's first error as one line: where, then what. A value that may be a number or an object
    (latency_ms) gets the error of the form it was written in."""
    errors = exc.errors(include_url=False)
    error = errors[0]
    if "constrained-float" in error["loc"] and len(errors) > 1:
        if isinstance(error["input"], dict):
            error = errors[1]
        elif not isinstance(error["input"], int | float) or isinstance(error["input"], bool):
            error = {**error, "msg": "a number of milliseconds, or an object such as "
                                     '{"distribution": "uniform", "min_ms": 50, "max_ms": 400}'}
    where = ".".join(str(part) for part in error["loc"]
                     if not str(part).startswith(("function-", "tagged-", "constrained-")))
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _when(value: str | None, now: datetime, name: str) -> datetime | None:
    """An ISO-8601 time, or `+<n><unit>` from the service's now."""
    if value is None:
        return None
    relative = RELATIVE.fullmatch(value)
    if relative:
        return now + timedelta(seconds=float(relative.group(1)) * UNITS[relative.group(2)])
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise FaultInputError(f"{name}: {value!r} is neither an ISO-8601 time nor a delay such as '+10s'") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _glob(pattern: str, text: str) -> bool:
    return fnmatch.fnmatchcase(text, pattern)


@dataclass
class Subject:
    """What the matchers read of one request: its body is parsed only when a rule asks about users or templates."""

    method: str
    path: str
    host: str = ""
    body: bytes = b""
    query: str = ""
    _parsed: tuple[set[str], set[str]] | None = None

    def named(self) -> tuple[set[str], set[str]]:
        """(users, templates) the request names: in its path (`/users/<id>`, `/templates/<key>`), its query
        (`user_id=`) and its JSON body (`user_id`, `external_user_id`, `external_id`, `receiver`, `targets`,
        `template_key`, `template.key`)."""
        if self._parsed is None:
            users: set[str] = set()
            templates: set[str] = set()
            parts = self.path.split("/")
            for before, after in itertools.pairwise(parts):
                if before == "users" and after:
                    users.add(after)
                elif before == "templates" and after:
                    templates.add(after)
            for pair in self.query.split("&"):
                key, _, value = pair.partition("=")
                if key == "user_id" and value:
                    users.add(value)
            if self.body[:1] in (b"{", b"["):
                with contextlib.suppress(ValueError, RecursionError):
                    _walk(json.loads(self.body), users, templates, BODY_DEPTH)
            self._parsed = (users, templates)
        return self._parsed


def _walk(value: Any, users: set[str], templates: set[str], depth: int) -> None:
    if depth < 0:
        return
    if isinstance(value, list):
        for item in value[:10_000]:
            _walk(item, users, templates, depth - 1)
        return
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        if isinstance(item, str):
            if key in USER_KEYS:
                users.add(item)
            elif key in TEMPLATE_KEYS:
                templates.add(item)
        elif key in USER_LIST_KEYS and isinstance(item, list):
            users.update(x for x in item if isinstance(x, str))
        elif key == "template" and isinstance(item, dict) and isinstance(item.get("key"), str):
            templates.add(item["key"])
        if isinstance(item, dict | list):
            _walk(item, users, templates, depth - 1)


@dataclass
class Firing:
    """One rule's verdict on one request: `kind` is status, hang, drop, malformed, or latency alone."""

    rule: Rule
    kind: str
    status: int | None
    headers: dict[str, str]
    latency_s: float


@dataclass
class Rule:
    id: str
    spec: RuleInput
    start: datetime | None
    end: datetime | None
    seed: int
    created_at: datetime
    rng: random.Random = field(repr=False)
    matched: int = 0
    fired: int = 0
    added_latency_ms: float = 0.0

    @property
    def kind(self) -> str:
        effect = self.spec.effect
        return next((name for name in ("hang", "drop", "malformed") if getattr(effect, name)),
                    "status" if effect.status is not None else "latency")

    def active(self, now: datetime) -> bool:
        if self.spec.count is not None and self.fired >= self.spec.count:
            return False
        return (self.start is None or now >= self.start) and (self.end is None or now < self.end)

    def matches(self, subject: Subject) -> bool:
        m = self.spec.match
        if m.method is not None and m.method.upper() != subject.method.upper():
            return False
        if m.path is not None and not _glob(m.path, subject.path):
            return False
        if m.host is not None and not _glob(m.host.lower(), subject.host.lower()):
            return False
        if m.user is not None or m.template is not None:
            users, templates = subject.named()
            if m.user is not None and m.user not in users:
                return False
            if m.template is not None and m.template not in templates:
                return False
        return True

    def latency_s(self) -> float:
        latency = self.spec.effect.latency_ms
        if latency is None:
            return 0.0
        if isinstance(latency, float | int):
            ms = float(latency)
        elif isinstance(latency, FixedLatency):
            ms = latency.ms
        elif isinstance(latency, UniformLatency):
            ms = self.rng.uniform(latency.min_ms, latency.max_ms)
        else:
            ms = self.rng.lognormvariate(math.log(latency.median_ms), latency.sigma)
        return min(ms, MAX_LATENCY_MS) / 1000.0

    def to_dict(self, now: datetime) -> dict[str, Any]:
        spec = self.spec
        return {"id": self.id, "name": spec.name, "direction": spec.direction,
                "match": spec.match.model_dump(exclude_none=True),
                "effect": spec.effect.model_dump(exclude_none=True), "probability": spec.probability,
                "count": spec.count, "start": _iso(self.start), "end": _iso(self.end), "seed": self.seed,
                "created_at": _iso(self.created_at), "active": self.active(now), "matched": self.matched,
                "fired": self.fired, "added_latency_ms": round(self.added_latency_ms, 3)}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


class FaultRules:
    """One service's rules. `has_inbound` / `has_outbound` are plain attributes, so a service with no rule
    pays one attribute read per request."""

    def __init__(self, service: str, journal: Journal, clock: Any, ids: Any) -> None:
        self.service = service
        self.journal = journal
        self.clock = clock
        self.ids = ids
        self._rules: dict[str, Rule] = {}
        self._lock = threading.Lock()
        self._added = 0
        self.has_inbound = False
        self.has_outbound = False

    # -- the admin API ------------------------------------------------------------------------------
    def add(self, body: Any) -> Rule:
        if not isinstance(body, dict):
            raise FaultInputError("a fault rule is a JSON object with match and effect")
        try:
            spec = RuleInput.model_validate(body)
        except ValidationError as exc:
            raise FaultInputError(_problem(exc)) from None
        now = self.clock.now()
        start, end = _when(spec.start, now, "start"), _when(spec.end, now, "end")
        if start is not None and end is not None and end <= start:
            raise FaultInputError("end must come after start")
        with self._lock:
            if len(self._rules) >= MAX_RULES:
                raise FaultInputError(f"at most {MAX_RULES} fault rules; delete some first")
            self._added += 1
            rule_id = "fault-" + self.ids.derived_hex(f"fault:{self.service}:{self._added}", 12)
            seed = spec.seed if spec.seed is not None else int(self.ids.derived_hex(f"fault-seed:{rule_id}", 15), 16)
            rule = Rule(rule_id, spec, start, end, seed, now, random.Random(seed))
            self._rules[rule_id] = rule
            self._refresh()
        self.journal.record(self.service, "fault.added", None, rule=rule_id, name=spec.name,
                            direction=spec.direction, effect=rule.kind, status=spec.effect.status,
                            match=spec.match.model_dump(exclude_none=True), start=_iso(start), end=_iso(end),
                            probability=spec.probability, count=spec.count)
        return rule

    def listing(self) -> list[dict[str, Any]]:
        now = self.clock.now()
        with self._lock:
            return [rule.to_dict(now) for rule in self._rules.values()]

    def get(self, rule_id: str) -> dict[str, Any] | None:
        with self._lock:
            rule = self._rules.get(rule_id)
            return None if rule is None else rule.to_dict(self.clock.now())

    def remove(self, rule_id: str) -> bool:
        with self._lock:
            rule = self._rules.pop(rule_id, None)
            self._refresh()
        if rule is not None:
            self.journal.record(self.service, "fault.removed", None, rule=rule_id, name=rule.spec.name,
                                fired=rule.fired)
        return rule is not None

    def clear(self) -> int:
        with self._lock:
            removed = list(self._rules.values())
            self._rules.clear()
            self._refresh()
        for rule in removed:
            self.journal.record(self.service, "fault.removed", None, rule=rule.id, name=rule.spec.name,
                                fired=rule.fired)
        return len(removed)

    def _refresh(self) -> None:
        self.has_inbound = any(r.spec.direction == "inbound" for r in self._rules.values())
        self.has_outbound = any(r.spec.direction == "outbound" for r in self._rules.values())

    # -- the verdict ----------------------------------------------------------------------------------
    def decide(self, direction: str, subject: Subject, trace_id: str | None = None) -> Firing | None:
        """The first active rule of `direction` that matches and whose draw fires, recorded; or None."""
        now = self.clock.now()
        with self._lock:
            firing = None
            for rule in self._rules.values():
                if rule.spec.direction != direction or not rule.active(now) or not rule.matches(subject):
                    continue
                rule.matched += 1
                if rule.spec.probability < 1 and rule.rng.random() >= rule.spec.probability:
                    continue
                rule.fired += 1
                latency = rule.latency_s()
                rule.added_latency_ms += latency * 1000
                effect = rule.spec.effect
                firing = Firing(rule, rule.kind, effect.status, dict(effect.headers or {}), latency)
                break
        if firing is None:
            return None
        attrs: dict[str, Any] = {"rule": firing.rule.id, "name": firing.rule.spec.name, "effect": firing.kind,
                                 "direction": direction, "method": subject.method, "path": subject.path}
        if subject.host:
            attrs["host"] = subject.host
        if firing.status is not None:
            attrs["status"] = firing.status
        if firing.latency_s:
            attrs["latency_ms"] = round(firing.latency_s * 1000, 3)
        self.journal.record(self.service, "fault.fired", trace_id, **attrs)
        return firing
