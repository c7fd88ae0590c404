"""Scheduled sends (`/campaigns/trigger/schedule/*`, `/canvas/trigger/schedule/*`, `/messages/schedule/*`).

A schedule keeps the request as it came and, when its time comes on the runtime clock, hands it to the same
send the immediate endpoint uses (`MessagingEndpoints.trigger_campaign` and friends), so a scheduled send
obeys every rule an immediate one does, with the rules of the moment it fires. The request is also checked
when the schedule is made (a dry run of that send), so a bad one is refused then, as Braze refuses it.

`in_local_time` sends to each user when the wall-clock `time` comes in the user's `time_zone` (UTC for a user
without one, the fake's company time zone): the schedule fires in waves, one per distinct UTC instant at which
that wall time comes somewhere, and each wave sends only to the users whose zone it is. Waves already past
when the schedule is made are skipped, as those users' time has gone. The fake has no engagement data to pick
an "optimal" hour, so `at_optimal_time` is served like `in_local_time` at the time given (a harness choice).
A schedule is forgotten once its last wave has fired.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from harness.runtime import Runtime
from harness.scheduler import TaskGroup, TaskHandle
from mocks.braze.audience.audiences import Predicate
from mocks.braze.rest import errors
from mocks.braze.rest.errors import BrazeError, bad_request
from mocks.braze.state import StateError, Swap, detached, expect, record
from mocks.braze.users.profiles import Profile
from mocks.braze.users.values import time_zones

MAX_AHEAD = timedelta(days=90)  # "up to 90 days in the future" (the create pages)
COMPANY_ZONE = "UTC"
KINDS = {"campaign": "campaign_id", "canvas": "canvas_id", "messages": None}

# (body, dispatch_id=, dry_run=, only=) -> the immediate endpoint's answer; raises BrazeError
Send = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class When:
    """A parsed `schedule` object: `time` is aware UTC, or naive wall-clock time when `local`."""

    time: datetime
    local: bool


@dataclass
class Schedule:
    schedule_id: str
    dispatch_id: str
    kind: str
    owner: str | None  # the campaign or canvas id the schedule was made for
    body: dict[str, Any]
    when: When
    waves: list[datetime]  # UTC instants still to fire, ascending
    handle: TaskHandle | None = None


def zone_of(profile: Profile) -> ZoneInfo:
    name = profile.attributes.get("time_zone")
    try:
        return ZoneInfo(name) if isinstance(name, str) and name else ZoneInfo(COMPANY_ZONE)
    except (ValueError, KeyError):
        return ZoneInfo(COMPANY_ZONE)


def local_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    return wall.replace(tzinfo=zone).astimezone(UTC)


@cache
def every_zone() -> tuple[ZoneInfo, ...]:
    """The IANA zones, once: listing them walks the time zone database on disk."""
    return tuple(ZoneInfo(name) for name in sorted(time_zones() | {COMPANY_ZONE}))


def local_waves(wall: datetime) -> list[datetime]:
    """Every UTC instant at which the wall-clock time `wall` comes in some time zone."""
    return sorted({local_instant(wall, zone) for zone in every_zone()})


def parse_when(value: Any) -> When:
    """The `schedule` object (`_docs/_api/objects_filters/schedule_object.md`)."""
    if not isinstance(value, dict):
        raise bad_request(errors.SCHEDULE_REQUIRED)
    flags = {}
    for key in ("in_local_time", "at_optimal_time"):
        flag = value.get(key, False)
        if not isinstance(flag, bool):
            raise bad_request(errors.MUST_BE_BOOLEAN.format(name=f"schedule.{key}"))
        flags[key] = flag
    text = value.get("time")
    if not isinstance(text, str):
        raise bad_request(errors.SCHEDULE_TIME_UNPARSABLE)
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise bad_request(errors.SCHEDULE_TIME_UNPARSABLE) from None
    local = flags["in_local_time"] or flags["at_optimal_time"]
    if local:
        if parsed.tzinfo is not None:
            raise bad_request(errors.SCHEDULE_LOCAL_WITH_ZONE)
        return When(parsed, True)
    try:
        moment = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:
        raise bad_request(errors.SCHEDULE_TIME_UNPARSABLE) from None
    return When(moment, False)


def plan(when: When, now: datetime) -> list[datetime]:
    """The instants a schedule fires at, from `now`. A past UTC time fires at once (harness contract: the docs
    only forbid a past local time); local waves already past are dropped, and none left is Braze's error."""
    if not when.local:
        if when.time > now + MAX_AHEAD:
            raise bad_request(errors.SCHEDULE_TOO_FAR)
        return [max(when.time, now)]
    waves = [w for w in local_waves(when.time) if w >= now]
    if not waves:
        raise bad_request(errors.SCHEDULE_LOCAL_TIME_PASSED)
    if waves[0] > now + MAX_AHEAD:
        raise bad_request(errors.SCHEDULE_TOO_FAR)
    return waves


