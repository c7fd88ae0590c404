"""What a replayed request can do to the bridge (docs/security.md, "Signatures and replay"): the read webhook's
signature has no timestamp, so a captured one verifies again whenever it is resent; what keeps a replay
harmless is that the bridge reports each (message, status) once, for good, and accepts each message id once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.bridge.conftest import API_TOKEN, Stack, read_webhook, sign, webhook_body


@pytest.fixture
def stack() -> Iterator[Stack]:
    env = Stack(seed=1, batch_linger_ms=500)
    yield env
    env.runtime.close()


def _read_webhook(stack: Stack, user_id: str) -> bytes:
    """The user's read receipt 5 s after their newest message, as Sendbird signs and sends it."""
    return read_webhook(user_id, max(m["created_at"] for m in stack.feed(user_id)) + 5000)


def _deliver(stack: Stack, raw: bytes):
    return stack.bridge_client.post("/sendbird/webhooks", data=raw, headers={
        "Content-Type": "application/json", "x-sendbird-signature": sign(raw)})


def test_a_read_webhook_replayed_after_its_read_was_reported_reports_nothing_again(stack: Stack):
    stack.post("realtime", webhook_body("m1", "ada"))
    stack.run()
    raw = _read_webhook(stack, "ada")
    assert _deliver(stack, raw).get_json()["read_events_queued"] == 1
    stack.run()  # the READ is posted to Braze
    for _ in range(3):
        replay = _deliver(stack, raw)
        assert replay.status_code == 200 and replay.get_json()["read_events_queued"] == 0
        stack.runtime.scheduler.run_for(86_400)  # a day later too
    stack.run()
    assert [e["properties"]["message_id"] for e in stack.braze_events("READ")] == ["m1"]


def test_a_replayed_integration_webhook_sends_nothing_new(stack: Stack):
    first = stack.post("realtime", webhook_body("m1", "ada"))
    stack.run()
    for _ in range(3):
        again = stack.bridge_client.post("/braze/notifications/realtime", json=webhook_body("m1", "ada"),
                                         headers={"Api-Token": API_TOKEN})
        assert again.get_data() == first.get_data()
    stack.run()
    assert len(stack.feed("ada")) == 1 and [e["properties"]["message_id"] for e in stack.braze_events("SENT")] == ["m1"]
