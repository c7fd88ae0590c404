"""`GET /_admin/outbox/batches`: the batch groups waiting with their linger countdown, and the sends in flight."""

from __future__ import annotations

from .conftest import Outbound, webhook_body


def _batches(out: Outbound) -> dict:
    response = out.client.get("/_admin/outbox/batches")
    assert response.status_code == 200
    return response.get_json()


def test_a_waiting_group_shows_its_size_its_oldest_age_and_when_it_leaves(out: Outbound):
    out.client.put("/_admin/sending", json={"paused": True})
    out.accept("batch", webhook_body("b1", "u1", label="spring", tags=["b", "a"]))
    out.advance(0.4)
    out.accept("batch", webhook_body("b2", "u2", label="spring", tags=["a", "b"]))
    out.accept("realtime", webhook_body("r1", "u3"))
    view = _batches(out)
    assert view["batch_linger_ms"] == 1000 and view["paused"] is True
    [group] = view["groups"]
    assert group["template_key"] == webhook_body("x")["template_key"]
    assert (group["label"], group["tags"], group["waiting"]) == ("spring", ["a", "b"], 2)
    assert group["oldest_age_seconds"] == 0.4 and group["flush_in_seconds"] == 0.6
    out.advance(5)
    assert _batches(out)["groups"][0]["flush_in_seconds"] == 0.0  # overdue: leaves once sending resumes


def test_groups_leave_the_view_once_sent(out: Outbound):
    out.accept("batch", webhook_body("b1", "u1"))
    out.accept("batch", webhook_body("b2", "u2"))
    assert _batches(out)["groups"][0]["waiting"] == 2
    out.run()
    assert _batches(out)["groups"] == [] and len(out.sendbird.calls) == 1


def test_a_send_whose_answer_is_awaited_is_in_flight(out: Outbound):
    seen = []

    def answer_after_looking(call):
        seen.append(_batches(out)["in_flight"])
        return out._sendbird_ok(call)

    out.sendbird.then(answer_after_looking)
    out.accept("realtime", webhook_body("r1", "u1"))
    out.run()
    [[row]] = seen
    assert (row["message_id"], row["state"], row["mode"], row["receiver"], row["attempts"]) == (
        "r1", "sending", "realtime", "u1", 1)
    assert _batches(out)["in_flight"] == []
