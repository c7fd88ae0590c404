"""The outbox views a load test reconciles with after the bridge restarted: `GET /_admin/outbox/summary` and
`GET /_admin/outbox/webhooks`, counted from the durable outbox for the webhooks received since a moment."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import Outbound, assert_error_shape, sendbird_error, webhook_body


def summary(out: Outbound, **params) -> dict:
    response = out.client.get("/_admin/outbox/summary", query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_summary_counts_the_window_by_state_and_callbacks_by_status(out: Outbound) -> None:
    out.accept("realtime", webhook_body("before", receiver="u0"))
    out.run()
    out.advance(10)
    start = out.epoch()
    for i in range(3):
        out.accept("realtime", webhook_body(f"m{i}", receiver=f"u{i}"))
    out.sendbird.then(sendbird_error(400, 400201, "Template not found."))  # the fourth is a dead letter
    out.run()
    out.accept("realtime", webhook_body("dead", receiver="u9"))
    out.run()
    out.bridge.set_paused(True)
    out.accept("realtime", webhook_body("waiting", receiver="u8"))
    body = summary(out, since_received=f"{start:.3f}")
    assert body["since_received"] == pytest.approx(start, abs=0.001)
    assert body["webhooks"] == {"accepted": 5, "pending": 1, "sending": 0, "sent": 3, "dead": 1,
                                "sent_with_notification_id": 3}
    assert body["callbacks"]["SENT"] == {"pending": 0, "posting": 0, "checking": 0, "posted": 3, "dead": 0}
    assert body["callbacks"]["READ"] == {"pending": 0, "posting": 0, "checking": 0, "posted": 0, "dead": 0}
    assert summary(out)["webhooks"]["accepted"] == 6  # no window: everything the outbox holds


def test_webhooks_pages_through_the_window_in_the_order_they_were_stored(out: Outbound) -> None:
    out.accept("realtime", webhook_body("before", receiver="u0"))
    out.advance(5)
    start = out.epoch()
    for i in range(5):
        out.accept("realtime", webhook_body(f"m{i}", receiver=f"u{i}"), trace_id=f"t{i}")
    out.run()
    seen, after, pages = [], None, 0
    while True:
        params = {"since_received": repr(start), "limit": 2} | ({"after": after} if after is not None else {})
        response = out.client.get("/_admin/outbox/webhooks", query_string=params)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        seen.extend(body["webhooks"])
        pages += 1
        after = body["next"]
        if after is None:
            break
    assert pages == 3
    assert [w["message_id"] for w in seen] == [f"m{i}" for i in range(5)]
    first = seen[0]
    assert (first["state"], first["receiver"], first["trace_id"], first["mode"]) == ("sent", "u0", "t0", "realtime")
    assert first["notification_id"] and first["sent_at"] >= first["received_at"] >= start
    assert first["callbacks"] == {"SENT": "posted"}


@pytest.mark.parametrize(("path", "query", "mentions"), [
    ("summary", "since_received=yesterday", '"since_received"'),
    ("summary", "since_received=-1", '"since_received"'),
    ("summary", "since_received=nan", '"since_received"'),
    ("summary", "since_received=1e400", '"since_received"'),
    ("webhooks", "since_received=", '"since_received"'),
    ("webhooks", "after=-1", '"after"'),
    ("webhooks", "after=99999999999999999999", '"after"'),
    ("webhooks", "limit=0", '"limit"'),
    ("webhooks", "limit=10001", '"limit"'),
    ("webhooks", "limit=99999999999999999999", '"limit"'),
])
def test_bad_parameters_are_400_in_the_bridges_error_format(out: Outbound, path: str, query: str,
                                                            mentions: str) -> None:
    assert_error_shape(out.client.get(f"/_admin/outbox/{path}?{query}"), 400, 400111, mentions)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=150)
@given(name=st.sampled_from(["since_received", "after", "limit"]),
       value=st.one_of(st.text(), st.floats(allow_nan=True).map(str), st.integers().map(str)))
def test_any_parameter_value_gets_200_or_400(out: Outbound, name: str, value: str) -> None:
    response = out.client.get("/_admin/outbox/webhooks", query_string={name: value})
    assert response.status_code in (200, 400), response.get_data(as_text=True)
    if response.status_code == 400:
        assert_error_shape(response, 400, 400111, name)
