"""Product inputs the product fuzzer (test_product_fuzz.py) found answering 500, pinned: each now gets the product's
4xx, or, where the input is the sender's to get wrong and the request is still good, the answer a good one gets."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from mocks.sendbird.webhooks import message_read_payload

from .products import braze_product_env, bridge_product_env, sendbird_product_env
from .services import BRAZE_AUTH, SENDBIRD_AUTH, sendbird_error


@pytest.fixture
def sendbird():
    env = sendbird_product_env()
    yield env
    env.runtime.close()


@pytest.fixture
def bridge():
    env = bridge_product_env()
    yield env
    env.runtime.close()


@pytest.mark.parametrize(("path", "query"), [
    ("/v1/templates", {"limit": "1" * 5000}),
    ("/v3/group_channels/notifications_feed/messages", {"user_id": "u1", "message_ts": "9" * 5000}),
    ("/v3/group_channels/notifications_feed/messages", {"user_id": "u1", "prev_limit": "-" + "9" * 30}),
    ("/v3/group_channels/notifications_feed/messages", {"user_id": "u1", "message_ts": str(2**63)}),
])
def test_numbers_longer_than_a_long_are_out_of_range_not_a_crash(sendbird, path, query):
    """int() refuses a numeral over 4,300 digits (ValueError, answered 500); no Sendbird number is that long."""
    response = sendbird.client.get(path, query_string=query, headers=SENDBIRD_AUTH)
    assert response.status_code == 400 and sendbird_error(response.get_json()), response.get_data(as_text=True)
    assert response.get_json()["code"] == 400111 and f'"{next(iter(set(query) - {"user_id"}))}"' in \
        response.get_json()["message"]


@pytest.mark.parametrize("token", ["²", "1" * 5000, "١٢"])
def test_a_page_token_must_be_ascii_digits(sendbird, token):
    """`"²".isdigit()` is true and `int("²")` raises: the token check let it through to a 500."""
    response = sendbird.client.get("/v1/templates", query_string={"token": token}, headers=SENDBIRD_AUTH)
    assert response.status_code == 400 and response.get_json()["code"] == 400111


def _signed(bridge, raw: bytes):
    signature = hmac.new(b"local-sendbird-token", raw, hashlib.sha256).hexdigest()
    return bridge.client.post("/sendbird/webhooks", data=raw, headers={"Content-Type": "application/json",
                                                                        "x-sendbird-signature": signature})


@pytest.mark.parametrize("raw", [b"[" * 100_000 + b"]" * 100_000, b'{"category": NaN}', b'{"read_at": Infinity}'],
                         ids=["deep", "nan", "infinity"])
def test_a_signed_sendbird_webhook_that_is_not_json_is_invalid_json(bridge, raw):
    """The receiver parsed with json.loads: deep nesting raised RecursionError (500), NaN was taken."""
    response = _signed(bridge, raw)
    assert response.status_code == 400 and response.get_json()["code"] == 400403, response.get_data(as_text=True)


def _read(read_ts) -> bytes:
    payload = message_read_payload("LOCAL", "notifications_feed", "u1", 0, 0, 0)
    payload["read_updates"][0]["read_ts"] = read_ts
    return json.dumps({"category": "group_channel:message_read", **payload}).encode()


@pytest.mark.parametrize("read_ts", [10**80, 1e300, -(10**20), -1, 1767225605000.5, True, "1767225605000", None])
def test_a_read_webhook_with_a_read_ts_no_calendar_holds_is_refused_and_reports_nothing(bridge, read_ts):
    """`read_ts / 1000` overflowed a float, or the READ's time a datetime (500). The read time says which
    notifications were read, so none is guessed: the webhook is refused in Sendbird's error format."""
    assert bridge.client.put("/_admin/integration", json={"event_callback": True}).status_code == 200
    response = _signed(bridge, _read(read_ts))
    assert response.status_code == 400 and response.get_json()["code"] == 400111, response.get_data(as_text=True)
    assert "read_ts" in response.get_json()["message"]
    assert bridge.client.get("/_admin/outbox").get_json().get("callbacks_pending", 0) == 0


@pytest.mark.parametrize(("read_ts", "queued"), [(0, 0), (253_402_300_799_999, 1)], ids=["1970", "9999"])
def test_a_read_ts_at_either_end_of_the_calendar_is_taken(bridge, read_ts, queued):
    assert bridge.client.put("/_admin/integration", json={"event_callback": True}).status_code == 200
    response = _signed(bridge, _read(read_ts))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"received": True, "read_events_queued": queued}
    bridge.runtime.scheduler.run_until_idle(max_tasks=1000)
    assert not bridge.runtime.scheduler.errors


@pytest.fixture
def braze():
    env = braze_product_env()
    yield env
    env.runtime.close()


@pytest.mark.parametrize(("longest", "unit", "ending_at"), [(50, "day", "0001-02-19T12:00:00Z"),
                                                           (3, "hour", "0001-01-01T02:30:00Z")])
def test_a_data_series_reaching_before_the_year_1_is_refused(braze, longest, unit, ending_at):
    """Counting `length` buckets back from `ending_at` left the calendar (OverflowError, answered 500)."""
    def series(length: int):
        return braze.client.get("/events/data_series", headers=BRAZE_AUTH, query_string={
            "event": "opened", "length": length, "unit": unit, "ending_at": ending_at})

    ok = series(longest)
    assert ok.status_code == 200 and len(ok.get_json()["data"]) == longest
    refused = series(longest + 1)
    assert refused.status_code == 400 and "too early" in refused.get_json()["message"]
