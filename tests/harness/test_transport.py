"""Transport: the same requests code against in-process WSGI apps (simulated) or real HTTP (live)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from flask import Flask, Response, jsonify, request
from requests.adapters import BaseAdapter

from harness.transport import DEFAULT_TIMEOUT, Transport

pytestmark = pytest.mark.timeout(15)


def make_app(name: str = "sendbird") -> Flask:
    app = Flask(name)

    def echo_body() -> dict:
        return {
            "app": name,
            "method": request.method,
            "path": request.path,
            "args": {k: request.args.getlist(k) for k in request.args},
            "json": request.get_json(silent=True),
            "form": request.form.to_dict(),
            "data": request.get_data(as_text=True) if not request.is_json and not request.form else None,
            "content_type": request.headers.get("Content-Type"),
            "custom": request.headers.get("X-Custom"),
            "api_token": request.headers.get("Api-Token"),
            "host": request.host.split(":")[0],
        }

    @app.route("/echo", methods=["GET", "POST", "PUT", "DELETE"])
    def echo():
        return jsonify(echo_body())

    @app.get("/items/<path:name>")
    def item(name: str):
        return jsonify({"name": name})

    @app.get("/status/<int:code>")
    def status(code: int):
        return jsonify({"code": code}), code, {"X-Reply": f"r{code}", "Retry-After": "7"}

    @app.get("/boom")
    def boom():
        raise RuntimeError("view failed")

    @app.get("/sse")
    def sse():
        count = request.args.get("n", default=3, type=int)

        def events():
            for i in range(count):
                yield f"id: {i}\ndata: {{\"n\": {i}}}\n\n".encode()

        return Response(events(), mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.get("/slow")
    def slow():
        time.sleep(request.args.get("s", default=0.3, type=float))
        return jsonify({"slow": True})

    gate = threading.Event()
    app.config["GATE"] = gate
    app.config["RELEASED"] = []

    @app.get("/gated-stream")
    def gated_stream():
        def events():
            yield b"data: first\n\n"
            # the second event is produced only once the client has read the first one
            app.config["RELEASED"].append(gate.wait(0.5))
            yield b"data: second\n\n"

        return Response(events(), mimetype="text/event-stream")

    return app


@dataclass
class Target:
    mode: str
    session: requests.Session
    base: str
    app: Flask


@pytest.fixture(params=["simulated", "live"])
def target(request: pytest.FixtureRequest, live_server_factory) -> Iterator[Target]:
    app = make_app()
    if request.param == "simulated":
        transport = Transport(simulated=True)
        transport.register("sendbird.local", app)
        base = "http://sendbird.local"
    else:
        transport = Transport(simulated=False)
        base = live_server_factory(app).base_url
    session = transport.session()
    yield Target(request.param, session, base, app)
    session.close()


# -- the same calls in both modes ----------------------------------------------------------------
def create_notification(session: requests.Session, base: str, token: str, payload: dict) -> dict:
    """Calling code as a service would write it: unaware of the mode."""
    response = session.post(f"{base}/echo", json=payload, params={"mode": "test"},
                            headers={"Api-Token": token})
    response.raise_for_status()
    return response.json()


def test_same_calling_code_in_both_modes(target: Target) -> None:
    body = create_notification(target.session, target.base, "tok-1", {"title": "hi", "n": [1, 2]})
    assert body["method"] == "POST"
    assert body["json"] == {"title": "hi", "n": [1, 2]}
    assert body["args"] == {"mode": ["test"]}
    assert body["api_token"] == "tok-1"
    assert body["app"] == "sendbird"


def test_get_with_query_string(target: Target) -> None:
    response = target.session.get(f"{target.base}/echo",
                                  params={"q": "a b&c=d", "multi": ["1", "2"], "uni": "é"})
    assert response.status_code == 200
    body = response.json()
    assert body["method"] == "GET"
    assert body["path"] == "/echo"
    assert body["args"] == {"q": ["a b&c=d"], "multi": ["1", "2"], "uni": ["é"]}
    assert body["json"] is None
    assert response.url == f"{target.base}/echo?q=a+b%26c%3Dd&multi=1&multi=2&uni=%C3%A9"


def test_post_json_sets_content_type(target: Target) -> None:
    response = target.session.post(f"{target.base}/echo", json={"a": 1})
    body = response.json()
    assert body["content_type"] == "application/json"
    assert body["json"] == {"a": 1}


def test_post_form_and_raw_bodies(target: Target) -> None:
    form = target.session.post(f"{target.base}/echo", data={"x": "1", "y": "two words"}).json()
    assert form["form"] == {"x": "1", "y": "two words"}
    assert form["content_type"] == "application/x-www-form-urlencoded"
    raw = target.session.put(f"{target.base}/echo", data="plain text ✓".encode(),
                             headers={"Content-Type": "text/plain; charset=utf-8"}).json()
    assert raw["method"] == "PUT"
    assert raw["data"] == "plain text ✓"
    assert raw["content_type"] == "text/plain; charset=utf-8"


def test_custom_headers_reach_the_app(target: Target) -> None:
    body = target.session.get(f"{target.base}/echo", headers={"X-Custom": "value-1"}).json()
    assert body["custom"] == "value-1"
    target.session.headers["X-Custom"] = "session-wide"
    assert target.session.delete(f"{target.base}/echo").json()["custom"] == "session-wide"


@pytest.mark.parametrize("code", [200, 201, 400, 404, 429, 503])
def test_status_codes_and_response_headers(target: Target, code: int) -> None:
    response = target.session.get(f"{target.base}/status/{code}")
    assert response.status_code == code
    assert response.ok is (code < 400)
    assert response.headers["X-Reply"] == f"r{code}"
    assert response.headers["x-reply"] == f"r{code}"  # case-insensitive
    assert response.headers["Retry-After"] == "7"
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"code": code}
    if code >= 400:
        with pytest.raises(requests.HTTPError):
            response.raise_for_status()


def test_reason_phrase(target: Target) -> None:
    assert target.session.get(f"{target.base}/status/201").reason == "CREATED"
    assert target.session.get(f"{target.base}/status/404").reason == "NOT FOUND"


def test_unknown_route_and_failing_view(target: Target) -> None:
    assert target.session.get(f"{target.base}/nope").status_code == 404
    assert target.session.get(f"{target.base}/boom").status_code == 500


def test_percent_encoded_path(target: Target) -> None:
    response = target.session.get(f"{target.base}/items/caf%C3%A9%20au%20lait")
    assert response.status_code == 200
    assert response.json() == {"name": "café au lait"}
    assert target.session.get(f"{target.base}/items/a%2Bb").json() == {"name": "a+b"}


def test_stream_reads_sse_line_by_line(target: Target) -> None:
    with target.session.get(f"{target.base}/sse", params={"n": 3}, stream=True) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers["Cache-Control"] == "no-cache"
        lines = list(response.iter_lines())
    assert lines == [b"id: 0", b'data: {"n": 0}', b"",
                     b"id: 1", b'data: {"n": 1}', b"",
                     b"id: 2", b'data: {"n": 2}', b""]


def test_stream_of_an_empty_body(target: Target) -> None:
    with target.session.get(f"{target.base}/sse", params={"n": 0}, stream=True) as response:
        assert response.status_code == 200
        assert list(response.iter_lines()) == []


def test_stream_delivers_each_event_before_the_next_is_produced(target: Target) -> None:
    """A live tail (`/_admin/journal/stream`) needs each event as soon as the app yields it.

    Live HTTP delivers the first chunk while the app is still waiting to produce the second one.
    In simulated mode `response.raw` is an `io.BufferedReader`, whose `read(512)` (what
    `iter_lines()`/`iter_content()` call) keeps pulling chunks from the app until 512 bytes or the
    end of the body, so the reader sees nothing until the app has produced much more.
    """
    app_gate: threading.Event = target.app.config["GATE"]
    with target.session.get(f"{target.base}/gated-stream", stream=True) as response:
        lines = response.iter_lines()
        first = next(lines)
        app_gate.set()
        rest = list(lines)
    assert first == b"data: first"
    assert rest == [b"", b"data: second", b""]
    assert target.app.config["RELEASED"] == [True], "the first event was not readable before the second"


# -- simulated mode ------------------------------------------------------------------------------
@pytest.fixture
def sim() -> Transport:
    transport = Transport(simulated=True)
    transport.register("sendbird.local", make_app("sendbird"))
    return transport


def test_unregistered_host_raises_connection_error(sim: Transport) -> None:
    session = sim.session()
    with pytest.raises(requests.ConnectionError, match=r"braze\.local"):
        session.get("http://braze.local/echo")
    with pytest.raises(requests.ConnectionError):
        session.get("https://example.com/")  # never the network


def test_register_unregister_and_case(sim: Transport) -> None:
    session = sim.session()
    sim.register("Bridge.LOCAL", make_app("bridge"))
    assert sim.hosts == ["bridge.local", "sendbird.local"]
    assert session.get("http://BRIDGE.local/echo").json()["app"] == "bridge"
    sim.unregister("BRIDGE.local")
    assert sim.hosts == ["sendbird.local"]
    with pytest.raises(requests.ConnectionError):
        session.get("http://bridge.local/echo")
    sim.unregister("never-registered.local")  # no error


def test_host_port_registration_takes_precedence(sim: Transport) -> None:
    sim.register("sendbird.local:9000", make_app("port-9000"))
    session = sim.session()
    assert session.get("http://sendbird.local:9000/echo").json()["app"] == "port-9000"
    assert session.get("http://sendbird.local:9001/echo").json()["app"] == "sendbird"
    assert session.get("http://sendbird.local/echo").json()["app"] == "sendbird"
    sim.register("only-port.local:7000", make_app("only-port"))
    assert session.get("http://only-port.local:7000/echo").json()["app"] == "only-port"
    with pytest.raises(requests.ConnectionError):
        session.get("http://only-port.local:7001/echo")
    with pytest.raises(requests.ConnectionError):
        session.get("http://only-port.local/echo")


def test_https_is_routed_too(sim: Transport) -> None:
    assert sim.session().get("https://sendbird.local/echo").json()["app"] == "sendbird"


def test_wsgi_environ_of_a_plain_app() -> None:
    seen: dict = {}

    def wsgi_app(environ, start_response):
        seen.update(environ)
        seen["body"] = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        start_response("202 Accepted", [("X-One", "1"), ("Content-Type", "text/plain")])
        return [b"ok", b"!"]

    transport = Transport(simulated=True)
    transport.register("bridge.local:8443", wsgi_app)
    response = transport.session().post("https://bridge.local:8443/a%20b/c?x=1&y=%20", data=b"payload",
                                        headers={"X-Custom-Header": "v", "Content-Type": "application/octet-stream"})
    assert (response.status_code, response.reason, response.text) == (202, "Accepted", "ok!")
    assert response.headers["X-One"] == "1"
    assert seen["REQUEST_METHOD"] == "POST"
    assert seen["PATH_INFO"] == "/a b/c"
    assert seen["QUERY_STRING"] == "x=1&y=%20"
    assert seen["SERVER_NAME"] == "bridge.local"
    assert seen["SERVER_PORT"] == "8443"
    assert seen["wsgi.url_scheme"] == "https"
    assert seen["CONTENT_TYPE"] == "application/octet-stream"
    assert seen["CONTENT_LENGTH"] == "7"
    assert seen["HTTP_X_CUSTOM_HEADER"] == "v"
    assert "HTTP_CONTENT_TYPE" not in seen
    assert "HTTP_CONTENT_LENGTH" not in seen
    assert seen["body"] == b"payload"


def test_closing_the_wsgi_result(sim: Transport) -> None:
    closed: list[str] = []

    class Body:
        def __init__(self, chunks: list[bytes]) -> None:
            self.chunks = chunks

        def __iter__(self):
            return iter(self.chunks)

        def close(self) -> None:
            closed.append("closed")

    def wsgi_app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Body([b"a\n", b"b\n"])

    sim.register("braze.local", wsgi_app)
    session = sim.session()
    assert session.get("http://braze.local/").text == "a\nb\n"
    assert closed == ["closed"]
    with session.get("http://braze.local/", stream=True) as response:
        assert list(response.iter_lines()) == [b"a", b"b"]
    assert closed == ["closed", "closed"]


# -- live mode -----------------------------------------------------------------------------------
class CapturingAdapter(BaseAdapter):
    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list = []

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        self.timeouts.append(timeout)
        response = requests.Response()
        response.status_code = 204
        response._content = b""
        response.request = request
        response.url = request.url
        return response

    def close(self) -> None:
        pass


@pytest.mark.parametrize(("transport_timeout", "session_timeout", "call_timeout", "expected"), [
    (DEFAULT_TIMEOUT, None, None, (3.05, 30.0)),
    (5, None, None, 5),
    (5, 2, None, 2),
    (5, 2, 0.5, 0.5),
])
def test_default_timeout_is_passed_to_the_adapter(transport_timeout, session_timeout, call_timeout,
                                                   expected) -> None:
    session = Transport(simulated=False, timeout=transport_timeout).session(timeout=session_timeout)
    adapter = CapturingAdapter()
    session.mount("http://", adapter)
    kwargs = {} if call_timeout is None else {"timeout": call_timeout}
    session.get("http://127.0.0.1:9/", **kwargs)
    assert adapter.timeouts == [expected]


def test_live_mode_uses_real_http(live_server_factory) -> None:
    server = live_server_factory(make_app("live"))
    transport = Transport(simulated=False)
    transport.register("127.0.0.1", make_app("never-used"))  # registrations do not matter live
    body = transport.session().get(f"{server.base_url}/echo").json()
    assert body["app"] == "live"
    assert body["host"] == "127.0.0.1"


def test_live_default_timeout_applies(live_server_factory) -> None:
    server = live_server_factory(make_app())
    session = Transport(simulated=False, timeout=0.2).session()
    start = time.monotonic()
    with pytest.raises(requests.Timeout):
        session.get(f"{server.base_url}/slow", params={"s": 0.5})
    assert time.monotonic() - start < 0.45
    # an explicit timeout on the call wins over the default
    assert session.get(f"{server.base_url}/slow", params={"s": 0.25}, timeout=2).json() == {"slow": True}


def test_live_session_timeout_override(live_server_factory) -> None:
    server = live_server_factory(make_app())
    session = Transport(simulated=False).session(timeout=0.1)
    with pytest.raises(requests.Timeout):
        session.get(f"{server.base_url}/slow", params={"s": 0.3})


def test_live_unreachable_port_is_a_connection_error(live_server_factory) -> None:
    server = live_server_factory(make_app())
    port = server.port
    server.__exit__(None, None, None)
    with pytest.raises(requests.ConnectionError):
        Transport(simulated=False, timeout=1).session().get(f"http://127.0.0.1:{port}/echo")




@pytest.mark.parametrize("simulated", [True, False])
def test_sessions_ignore_proxy_environment(simulated: bool, monkeypatch: pytest.MonkeyPatch,
                                           live_server_factory) -> None:
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    transport = Transport(simulated=simulated, timeout=2)
    if simulated:
        transport.register("bridge.local", make_app("bridge"))
        base = "http://bridge.local"
    else:
        base = live_server_factory(make_app("bridge")).base_url
    session = transport.session()
    assert session.trust_env is False
    assert session.get(f"{base}/echo").json()["app"] == "bridge"


# -- the lean client (adapter without Session) -----------------------------------------------------
def test_client_makes_the_same_calls_as_a_session_in_both_modes(target: Target) -> None:
    transport = Transport(simulated=True) if target.mode == "simulated" else Transport(simulated=False)
    if target.mode == "simulated":
        transport.register("sendbird.local", target.app)
    client = transport.client()
    via_client = client.post(f"{target.base}/echo", json={"title": "hi"}, params={"mode": "test"},
                             headers={"Api-Token": "tok-1"})
    via_session = target.session.post(f"{target.base}/echo", json={"title": "hi"}, params={"mode": "test"},
                                      headers={"Api-Token": "tok-1"})
    assert via_client.status_code == via_session.status_code == 200
    assert via_client.json() == via_session.json()
    got = client.get(f"{target.base}/echo", params={"q": "a b"})
    assert got.json()["args"] == {"q": ["a b"]}


def test_client_to_an_unknown_simulated_host_is_a_connection_error() -> None:
    with pytest.raises(requests.ConnectionError):
        Transport(simulated=True).client().post("http://nobody.local/x", json={})


def test_client_takes_the_transport_default_timeout_unless_given() -> None:
    seen: list = []

    class Recording(BaseAdapter):
        def send(self, request, timeout=None, **kwargs):  # type: ignore[override]
            seen.append(timeout)
            response = requests.Response()
            response.status_code = 204
            return response

        def close(self) -> None:
            pass

    from harness.transport import Client

    client = Client(Recording(), DEFAULT_TIMEOUT)
    client.post("http://x/y", json={})
    client.post("http://x/y", json={}, timeout=(1, 2))
    assert seen == [DEFAULT_TIMEOUT, (1, 2)]


# -- the live client's direct lane (harness.outbound_http.DirectLane) ------------------------------
@pytest.fixture
def lane_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The URLs the direct lane sent, from now on."""
    from harness.outbound_http import DirectLane

    calls: list[str] = []
    original = DirectLane.send

    def spy(self, request, timeout):
        calls.append(request.url)
        return original(self, request, timeout)

    monkeypatch.setattr(DirectLane, "send", spy)
    return calls


