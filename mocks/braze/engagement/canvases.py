"""Canvases: a step graph each entered user walks, on the scheduler's clock.

A journey runs its steps at once until one makes it wait: a Delay (a task at the end of the
delay) or Action Paths (a wait for a custom event, with a task at the end of the window for
"Everyone Else"). A READ event arriving at `/users/track` is what moves a user down the
"read" path. Every step a user passes is kept in the journey's path, and counted per step.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from harness.scheduler import TaskHandle
from mocks.braze.audience.audiences import Predicate
from mocks.braze.audience.event_filters import EventMatcher, compile_action
from mocks.braze.delivery.context import DeliveryContext
from mocks.braze.delivery.sending import Engine, Throttle
from mocks.braze.delivery.webhook_templates import WebhookContent, content_from_state, content_state
from mocks.braze.engagement.campaigns import compile_conversions
from mocks.braze.engagement.definitions import (
    ActionPathsStep,
    ActionTrigger,
    AudiencePathsStep,
    CanvasSpec,
    DecisionSplitStep,
    DelayStep,
    ExitStep,
    ExperimentPathsStep,
    FromSpec,
    MessageStep,
    ScheduledTrigger,
)
from mocks.braze.state import (
    PendingTasks,
    StateError,
    Swap,
    as_fields,
    build,
    detached,
    expect,
    moment,
    record,
    staged,
)
from mocks.braze.users.profiles import Profile
from mocks.braze.users.track import CustomEvent

EVERYONE_ELSE = "Everyone Else"


@dataclass
class CompiledStep:
    spec: Any
    content: WebhookContent | None = None
    predicates: list[Predicate | None] = field(default_factory=list)
    matchers: list[EventMatcher] = field(default_factory=list)
    throttle: Throttle | None = None

    @property
    def name(self) -> str:
        return self.spec.name or self.spec.id


@dataclass
class Journey:
    canvas_id: str
    braze_id: str
    dispatch_id: str
    entered_at: datetime
    context: dict[str, Any]
    event_properties: dict[str, Any]
    path: list[dict[str, Any]] = field(default_factory=list)
    current: str | None = None
    step_entered_at: datetime | None = None
    done: bool = False
    wait_task: TaskHandle | None = None
    best: tuple[int, str | None, str, dict[str, Any]] | None = None  # ranked action paths: (rank, next, name, props)

    def to_dict(self) -> dict[str, Any]:
        return {"canvas_id": self.canvas_id, "braze_id": self.braze_id, "dispatch_id": self.dispatch_id,
                "entered_at": self.entered_at.isoformat(), "current_step": self.current, "done": self.done,
                "path": self.path}


@dataclass
class Canvas(FromSpec):
    canvas_id: str
    spec: CanvasSpec
    steps: dict[str, CompiledStep]
    first_step: str
    audience: Predicate | None
    trigger: EventMatcher | None
    conversions: list[EventMatcher]
    created_at: datetime
    entered: int = 0
    completed: int = 0
    step_counts: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    journeys: dict[str, Journey] = field(default_factory=dict)  # braze_id -> latest journey
    last_entered: dict[str, datetime] = field(default_factory=dict)
    first_entry: datetime | None = None
    last_entry: datetime | None = None
    schedule: TaskHandle | None = None


class CanvasEngine(Engine):
    def __init__(self, *parts: Any) -> None:
        super().__init__(*parts)
        self.canvases: dict[str, Canvas] = {}
        self._waiting: dict[str, set[str]] = defaultdict(set)  # braze_id -> canvas ids with an action wait
        self.pending = PendingTasks(self.tasks, {"entry": (self._enter_action, "braze.canvas.action_entry")})

    # -- definitions --------------------------------------------------------------------------
    def save(self, spec: CanvasSpec, canvas_id: str | None = None) -> Canvas:
        canvas_id = canvas_id or spec.id or self.runtime.ids.uuid()
        steps = {s.id: self._compile_step(s) for s in spec.steps}
        matcher = compile_action(spec.entry.event, spec.entry.property_filters, "entry") \
            if isinstance(spec.entry, ActionTrigger) else None
        canvas = Canvas(canvas_id, spec, steps, spec.first_step or spec.steps[0].id,
                        self.audiences.compile(spec.audience, "audience"), matcher,
                        compile_conversions(spec.conversion_events, "canvas"), self.runtime.clock.now())
        with self._lock:
            old = self.canvases.get(canvas_id)
            if old is not None:
                if old.schedule is not None:
                    self.runtime.scheduler.cancel(old.schedule)
                self._carry_over(old, canvas)
            self.canvases[canvas_id] = canvas
        if isinstance(spec.entry, ScheduledTrigger) and canvas.active:
            self._schedule(canvas, spec.entry.at or self.runtime.clock.now())
        self.runtime.journal.record("braze", "canvas.saved", None, canvas_id=canvas_id, name=spec.name,
                                    steps=len(steps))
        return canvas

    def _carry_over(self, old: Canvas, new: Canvas) -> None:
        """Editing a canvas keeps the users in it (and its counts), as in Braze; a user waiting at a step
        the edit removed leaves the canvas."""
        new.created_at, new.entered, new.completed = old.created_at, old.entered, old.completed
        new.step_counts, new.journeys, new.last_entered = old.step_counts, old.journeys, old.last_entered
        new.first_entry, new.last_entry = old.first_entry, old.last_entry
        for journey in old.journeys.values():
            if not journey.done and journey.current not in new.steps:
                if journey.wait_task is not None:
                    self.runtime.scheduler.cancel(journey.wait_task)
                self._finish(new, journey, "step_removed")

    def _compile_step(self, step: Any, content: WebhookContent | None = None, check: bool = True) -> CompiledStep:
        """`content` and `check` serve a restore: the step's webhook as composed when it was saved, and segments
        that may have been deleted since."""
        where = f"steps[{step.id}]"
        if isinstance(step, MessageStep):
            return CompiledStep(step, content=content or self.templates.resolve(step.webhook, f"{where}.webhook"),
                                throttle=Throttle(step.rate_limit_per_minute) if step.rate_limit_per_minute else None)
        if isinstance(step, DecisionSplitStep):
            return CompiledStep(step, predicates=[self.audiences.compile(step.audience, f"{where}.audience", check)])
        if isinstance(step, AudiencePathsStep):
            return CompiledStep(step, predicates=[self.audiences.compile(p.audience, f"{where}.paths[{i}]", check)
                                                  for i, p in enumerate(step.paths)])
        if isinstance(step, ActionPathsStep):
            return CompiledStep(step, matchers=[compile_action(p.event, p.property_filters, f"{where}.paths[{i}]")
                                                for i, p in enumerate(step.paths)])
        return CompiledStep(step)

    def get(self, canvas_id: str) -> Canvas | None:
        return self.canvases.get(canvas_id)

    def delete(self, canvas_id: str) -> bool:
        with self._lock:
            canvas = self.canvases.pop(canvas_id, None)
        if canvas is not None and canvas.schedule is not None:
            self.runtime.scheduler.cancel(canvas.schedule)
        return canvas is not None

    # -- entry --------------------------------------------------------------------------------
    def enter(self, canvas: Canvas, profile: Profile, dispatch_id: str, context: dict[str, Any],
              event_properties: dict[str, Any] | None = None, extra_audience: Predicate | None = None) -> str:
        now = self.runtime.clock.now()
        if not self.in_audience(profile, now, canvas.audience, extra_audience):
            return "not_in_audience"
        with self._lock:
            current = canvas.journeys.get(profile.braze_id)
            if current is not None and not current.done:
                return "already_in_canvas"
            if not self.eligible(canvas.last_entered.get(profile.braze_id), canvas.spec.re_eligible_after_seconds, now):
                return "ineligible"
            journey = Journey(canvas.canvas_id, profile.braze_id, dispatch_id, now, dict(context),
                              dict(event_properties or {}))
            canvas.journeys[profile.braze_id] = journey
            canvas.last_entered[profile.braze_id] = now
            canvas.entered += 1
            canvas.first_entry = canvas.first_entry or now
            canvas.last_entry = now
        self.runtime.journal.record("braze", "canvas.entered", None, canvas_id=canvas.canvas_id,
                                    braze_id=profile.braze_id, external_id=profile.external_id,
                                    dispatch_id=dispatch_id)
        if canvas.conversions:
            self.conversions.open(canvas.canvas_id, profile.braze_id, canvas.conversions,
                                  [c.deadline_seconds for c in canvas.spec.conversion_events])
        self._walk(canvas, journey, canvas.first_step)
        return "entered"

    def enter_audience(self, canvas: Canvas, dispatch_id: str, context: dict[str, Any],
                       extra_audience: Predicate | None = None) -> int:
        return sum(self.enter(canvas, p, dispatch_id, context, None, extra_audience) == "entered" for p in self.users)

    def _schedule(self, canvas: Canvas, when: datetime) -> None:
        canvas.schedule = self.tasks.at(when, self._run_scheduled, canvas.canvas_id, name="braze.canvas.scheduled")

    def _run_scheduled(self, canvas_id: str) -> None:
        canvas = self.canvases.get(canvas_id)
        if canvas is None or not canvas.active:
            return
        entry = canvas.spec.entry
        assert isinstance(entry, ScheduledTrigger)
        self.enter_audience(canvas, self.runtime.ids.hex(24), {})
        canvas.schedule = None
        nxt = entry.next_run(self.runtime.clock.now())
        if nxt is not None:
            self._schedule(canvas, nxt)

    # -- walking the graph ----------------------------------------------------------------------
    def _visit(self, canvas: Canvas, journey: Journey, step: CompiledStep, outcome: str | None = None) -> None:
        journey.current = step.spec.id
        journey.step_entered_at = self.runtime.clock.now()
        journey.path.append({"step_id": step.spec.id, "step_name": step.name, "type": step.spec.type,
                             "at": self.runtime.clock.now().isoformat(), **({"outcome": outcome} if outcome else {})})
        canvas.step_counts[step.spec.id]["entered"] += 1

    def _finish(self, canvas: Canvas, journey: Journey, how: str) -> None:
        journey.done = True
        journey.current = None
        canvas.completed += 1
        self.runtime.journal.record("braze", "canvas.exited", None, canvas_id=canvas.canvas_id,
                                    braze_id=journey.braze_id, how=how)

    def _walk(self, canvas: Canvas, journey: Journey, step_id: str | None) -> None:
        while True:
            if step_id is None:
                self._finish(canvas, journey, "completed")
                return
            step = canvas.steps.get(step_id)
            if step is None:  # the canvas was edited while the user waited
                self._finish(canvas, journey, "step_removed")
                return
            spec = step.spec
            self._visit(canvas, journey, step)
            now = self.runtime.clock.now()
            profile = self.users.by_braze_id(journey.braze_id)
            if profile is None:  # deleted while in the canvas
                self._finish(canvas, journey, "user_deleted")
                return
            if isinstance(spec, MessageStep):
                self._message(canvas, journey, step, profile)
                step_id = spec.next
            elif isinstance(spec, DelayStep):
                when = now + timedelta(seconds=spec.seconds) if spec.seconds is not None else spec.until
                if when is not None and when > now:
                    journey.wait_task = self.tasks.at(when, self._resume, canvas.canvas_id, journey, spec.next,
                                                      name="braze.canvas.delay")
                    return
                step_id = spec.next
            elif isinstance(spec, DecisionSplitStep):
                predicate = step.predicates[0]
                yes = predicate is None or predicate(profile, now)
                canvas.step_counts[spec.id]["yes" if yes else "no"] += 1
                step_id = spec.yes if yes else spec.no
            elif isinstance(spec, AudiencePathsStep):
                chosen = next((i for i, p in enumerate(step.predicates) if p is None or p(profile, now)), None)
                name = spec.paths[chosen].name if chosen is not None else EVERYONE_ELSE
                canvas.step_counts[spec.id][f"path:{name}"] += 1
                step_id = spec.paths[chosen].next if chosen is not None else spec.everyone_else
            elif isinstance(spec, ExperimentPathsStep):
                roll = self.runtime.ids.integer(8) % 10_000 / 100
                acc = 0.0
                chosen_path = spec.paths[-1]
                for path in spec.paths:
                    acc += path.percent
                    if roll < acc:
                        chosen_path = path
                        break
                canvas.step_counts[spec.id][f"path:{chosen_path.name}"] += 1
                step_id = chosen_path.next
            elif isinstance(spec, ActionPathsStep):
                journey.best = None
                journey.wait_task = self.tasks.at(now + timedelta(seconds=spec.window_seconds), self._window_ends,
                                                  canvas.canvas_id, journey, spec.id, name="braze.canvas.action_window")
                with self._lock:
                    self._waiting[journey.braze_id].add(canvas.canvas_id)
                return
            elif isinstance(spec, ExitStep):
                self._finish(canvas, journey, "exit_step")
                return

    def _resume(self, canvas_id: str, journey: Journey, step_id: str | None) -> None:
        canvas = self.canvases.get(canvas_id)
        if canvas is None or journey.done or canvas.journeys.get(journey.braze_id) is not journey:
            return
        journey.wait_task = None
        self._walk(canvas, journey, step_id)

    def _message(self, canvas: Canvas, journey: Journey, step: CompiledStep, profile: Profile) -> None:
        spec = step.spec
        # each step's send is a dispatch of its own, as in Braze: templates key idempotency on it
        dispatch_id = self.runtime.ids.hex(24)
        ctx = DeliveryContext(trace_id=self.runtime.ids.hex(16), dispatch_id=dispatch_id,
                              braze_id=profile.braze_id, external_id=profile.external_id,
                              canvas_id=canvas.canvas_id, canvas_name=canvas.name, step_id=spec.id,
                              step_name=step.name)
        self.runtime.journal.record("braze", "canvas.send", ctx.trace_id, canvas_id=canvas.canvas_id, step_id=spec.id,
                                    dispatch_id=dispatch_id, braze_id=profile.braze_id,
                                    external_id=profile.external_id)
        namespaces = {
            "canvas": {"name": canvas.name, "api_id": canvas.canvas_id, "variant_name": canvas.name,
                       "variant_api_id": canvas.canvas_id},
            "campaign": {"name": step.name, "api_id": spec.id, "dispatch_id": dispatch_id,
                         "message_name": step.name, "message_api_id": spec.id},
            "context": journey.context, "canvas_entry_properties": journey.context,
            "event_properties": journey.event_properties,
        }
        self.sender.deliver(step.content, profile, namespaces, ctx, step.throttle)

    # -- action paths ---------------------------------------------------------------------------
    def on_event(self, event: CustomEvent) -> None:
        braze_id = event.profile.braze_id
        with self._lock:
            waiting = list(self._waiting.get(braze_id, ()))
        for canvas_id in waiting:
            canvas = self.canvases.get(canvas_id)
            journey = canvas.journeys.get(braze_id) if canvas else None
            if canvas is None or journey is None or journey.done or journey.current is None:
                continue
            step = canvas.steps.get(journey.current)
            if step is None or not isinstance(step.spec, ActionPathsStep):
                continue
            if journey.step_entered_at is not None and event.time < journey.step_entered_at:
                continue  # only actions after the user reached the step count
            for rank, matcher in enumerate(step.matchers):
                if not matcher.matches(event.name, event.properties):
                    continue
                path = step.spec.paths[rank]
                if step.spec.advance == "immediately":
                    self._take_path(canvas, journey, step, path.name, path.next, event.properties)
                elif journey.best is None or rank < journey.best[0]:
                    journey.best = (rank, path.next, path.name, dict(event.properties))
                break
        for canvas in self.canvases.values():
            if canvas.trigger is not None and canvas.active and canvas.trigger.matches(event.name, event.properties):
                entry = canvas.spec.entry
                assert isinstance(entry, ActionTrigger)
                if event.time < (entry.start or canvas.created_at) or (entry.end and event.time > entry.end):
                    continue
                self.pending.at(self.runtime.clock.now() + timedelta(seconds=entry.delay_seconds), "entry",
                                canvas.canvas_id, braze_id, dict(event.properties))

    def _enter_action(self, canvas_id: str, braze_id: str, properties: dict[str, Any]) -> None:
        canvas = self.canvases.get(canvas_id)
        profile = self.users.by_braze_id(braze_id)
        if canvas is not None and profile is not None and canvas.active:
            self.enter(canvas, profile, self.runtime.ids.hex(24), {}, properties)

    def _take_path(self, canvas: Canvas, journey: Journey, step: CompiledStep, name: str, next_step: str | None,
                   properties: dict[str, Any] | None) -> None:
        with self._lock:
            self._waiting[journey.braze_id].discard(canvas.canvas_id)
        if journey.wait_task is not None:
            self.runtime.scheduler.cancel(journey.wait_task)
            journey.wait_task = None
        canvas.step_counts[step.spec.id][f"path:{name}"] += 1
        journey.path[-1]["outcome"] = name
        if properties is not None:
            journey.event_properties = properties
        self.runtime.journal.record("braze", "canvas.action_path", None, canvas_id=canvas.canvas_id,
                                    step_id=step.spec.id, path=name, braze_id=journey.braze_id)
        self._walk(canvas, journey, next_step)

    def _window_ends(self, canvas_id: str, journey: Journey, step_id: str) -> None:
        canvas = self.canvases.get(canvas_id)
        if canvas is None or journey.done or journey.current != step_id:
            return
        journey.wait_task = None
        step = canvas.steps.get(step_id)
        if step is None:
            return
        if journey.best is not None:
            _, next_step, name, props = journey.best
            self._take_path(canvas, journey, step, name, next_step, props)
        else:
            self._take_path(canvas, journey, step, EVERYONE_ELSE, step.spec.everyone_else, None)

    # -- outcomes and reports -------------------------------------------------------------------
    def on_outcome(self, ctx: DeliveryContext, outcome: str) -> None:
        canvas = self.canvases.get(ctx.canvas_id or "")
        if canvas is not None and ctx.step_id is not None:
            canvas.step_counts[ctx.step_id][outcome] += 1

    def stats(self, canvas: Canvas) -> dict[str, Any]:
        steps = []
        for step_id, step in canvas.steps.items():
            counts = dict(canvas.step_counts.get(step_id, {}))
            steps.append({"id": step_id, "name": step.name, "type": step.spec.type, **{"entered": 0, **counts}})
        active = sum(1 for j in canvas.journeys.values() if not j.done)
        conversions = [self.conversions.count(canvas.canvas_id, i) for i in range(len(canvas.conversions))]
        return {"entered": canvas.entered, "completed": canvas.completed, "active": active,
                "unique_conversions": conversions[0] if conversions else 0, "conversions_by_event": conversions,
                "steps": steps}

    def reset(self) -> None:
        self.pending.clear()
        with self._lock:
            self.canvases.clear()
            self._waiting.clear()

    # -- snapshots ------------------------------------------------------------------------------
    def snapshot_state(self) -> dict[str, Any]:
        """Each canvas's definition, its message steps' webhooks as composed when saved, its counts, every
        journey (with the wait it is in: a delay or an action window, and until when), the next scheduled
        entry, who waits for an action, and the action-triggered entries still waiting for their delay."""
        with self._lock:
            canvases = [self._canvas_state(c) for c in self.canvases.values()]
            return detached({"canvases": canvases, "waiting": {b: set(ids) for b, ids in self._waiting.items() if ids},
                             "pending": self.pending.pending()})

    def _canvas_state(self, c: Canvas) -> dict[str, Any]:
        journeys = {}
        for braze_id, journey in c.journeys.items():
            data = as_fields(journey)
            task = data.pop("wait_task")
            data["wait"] = None
            if task is not None and not (task.cancelled or task.done):
                data["wait"] = ("delay" if task.fn == self._resume else "window", task.when, task.args[2])
            journeys[braze_id] = data
        handle = c.schedule
        return {"canvas_id": c.canvas_id, "spec": c.spec.model_dump(mode="json"), "created_at": c.created_at,
                "contents": {sid: content_state(s.content) for sid, s in c.steps.items() if s.content is not None},
                "throttles": {sid: s.throttle.snapshot_state() for sid, s in c.steps.items() if s.throttle},
                "entered": c.entered, "completed": c.completed,
                "step_counts": {sid: dict(counts) for sid, counts in c.step_counts.items()},
                "journeys": journeys, "last_entered": c.last_entered, "first_entry": c.first_entry,
                "last_entry": c.last_entry,
                "scheduled_at": handle.when if handle is not None and not (handle.cancelled or handle.done) else None}

    def stage_state(self, state: Any) -> tuple[Swap, Callable[[], None]]:
        """(swap, start): `start` schedules the next entries, the journeys' waits and the waiting entries again."""
        record(state, "canvases", ("canvases", "waiting", "pending"))
        canvases: dict[str, Canvas] = {}
        runs: list[tuple[Canvas, datetime]] = []
        waits: list[tuple[Canvas, Journey, tuple[str, datetime, Any]]] = []
        for i, data in enumerate(expect(state["canvases"], list, "canvases.canvases")):
            where = f"canvases.canvases[{i}]"
            canvas, run, canvas_waits = staged(where, lambda data=data, where=where: self._canvas_from(data, where))
            canvases[canvas.canvas_id] = canvas
            if run is not None:
                runs.append((canvas, run))
            waits += canvas_waits
        waiting: dict[str, set[str]] = defaultdict(set)
        for braze_id, ids in expect(state["waiting"], dict, "canvases.waiting").items():
            waiting[braze_id] = set(expect(ids, set, f"canvases.waiting[{braze_id!r}]"))
        pending = self.pending.stage(state["pending"], "canvases.pending")

        def swap() -> None:
            with self._lock:
                self.canvases, self._waiting = canvases, waiting

        def start() -> None:
            for canvas, run in runs:
                self._schedule(canvas, run)
            for canvas, journey, (kind, when, arg) in waits:
                if kind == "delay":
                    journey.wait_task = self.tasks.at(when, self._resume, canvas.canvas_id, journey, arg,
                                                      name="braze.canvas.delay")
                else:
                    journey.wait_task = self.tasks.at(when, self._window_ends, canvas.canvas_id, journey, arg,
                                                      name="braze.canvas.action_window")
            self.pending.arm(pending)
        return swap, start

    def _canvas_from(self, data: Any, where: str) -> tuple[Canvas, datetime | None, list]:
        record(data, where, ("canvas_id", "spec", "created_at", "contents", "throttles", "entered", "completed",
                             "step_counts", "journeys", "last_entered", "first_entry", "last_entry", "scheduled_at"))
        spec = CanvasSpec.model_validate(data["spec"])
        contents = expect(data["contents"], dict, f"{where}.contents")
        throttles = expect(data["throttles"], dict, f"{where}.throttles")
        steps = {}
        for step in spec.steps:
            content = None
            if isinstance(step, MessageStep):
                if step.id not in contents:
                    raise StateError(f"{where}.contents", f"no webhook for the message step {step.id!r}")
                content = content_from_state(contents[step.id], f"{where}.contents[{step.id!r}]")
            compiled = steps[step.id] = self._compile_step(step, content, check=False)
            if compiled.throttle is not None and step.id in throttles:
                compiled.throttle = Throttle.from_state(compiled.throttle.per_minute, throttles[step.id])
        matcher = compile_action(spec.entry.event, spec.entry.property_filters, "entry") \
            if isinstance(spec.entry, ActionTrigger) else None
        canvas = Canvas(expect(data["canvas_id"], str, f"{where}.canvas_id"), spec, steps,
                        spec.first_step or spec.steps[0].id, self.audiences.compile(spec.audience, "audience", False),
                        matcher, compile_conversions(spec.conversion_events, "canvas"),
                        expect(data["created_at"], datetime, f"{where}.created_at"),
                        expect(data["entered"], int, f"{where}.entered"),
                        expect(data["completed"], int, f"{where}.completed"))
        for sid, counts in expect(data["step_counts"], dict, f"{where}.step_counts").items():
            canvas.step_counts[sid] = Counter(expect(counts, dict, f"{where}.step_counts[{sid!r}]"))
        waits = []
        for braze_id, journey_data in expect(data["journeys"], dict, f"{where}.journeys").items():
            here = f"{where}.journeys[{braze_id!r}]"
            journey_data = dict(expect(journey_data, dict, here))
            wait = journey_data.pop("wait", None)
            journey = canvas.journeys[braze_id] = build(Journey, journey_data, here)
            if wait is not None:
                if not (isinstance(wait, tuple) and len(wait) == 3 and wait[0] in ("delay", "window")
                        and isinstance(wait[1], datetime) and wait[1].tzinfo is not None):
                    raise StateError(f"{here}.wait", "expected (\"delay\" or \"window\", when, step id)")
                waits.append((canvas, journey, wait))
        canvas.last_entered = dict(expect(data["last_entered"], dict, f"{where}.last_entered"))
        canvas.first_entry = expect(data["first_entry"], (datetime, type(None)), f"{where}.first_entry")
        canvas.last_entry = expect(data["last_entry"], (datetime, type(None)), f"{where}.last_entry")
        run = moment(data["scheduled_at"], f"{where}.scheduled_at", optional=True)
        if run is not None and not isinstance(spec.entry, ScheduledTrigger):
            raise StateError(f"{where}.scheduled_at", "only a scheduled canvas has a next entry")
        return canvas, run, waits
