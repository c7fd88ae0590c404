"""`PUT /_admin/sending`: sends held while webhooks are still accepted, and the drain after a resume."""

from __future__ import annotations

import json

import pytest

from harness.clock import to_ms

from .conftest import Outbound, read_webhook, webhook_body


def _pause(out: Outbound, paused: bool) -> None:
    response = out.client.put("/_admin/sending", json={"paused": paused})
    assert response.status_code == 200 and response.get_json() == {"paused": paused}


def test_paused_bridge_accepts_and_commits_but_sends_nothing_until_resumed(out: Outbound):
    _pause(out, True)
    for i in range(3):
        out.accept("realtime", webhook_body(f"r{i}", f"u{i}"))
    for i in range(4):
        out.accept("batch", webhook_body(f"b{i}", f"v{i}"))
    out.run_for(60)
    assert out.sendbird.calls == []
    assert {out.state(m) for m in ("r0", "r1", "r2", "b0", "b3")} == {"pending"}
    assert out.client.get("/_admin/sending").get_json() == {"paused": True}

    _pause(out, False)
    out.run()
    modes = sorted(c.body["mode"] for c in out.sendbird.calls)
    assert modes == ["batch", "realtime", "realtime", "realtime"]
    assert {out.state(m) for m in ("r0", "r1", "r2", "b0", "b1", "b2", "b3")} == {"sent"}
    assert sorted(e["properties"]["message_id"] for e in out.events()) == ["b0", "b1", "b2", "b3", "r0", "r1", "r2"]
    kinds = [r.kind for r in out.runtime.journal.read(kinds=["sending.paused", "sending.resumed"])[0]]
    assert kinds == ["sending.paused", "sending.resumed"]


def test_pausing_twice_and_resuming_a_running_bridge_change_nothing(out: Outbound):
    _pause(out, False)
    _pause(out, True)
    _pause(out, True)
    out.accept("realtime", webhook_body("m1", "u1"))
    _pause(out, False)
    out.run()
    assert len(out.sendbird.calls) == 1 and out.state("m1") == "sent"


def test_reads_are_still_reported_while_sends_are_held(out: Outbound):
    out.accept("realtime", webhook_body("m1", "u1"))
    out.run()
    _pause(out, True)
    assert out.bridge.on_read(json.loads(read_webhook("u1", to_ms(out.now())))) == 1
    out.run()
    assert [e["properties"]["status"] for e in out.events()] == ["SENT", "READ"]


@pytest.mark.parametrize("body", [None, {}, {"paused": "yes"}, {"paused": 1}, {"paused": True, "extra": 1}, [True]])
def test_a_bad_switch_body_is_a_400_in_the_bridges_error_format(out: Outbound, body):
    response = out.client.put("/_admin/sending", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"] is True and "paused" in response.get_json()["message"]
    assert out.bridge.paused is False