def test_the_live_client_answers_through_its_lane_as_the_adapter_does(live_server_factory, lane_calls) -> None:
    base = live_server_factory(make_app()).base_url
    client = Transport(simulated=False).client()
    via_lane = client.post(f"{base}/echo", json={"title": "hi"}, headers={"Api-Token": "tok-1"})
    refused = client.get(f"{base}/status/429")
    assert lane_calls == [f"{base}/echo", f"{base}/status/429"]
    via_adapter = Transport(simulated=False).session().post(f"{base}/echo", json={"title": "hi"},
                                                          headers={"Api-Token": "tok-1"})
    assert (via_lane.status_code, via_lane.reason, via_lane.json()) == (200, "OK", via_adapter.json())
    assert via_lane.headers["content-type"] == via_adapter.headers["Content-Type"] == "application/json"
    assert via_lane.text == via_adapter.text and via_lane.url == f"{base}/echo"
    assert (refused.status_code, refused.headers["X-Reply"], refused.headers["retry-after"]) == (429, "r429", "7")
    assert refused.json() == {"code": 429}
    from harness.outbound_http import _PlainHeadersResponse  # the checked connections' own response class

    assert isinstance(via_lane.raw._original_response, _PlainHeadersResponse)


def test_responses_sees_every_call_of_the_live_client(live_server_factory, lane_calls) -> None:
    import responses

    base = live_server_factory(make_app()).base_url
    client = Transport(simulated=False).client()
    with responses.RequestsMock() as rsps:
        rsps.post(f"{base}/echo", json={"stubbed": True})
        assert client.post(f"{base}/echo", json={}).json() == {"stubbed": True}
    assert lane_calls == []
    assert client.post(f"{base}/echo", json={}).json()["method"] == "POST"  # the lane again once it is gone
    assert lane_calls == [f"{base}/echo"]


