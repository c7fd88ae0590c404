"""The callback states (pending, posting, checking, posted, dead) against a Braze that loses answers, fails its
exports and sees the bridge killed mid-post (docs/bridge.md, "Exactly once").

The model is what Braze recorded (it does not deduplicate) and what each state promises:
- pending: not at Braze (it is about to be posted; were it there, that post would double it);
- posting, checking: at Braze at most once, the check will tell;
- posted: at Braze exactly once, for good;
- dead: at Braze at most once, for good, with a reason in the dead letters.
At the end, with Braze healthy, every callback is posted (at Braze once) or dead with a reason."""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from pathlib import Path

import requests
import responses
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from .conftest import Answer, Call, Crash, Outbound, run_idle, webhook_body

MESSAGE_IDS = [f"m{i}" for i in range(8)]
RECEIVERS = ["u1", "u2", "u3"]
STATES = ("pending", "posting", "checking", "posted", "dead")
TRACK_MODES = ("ok", "lost-after", "cut-after", "lost-before", "503", "429")
EXPORT_MODES = ("ok", "429", "503", "timeout")


class CallbackMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="callbacks-"))
        self.rsps = responses.RequestsMock(assert_all_requests_are_fired=False)
        self.rsps.start()
        self.out = Outbound(self.rsps, db=str(self.dir / "bridge.sqlite3"))
        self.export_ok = self.out.export.default
        self.seen: dict[tuple[str, str], str] = {}  # the last state each callback was seen in

    def teardown(self) -> None:
        try:
            self.braze_recovers()
        finally:
            self.out.runtime.close()
            self.rsps.stop()
            self.rsps.reset()
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- the world --------------------------------------------------------------------------------
    @rule(message_id=st.sampled_from(MESSAGE_IDS), receiver=st.sampled_from(RECEIVERS))
    def webhook_arrives(self, message_id: str, receiver: str) -> None:
        response = self.out.post("realtime", webhook_body(message_id, receiver, variables={"m": message_id}))
        assert response.status_code == 200, response.get_json()

    @rule(mode=st.sampled_from(TRACK_MODES))
    def braze_track_answers(self, mode: str) -> None:
        """From now on `/users/track` records and answers this way."""
        out = self.out

        def answer(call: Call) -> Answer:
            if mode in ("ok", "lost-after", "cut-after"):
                out._braze_ok(call)
            if mode == "ok":
                return 201, {}, {"message": "success"}
            if mode == "lost-after":
                return requests.ReadTimeout("no answer in time")
            if mode == "cut-after":
                return requests.exceptions.ChunkedEncodingError("answer broken off")
            if mode == "lost-before":
                return requests.ReadTimeout("no answer in time")
            if mode == "429":
                return 429, {"Retry-After": "3"}, {"message": "API rate limit exceeded"}
            return 503, {}, {"message": "unavailable"}

        out.braze.default = answer

    @rule(mode=st.sampled_from(EXPORT_MODES))
    def braze_export_answers(self, mode: str) -> None:
        answers: dict[str, Answer] = {"429": (429, {"Retry-After": "5"}, {"message": "API rate limit exceeded"}),
                                      "503": (503, {}, {"message": "unavailable"}),
                                      "timeout": requests.ReadTimeout("no answer in time")}
        self.out.export.default = self.export_ok if mode == "ok" else (lambda call: answers[mode])

    @rule(reached=st.booleans())
    def the_next_post_kills_the_process(self, reached: bool) -> None:
        if self.out.braze.script:  # one armed kill at a time
            return
        out = self.out

        def kill(call: Call) -> Answer:
            if reached:
                out._braze_ok(call)
            raise Crash("killed during a post")

        out.braze.then(kill)

    @rule(seconds=st.sampled_from([0.0, 0.3, 2.0, 30.0, 400.0]))
    def time_passes(self, seconds: float) -> None:
        try:
            self.out.run_for(seconds)
        except Crash:
            self.out.restart(after_seconds=1.0)

    @rule()
    def restart(self) -> None:
        self.out.restart(after_seconds=0.5)

    # -- what must always hold --------------------------------------------------------------------
    @invariant()
    def each_state_keeps_its_promise(self) -> None:
        at_braze = Counter(self.out.recorded_keys())
        assert max(at_braze.values(), default=0) <= 1, [k for k, n in at_braze.items() if n > 1]
        rows = self.out.bridge.outbox._db.execute("SELECT message_id, status, state FROM callbacks").fetchall()
        for message_id, status, state in rows:
            key = (message_id, status)
            assert state in STATES, (key, state)
            if state == "pending":
                assert at_braze[key] == 0, f"{key} is at Braze and would be posted again"
            if state == "posted":
                assert at_braze[key] == 1, f"{key} is posted but Braze never recorded it"
            before = self.seen.get(key)
            if before in ("posted", "dead"):
                assert state == before, f"{key} left {before} for {state}"
            self.seen[key] = state

    # -- the end ----------------------------------------------------------------------------------
    def braze_recovers(self) -> None:
        self.braze_track_answers("ok")
        self.braze_export_answers("ok")
        self.out.braze.script.clear()  # no more kills
        try:
            run_idle(self.out.runtime)
        except Crash:  # a kill armed before the clear, already under way
            self.out.restart(after_seconds=1.0)
            run_idle(self.out.runtime)
        self.each_state_keeps_its_promise()
        at_braze = Counter(self.out.recorded_keys())
        letters = {d["ref"]: d["reason"] for d in self.out.bridge.outbox.dead_letters() if d["kind"] == "callback"}
        rows = self.out.bridge.outbox._db.execute("SELECT message_id, status, state FROM callbacks").fetchall()
        for message_id, status, state in rows:
            if state == "dead":
                assert letters.get(f"{message_id}:{status}"), f"{message_id}:{status} is dead without a reason"
            else:
                assert state == "posted" and at_braze[(message_id, status)] == 1, (message_id, status, state)


CallbackMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
TestCallbacks = CallbackMachine.TestCase
