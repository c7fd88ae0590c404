"""Campaign and Canvas definitions as pydantic models: what `/_admin/campaigns` and
`/_admin/canvases` accept, and what scenario files embed (so both validate alike).

Checks that need more than one field (step references, a Canvas with a cycle, experiment
percentages that do not add up) are done here, so a bad definition is refused when saved.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

DAY = 86_400.0
MAX_SECONDS = 10 * 365 * DAY
FIRST_YEAR, LAST_YEAR = 1970, 2999


def _on_calendar(value: datetime) -> datetime:
    """Far enough from the calendar's ends that adding any delay here stays on it (year 9999 plus an hour
    overflows, and that surfaced as a 500 long after the definition was saved)."""
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"a time must be in the years {FIRST_YEAR} to {LAST_YEAR}")
    return value


Time = Annotated[AwareDatetime, AfterValidator(_on_calendar)]
Seconds = Annotated[float, Field(ge=0, le=MAX_SECONDS)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Audience(Model):
    """A saved segment (by name or id), an inline connected-audience filter, or both (AND)."""

    segment: str | None = None
    filter: dict[str, Any] | None = None


class PropertyFilter(Model):
    property_name: str
    comparison: str = "equals"
    value: Any = None


class ApiTrigger(Model):
    type: Literal["api"] = "api"


class ScheduledTrigger(Model):
    type: Literal["scheduled"] = "scheduled"
    at: Time | None = Field(None, description="first send; absent means at launch")
    every_seconds: float | None = Field(None, ge=1, le=MAX_SECONDS,
                                        description="recurring interval; under a second it would only spin")
    until: Time | None = None

    def next_run(self, now: datetime) -> datetime | None:
        """When a recurring schedule runs next after a run at `now`; None when it is over."""
        if not self.every_seconds:
            return None
        nxt = now + timedelta(seconds=self.every_seconds)
        return nxt if self.until is None or nxt <= self.until else None


class ActionTrigger(Model):
    type: Literal["action"] = "action"
    event: str = Field(min_length=1, description="custom event that triggers the send")
    property_filters: list[PropertyFilter] = []
    delay_seconds: Seconds = 0
    start: Time | None = None
    end: Time | None = None


Trigger = Annotated[ApiTrigger | ScheduledTrigger | ActionTrigger, Field(discriminator="type")]


class ConversionEvent(Model):
    event: str = Field(min_length=1)
    property_filters: list[PropertyFilter] = []
    deadline_seconds: float = Field(3 * DAY, gt=0, le=30 * DAY)


class CampaignSpec(Model):
    id: str | None = None
    name: str = Field(min_length=1)
    trigger: Trigger = ApiTrigger()
    audience: Audience | None = None
    re_eligible_after_seconds: Seconds | None = Field(None, description="None: one message per user")
    rate_limit_per_minute: int | None = Field(None, gt=0)
    webhook: dict[str, Any]
    conversion_events: list[ConversionEvent] = Field([], max_length=4)
    status: Literal["active", "paused"] = "active"
    tags: list[str] = []


class Step(Model):
    id: str = Field(min_length=1)
    name: str | None = None


class MessageStep(Step):
    type: Literal["message"]
    webhook: dict[str, Any]
    next: str | None = None
    rate_limit_per_minute: int | None = Field(None, gt=0)


class DelayStep(Step):
    type: Literal["delay"]
    seconds: Seconds | None = None
    until: Time | None = None
    next: str | None = None

    @model_validator(mode="after")
    def one_of(self) -> DelayStep:
        if (self.seconds is None) == (self.until is None):
            raise ValueError("a delay takes exactly one of 'seconds' or 'until'")
        return self


class DecisionSplitStep(Step):
    type: Literal["decision_split"]
    audience: Audience
    yes: str | None = None
    no: str | None = None


class AudiencePath(Model):
    name: str
    audience: Audience
    next: str | None = None


class AudiencePathsStep(Step):
    type: Literal["audience_paths"]
    paths: list[AudiencePath] = Field(min_length=1, max_length=8)
    everyone_else: str | None = None


class ActionPath(Model):
    name: str
    event: str = Field(min_length=1)
    property_filters: list[PropertyFilter] = []
    next: str | None = None


class ActionPathsStep(Step):
    type: Literal["action_paths"]
    window_seconds: float = Field(DAY, gt=0, le=31 * DAY)
    paths: list[ActionPath] = Field(min_length=1, max_length=8)
    everyone_else: str | None = None
    advance: Literal["immediately", "end_of_window"] = Field(
        "immediately", description="immediately: first action wins; end_of_window: highest-ranked path wins")


class ExperimentPath(Model):
    name: str
    percent: float = Field(gt=0, le=100)
    next: str | None = None


class ExperimentPathsStep(Step):
    type: Literal["experiment_paths"]
    paths: list[ExperimentPath] = Field(min_length=1, max_length=4)

    @model_validator(mode="after")
    def adds_up(self) -> ExperimentPathsStep:
        if abs(sum(p.percent for p in self.paths) - 100) > 1e-6:
            raise ValueError("experiment path percentages must add up to 100")
        return self


class ExitStep(Step):
    type: Literal["exit"]


AnyStep = Annotated[MessageStep | DelayStep | DecisionSplitStep | AudiencePathsStep | ActionPathsStep
                    | ExperimentPathsStep | ExitStep, Field(discriminator="type")]


def successors(step: Any) -> list[str]:
    if isinstance(step, MessageStep | DelayStep):
        return [step.next] if step.next else []
    if isinstance(step, DecisionSplitStep):
        return [s for s in (step.yes, step.no) if s]
    if isinstance(step, AudiencePathsStep | ActionPathsStep):
        return [p.next for p in step.paths if p.next] + ([step.everyone_else] if step.everyone_else else [])
    if isinstance(step, ExperimentPathsStep):
        return [p.next for p in step.paths if p.next]
    return []


class CanvasSpec(Model):
    id: str | None = None
    name: str = Field(min_length=1)
    entry: Trigger = ApiTrigger()
    audience: Audience | None = None
    re_eligible_after_seconds: Seconds | None = None
    first_step: str | None = None
    steps: list[AnyStep] = Field(min_length=1)
    conversion_events: list[ConversionEvent] = Field([], max_length=4)
    status: Literal["active", "paused"] = "active"
    tags: list[str] = []

    @model_validator(mode="after")
    def graph(self) -> CanvasSpec:
        ids = [s.id for s in self.steps]
        if len(set(ids)) != len(ids):
            raise ValueError("step ids must be unique")
        known = set(ids)
        for step in self.steps:
            for target in successors(step):
                if target not in known:
                    raise ValueError(f"step {step.id!r} leads to unknown step {target!r}")
        start = self.first_step or ids[0]
        if start not in known:
            raise ValueError(f"first_step {start!r} is not a step")
        by_id = {s.id: s for s in self.steps}
        state: dict[str, int] = {}

        def visit(node: str) -> None:  # a Canvas is a directed acyclic graph, reachable or not
            state[node] = 1
            for nxt in successors(by_id[node]):
                if state.get(nxt) == 1:
                    raise ValueError(f"the steps form a cycle through {nxt!r}")
                if nxt not in state:
                    visit(nxt)
            state[node] = 2

        for step_id in ids:
            if step_id not in state:
                visit(step_id)
        return self


class FromSpec:
    """A campaign or canvas as its engine holds it: the name and the status come from the spec."""

    spec: CampaignSpec | CanvasSpec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def active(self) -> bool:
        return self.spec.status == "active"
