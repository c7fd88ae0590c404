"""The live transport asks the outbound policy on every connection, after its one name resolution, and a
refusal is an `OutboundRefused` before any socket connects (docs/security.md, "Outbound calls")."""

from __future__ import annotations

import pytest
import requests
from flask import Flask, redirect

from harness.outbound import OutboundPolicy, OutboundRefused
from harness.transport import Transport

from .conftest import TEST_NET_1, TEST_NET_2


def echo_app() -> Flask:
    app = Flask("echo")

    @app.get("/echo")
    def echo():
        return {"ok": True}

    @app.get("/away")
    def away():
        return redirect(f"http://{TEST_NET_1}/stolen", code=302)

    return app


def both(transport: Transport):
    """A Session (follows redirects) and the lean Client (never does): every caller uses one of the two."""
    return [transport.session().get, transport.client().get]


@pytest.mark.parametrize("url", [f"http://{TEST_NET_1}/x", f"https://{TEST_NET_2}:8443/x", "http://[2001:db8::1]/",
                                 "http://[::ffff:192.0.2.1]/", "http://0.0.0.0:7300/", "http://10.0.0.5:7100/"])
def test_an_address_outside_the_policy_is_refused_before_any_connection(network, url: str):
    for get in both(Transport(simulated=False)):
        with pytest.raises(OutboundRefused, match="--allow-outbound") as caught:
            get(url)
        assert isinstance(caught.value, requests.ConnectionError)
        assert caught.value.request is not None and caught.value.request.url.startswith(url.split("/x")[0])
    assert network.external == []


def test_a_name_that_is_not_allowed_is_refused_without_being_resolved(network):
    network.resolve("hooks.example", TEST_NET_2)
    for get in both(Transport(simulated=False)):
        with pytest.raises(OutboundRefused, match=r"'hooks\.example' is neither localhost nor an allowed host name"):
            get("http://hooks.example/x")
    assert network.resolved == [] and network.external == []


def test_a_listed_name_must_still_resolve_to_an_allowed_address(network):
    network.resolve("hooks.example", TEST_NET_2)
    transport = Transport(simulated=False, outbound=OutboundPolicy.parse("hooks.example"))
    for get in both(transport):
        with pytest.raises(OutboundRefused, match=rf"'hooks.example' resolves to {TEST_NET_2}, which is not"):
            get("http://hooks.example/x")
    assert network.external == []


def test_localhost_that_resolves_elsewhere_is_refused_on_the_connection(network, serve):
    server = serve(echo_app())
    transport = Transport(simulated=False)
    url = f"{server.url('localhost')}/echo"
    assert transport.client().get(url).json() == {"ok": True}  # resolved to 127.0.0.1: allowed
    network.resolve("localhost", TEST_NET_1)  # the same name, another answer (DNS rebinding)
    for get in both(Transport(simulated=False)):
        with pytest.raises(OutboundRefused, match=rf"'localhost' resolves to {TEST_NET_1}"):
            get(url)
    assert network.external == []


def test_every_address_a_name_resolves_to_must_be_allowed(network, monkeypatch):
    import socket

    real = socket.getaddrinfo

    def two_answers(host, port, *args, **kwargs):  # 127.0.0.1 first, then an address outside the policy
        if host != "localhost":
            return real(host, port, *args, **kwargs)
        return real("127.0.0.1", port, *args, **kwargs) + real(TEST_NET_1, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", two_answers)
    with pytest.raises(OutboundRefused, match=TEST_NET_1):
        Transport(simulated=False).client().get("http://localhost:9/")
    assert network.external == []


def test_a_redirect_to_a_refused_host_is_not_followed(network, serve):
    server = serve(echo_app())
    transport = Transport(simulated=False)
    with pytest.raises(OutboundRefused, match=TEST_NET_1):
        transport.session().get(f"{server.url()}/away")  # a Session follows redirects: the next hop is refused
    answer = transport.client().get(f"{server.url()}/away")  # the Client never follows one
    assert answer.status_code == 302 and answer.headers["Location"] == f"http://{TEST_NET_1}/stolen"
    assert network.external == []


def test_a_listed_network_lets_the_check_pass_and_the_connection_is_attempted(network):
    network.expect_external = True  # the test network refuses the connect itself: nothing leaves
    transport = Transport(simulated=False, outbound=OutboundPolicy.parse("192.0.2.0/24"))
    with pytest.raises(requests.ConnectionError) as caught:
        transport.client().get(f"http://{TEST_NET_1}:7300/x")
    assert not isinstance(caught.value, OutboundRefused)
    assert network.external == [(TEST_NET_1, 7300)]
    with pytest.raises(OutboundRefused):
        transport.client().get(f"http://{TEST_NET_2}/x")  # outside the listed network
    assert network.external == [(TEST_NET_1, 7300)]


def test_a_star_lets_anything_through_to_the_connection(network):
    network.expect_external = True
    network.resolve("hooks.example", TEST_NET_2)
    transport = Transport(simulated=False, outbound=OutboundPolicy.parse("*"))
    for url in (f"http://{TEST_NET_1}/x", "http://hooks.example:8080/x"):
        with pytest.raises(requests.ConnectionError) as caught:
            transport.client().get(url)
        assert not isinstance(caught.value, OutboundRefused)
    assert network.external == [(TEST_NET_1, 80), (TEST_NET_2, 8080)]


def test_a_proxy_is_refused(network):
    session = Transport(simulated=False).session()
    with pytest.raises(OutboundRefused, match="proxy"):
        session.get("http://127.0.0.1:9/", proxies={"http": "http://127.0.0.1:3128"})
    assert network.external == []


def test_simulated_mode_opens_no_socket_and_keeps_its_unregistered_hosts_unreachable(network):
    transport = Transport(simulated=True)
    with pytest.raises(requests.ConnectionError) as caught:
        transport.client().get(f"http://{TEST_NET_1}/x")
    assert not isinstance(caught.value, OutboundRefused)
    assert transport.check_url("http://sendbird.local/v1") == "http://sendbird.local/v1"
    assert network.resolved == [] and network.external == []


def test_a_transport_view_keeps_the_registered_apps_under_its_own_policy():
    transport = Transport(simulated=True)
    view = transport.with_outbound(OutboundPolicy.parse("*"))
    transport.register("braze.local", echo_app())
    assert view.app_for("braze.local") is not None
    assert view.outbound.anything and not transport.outbound.anything
