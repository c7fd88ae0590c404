"""harness.gateway in-process: the WSGI environ it builds, where each kind of request is answered (fast
route inline or pooled, the WSGI app, a streamed body, a native event stream, a websocket on its own port), slow
stream readers dropped, and shutdown ending open streams and websockets."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from flask import Flask, Response, request
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from harness.clock import SimClock
from harness.fast_routes import FastRoutes
from harness.gateway import Gateway
from harness.journal import Journal
from harness.processes import free_port
from harness.sse import format_event, subscription_stream

from .rsgi_doubles import Proto, Scope, Transport, answer, run_gateway
from .rsgi_doubles import request as rsgi_request

SKIP = {"wsgi.input", "wsgi.errors", "harness.sse.native_streams"}


def environ_app(environ, start_response):
    """Answers with its environ (JSON-able values only) and the body it read."""
    body = environ["wsgi.input"].read()
    echo = {k: v for k, v in environ.items() if k not in SKIP and isinstance(v, str | int | bool | tuple)}
    payload = json.dumps({"environ": echo, "body_length": len(body), "body_tail": body[-8:].decode()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]


def environ_of(scope: Scope, proto: Proto) -> dict[str, Any]:
    done = run_gateway(Gateway(environ_app, threads=2), lambda gw: answer(gw, scope, proto))
    return done.json()


def test_environ_keeps_the_raw_query_string_and_decodes_the_path():
    scope, proto = rsgi_request("GET", "/files/café", query="q=a%2Fb+c&q=2&empty=")
    env = environ_of(scope, proto)["environ"]
    assert env["QUERY_STRING"] == "q=a%2Fb+c&q=2&empty="
    assert env["PATH_INFO"] == "/files/café".encode().decode("latin-1")  # PEP 3333: bytes as latin-1
    assert env["REQUEST_METHOD"] == "GET" and env["SCRIPT_NAME"] == ""
    assert (env["SERVER_NAME"], env["SERVER_PORT"], env["REMOTE_ADDR"], env["REMOTE_PORT"]) == (
        "127.0.0.1", "7200", "127.0.0.1", "50123")
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1" and env["wsgi.url_scheme"] == "http"


def test_flask_sees_the_query_string_and_path_a_client_sent():
    app = Flask("echo")

    @app.get("/files/<path:name>")
    def files(name: str):
        return {"name": name, "q": request.args.getlist("q"), "empty": request.args["empty"]}

    scope, proto = rsgi_request("GET", "/files/café", query="q=a%2Fb+c&q=2&empty=")
    done = run_gateway(Gateway(app, threads=1), lambda gw: answer(gw, scope, proto))
    assert done.status == 200
    assert done.json() == {"name": "café", "q": ["a/b c", "2"], "empty": ""}


def test_environ_joins_repeated_headers_and_drops_names_with_underscores():
    scope, proto = rsgi_request("POST", "/", b'{"a":1}', headers={"Content-Type": "application/json"}, extra_headers=[
        ("X-Tag", "one"), ("X-Tag", "two"), ("Cookie", "a=1"), ("Cookie", "b=2"), ("X_Forged", "evil")])
    env = environ_of(scope, proto)["environ"]
    assert env["HTTP_X_TAG"] == "one,two"
    assert env["HTTP_COOKIE"] == "a=1; b=2"
    assert env["CONTENT_TYPE"] == "application/json" and env["CONTENT_LENGTH"] == "7"
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env
    assert "HTTP_X_FORGED" not in env


def test_empty_and_large_bodies_reach_the_app_whole():
    scope, proto = rsgi_request("POST", "/")
    empty = environ_of(scope, proto)
    assert empty["body_length"] == 0 and "CONTENT_LENGTH" not in empty["environ"]
    large = b"x" * (8 * 2**20) + b"THE-END!"
    scope, proto = rsgi_request("POST", "/", large)
    got = environ_of(scope, proto)
    assert got["body_length"] == len(large) and got["body_tail"] == "THE-END!"
    assert got["environ"]["CONTENT_LENGTH"] == str(len(large))


def test_a_chunked_body_gets_its_length():
    scope = Scope("POST", "/", headers=[("transfer-encoding", "chunked")])
    got = environ_of(scope, Proto(b"abc"))
    assert got["environ"]["CONTENT_LENGTH"] == "3" and got["body_length"] == 3


def inner_app(environ, start_response):
    start_response("299 Inner", [("X-Inner", "1"), ("Content-Length", "5")])
    return [b"inner"]


def echo_routes(seen_threads: list[str]) -> FastRoutes:
    def echo(environ, raw):
        seen_threads.append(threading.current_thread().name)
        data = json.loads(raw)
        if data.get("fail"):
            raise KeyError("boom")
        return 201, {"X-Echo": environ.get("HTTP_X_TRACE_ID", "-")}, {"got": data}

    return FastRoutes(inner_app, {"/echo": echo}, lambda exc: (418, {"X-Error": type(exc).__name__}, {"error": 1}))


@pytest.mark.parametrize("pooled", [False, True])
def test_fast_routes_are_answered_by_their_handler_inline_or_on_the_pool(pooled: bool):
    threads: list[str] = []
    gateway = Gateway(echo_routes(threads), threads=1, pooled_routes=["/echo"] if pooled else [])

    async def scenario(gw: Gateway) -> list[Proto]:
        return [await answer(gw, *rsgi_request("POST", "/echo", b'{"a":1}', headers={"X-Trace-Id": "t1"})),
                await answer(gw, *rsgi_request("POST", "/echo", b'{"fail":true}')),
                await answer(gw, *rsgi_request("GET", "/echo")),
                await answer(gw, Scope("POST", "/echo"), Proto(b'{"b":2}'))]  # chunked: read whole, same handler

    ok, failed, get, unsized = run_gateway(gateway, scenario)
    assert (ok.status, ok.json(), ok.header("X-Echo")) == (201, {"got": {"a": 1}}, "t1")
    assert ok.header("Content-Type") == "application/json" and ok.header("Content-Length") == str(len(ok.payload))
    assert (failed.status, failed.json(), failed.header("X-Error")) == (418, {"error": 1}, "KeyError")
    assert (get.status, get.payload) == (299, b"inner")
    assert (unsized.status, unsized.json()) == (201, {"got": {"b": 2}})
    main = threading.main_thread().name
    assert all((name != main) == pooled for name in threads[:2]), threads  # the declared-length two


def test_pooled_routes_must_be_fast_routes():
    with pytest.raises(ValueError, match="/nope"):
        Gateway(echo_routes([]), pooled_routes=["/nope"])


def test_a_body_without_length_is_sent_chunk_by_chunk():
    def chunked_app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"one,"
        yield b"two"

    done = run_gateway(Gateway(chunked_app, threads=1), lambda gw: answer(gw, *rsgi_request("GET", "/")))
    assert done.status == 200 and done.transport.text == "one,two"


def test_an_app_that_raises_gets_a_500_not_a_dead_connection():
    def broken(environ, start_response):
        raise RuntimeError("boom")

    done = run_gateway(Gateway(broken, threads=1), lambda gw: answer(gw, *rsgi_request("GET", "/")))
    assert done.status == 500


class Feed:
    """A subscription whose items come from other threads, as journal records do."""

    def __init__(self) -> None:
        self.subscribers: list = []

    def subscribe(self, put):
        self.subscribers.append(put)
        return lambda: self.subscribers.remove(put)

    def publish(self, item: Any) -> None:
        for put in list(self.subscribers):
            put(item)


def stream_app(feed: Feed) -> Flask:
    app = Flask("streams")

    @app.get("/events")
    def events():
        if request.headers.get("Api-Token") != "ok":
            return {"error": True}, 401
        stream = subscription_stream(feed.subscribe, lambda item: format_event(item, "item"))
        return Response(stream, mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.get("/health")
    def health():
        return {"ok": True}

    return app


async def until(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.005)


def test_event_streams_hold_no_thread_and_end_when_the_client_goes_away():
    feed = Feed()
    gateway = Gateway(stream_app(feed), threads=1)

    async def scenario(gw: Gateway) -> None:
        protos = [Proto() for _ in range(5)]
        tasks = [asyncio.ensure_future(gw.__rsgi__(Scope("GET", "/events", headers=[("api-token", "ok")]), p))
                 for p in protos]
        await until(lambda: len(feed.subscribers) == 5)
        health = await asyncio.wait_for(answer(gw, *rsgi_request("GET", "/health")), 2)  # one thread, 5 streams
        assert health.status == 200
        threading.Thread(target=feed.publish, args=({"n": 1},)).start()  # items come from other threads
        await until(lambda: all("data: {\"n\":1}" in p.transport.text for p in protos))
        first = protos[0]
        assert first.status == 200 and first.header("Cache-Control") == "no-cache"
        assert first.transport.text.startswith(": connected\n\n")
        assert "event: item\n" in first.transport.text
        first.gone.set()
        await asyncio.wait_for(tasks[0], 2)
        assert len(feed.subscribers) == 4
        gw.shutdown()
        await asyncio.wait_for(asyncio.gather(*tasks[1:]), 2)
        assert feed.subscribers == []

    run_gateway(gateway, scenario)


def test_a_refused_stream_is_the_views_answer():
    feed = Feed()

    async def scenario(gw: Gateway) -> Proto:
        return await asyncio.wait_for(answer(gw, *rsgi_request("GET", "/events")), 2)

    refused = run_gateway(Gateway(stream_app(feed), threads=1), scenario)
    assert refused.status == 401 and refused.json() == {"error": True} and feed.subscribers == []


def test_a_stream_that_falls_too_far_behind_is_dropped_and_journalled():
    feed = Feed()
    journal = Journal(SimClock())
    gateway = Gateway(stream_app(feed), threads=1, journal=journal, service="test", stream_limit=10)

    async def scenario(gw: Gateway) -> None:
        gate = asyncio.Event()  # the client stops reading after the hello
        proto = Proto(transport=Transport(gate))
        task = asyncio.ensure_future(gw.__rsgi__(Scope("GET", "/events", headers=[("api-token", "ok")]), proto))
        await until(lambda: proto.transport.chunks and feed.subscribers)
        feed.publish(0)
        await asyncio.sleep(0.05)  # the stream is now stuck sending item 0
        for i in range(1, 100):
            feed.publish(i)
        gate.set()
        await asyncio.wait_for(task, 2)
        assert feed.subscribers == []
        assert "data: 99" not in proto.transport.text

    run_gateway(gateway, scenario)
    dropped = journal.read(kinds=["stream.dropped"])[0]
    assert [(r.service, r.attrs["path"], r.attrs["behind"]) for r in dropped] == [("test", "/events", 10)]


def test_a_websocket_upgrade_on_the_http_port_is_refused_and_a_handler_needs_its_port():
    async def handler(scope, proto) -> None:
        raise AssertionError("served on the HTTP port")

    async def scenario(gw: Gateway) -> Proto:
        proto = await answer(gw, Scope("GET", "/ws", proto="ws"), Proto())
        gw.shutdown()
        return proto

    assert run_gateway(Gateway(inner_app, ws_handler=handler, ws_port=free_port()), scenario).closed_with == 404
    assert run_gateway(Gateway(inner_app), scenario).closed_with == 404
    with pytest.raises(ValueError, match="ws_port"):
        Gateway(inner_app, ws_handler=handler)


def test_the_websocket_port_echoes_the_subprotocol_and_shutdown_closes_it_going_away_before_then():
    """`then` (granian's stop) runs only once the close frame is out and the handler has returned."""
    offered = "%7B%22token%22%3A%22t%22%7D"
    events: list[str] = []

    async def handler(scope, proto) -> None:
        transport = await proto.accept(subprotocol=scope.headers.get("Sec-WebSocket-Protocol"))
        await transport.send_str(scope.query_string)
        while (await transport.receive()).kind != 0:  # stands for a socket waiting for its next message
            pass
        events.append("handler returned")

    port = free_port()

    async def scenario(gw: Gateway) -> tuple[str | None, str, int | None]:
        client = await connect(f"ws://127.0.0.1:{port}/?p=JS&user_id=u", subprotocols=[offered])
        first = await client.recv()
        stopped = asyncio.Event()
        gw.shutdown(then=lambda: (events.append("then"), stopped.set()))
        await asyncio.wait_for(stopped.wait(), 5)
        with pytest.raises(ConnectionClosed):
            await client.recv()
        return client.subprotocol, first, client.close_code

    subprotocol, first, code = run_gateway(Gateway(inner_app, ws_handler=handler, ws_port=port), scenario)
    assert (subprotocol, first, code) == (offered, "p=JS&user_id=u", 1001)
    assert events == ["handler returned", "then"]


def test_shutdown_answers_the_requests_in_progress_before_first_runs_and_cuts_later_ones():
    """`first` (a persisting fake's clean save) must see every request the server answered: a save taken while
    a send was still being answered forgot a notification whose caller held its 200. A request arriving once the
    shutdown began is cut (a broken answer), so nothing that took effect goes unsaved."""
    release = threading.Event()
    events: list[str] = []

    def slow_app(environ, start_response):
        release.wait(5)
        events.append("answered")
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    async def scenario(gw: Gateway) -> tuple[Proto, Proto]:
        first_scope, first_proto = rsgi_request("POST", "/send", b"{}")
        in_progress = asyncio.ensure_future(gw.__rsgi__(first_scope, first_proto))
        await asyncio.sleep(0.05)  # on the pool, held by the app
        stopped = asyncio.Event()
        gw.shutdown(first=lambda: events.append("first"), then=lambda: (events.append("then"), stopped.set()))
        await asyncio.sleep(0.05)
        assert events == [], "nothing runs while a request is in progress"
        late = await answer(gw, *rsgi_request("POST", "/send", b"{}"))
        release.set()
        await asyncio.wait_for(in_progress, 5)
        await asyncio.wait_for(stopped.wait(), 5)
        return first_proto, late

    answered, late = run_gateway(Gateway(slow_app, threads=2), scenario)
    assert (answered.status, answered.payload) == (200, b"ok")
    assert events == ["answered", "first", "then"]
    assert late.status == 200 and late.header("Content-Length") == "2" and late.transport.text == " ", \
        "cut: one byte of the two declared"
