"""The chaos suite, small (issue 15): each fault under a Locust load on the realtime and batch paths, with devices
reading, must end with 0 lost and 0 duplicated notifications and SENT/READ events, by the locustfile's
reconciliation of what was answered 200 against Sendbird's notifications and Braze's events. A few seconds of
load per case; `benchmarks/chaos.py` runs the same cases at full scale."""

from __future__ import annotations

import pytest

from simulator.chaos import CASES, run_case

pytestmark = pytest.mark.live


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_nothing_is_lost_or_doubled(case, tmp_path):
    outcome = run_case(case, tmp_path, seconds=8, users=9, rps=2, down_seconds=3)
    assert outcome.verdict == "OK", "\n".join([*outcome.timeline, outcome.reconciliation])
    assert (outcome.losses, outcome.duplicates) == (0, 0)
    assert outcome.accepted > 10 and outcome.sent >= outcome.accepted and outcome.read > 0, outcome.output[-2000:]
    rules = {step for step in outcome.fired if not step.startswith("fault-")}
    if case.name in ("sendbird_5xx", "sendbird_hangs", "braze_429_storm"):
        assert sum(outcome.fired.values()) > 0 and rules, outcome.fired  # the fault really happened
