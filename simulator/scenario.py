"""The scenario file: a world (population and behaviour), the products' set-up, a timeline of
actions at virtual times, and the expectations a run must meet.

Pydantic models, exported as JSON Schema to `scenarios/schema.json` (`bsim schema`), so editors
can check a file as it is written; `simulator.loader` adds line and column to every error. Checks
across parts (a name that must point at something defined) are `simulator.references`, run here after
the fields validate and by the loader on its own, so a broken file gets all its problems at once.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from harness.faults.rules import Effect, Match, RuleInput
from mocks.braze.engagement.definitions import (
    ActionPathsStep,
    Audience,
    AudiencePathsStep,
    CampaignSpec,
    CanvasSpec,
    ConversionEvent,
    DecisionSplitStep,
    DelayStep,
    ExitStep,
    ExperimentPathsStep,
    MessageStep,
)
from mocks.braze.users.track import RESERVED_KEYS
from simulator import expressions, references
from simulator.durations import Duration
from simulator.stubs import SEGMENT, STACK_HOSTS, Answer, host_of, path_pattern, placeholders

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
LOADER_CHECKS_REFERENCES = "loader_checks_references"  # validation context: the loader runs them itself


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- the world ------------------------------------------------------------------------------------
class LogNormal(Model):
    """A log-normal delay: half the users take less than `median`; `spread` is sigma of the log."""

    median: Duration
    spread: float = Field(1.0, ge=0, le=5)


class ConversionBehaviour(Model):
    event: str = Field("purchase", min_length=1, description="custom event the app's SDK sends to Braze")
    probability: float = Field(ge=0, le=1, description="chance of converting after reading")
    delay: LogNormal = LogNormal(median=3600, spread=1.0)
    properties: dict[str, Any] = {}


class Behaviour(Model):
    name: str = Field(min_length=1)
    share: float | None = Field(None, gt=0, le=1, description="share of the population (the rest: the last one)")
    audience: Audience | None = Field(None, description="or: the users matching this filter")
    open_probability: float = Field(ge=0, le=1)
    read_delay: LogNormal = LogNormal(median=600, spread=1.0)
    click_probability: float = Field(0.0, ge=0, le=1, description="chance of a click after reading")
    conversion: ConversionBehaviour | None = None
    active_hours: tuple[int, int] = Field((0, 24), description="local hours [start, end) when the user reads")

    @model_validator(mode="after")
    def hours(self) -> Behaviour:
        start, end = self.active_hours
        if not (0 <= start < end <= 24):
            raise ValueError("active_hours must be [start, end) with 0 <= start < end <= 24")
        return self


class AttributeSpec(Model):
    """A custom attribute drawn per user from weighted `values`, a uniform number in `range`, or a `boolean`
    (the chance of true); `unset` leaves it off a share of users altogether (no key, not `""`), so Braze's
    profile lacks it and a Liquid `default` applies."""

    values: dict[str, float] | None = None
    range: tuple[float, float] | None = None
    integer: bool = True
    boolean: float | None = Field(None, ge=0, le=1, description="a boolean attribute: the chance it is true")
    unset: float = Field(0.0, ge=0, le=1, description="share of users who do not have the attribute at all")

    @model_validator(mode="after")
    def one_source(self) -> AttributeSpec:
        if sum(source is not None for source in (self.values, self.range, self.boolean)) != 1:
            raise ValueError("give exactly one of 'values' (weights), 'range' ([low, high]) or 'boolean' "
                             "(the chance of true)")
        return self


class PastEvent(Model):
    name: str = Field(min_length=1)
    per_user: tuple[int, int] = Field((0, 3), description="[min, max] events per user")
    within: Duration = Field(14 * 86_400, description="spread over this long before the start")


class PastPurchases(Model):
    probability: float = Field(ge=0, le=1)
    products: list[str] = Field(["sku-1"], min_length=1)
    price: tuple[float, float] = (5.0, 50.0)
    currency: str = "USD"
    within: Duration = 30 * 86_400


class Population(Model):
    size: int = Field(ge=1, le=1_000_000)
    countries: dict[str, float] = Field({"US": 1.0}, description="ISO country -> weight; locales follow")
    id_mapping: Literal["sendbird_id", "external_id"] = Field(
        "sendbird_id", description="sendbird_id: a custom attribute holds the Sendbird user id; "
                                   "external_id: the Braze external id is the Sendbird user id")
    external_id_prefix: str = "user-"
    custom_attributes: dict[str, AttributeSpec] = {}
    past_events: list[PastEvent] = []
    past_purchases: PastPurchases | None = None
    behaviours: list[Behaviour] = Field(min_length=1)


# -- the products ---------------------------------------------------------------------------------
class VariableSpec(Model):
    key: str
    type: str = "string"
    name: str | None = None
    required: bool = False


class SendbirdTemplate(Model):
    key: str = Field(min_length=1)
    name: str = Field(min_length=1)
    ui_template: dict[str, Any]
    variable_schema: list[VariableSpec] = []
    channel_url: str = "notifications_feed"
    label: str | None = None


class SendbirdSetup(Model):
    templates: list[SendbirdTemplate] = Field(min_length=1)


class Integration(Model):
    event_callback: bool = True
    event_name: str = Field("sendbird_notification", description="Braze custom event for SENT/READ")
    batch_linger_ms: int = Field(1000, ge=0)
    batch_max: int = Field(10_000, ge=1, le=10_000)


class SendbirdMessage(Model):
    """A webhook message built from the Sendbird Webhook Template."""

    template_key: str
    endpoint: Literal["realtime", "batch"] = "batch"
    variables: dict[str, str] = Field({}, description="template variable -> Braze Liquid")
    tags: list[str] = []
    label: str | None = None


class ScenarioCampaign(CampaignSpec):
    """A Braze campaign whose webhook is a Sendbird message (or an explicit `webhook`)."""

    id: str = Field(min_length=1)
    webhook: dict[str, Any] | None = None
    sendbird: SendbirdMessage | None = None

    @model_validator(mode="after")
    def one_message(self) -> ScenarioCampaign:
        if (self.webhook is None) == (self.sendbird is None):
            raise ValueError("give exactly one of 'sendbird' (a Sendbird message) or 'webhook'")
        return self


class ScenarioMessageStep(MessageStep):
    """A canvas message step whose webhook is a Sendbird message (`sendbird:`) or an explicit `webhook`."""

    webhook: dict[str, Any] | None = None
    sendbird: SendbirdMessage | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def one_message(self) -> ScenarioMessageStep:
        if (self.webhook is None) == (self.sendbird is None):
            raise ValueError("give exactly one of 'sendbird' (a Sendbird message) or 'webhook'")
        if self.sendbird is not None:
            self.webhook = {"sendbird": self.sendbird.model_dump()}  # resolved by the runner
        return self


ScenarioStep = Annotated[ScenarioMessageStep | DelayStep | DecisionSplitStep | AudiencePathsStep | ActionPathsStep
                         | ExperimentPathsStep | ExitStep, Field(discriminator="type")]


class ScenarioCanvas(CanvasSpec):
    """A Braze canvas; a message step may say `sendbird: {...}` instead of `webhook: {...}`."""

    id: str = Field(min_length=1)
    steps: list[ScenarioStep] = Field(min_length=1)


class BrazeSetup(Model):
    segments: list[dict[str, Any]] = Field([], description='{"name", "filter"} in the segment language')
    campaigns: list[ScenarioCampaign] = []
    canvases: list[ScenarioCanvas] = []


# -- the timeline ---------------------------------------------------------------------------------
class Recipients(Model):
    """Who an action is for: everyone, a saved segment, a list of external ids, or the first `count`."""

    all: bool = False
    segment: str | None = None
    users: list[str] | None = None
    count: int | None = Field(None, ge=1)


class TriggerCampaign(Model):
    campaign: str
    recipients: Recipients = Recipients(all=True)
    trigger_properties: dict[str, Any] = {}


class TriggerCanvas(Model):
    canvas: str
    recipients: Recipients = Recipients(all=True)
    context: dict[str, Any] = {}


class TrackEvent(Model):
    name: str
    recipients: Recipients = Recipients(all=True)
    properties: dict[str, Any] = {}


class SetAttributes(Model):
    """Attributes the app's back end sets on the recipients' Braze profiles (`/users/track`), as when a user
    gains a tier: a later segment, audience or Liquid sees the new values. A value of null removes one."""

    attributes: dict[str, Any] = Field(min_length=1, description="attribute -> its new value")
    recipients: Recipients = Recipients(all=True)

    @model_validator(mode="after")
    def no_identifiers(self) -> SetAttributes:
        reserved = sorted(RESERVED_KEYS.intersection(self.attributes))
        if reserved:
            raise ValueError(f"{', '.join(map(repr, reserved))}: /users/track's own key(s), which name the user or "
                             "steer the request, not attributes")
        return self


TIMELINE_ACTIONS = ("trigger_campaign", "trigger_canvas", "track_event", "set_attributes")


class TimelineItem(Model):
    at: Duration = Field(description="virtual time after the start")
    trigger_campaign: TriggerCampaign | None = None
    trigger_canvas: TriggerCanvas | None = None
    track_event: TrackEvent | None = None
    set_attributes: SetAttributes | None = None

    @model_validator(mode="after")
    def one_action(self) -> TimelineItem:
        given = [k for k in TIMELINE_ACTIONS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"each timeline item takes exactly one of {', '.join(TIMELINE_ACTIONS)}")
        return self


# -- faults -------------------------------------------------------------------------------------
class FaultMatch(Match):
    """Which requests the rule takes (every field optional, all must hold): `method`, `path` (a glob such as
    `/v1/notifications*`), `host` (outbound rules: the called host, a glob), `user`, `template` (named in the
    request's path, query or JSON body)."""


class FaultEffect(Effect):
    """What the rule does: one of `status` (with optional `headers`), `hang`, `drop`, `malformed`; `latency_ms`
    (a number or a fixed, uniform or lognormal distribution) alone or with any of them."""


class Fault(Model):
    """A fault rule (docs/faults.md) put on one service `at` a time of the timeline, for `for` (else to the
    end of the run). The rule is the services' own: `match` and `effect` are what `POST /_admin/faults` takes."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    service: Literal["braze", "sendbird", "bridge"] = Field(description="the service whose rule it is")
    at: Duration = Field(0.0, description="virtual time after the start when the rule is added")
    for_: Duration | None = Field(None, alias="for", description="how long it lasts (default: to the end of the run)")
    name: str | None = Field(None, min_length=1, max_length=100, description="how the report names it")
    match: FaultMatch = FaultMatch()
    effect: FaultEffect
    probability: float = Field(1.0, gt=0, le=1, description="chance a matching request is faulted (seeded)")
    count: int | None = Field(None, ge=1, description="fault only the first N matching requests")
    direction: Literal["inbound", "outbound"] = Field(
        "inbound", description="inbound: the service's answers; outbound: its own calls to others")
    seed: int | None = Field(None, ge=0, le=2**63 - 1, description="the rule's own seed (default: from the run's)")

    @model_validator(mode="after")
    def a_rule_the_service_takes(self) -> Fault:
        """Refused here as the service would refuse it, so a file never fails half-way through a run."""
        if self.for_ is not None and self.for_ <= 0:
            raise ValueError("'for' must be longer than 0 s")
        try:
            RuleInput.model_validate(self.rule())
        except ValidationError as exc:
            raise ValueError(exc.errors(include_url=False)[0]["msg"].removeprefix("Value error, ")) from None
        return self

    def rule(self) -> dict[str, Any]:
        """The `POST /_admin/faults` body: its window ends `for` after it is added."""
        body: dict[str, Any] = {"match": self.match.model_dump(exclude_none=True),
                                "effect": self.effect.model_dump(exclude_none=True),
                                "direction": self.direction, "probability": self.probability}
        for key in ("count", "name", "seed"):
            if getattr(self, key) is not None:
                body[key] = getattr(self, key)
        if self.for_ is not None:
            body["end"] = "+" + f"{self.for_:.3f}".rstrip("0").rstrip(".") + "s"
        return body


# -- stubs ----------------------------------------------------------------------------------------
class Stub(Model):
    """An outside API's endpoint that Connected Content calls, answered by the run itself (simulated runs only):
    `url` may hold `{name}` path segments, which the answer's strings may use (`/offers/{user}` answers
    `/offers/user-3` with `{user}` as `user-3`). The first stub that matches a request answers it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    url: str = Field(description="http(s)://host[:port]/path, where a path segment may be {name}")
    method: Literal["GET", "POST"] = "GET"
    status: int = Field(200, ge=100, le=599)
    json_: Any = Field(None, alias="json", description="a JSON answer; its strings may use the url's {name}s")
    text: str | None = Field(None, description="or a text answer, which may use them too")
    headers: dict[str, str] = {}

    @model_validator(mode="after")
    def an_endpoint(self) -> Stub:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{self.url!r} is not an http(s) URL with a host")
        if parts.query or parts.fragment:
            raise ValueError("a stub matches the path only: leave the query and fragment out of its url")
        if host_of(self.url) in STACK_HOSTS or parts.hostname in STACK_HOSTS:
            raise ValueError(f"{parts.hostname} is the simulated stack's own host: a stub takes another")
        if self.json_ is not None and self.text is not None:
            raise ValueError("give 'json' or 'text', not both")
        segments = SEGMENT.findall(parts.path)
        twice = sorted({name for name in segments if segments.count(name) > 1})
        if twice:
            raise ValueError(f"the url's path captures {', '.join('{' + n + '}' for n in twice)} more than once")
        names = set(path_pattern(parts.path).groupindex)
        unknown = sorted(placeholders([self.json_, self.text, self.headers]) - names)
        if unknown:
            raise ValueError(f"the answer uses {', '.join('{' + n + '}' for n in unknown)}, which the url's path "
                             f"does not capture (it has {', '.join('{' + n + '}' for n in sorted(names)) or 'none'})")
        return self

    def answer(self) -> Answer:
        return Answer(self.method, self.url, self.status, self.json_, self.text, self.headers)


