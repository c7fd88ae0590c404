"""A Hypothesis state machine over the schedule store, through `/messages/schedule/*` on a simulated clock.

Rules create schedules (some in the past, which fire at once: harness contract), move them, change their
message, delete them (also ones already fired or never made: Braze's "Invalid Schedule ID"), and advance the
clock. A model says which schedule must have sent what by now; after every step the webhooks the receiver got
are exactly the model's, each at its schedule's time (`post_schedule_messages.md`,
`post_update_scheduled_messages.md`, `post_delete_scheduled_messages.md` in braze-inc/braze-docs).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from mocks.braze.rest import errors

from .braze_fixtures import HOOK_URL, BrazeEnv, iso

OFFSETS = st.integers(min_value=-600, max_value=6 * 3600)


def message(text: str) -> dict:
    return {"webhook": {"url": HOOK_URL, "request_method": "POST", "body": text}}


class ScheduleMachine(RuleBasedStateMachine):
    schedules = Bundle("schedules")

    def __init__(self) -> None:
        super().__init__()
        self.env = BrazeEnv()
        self.env.users("u1")
        self.hook = self.env.receiver()
        self.made = 0
        # the model: schedule_id -> (due, body) for the pending ones; what was sent, as (time, body)
        self.pending: dict[str, tuple[datetime, str]] = {}
        self.sent: list[tuple[datetime, str]] = []

    def teardown(self) -> None:
        self.env.close()

    def _due(self, offset: int) -> datetime:
        return self.env.now() + timedelta(seconds=offset)

    @rule(target=schedules, offset=OFFSETS)
    def create(self, offset: int) -> str:
        self.made += 1
        text = f"m{self.made}"
        due = self._due(offset)
        response = self.env.post("/messages/schedule/create", {
            "external_user_ids": ["u1"], "messages": message(text), "schedule": {"time": iso(due)}})
        assert response.status_code == 201, response.get_json()
        schedule_id = response.get_json()["schedule_id"]
        self.pending[schedule_id] = (max(due, self.env.now()), text)
        return schedule_id

    @rule(schedule_id=schedules, offset=OFFSETS)
    def move(self, schedule_id: str, offset: int) -> None:
        due = self._due(offset)
        response = self.env.post("/messages/schedule/update", {"schedule_id": schedule_id,
                                                               "schedule": {"time": iso(due)}})
        self._expect(response, schedule_id)
        if schedule_id in self.pending:
            self.pending[schedule_id] = (max(due, self.env.now()), self.pending[schedule_id][1])

    @rule(schedule_id=schedules)
    def change_message(self, schedule_id: str) -> None:
        self.made += 1
        text = f"m{self.made}"
        response = self.env.post("/messages/schedule/update", {"schedule_id": schedule_id,
                                                               "messages": message(text)})
        self._expect(response, schedule_id)
        if schedule_id in self.pending:
            self.pending[schedule_id] = (self.pending[schedule_id][0], text)

    @rule(schedule_id=st.one_of(schedules, st.just("never-made")))
    def delete(self, schedule_id: str) -> None:
        response = self.env.post("/messages/schedule/delete", {"schedule_id": schedule_id})
        self._expect(response, schedule_id)
        self.pending.pop(schedule_id, None)

    @rule(seconds=st.integers(min_value=0, max_value=4 * 3600))
    def advance(self, seconds: int) -> None:
        self.env.run_for(seconds)
        now = self.env.now()
        for schedule_id, (due, text) in list(self.pending.items()):
            if due <= now:
                self.sent.append((due, text))
                del self.pending[schedule_id]

    def _expect(self, response, schedule_id: str) -> None:
        if schedule_id in self.pending:
            assert response.status_code == 201, response.get_json()
        else:  # fired, deleted or never made
            assert response.status_code == 400, response.get_json()
            assert response.get_json()["message"] == errors.INVALID_SCHEDULE_ID

    @invariant()
    def sent_what_the_model_says_when_it_says(self) -> None:
        got = Counter(zip(self.hook.times, self.hook.bodies, strict=True))
        assert got == Counter(self.sent)


ScheduleMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
TestSchedules = ScheduleMachine.TestCase