def test_the_lane_raises_what_requests_raises(live_server_factory, lane_calls) -> None:
    from urllib3.exceptions import NewConnectionError

    from harness.outbound import OutboundRefused

    server = live_server_factory(make_app())
    client = Transport(simulated=False, timeout=(1, 0.1)).client()
    with pytest.raises(requests.ReadTimeout):
        client.get(f"{server.base_url}/slow", params={"s": 0.5})
    port = server.port
    server.__exit__(None, None, None)
    with pytest.raises(requests.ConnectionError) as refused:
        client.get(f"http://127.0.0.1:{port}/echo")
    assert isinstance(refused.value.args[0].reason, NewConnectionError)  # never connected: the bridge may resend
    with pytest.raises(OutboundRefused):  # loopback only: refused before any socket opens
        client.get("http://192.0.2.1/echo")
    assert len(lane_calls) == 3


def test_outbound_fault_rules_take_the_adapter_path(live_server_factory, lane_calls) -> None:
    from harness.faults.rules import FaultRules
    from harness.runtime import Runtime

    base = live_server_factory(make_app()).base_url
    runtime = Runtime.simulation()
    rules = FaultRules("bridge", runtime.journal, runtime.clock, runtime.ids)
    client = Transport(simulated=False).with_faults(rules).client()
    assert client.get(f"{base}/echo").status_code == 200
    rules.add({"direction": "outbound", "match": {"path": "/echo"}, "effect": {"status": 503}})
    assert client.get(f"{base}/echo").status_code == 503
    assert lane_calls == [f"{base}/echo"]