# -- expectations ---------------------------------------------------------------------------------
class ContentExpectation(Model):
    """What every delivered notification of one template must show, read from the journal as a device renders it:
    a variable that is not empty or matches a pattern, a title or body that matches one. Patterns are Python
    regular expressions searched anywhere in the text: anchor them with `^` and `$` to match the whole."""

    template: str = Field(min_length=1, description="Sendbird template key")
    variable: str | None = Field(None, min_length=1, description="a template variable, checked by value")
    not_empty: bool = Field(False, description="the variable is set, and not empty or whitespace")
    matches: str | None = Field(None, description="a regular expression the variable's value must match")
    title_matches: str | None = Field(None, description="a regular expression the rendered title must match")
    body_matches: str | None = Field(None, description="a regular expression the rendered body must match")

    @model_validator(mode="after")
    def something_to_check(self) -> ContentExpectation:
        if self.variable is None and (self.not_empty or self.matches is not None):
            raise ValueError("'not_empty' and 'matches' check a variable: name it with 'variable'")
        if self.variable is not None and not self.not_empty and self.matches is None:
            raise ValueError(f"say what variable {self.variable!r} must be: 'not_empty: true' or 'matches: <regex>'")
        if self.variable is None and self.title_matches is None and self.body_matches is None:
            raise ValueError("a content expectation needs 'variable' (with 'not_empty' or 'matches'), "
                             "'title_matches' or 'body_matches'")
        for field in ("matches", "title_matches", "body_matches"):
            pattern = getattr(self, field)
            if pattern is not None:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"'{field}' is not a valid regular expression: {exc}") from exc
        return self

    @property
    def title(self) -> str:
        checks = []
        if self.variable is not None and self.not_empty:
            checks.append(f"{self.variable} is not empty")
        if self.variable is not None and self.matches is not None:
            checks.append(f"{self.variable} matches /{self.matches}/")
        for part in ("title", "body"):
            pattern = getattr(self, f"{part}_matches")
            if pattern is not None:
                checks.append(f"{part} matches /{pattern}/")
        return f"{self.template}: " + " and ".join(checks)


