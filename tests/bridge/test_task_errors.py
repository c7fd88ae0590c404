"""No task dies silently (docs/bridge.md, "When something breaks"): whatever a send, a batch flush or a callback
flush raises, the rows it held leave `sending`/`posting` (retried, checked or set aside with a reason) and the
journal says what happened."""

from __future__ import annotations

import pytest
import requests

from .conftest import Outbound, webhook_body


@pytest.mark.parametrize("error", [requests.exceptions.ChunkedEncodingError("connection broken: incomplete read"),
                                   requests.exceptions.ContentDecodingError("bad gzip"),
                                   requests.RequestException("something else")],
                         ids=["chunked-encoding", "content-decoding", "plain"])
@pytest.mark.parametrize("mode", ["realtime", "batch"])
def test_any_request_exception_is_a_failed_call_that_is_retried(make_outbound, error: Exception, mode: str):
    out = make_outbound(batch_linger_ms=100)
    out.sendbird.then(error)
    out.accept(mode, webhook_body("m1", "u1"))
    if mode == "batch":
        out.accept(mode, webhook_body("m2", "u2"))
    out.run()
    assert len(out.sendbird.calls) == 2
    assert {out.state(m) for m in (["m1"] if mode == "realtime" else ["m1", "m2"])} == {"sent"}
    reasons = {r["reason"] for r in out.journal("sendbird.retry")}
    assert reasons == {f"request failed: {type(error).__name__}: {error}"}


def test_an_uncallable_braze_endpoint_sets_the_callbacks_aside_instead_of_leaving_them_posting(out: Outbound):
    """What an endpoint set before URLs were checked (or set around the check) did: requests raised
    MissingSchema inside the callback flush, and the callbacks stayed `posting` even after the fix."""
    out.bridge.integration.braze_rest_endpoint = "notaurl"  # around the check, as an old version allowed
    out.accept("realtime", webhook_body("m1"), "trace-1")
    out.run()
    assert out.bridge.outbox.depth() == {"webhooks_sent": 1, "callbacks_dead": 1}
    [letter] = out.bridge.outbox.dead_letters()
    assert letter["ref"] == "m1:SENT" and "MissingSchema" in letter["reason"] and "notaurl" in letter["reason"]
    fixed = out.client.put("/_admin/integration", json={"braze_rest_endpoint": "http://braze.test"})
    assert fixed.status_code == 200
    assert out.client.post("/_admin/dead_letters/replay").status_code == 200
    out.run()
    assert [e["properties"]["message_id"] for e in out.events()] == ["m1"]
    assert out.bridge.outbox.depth() == {"webhooks_sent": 1, "callbacks_posted": 1}
