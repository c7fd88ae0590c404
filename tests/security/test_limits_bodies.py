"""A request body over a service's limit is refused with 413 in the product's format, on every route, before
anything reads it (docs/security.md, "Limits"): in-process (the `harness.limits.BodyLimit` layer, fast routes
included) and through the gateway (Content-Length refused unread, a chunked body read only to the limit)."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.gateway import Gateway
from harness.limits import BodyLimit, within_budget
from tests.harness.rsgi_doubles import Proto, Scope, answer, request, run_gateway
from tests.security import limits_apps
from tests.security.limits_apps import (
    BRAZE_AUTH,
    BRIDGE_AUTH,
    JSON,
    SENDBIRD_AUTH,
    assert_braze_error,
    assert_sendbird_error,
    call,
    stored,
)

LIMIT = 4096

BRAZE_ROUTES = [("POST", "/users/track"), ("POST", "/users/export/ids"), ("POST", "/users/delete"),
                ("POST", "/campaigns/trigger/send"), ("POST", "/canvas/trigger/send"), ("POST", "/messages/send"),
                ("POST", "/sends/id/create"), ("GET", "/campaigns/list"), ("POST", "/_admin/campaigns")]
SENDBIRD_ROUTES = [("POST", "/v1/notifications"), ("POST", "/v1/notifications/messages"),
                   ("POST", "/v2/notifications"), ("POST", "/v1/templates"), ("PUT", "/v1/templates/promo"),
                   ("POST", "/v1/templates/promo/archive"),
                   ("POST", "/v1/storage/targets_files/f.csv/presigned_urls"), ("POST", "/_storage/targets_files"),
                   ("PUT", "/v3/group_channels/notifications_feed/messages/mark_as_read"),
                   ("POST", "/v3/sdk/notification_statistics"), ("POST", "/v3/users"),
                   ("PUT", "/_admin/webhooks")]
BRIDGE_ROUTES = [("POST", "/braze/notifications/realtime"), ("POST", "/braze/notifications/batch"),
                 ("POST", "/sendbird/webhooks"), ("PUT", "/_admin/integration")]


def json_of(size: int) -> bytes:
    """A JSON object of exactly `size` bytes (at least 12)."""
    head = b'{"pad": "'
    return head + b"x" * (size - len(head) - 2) + b'"}'


SIZES = {"just over": LIMIT + 1, "far over": 20 * 1024 * 1024}


@pytest.mark.parametrize("chunked", [False, True], ids=["with length", "chunked"])
@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
@pytest.mark.parametrize(("method", "path"), BRAZE_ROUTES)
def test_braze_refuses_a_body_over_its_limit_with_413(method, path, size, chunked):
    app = limits_apps.braze(LIMIT)
    before = stored(app)
    reply = call(app, method, path, json_of(size), {**BRAZE_AUTH, **JSON}, chunked=chunked)
    assert_braze_error(reply, 413, f"at most {LIMIT} bytes")
    assert reply.headers.get("Connection") == "close"
    assert stored(app) == before


@pytest.mark.parametrize("chunked", [False, True], ids=["with length", "chunked"])
@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
@pytest.mark.parametrize(("method", "path"), SENDBIRD_ROUTES)
def test_sendbird_refuses_a_body_over_its_limit_with_413(method, path, size, chunked):
    app = limits_apps.sendbird(LIMIT)
    before = stored(app)
    reply = call(app, method, path, json_of(size), {**SENDBIRD_AUTH, **JSON}, chunked=chunked)
    assert_sendbird_error(reply, 413, 400110, f"at most {LIMIT} bytes")
    assert stored(app) == before


@pytest.mark.parametrize("chunked", [False, True], ids=["with length", "chunked"])
@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
@pytest.mark.parametrize(("method", "path"), BRIDGE_ROUTES)
def test_bridge_refuses_a_body_over_its_limit_with_413(method, path, size, chunked):
    app = limits_apps.bridge(LIMIT)
    before = stored(app)
    reply = call(app, method, path, json_of(size), {**BRIDGE_AUTH, **JSON}, chunked=chunked)
    assert_sendbird_error(reply, 413, 400110, f"at most {LIMIT} bytes")
    assert stored(app) == before


def test_a_body_at_the_limit_is_read():
    app = limits_apps.braze(LIMIT)
    reply = call(app, "POST", "/users/track", json_of(LIMIT), {**BRAZE_AUTH, **JSON})
    assert reply.status == 400 and "Valid data must be provided" in reply.body["message"]


@pytest.mark.parametrize("service", ["braze", "sendbird", "bridge"])
def test_the_default_limits_refuse_a_20_mb_body(service):
    app = getattr(limits_apps, service)()
    reply = call(app, "POST", {"braze": "/users/track", "sendbird": "/v1/notifications",
                               "bridge": "/braze/notifications/realtime"}[service], json_of(20 * 1024 * 1024),
                 {**BRAZE_AUTH, **SENDBIRD_AUTH, **JSON})
    assert reply.status == 413


def test_the_in_process_transport_gets_the_413():
    app = limits_apps.sendbird(LIMIT)
    runtime = app.extensions["runtime"]
    runtime.transport.register("sendbird.local", app)
    reply = runtime.transport.session().post("http://sendbird.local/v1/notifications", data=json_of(LIMIT + 1),
                                             headers={**SENDBIRD_AUTH, **JSON})
    assert reply.status_code == 413 and reply.json()["code"] == 400110


@settings(max_examples=60, deadline=None)
@given(size=st.integers(min_value=LIMIT - 64, max_value=LIMIT + 64), chunked=st.booleans())
def test_a_body_gets_413_exactly_when_it_is_over_the_limit(size, chunked):
    app = limits_apps.bridge(LIMIT)
    reply = call(app, "POST", "/braze/notifications/realtime", json_of(size), {**BRIDGE_AUTH, **JSON},
                 chunked=chunked)
    assert (reply.status == 413) == (size > LIMIT), (size, reply)


def test_a_deeply_nested_body_is_refused_in_each_products_format():
    deep = b"[" * 100_000 + b"]" * 100_000
    big_enough = 1024 * 1024
    reply = call(limits_apps.braze(big_enough), "POST", "/users/track", deep, {**BRAZE_AUTH, **JSON})
    assert_braze_error(reply, 400, "Invalid JSON")
    reply = call(limits_apps.sendbird(big_enough), "POST", "/v1/notifications", deep, {**SENDBIRD_AUTH, **JSON})
    assert_sendbird_error(reply, 400, 400403)
    reply = call(limits_apps.bridge(big_enough), "POST", "/braze/notifications/realtime", deep,
                 {**BRIDGE_AUTH, **JSON})
    assert_sendbird_error(reply, 400, 400403)


def test_a_limit_below_one_byte_is_refused():
    with pytest.raises(ValueError, match="at least one byte"):
        BodyLimit(lambda environ, start: [], 0, lambda exc: (500, {}, {}))


# -- the gateway -----------------------------------------------------------------------------------------------
class UnreadProto(Proto):
    """A client whose body must not be read: the gateway answers from its Content-Length alone."""

    async def __call__(self) -> bytes:
        raise AssertionError("the gateway read a body it should have refused unread")

    def __aiter__(self):
        raise AssertionError("the gateway read a body it should have refused unread")


@pytest.mark.parametrize("path", ["/v1/notifications", "/v1/templates", "/_admin/webhooks"])
def test_the_gateway_refuses_a_declared_length_over_the_limit_without_reading(path):
    gateway = Gateway(limits_apps.sendbird(LIMIT), threads=2)
    scope = Scope("POST", path, headers=[("content-length", str(20 * 1024 * 1024)), *SENDBIRD_AUTH.items(),
                                         *JSON.items()])
    proto = run_gateway(gateway, lambda g: answer(g, scope, UnreadProto()))
    assert proto.status == 413 and proto.json()["code"] == 400110
    assert proto.header("connection") == "close"


def test_the_gateway_stops_reading_a_chunked_body_at_the_limit():
    consumed: list[int] = []

    class Endless(Proto):
        def __aiter__(self):
            async def chunks():
                while True:
                    consumed.append(1024)
                    yield b"x" * 1024
                    await asyncio.sleep(0)
            return chunks()

    gateway = Gateway(limits_apps.braze(LIMIT), threads=2)
    scope = Scope("POST", "/users/track", headers=[*BRAZE_AUTH.items(), *JSON.items()])
    proto = run_gateway(gateway, lambda g: answer(g, scope, Endless()))
    assert proto.status == 413 and "at most" in proto.json()["message"]
    assert sum(consumed) <= LIMIT + 1024


def test_the_gateway_passes_a_chunked_body_within_the_limit_to_the_app():
    gateway = Gateway(limits_apps.bridge(LIMIT), threads=2)
    body = json.dumps({"template_key": "promo", "receiver": "u1", "event_name": "sb", "message_id": "m1"}).encode()
    scope = Scope("POST", "/braze/notifications/realtime", headers=[*BRIDGE_AUTH.items(), *JSON.items()])
    proto = Proto(body)
    proto.chunk_size = 7
    run_gateway(gateway, lambda g: answer(g, scope, proto))
    assert proto.status == 200, proto.payload


def test_the_gateway_answers_the_fast_route_413_in_the_services_format():
    gateway = Gateway(limits_apps.braze(LIMIT), threads=2)
    scope, proto = request("POST", "/users/track", json_of(LIMIT + 1), headers={**BRAZE_AUTH, **JSON})
    run_gateway(gateway, lambda g: answer(g, scope, proto))
    assert proto.status == 413 and set(proto.json()) == {"message"}


# -- the budget that bounds listings --------------------------------------------------------------------------
@given(sizes=st.lists(st.integers(min_value=0, max_value=50), max_size=30), budget=st.integers(0, 400))
def test_within_budget_keeps_order_stays_in_budget_and_says_what_it_left(sizes, budget):
    items = ["x" * n for n in sizes]
    kept, cut = within_budget(items, lambda s: s, budget)
    assert kept == items[:len(kept)]
    assert cut == (len(kept) < len(items))
    assert bool(kept) or not items  # never empty while something is left
    if len(kept) > 1:
        assert sum(len(s) + 1 for s in kept) <= budget


ENTRY_POINTS = [("mocks.braze.__main__", "BRAZE_"), ("mocks.sendbird.__main__", "SENDBIRD_"),
                ("bridge.__main__", "BRIDGE_")]


@pytest.mark.parametrize(("module", "prefix"), ENTRY_POINTS)
def test_the_limit_is_a_flag_and_an_environment_variable_of_each_service(module, prefix, capsys):
    import importlib

    from harness.settings import load_settings

    main = importlib.import_module(module)
    model = next(v for k, v in vars(main).items() if k.endswith("Settings") and getattr(v, "__module__", "") == module)
    assert load_settings(model, ["--max-body-bytes", "123"], env={}, env_prefix=prefix).max_body_bytes == 123
    assert load_settings(model, [], env={f"{prefix}MAX_BODY_BYTES": "77"}, env_prefix=prefix).max_body_bytes == 77
    with pytest.raises(SystemExit):
        load_settings(model, ["--max-body-bytes", "0"], env={}, env_prefix=prefix)
    assert "--max-body-bytes" in capsys.readouterr().err