def _expression(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("a metric expression is text, such as 'campaigns.a.sent - campaigns.a.read'; "
                         "for a number, use 'equals', 'min' or 'max'")
    expressions.parse(value)
    return value


def _within(value: Any) -> float | str:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0:
        return value
    if isinstance(value, str) and re.fullmatch(expressions.PERCENT, value):
        return value.replace(" ", "")
    raise ValueError(f"{value!r} is not a tolerance: write a number (as in 0.05 or 2) or a percentage (as in '5%')")


MetricExpression = Annotated[str, BeforeValidator(_expression, json_schema_input_type=Annotated[
    str, Field(pattern=expressions.PATTERN, description=expressions.GRAMMAR)])]
Tolerance = Annotated[float | str, BeforeValidator(_within, json_schema_input_type=Annotated[float, Field(ge=0)]
                                                   | Annotated[str, Field(pattern=expressions.PERCENT)])]
BOUNDS = (("equals", "=="), ("min", ">="), ("max", "<="))


class Expectation(Model):
    """A bound on one number of the report, named by its path (e.g. `funnel.read_events`,
    `ratios.read_rate`, `latency_ms.accept_to_sent.p99`, `canvases.followup.steps.reminder.sent`,
    `checks.duplicates`), or, with `content`, a check of every delivered notification of a template.
    A bound is a number (`equals`, `min`, `max`) or a sum and difference of other metrics and numbers
    (`equals_metric`, `min_metric`, `max_metric`, grammar in `simulator.expressions`); `within` lets an
    equality miss by a number or a percentage of the expected value."""

    name: str | None = None
    metric: str | None = Field(None, min_length=1)
    equals: float | None = None
    min: float | None = None
    max: float | None = None
    equals_metric: MetricExpression | None = Field(None, description="the metric equals this expression")
    min_metric: MetricExpression | None = Field(None, description="the metric is at least this expression")
    max_metric: MetricExpression | None = Field(None, description="the metric is at most this expression")
    within: Tolerance | None = Field(None, description="how far from 'equals' or 'equals_metric' the metric may be: "
                                                       "a number, or a percentage of the expected value ('5%')")
    content: ContentExpectation | None = None

    @model_validator(mode="after")
    def one_form(self) -> Expectation:
        given = [key for key in ("equals", "min", "max", "equals_metric", "min_metric", "max_metric", "within")
                 if getattr(self, key) is not None]
        if self.content is not None:
            if self.metric is not None or given:
                raise ValueError("a 'content' expectation takes no 'metric' and no bound ('equals', 'min', 'max', "
                                 "their '_metric' forms, 'within')")
            return self
        if self.metric is None:
            raise ValueError("an expectation needs a 'metric' (with 'equals', 'min' or 'max') or 'content'")
        for key, _ in BOUNDS:
            if getattr(self, key) is not None and getattr(self, f"{key}_metric") is not None:
                raise ValueError(f"give '{key}' (a number) or '{key}_metric' (an expression), not both")
        if not set(given) - {"within"}:
            raise ValueError("an expectation needs 'equals', 'min' or 'max' (or 'equals_metric', 'min_metric', "
                             "'max_metric')")
        if self.within is not None and self.equals is None and self.equals_metric is None:
            raise ValueError("'within' is the tolerance of an equality: give 'equals' or 'equals_metric' with it")
        return self

    def bound(self, key: str) -> float | str | None:
        """`equals`, `min` or `max`: the number, or the expression's text, of that bound (None if not set)."""
        value = getattr(self, key)
        return value if value is not None else getattr(self, f"{key}_metric")

    @property
    def title(self) -> str:
        if self.name:
            return self.name
        if self.content is not None:
            return self.content.title
        bounds = []
        for key, op in BOUNDS:
            value = self.bound(key)
            if value is not None:
                text = f"{op} {value:g}" if isinstance(value, float) else f"{op} {value.strip()}"
                if key == "equals" and self.within is not None:
                    text += f" ± {self.within:g}" if isinstance(self.within, float) else f" ± {self.within}"
                bounds.append(text)
        return f"{self.metric} " + " and ".join(bounds)


class Scenario(Model):
    name: str = Field(min_length=1)
    description: str = ""
    seed: int = 0
    start: AwareDatetime = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    run_for: Duration = Field(3 * 86_400, description="virtual time to run after the start")
    population: Population
    sendbird: SendbirdSetup
    integration: Integration = Integration()
    braze: BrazeSetup = BrazeSetup()
    conversion_events: list[ConversionEvent] = Field([], description="applied to every campaign without its own")
    timeline: list[TimelineItem] = []
    faults: list[Fault] = Field([], description="fault rules put on the services at times of the timeline")
    stubs: list[Stub] = Field([], description="outside endpoints Connected Content calls (simulated runs only)")
    expectations: list[Expectation] = []
    allow_empty_variables: bool | list[str] = Field(
        False, description="a run fails when a notification has an empty variable or an unfilled placeholder; "
                           "true allows it for every template, a list of template keys for those")

    @model_validator(mode="after")
    def content_templates(self) -> Scenario:
        """Content expectations and `allow_empty_variables` name templates of this scenario."""
        templates = {t.key for t in self.sendbird.templates}
        for i, expectation in enumerate(self.expectations):
            if expectation.content is not None and expectation.content.template not in templates:
                raise ValueError(f"expectations[{i}] checks the content of unknown template "
                                 f"{expectation.content.template!r}")
        allowed = self.allow_empty_variables if isinstance(self.allow_empty_variables, list) else []
        for key in allowed:
            if key not in templates:
                raise ValueError(f"allow_empty_variables names unknown template {key!r}")
        return self

    @model_validator(mode="wrap")
    @classmethod
    def cross_references(cls, data: Any, handler: ModelWrapValidatorHandler[Scenario],
                         info: ValidationInfo) -> Scenario:
        scenario = handler(data)
        if isinstance(data, Mapping) and not (info.context or {}).get(LOADER_CHECKS_REFERENCES):
            errors = [f for f in references.check(data, scenario.run_for) if f.level == "error"]
            if errors:
                raise ValueError("; ".join(map(str, errors)))
        return scenario


def json_schema_text() -> str:
    """`scenarios/schema.json` as `bsim schema` writes it: the same models give the same bytes."""
    schema = {"$schema": JSON_SCHEMA_DIALECT, **Scenario.model_json_schema()}
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
