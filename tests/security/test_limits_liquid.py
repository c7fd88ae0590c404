"""A Braze template cannot hold a request or a campaign without end (docs/braze-fake.md, "Liquid limits"): a
render over a resource limit is a failed render, recorded as an abort naming the limit, and a message that
loops forever ends in bounded time; Connected Content reads a bounded answer and makes a bounded number of
calls per render."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from flask import Flask, Response

from mocks.braze.liquid.base import MAX_REASON, AbortMessage
from mocks.braze.liquid.connected import MAX_ANSWER_BYTES, MAX_CALLS_PER_RENDER
from mocks.braze.liquid.render import BrazeLiquidError, render
from tests.braze.braze_fixtures import HOOK_URL, BrazeEnv, recipients, webhook
from tests.security.conftest import runtime_with_live_http

BOUND = 10.0  # seconds: generous, for a loaded machine; what matters is that it ends

LOOPS = {
    "a billion iterations": "{% for i in (1..1000000000) %}x{% endfor %}",
    "a billion reversed": "{% for i in (1..1000000000) reversed %}x{% endfor %}",
    "nested ranges": "{% for i in (1..100000) %}{% for j in (1..100000) %}{{ j }}{% endfor %}{% endfor %}",
    "loops one after another": "{% for i in (1..99999) %}{% endfor %}" * 50,
    "a heavy body": "{% for i in (1..99999) %}" + "{% if i > 5 %}{% assign y = i | plus: 1 %}{% endif %}" * 10
                    + "{% endfor %}",
    "a range joined": "{{ (1..100000000000000000000) | join: ',' }}",
    "doubling text": "{% assign a = 'xxxxxxxx' %}{% for i in (1..40) %}{% assign a = a | append: a %}{% endfor %}",
    "replace multiplying": "{% assign a = 'xxxxxxxxxx' %}{{ a | replace: '', a | replace: '', a | replace: '', a"
                           " | replace: '', a | replace: '', a | replace: '', a | replace: '', a }}",
    "endless capture": "{% capture c %}{% for i in (1..99999) %}0123456789abcdef{% endfor %}{% endcapture %}",
}


@pytest.fixture
def braze() -> Iterator[BrazeEnv]:
    env = BrazeEnv()
    env.users("u1", first_name="Ada")
    yield env
    env.close()


@pytest.mark.parametrize("template", LOOPS.values(), ids=LOOPS.keys())
def test_a_runaway_template_fails_in_bounded_time_naming_the_limit(template):
    started = time.monotonic()
    with pytest.raises(BrazeLiquidError, match="resource limit reached"):
        render(template)
    assert time.monotonic() - started < BOUND


def test_templates_of_the_size_real_messages_use_still_render():
    items = [f"item{i}" for i in range(500)]
    out = render("{% for item in items %}{{ forloop.index }}:{{ item | upcase }};{% endfor %}", {"items": items})
    assert out.startswith("1:ITEM0;") and out.count(";") == 500
    assert render("{% for i in (1..5) reversed limit: 2 %}{{ i }}{% endfor %}") == "21"
    assert render("{% capture c %}a\rb{% endcapture %}{{ c }}") == "a\rb"


def test_a_looping_template_in_messages_send_ends_with_a_recorded_render_failure(braze):
    hook = braze.receiver()
    started = time.monotonic()
    reply = braze.post("/messages/send", {"external_user_ids": ["u1"], "messages": {"webhook": {
        "url": HOOK_URL, "request_method": "POST", "body": LOOPS["nested ranges"]}}})
    braze.run()
    assert time.monotonic() - started < BOUND
    assert reply.status_code == 201, reply.get_json()
    assert hook.requests == []
    aborted = braze.journal("webhook.aborted")
    assert len(aborted) == 1 and "loop iterations" in aborted[0]["reason"]
    log = braze.client.get("/_admin/activity_log").get_json()["entries"]
    assert [e["outcome"] for e in log] == ["aborted"]


def test_a_looping_template_in_a_campaign_is_counted_aborted_for_each_user(braze):
    braze.users("u2", first_name="Bo")
    hook = braze.receiver()
    cid = braze.campaign(webhook=webhook(LOOPS["a heavy body"]))
    started = time.monotonic()
    assert braze.trigger_campaign(cid, recipients=recipients("u1", "u2")).status_code == 201
    braze.run()
    assert time.monotonic() - started < 2 * BOUND
    assert hook.requests == []
    stats = braze.campaign_stats(cid)
    assert (stats["aborted"], stats["sent"]) == (2, 0)
    assert all("tags and outputs rendered" in a["reason"] for a in braze.journal("webhook.aborted"))


def test_an_abort_reason_is_cut_to_its_limit():
    with pytest.raises(AbortMessage) as raised:
        render("{% abort_message('" + "r" * 10_000 + "') %}")
    assert len(raised.value.reason) == MAX_REASON


# -- Connected Content -----------------------------------------------------------------------------------------
def content_server(braze: BrazeEnv, size: int = 10) -> list[str]:
    """`http://cc.local/...` answering JSON of about `size` bytes; the paths it was called on."""
    calls: list[str] = []
    app = Flask("connected-content")

    @app.route("/<path:path>")
    def answer(path: str) -> Response:
        calls.append(path)
        return Response('{"pad": "' + "x" * size + '"}', mimetype="application/json")

    braze.rt.transport.register("cc.local", app)
    return calls


def messages_send(braze: BrazeEnv, body: str):
    reply = braze.post("/messages/send", {"external_user_ids": ["u1"], "messages": {"webhook": {
        "url": HOOK_URL, "request_method": "POST", "body": body}}})
    assert reply.status_code == 201, reply.get_json()
    braze.run()


def test_a_connected_content_answer_over_the_size_cap_aborts_the_message(braze):
    hook = braze.receiver()
    content_server(braze, MAX_ANSWER_BYTES + 1)
    messages_send(braze, "{% connected_content http://cc.local/big :save r %}{{ r.pad | size }}")
    assert hook.requests == []
    reason = braze.journal("webhook.aborted")[0]["reason"]
    assert f"larger than {MAX_ANSWER_BYTES} bytes" in reason


def test_a_connected_content_answer_within_the_cap_is_used(braze):
    hook = braze.receiver()
    content_server(braze, 1000)
    messages_send(braze, "{% connected_content http://cc.local/ok :save r %}{{ r.pad | size }}")
    assert hook.bodies == ["1000"]


def test_a_render_with_a_thousand_connected_content_tags_makes_a_bounded_number_of_calls(braze):
    hook = braze.receiver()
    calls = content_server(braze)
    tags = "".join(f"{{% connected_content http://cc.local/n/{i} :save r{i} %}}" for i in range(1000))
    messages_send(braze, tags + "done")
    assert len(calls) == MAX_CALLS_PER_RENDER
    assert hook.requests == []
    assert f"at most {MAX_CALLS_PER_RENDER} Connected Content calls" in braze.journal("webhook.aborted")[0]["reason"]


def test_cached_connected_content_answers_are_not_calls(braze):
    hook = braze.receiver()
    calls = content_server(braze)
    messages_send(braze, "{% connected_content http://cc.local/same :save r %}" * 100 + "done")
    assert calls == ["same"] and hook.bodies == ["done"]


def test_an_endless_connected_content_answer_is_read_only_to_the_cap(serve):
    sent: list[int] = []

    def endless(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])
        while True:
            sent.append(65536)
            yield b"x" * 65536

    server = serve(endless)
    session = runtime_with_live_http().transport.session()
    with pytest.raises(AbortMessage, match="larger than"):
        render(f"{{% connected_content {server.url()}/endless %}}", transport_session=session)
    assert sum(sent) < 64 * MAX_ANSWER_BYTES  # the server stopped once the client went away


def test_a_connected_content_answer_that_trickles_ends_at_the_timeout(serve):
    def trickle(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        for _ in range(100):
            time.sleep(0.3)  # the test's own server: a slow upstream
            yield b"x"

    server = serve(trickle)
    session = runtime_with_live_http().transport.session()
    started = time.monotonic()
    assert render(f"{{% connected_content {server.url()}/slow %}}", transport_session=session) == ""
    assert time.monotonic() - started < BOUND


def test_an_error_naming_long_template_text_is_cut_to_the_reason_limit():
    with pytest.raises(BrazeLiquidError) as raised:
        render("{{ x | " + "f" * 10_000 + " }}")
    assert len(str(raised.value)) <= MAX_REASON