class ScheduleStore:
    """Pending schedules and their scheduler tasks. `senders` maps a kind ("campaign", "canvas",
    "messages") to the immediate endpoint's send."""

    def __init__(self, runtime: Runtime, senders: dict[str, Send]) -> None:
        self.runtime = runtime
        self.senders = senders
        self.tasks = TaskGroup(runtime.scheduler)
        self._schedules: dict[str, Schedule] = {}
        self._lock = threading.RLock()

    # -- REST operations ----------------------------------------------------------------------
    def create(self, kind: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_request(errors.NOT_AN_OBJECT)
        request = {k: v for k, v in body.items() if k != "schedule"}
        when = parse_when(body.get("schedule"))
        waves = plan(when, self.runtime.clock.now())
        dispatch_id = self.senders[kind](request, dry_run=True)["dispatch_id"]
        owner_key = KINDS[kind]
        schedule = Schedule(self.runtime.ids.hex(24), dispatch_id, kind, request.get(owner_key) if owner_key else None,
                            request, when, waves)
        with self._lock:
            self._schedules[schedule.schedule_id] = schedule
            self._arm(schedule)
        self.runtime.journal.record("braze", "schedule.created", None, schedule_id=schedule.schedule_id,
                                    dispatch_id=dispatch_id, scheduled=kind, owner=schedule.owner,
                                    first=waves[0].isoformat(), waves=len(waves))
        return {"dispatch_id": dispatch_id, "schedule_id": schedule.schedule_id, "message": "success"}

    def update(self, kind: str, body: Any) -> dict[str, Any]:
        """The new `schedule` replaces the old one whole ("Any schedule will completely overwrite the one that you
        provided", the update pages); `/messages/schedule/update` may replace `messages` instead or as well."""
        with self._lock:
            schedule = self._find(kind, body)
            new_when = schedule.when
            if body.get("schedule") is not None or kind != "messages":
                new_when = parse_when(body.get("schedule"))
            new_body = schedule.body
            if kind == "messages":
                if body.get("schedule") is None and body.get("messages") is None:
                    raise bad_request(errors.SCHEDULE_UPDATE_EMPTY)
                if body.get("messages") is not None:
                    new_body = {**schedule.body, "messages": body["messages"]}
                    self.senders[kind](new_body, dispatch_id=schedule.dispatch_id, dry_run=True)
            waves = plan(new_when, self.runtime.clock.now())
            self._disarm(schedule)
            schedule.when, schedule.body, schedule.waves = new_when, new_body, waves
            self._arm(schedule)
        self.runtime.journal.record("braze", "schedule.updated", None, schedule_id=schedule.schedule_id,
                                    first=waves[0].isoformat(), waves=len(waves))
        return {"message": "success"}

    def delete(self, kind: str, body: Any) -> dict[str, Any]:
        with self._lock:
            schedule = self._find(kind, body)
            self._disarm(schedule)
            del self._schedules[schedule.schedule_id]
        self.runtime.journal.record("braze", "schedule.deleted", None, schedule_id=schedule.schedule_id)
        return {"message": "success"}

    def _find(self, kind: str, body: Any) -> Schedule:
        if not isinstance(body, dict):
            raise bad_request(errors.NOT_AN_OBJECT)
        owner_key = KINDS[kind]
        if owner_key is not None and body.get(owner_key) is None:
            raise bad_request(errors.REQUIRED.format(name=owner_key))
        schedule_id = body.get("schedule_id")
        if schedule_id is None:
            raise bad_request(errors.SCHEDULE_ID_REQUIRED)
        schedule = self._schedules.get(schedule_id) if isinstance(schedule_id, str) else None
        if schedule is None or schedule.kind != kind or (owner_key is not None and schedule.owner != body[owner_key]):
            raise bad_request(errors.INVALID_SCHEDULE_ID)
        return schedule

    # -- firing -------------------------------------------------------------------------------
    def _arm(self, schedule: Schedule) -> None:
        schedule.handle = self.tasks.at(schedule.waves[0], self._fire, schedule.schedule_id, name="braze.schedule")

    def _disarm(self, schedule: Schedule) -> None:
        if schedule.handle is not None:
            self.runtime.scheduler.cancel(schedule.handle)
            schedule.handle = None

    def _fire(self, schedule_id: str) -> None:
        with self._lock:
            schedule = self._schedules.get(schedule_id)
            if schedule is None or not schedule.waves:
                return
            wave = schedule.waves.pop(0)
            if schedule.waves:
                self._arm(schedule)
            else:
                schedule.handle = None
                del self._schedules[schedule_id]
            body, dispatch_id = dict(schedule.body), schedule.dispatch_id
            only = self._wave_audience(schedule.when, wave)
        try:
            self.senders[schedule.kind](body, dispatch_id=dispatch_id, only=only)
            self.runtime.journal.record("braze", "schedule.fired", None, schedule_id=schedule_id,
                                        dispatch_id=dispatch_id, wave=wave.isoformat())
        except BrazeError as exc:  # e.g. the campaign was deleted meanwhile: nothing is sent, as Braze would not
            self.runtime.journal.record("braze", "schedule.failed", None, schedule_id=schedule_id,
                                        dispatch_id=dispatch_id, status=exc.status, error=exc.message)

    @staticmethod
    def _wave_audience(when: When, wave: datetime) -> Predicate | None:
        if not when.local:
            return None
        wall = when.time
        return lambda profile, now: local_instant(wall, zone_of(profile)) == wave

    def reset(self) -> None:
        self.tasks.cancel_all()
        with self._lock:
            self._schedules.clear()

    # -- snapshots ------------------------------------------------------------------------------
    def snapshot_state(self) -> list[dict[str, Any]]:
        """Each pending schedule as data: its request, its `schedule` and the waves still to fire."""
        with self._lock:
            return detached([{"schedule_id": s.schedule_id, "dispatch_id": s.dispatch_id, "kind": s.kind,
                              "owner": s.owner, "body": s.body, "time": s.when.time, "local": s.when.local,
                              "waves": s.waves} for s in self._schedules.values()])

    def stage_state(self, state: Any) -> tuple[Swap, Callable[[], None]]:
        """(swap, start): `start` arms each schedule's next wave again, after every store is swapped in."""
        schedules: dict[str, Schedule] = {}
        for i, data in enumerate(expect(state, list, "schedules")):
            where = f"schedules[{i}]"
            record(data, where, ("schedule_id", "dispatch_id", "kind", "owner", "body", "time", "local", "waves"))
            if data["kind"] not in KINDS:
                raise StateError(f"{where}.kind", f"{data['kind']!r} is not one of {', '.join(KINDS)}")
            waves = expect(data["waves"], list, f"{where}.waves")
            if not waves or not all(isinstance(w, datetime) and w.tzinfo is not None for w in waves):
                raise StateError(f"{where}.waves", "expected a non-empty list of aware times")
            schedule = Schedule(expect(data["schedule_id"], str, f"{where}.schedule_id"),
                                expect(data["dispatch_id"], str, f"{where}.dispatch_id"), data["kind"],
                                expect(data["owner"], (str, type(None)), f"{where}.owner"),
                                expect(data["body"], dict, f"{where}.body"),
                                When(expect(data["time"], datetime, f"{where}.time"),
                                     expect(data["local"], bool, f"{where}.local")), list(waves))
            schedules[schedule.schedule_id] = schedule

        def swap() -> None:
            with self._lock:
                self._schedules = schedules

        def start() -> None:
            with self._lock:
                for schedule in schedules.values():
                    self._arm(schedule)
        return swap, start
