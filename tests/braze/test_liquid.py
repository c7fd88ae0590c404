"""Braze-dialect Liquid: `${}` references, blank/null, abort_message, connected_content, Braze's filters,
the tags and filters Braze refuses, and values printed the way Braze prints them.

The facts come from /work/shared/reference/braze.md and Braze's public Liquid and Connected Content docs.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask, jsonify, request
from liquid.exceptions import LiquidError

from harness.runtime import Runtime
from mocks.braze.liquid.render import (
    AbortMessage,
    BrazeLiquidError,
    BrazeLiquidSyntaxError,
    BrazeTemplate,
    ConnectedContentCache,
    compile_template,
    render,
)

USER: dict[str, Any] = {
    "first_name": "Ann", "last_name": None, "email_address": "ann@example.com", "user_id": "u-1",
    "braze_id": "b-1", "country": "DE", "city": "Berlin", "language": "de", "time_zone": "Europe/Berlin",
    "date_of_birth": date(1990, 5, 17), "gender": "F", "phone_number": "+4912345", "random_bucket_number": 42,
    "most_recent_locale": "de_DE",
    "custom_attribute": {"sendbird_id": "sb-1", "Favorite Color": "teal", "vip": True, "points": 1234567,
                         "O'Brien": "irish", 'say "hi"': "quoted", "brands": ["Nike", "Converse", "Puma"],
                         "profile": {"tier": "gold", "score": 1.5, "tags": ["a", None], "ok": False}},
    "api_trigger_properties": {"coupon": "SAVE10"},
    "context": {"order_id": "o-9"},
    "canvas_entry_properties": {"order_id": "o-legacy"},
    "event_properties": {"status": "shipped"},
    "campaign": {"name": "Spring", "api_id": "c-1", "dispatch_id": "d-1"},
    "canvas": {"name": "Onboarding", "api_id": "cv-1"},
}


def r(template: str, variables: dict[str, Any] | None = None, **options: Any) -> str:
    return render(template, USER if variables is None else variables, **options)


# -- ${} personalization -------------------------------------------------------------------------
@pytest.mark.parametrize(("template", "expected"), [
    ("{{${first_name}}}", "Ann"),
    ("{{ ${email_address} }}", "ann@example.com"),
    ("{{${user_id}}}/{{${braze_id}}}", "u-1/b-1"),
    ("{{${random_bucket_number}}}", "42"),
    ("{{custom_attribute.${sendbird_id}}}", "sb-1"),
    ("{{custom_attribute.${Favorite Color}}}", "teal"),
    ("{{api_trigger_properties.${coupon}}}", "SAVE10"),
    ("{{context.${order_id}}}", "o-9"),
    ("{{canvas_entry_properties.${order_id}}}", "o-legacy"),
    ("{{event_properties.${status}}}", "shipped"),
    ("{{campaign.${name}}}", "Spring"),
    ("{{canvas.${name}}}", "Onboarding"),
    ("{{custom_attribute.${profile}.tier}}", "gold"),
    ("{{custom_attribute.${brands}[1]}}", "Converse"),
    ("{{custom_attribute.${O'Brien}}}", "irish"),
    ('{{custom_attribute.${say "hi"}}}', "quoted"),
])
def test_dollar_references(template, expected):
    assert r(template) == expected


def test_names_no_quoting_can_carry_still_resolve():
    name = "a\"]b']c"
    assert r("{{custom_attribute.${" + name + "}}}", {"custom_attribute": {name: "odd"}}) == "odd"


def test_bare_name_that_is_not_an_identifier_is_a_top_level_lookup():
    assert r("{{${Favorite Color}}}|{{${true}}}", {"Favorite Color": "x", "true": "y"}) == "x|y"


def test_dollar_references_inside_tags():
    assert r("{% if ${first_name} == blank %}friend{% else %}{{${first_name}}}{% endif %}") == "Ann"
    assert r("{% if custom_attribute.${vip} %}VIP{% endif %}") == "VIP"
    assert r("{% unless custom_attribute.${Favorite Color} == 'red' %}not red{% endunless %}") == "not red"
    assert r("{%- if ${last_name} == blank -%} no last name {%- endif -%}") == "no last name"


def test_braze_allows_output_braces_inside_tags_and_filter_arguments():
    assert r("{% if {{custom_attribute.${points}}} > 0 %}yes{% endif %}") == "yes"
    assert r("{% assign p = {{custom_attribute.${points} | plus: 3}} %}{{p}}") == "1234570"
    assert r("{% for b in {{custom_attribute.${brands}}} limit:2 %}{% if {{b}} contains 'C' %}C!{% endif %}"
             "{% endfor %}") == "C!"
    assert r("{% assign bonus = 10 %}{{custom_attribute.${points} | plus: {{bonus}}}}") == "1234577"


def test_missing_attributes_and_namespaces_render_empty():
    assert r("[{{${last_name}}}][{{custom_attribute.${nope}}}][{{event_properties.${x}.y}}]", {}) == "[][][]"


def test_dollar_text_outside_markup_and_raw_blocks_is_left_alone():
    assert r("Hi ${first_name}! {% raw %}{{${first_name}}}{% endraw %}") == "Hi ${first_name}! {{${first_name}}}"


# -- default, null, blank ------------------------------------------------------------------------
@pytest.mark.parametrize("value", [None, "", False, []])
def test_default_replaces_nil_false_and_empty(value):
    assert r("{{${first_name} | default: 'there'}}", {"first_name": value}) == "there"


def test_default_keeps_zero_and_text():
    assert r("{{a | default: 'x'}}|{{b | default: 'x'}}", {"a": 0, "b": "hi"}) == "0|hi"
    assert r("{{${first_name} | default: 'there'}}", {}) == "there"


@pytest.mark.parametrize(("value", "blank"), [
    (None, True), ("", True), ("   ", True), ([], True), ({}, True), (False, True),
    ("a", False), (0, False), (["x"], False), (True, False),
])
def test_blank_follows_ruby_blank(value, blank):
    template = "{% if x == blank %}B{% else %}N{% endif %}{% if x != blank %}n{% else %}b{% endif %}"
    assert r(template, {"x": value}) == ("Bb" if blank else "Nn")


def test_missing_attribute_is_blank_and_null():
    assert r("{% if ${first_name} == blank %}b{% endif %}{% if ${first_name} == null %}n{% endif %}"
             "{% if ${first_name} == nil %}N{% endif %}", {}) == "bnN"


def test_null_is_nil_but_empty_text_is_not_null():
    assert r("{% if x == null %}n{% else %}-{% endif %}", {"x": None}) == "n"
    assert r("{% if x == null %}n{% else %}-{% endif %}", {"x": ""}) == "-"
    assert r("{% if ${first_name} != blank and ${first_name} != null %}Hi {{${first_name}}}{% endif %}") == "Hi Ann"


# -- abort_message -------------------------------------------------------------------------------
@pytest.mark.parametrize(("template", "reason"), [
    ("{% abort_message('language was nil') %}", "language was nil"),
    ('{% abort_message("double") %}', "double"),
    ("{% abort_message() %}", "{% abort_message %} called"),
    ("{% abort_message %}", "{% abort_message %} called"),
])
def test_abort_message_raises_with_its_reason(template, reason):
    with pytest.raises(AbortMessage) as caught:
        r("before " + template + " after")
    assert caught.value.reason == reason
    assert not isinstance(caught.value, BrazeLiquidError)


def test_abort_only_when_executed():
    template = ("{% if ${language} == 'en' %}English{% else %}{% abort_message('not english') %}{% endif %}"
                "{% for b in custom_attribute.${nothing} %}{% abort_message('loop') %}{% endfor %}")
    with pytest.raises(AbortMessage, match="not english"):
        r(template)
    assert r(template, {"language": "en"}) == "English"
    assert r("{% if false %}{% abort_message() %}{% endif %}{% case 1 %}{% when 2 %}{% abort_message() %}"
             "{% endcase %}ok") == "ok"


def test_abort_inside_capture_and_liquid_tag_still_aborts():
    with pytest.raises(AbortMessage, match="cap"):
        r("{% capture x %}{% abort_message('cap') %}{% endcapture %}")
    with pytest.raises(AbortMessage, match="inline"):
        r("{% liquid\nif true\nabort_message('inline')\nendif\n%}")


def test_abort_reason_must_be_a_plain_string():
    with pytest.raises(BrazeLiquidSyntaxError, match="abort_message"):
        compile_template("{% abort_message(${first_name}) %}")


# -- connected_content ---------------------------------------------------------------------------
@pytest.fixture
def api():
    runtime = Runtime.simulation()
    app = Flask("connected-content")
    calls: list[dict[str, Any]] = []
    state = {"failures_left": 0}

    @app.before_request
    def log():
        calls.append({"method": request.method, "path": request.path, "headers": dict(request.headers),
                      "body": request.get_data(as_text=True), "args": request.args.to_dict()})

    @app.route("/users/<uid>", methods=["GET", "POST", "PUT", "DELETE"])
    def user(uid):
        return jsonify({"id": uid, "name": f"Name {uid}", "tier": "gold"})

    @app.route("/text")
    def text():
        return "Seven is a prime.", 200, {"Content-Type": "text/plain"}

    @app.route("/number")
    def number():
        return "42", 200, {"Content-Type": "application/json"}

    @app.route("/list")
    def listing():
        return jsonify([{"name": "a"}, {"name": "b"}])

    @app.route("/missing")
    def missing():
        return "<html>not here</html>", 404

    @app.route("/missing-json")
    def missing_json():
        return jsonify({"error": "no such user"}), 404

    @app.route("/moved")
    def moved():
        return "moved", 302, {"Location": "/text"}

    @app.route("/flaky")
    def flaky():
        if state["failures_left"] > 0:
            state["failures_left"] -= 1
            return "try later", 503
        return jsonify({"ok": True})

    runtime.transport.register("api.local", app)
    return SimpleNamespace(runtime=runtime, calls=calls, state=state, session=runtime.transport.session(),
                           cache=ConnectedContentCache())


def cc(api, template: str, variables: dict[str, Any] | None = None, **options: Any) -> str:
    options.setdefault("cache", api.cache)
    return render(template, USER if variables is None else variables, transport_session=api.session,
                  now=api.runtime.clock.now, **options)


def test_json_object_lands_in_connected_with_status(api):
    out = cc(api, "{% connected_content http://api.local/users/{{${user_id}}} %}"
                  "{{connected.name}} {{connected.__http_status_code__}}")
    assert out == "Name u-1 200"
    assert api.calls[0]["path"] == "/users/u-1"
    assert api.calls[0]["headers"]["Content-Type"] == "application/json"
    assert api.calls[0]["headers"]["Accept"] == "*/*"


def test_save_names_the_variable(api):
    out = cc(api, "{% connected_content http://api.local/users/7 :save person %}{{person.tier}}|{{connected}}")
    assert out == "gold|"


def test_url_liquid_with_filters_is_rendered_first(api):
    cc(api, "{% connected_content http://api.local/users/x?email={{${email_address} | url_param_escape}}"
            "&c={{custom_attribute.${Favorite Color}}} :save r %}")
    assert api.calls[0]["args"] == {"email": "ann@example.com", "c": "teal"}


def test_text_answer_is_written_in_place_or_saved(api):
    assert cc(api, "Fact: {% connected_content http://api.local/text %}!") == "Fact: Seven is a prime.!"
    assert cc(api, "{% connected_content http://api.local/text :save fact %}<{{fact}}>") == "<Seven is a prime.>"
    assert cc(api, "[{% connected_content http://api.local/number %}]") == "[42]"


def test_json_array_is_saved_without_status(api):
    out = cc(api, "{% connected_content http://api.local/list :save items %}"
                  "{{items | map: 'name' | join: ','}}|{{items.__http_status_code__}}")
    assert out == "a,b|"


def test_error_pages_render_empty_and_json_errors_have_no_status(api):
    """`__http_status_code__` is "only automatically added ... if the endpoint returns a valid JSON object and a 2XX
    response" (_docs/_user_guide/personalization_and_dynamic_content/connected_content/
    local_connected_content_variables.md); the answer is still saved, so the docs' `!= 200` check sees nil."""
    assert cc(api, "[{% connected_content http://api.local/missing %}]") == "[]"
    assert cc(api, "[{% connected_content http://api.local/moved %}]") == "[]"
    out = cc(api, "{% connected_content http://api.local/missing-json :save r %}"
                  "{% if r.__http_status_code__ != 200 %}[{{r.__http_status_code__}}] {{r.error}}{% endif %}")
    assert out == "[] no such user"


def test_post_with_form_body_and_headers(api):
    template = ('{% connected_content http://api.local/users/9 :method post '
                ':headers {"X-App-Id": "app", "X-User": "{{${user_id}}}"} '
                ':body campaign={{campaign.${name}}}&customer={{${user_id}}} :save r %}{{r.id}}')
    assert cc(api, template) == "9"
    call = api.calls[0]
    assert call["method"] == "POST"
    assert call["headers"]["X-App-Id"] == "app"
    assert call["headers"]["X-User"] == "u-1"
    assert call["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert call["body"] == "campaign=Spring&customer=u-1"


def test_json_content_type_encodes_a_form_body_as_json(api):
    cc(api, "{% connected_content http://api.local/users/9 :method post :body a=1&b={{${first_name}}} "
            ":content_type application/json %}")
    call = api.calls[0]
    assert call["headers"]["Content-Type"] == "application/json"
    assert call["headers"]["Accept"] == "application/json"
    assert call["body"] == '{"a": "1", "b": "Ann"}'


def test_json_body_from_capture_is_sent_as_is(api):
    cc(api, '{% capture body %}{"coupon": "{{api_trigger_properties.${coupon}}}"}{% endcapture %}'
            "{% connected_content http://api.local/users/9 :method post :body {{body}} "
            ":content_type application/json %}")
    assert api.calls[0]["body"] == '{"coupon": "SAVE10"}'


def test_get_is_cached_for_five_minutes_on_the_harness_clock(api):
    template = "{% connected_content http://api.local/users/{{${user_id}}} :save r %}{{r.name}}"
    assert cc(api, template) == "Name u-1"
    assert cc(api, template) == "Name u-1"
    assert len(api.calls) == 1
    api.runtime.clock.advance(299)
    cc(api, template)
    assert len(api.calls) == 1
    api.runtime.clock.advance(2)
    assert cc(api, template) == "Name u-1"
    assert len(api.calls) == 2


def test_cache_is_per_url(api):
    template = "{% connected_content http://api.local/users/{{${user_id}}} :save r %}{{r.id}}"
    assert [cc(api, template, {"user_id": uid}) for uid in ("a", "b", "a")] == ["a", "b", "a"]
    assert len(api.calls) == 2


@pytest.mark.parametrize("option", [":cache_max_age 900", ":cache 900"])
def test_cache_age_option(api, option):
    template = "{% connected_content http://api.local/users/1 " + option + " %}"
    cc(api, template)
    api.runtime.clock.advance(301)
    cc(api, template)
    assert len(api.calls) == 1
    api.runtime.clock.advance(600)
    cc(api, template)
    assert len(api.calls) == 2


def test_cache_age_is_clamped_to_brazes_minimum(api):
    template = "{% connected_content http://api.local/users/1 :cache_max_age 10 %}"
    cc(api, template)
    api.runtime.clock.advance(60)
    cc(api, template)
    assert len(api.calls) == 1


def test_no_cache_and_post_are_not_cached(api):
    for template in ("{% connected_content http://api.local/users/1 :no_cache %}",
                     "{% connected_content http://api.local/users/1 :method post :body a=1 %}"):
        cc(api, template)
        cc(api, template)
    assert len(api.calls) == 4


def test_post_with_cache_age_is_cached(api):
    template = "{% connected_content http://api.local/users/1 :method post :body a=1 :cache_max_age 600 %}"
    cc(api, template)
    cc(api, template)
    assert len(api.calls) == 1


def test_a_plain_dict_works_as_cache_and_no_cache_means_every_call(api):
    shared: dict[str, Any] = {}
    template = "{% connected_content http://api.local/users/1 %}"
    cc(api, template, cache=shared)
    cc(api, template, cache=shared)
    assert len(api.calls) == 1 and len(shared) == 1
    cc(api, template, cache=None)
    cc(api, template, cache=None)
    assert len(api.calls) == 3


def test_bounded_cache_drops_least_recently_used():
    cache = ConnectedContentCache(max_entries=2)
    cache["a"], cache["b"] = 1, 2
    assert cache["a"] == 1
    cache["c"] = 3
    assert sorted(cache) == ["a", "c"]
    del cache["a"]
    assert len(cache) == 1


def test_failed_answers_are_not_cached(api):
    api.state["failures_left"] = 1
    template = "{% connected_content http://api.local/flaky :save r %}{{r.ok}}"
    assert cc(api, template) == ""
    assert cc(api, template) == "true"
    assert cc(api, template) == "true"
    assert len(api.calls) == 2


def test_retry_tries_again_after_5xx(api):
    api.state["failures_left"] = 2
    assert cc(api, "{% connected_content http://api.local/flaky :save r :retry %}{{r.ok}}") == "true"
    assert len(api.calls) == 3


def test_retry_gives_up_by_aborting(api):
    api.state["failures_left"] = 100
    with pytest.raises(AbortMessage, match="failed 6 times"):
        cc(api, "{% connected_content http://api.local/flaky :retry %}")
    assert len(api.calls) == 6


def test_without_retry_a_failure_renders_empty(api):
    api.state["failures_left"] = 100
    assert cc(api, "[{% connected_content http://api.local/flaky %}]") == "[]"
    assert len(api.calls) == 1
    assert cc(api, "[{% connected_content http://unknown.local/x :save r %}{{r}}]") == "[]"
    with pytest.raises(AbortMessage, match="no answer"):
        cc(api, "{% connected_content http://unknown.local/x :retry %}")


def test_connected_content_in_an_untaken_branch_makes_no_call(api):
    assert cc(api, "{% if false %}{% connected_content http://api.local/users/1 %}{% endif %}ok") == "ok"
    assert api.calls == []


def test_basic_auth_uses_named_credentials(api):
    cc(api, "{% connected_content http://api.local/users/1 :basic_auth partner %}",
       credentials={"partner": ("user", "secret")})
    assert api.calls[0]["headers"]["Authorization"] == "Basic dXNlcjpzZWNyZXQ="
    with pytest.raises(AbortMessage, match="partner"):
        cc(api, "{% connected_content http://api.local/users/2 :basic_auth partner %}")


def test_without_a_session_connected_content_is_a_clear_error():
    with pytest.raises(BrazeLiquidError, match="transport_session"):
        render("{% connected_content http://api.local/users/1 %}", {})


@pytest.mark.parametrize(("template", "message"), [
    ("{% connected_content %}", "needs a URL"),
    ("{% connected_content :save x %}", "needs a URL"),
    ("{% connected_content ftp://api.local/x %}", "not an http"),
    ("{% connected_content http://api.local/users/1 :frobnicate 1 %}", ":frobnicate"),
    ("{% connected_content http://api.local/users/1 :headers [1] %}", ":headers"),
    # "Connected Content requests support GET and POST requests only" (connected_content/making_an_api_call.md)
    ("{% connected_content http://api.local/users/1 :method patch %}", "GET and POST requests only"),
    ("{% connected_content http://api.local/users/1 :method put %}", "GET and POST requests only"),
    ("{% connected_content http://api.local/users/1 :method delete %}", "GET and POST requests only"),
    ("{% connected_content http://api.local/users/1 :save 9-lives! %}", ":save"),
    ("{% connected_content http://api.local/users/1 :cache soon %}", "whole seconds"),
    ("{% connected_content http://api.local/users/1 :retry 3 %}", ":retry"),
    ("{% connected_content http://api.local/users/1 :body %}", ":body"),
])
def test_bad_connected_content_markup(api, template, message):
    with pytest.raises(BrazeLiquidError, match=message):
        cc(api, template)


# -- Braze's extra filters -----------------------------------------------------------------------
@pytest.mark.parametrize(("template", "expected"), [  # the examples in Braze's advanced filters page
    ("{{'hey' | md5}}", "6057f13c496ecf7fd777ceb9e79ae285"),
    ("{{'hey' | sha1}}", "7f550a9f4c44173a37664d938f1355f0f92a47a7"),
    ("{{'hey' | sha2}}", "fa690b82061edfd2852629aeba8a8977b57e40fcb77d1a7a28b26cba62591204"),
    ("{{'blah' | base64}}", "YmxhaA=="),
    ("{{'blah' | base64_encode}}", "YmxhaA=="),
    ("{{'hey' | hmac_sha1: 'secret_key'}}", "2a3969bed25bfeefb00aca4063eb9590b4df8f0e"),
    ("{{'hey' | hmac_sha1_hex: 'secret_key'}}", "2a3969bed25bfeefb00aca4063eb9590b4df8f0e"),
    ("{{'hey' | hmac_sha1_base64: 'secret_key'}}", "KjlpvtJb/u+wCspAY+uVkLTfjw4="),
    ("{{'hey' | hmac_sha256_hex: 'secret_key'}}", "8df897f8da3d7992fe57c8dbc6f27578cfbf2dcc4d0fbb4000b8c924841d508e"),
    ("{{'hey' | hmac_sha256_base64: 'secret_key'}}", "jfiX+No9eZL+V8jbxvJ1eM+/LcxND7tAALjJJIQdUI4="),
    ("{{'hey<>hi' | url_escape}}", "hey%3C%3Ehi"),
    ("{{'hey<&>hi' | url_param_escape}}", "hey%3C%26%3Ehi"),
    ("{{'google search' | url_encode}}", "google+search"),
    ("{{ 123456 | number_with_delimiter }}", "123,456"),
    ("{{'123\"456' | json_escape}}", '123\\"456'),
])
def test_braze_documented_examples(template, expected):
    assert r(template) == expected


def test_url_escape_keeps_url_structure_but_url_param_escape_does_not():
    assert r("{{ 'https://x.io/a b?q=1&r=#x' | url_escape }}") == "https://x.io/a%20b?q=1&r=%23x"
    assert r("{{ 'a b/c?d=e&f' | url_param_escape }}") == "a%20b%2Fc%3Fd%3De%26f"


def test_property_accessor():
    assert r("{{custom_attribute.${profile} | property_accessor: 'tier'}}") == "gold"
    assert r("{% assign k = 'score' %}{{custom_attribute.${profile} | property_accessor: k}}") == "1.5"
    assert r("[{{custom_attribute.${profile} | property_accessor: 'nope'}}][{{'text' | property_accessor: 'a'}}]") \
        == "[][]"


@pytest.mark.parametrize(("value", "expected"), [
    (1234567, "1,234,567"), (-1234, "-1,234"), (999, "999"), (1234567.891, "1,234,567.891"),
    ("1234567", "1,234,567"), ("12a", "12a"), (None, ""),
])
def test_number_with_delimiter(value, expected):
    assert r("{{ v | number_with_delimiter }}", {"v": value}) == expected


def test_json_escape_makes_text_safe_inside_a_json_string():
    assert r('{"name": "{{ v | json_escape }}"}', {"v": 'a\\b"c\nd'}) == '{"name": "a\\\\b\\"c\\nd"}'


def test_json_parse_and_as_json_string():
    template = ("{% assign data = s | json_parse %}{% for item in data %}{{item.id}}:{{item.store_name}};{% endfor %}"
                "{{ data | as_json_string }}")
    assert r(template, {"s": '[{"id":"1","store_name":"demo-store"}]'}) == \
        '1:demo-store;[{"id":"1","store_name":"demo-store"}]'
    with pytest.raises(BrazeLiquidError, match="json_parse"):
        r("{{ 'nope' | json_parse }}")


def test_money_has_two_decimals_and_no_symbol():
    assert r("${{ a | money }} ${{ b | money }} ${{ c | divided_by: 100.00 | money }}",
             {"a": 17.8, "b": 145, "c": 145}) == "$17.80 $145.00 $1.45"


def test_time_zone_converts_then_date_formats():
    variables = {"t": datetime(2021, 8, 4, 9, 0, tzinfo=UTC)}
    assert r("{{ t | time_zone: 'America/Los_Angeles' | date: '%a %b %e %H:%M %Z' }}", variables) == \
        "Wed Aug  4 02:00 PDT"
    assert r("{{ t | time_zone: 'America/Los_Angeles' }}", variables) == "2021-08-04 02:00:00 -0700"
    assert r("{{ '2021-08-04 09:00:00 UTC' | time_zone: ${time_zone} | date: '%H:%M' }}") == "11:00"
    assert r("{{ t | time_zone: 'Mars/Olympus' | date: '%H:%M' }}", variables) == "09:00"


def test_date_now_and_time_zone_use_the_harness_clock():
    start = datetime(2030, 2, 3, 4, 5, 6, tzinfo=UTC)
    clock = Runtime.simulation(start=start).clock
    assert r("{{ 'now' | date: '%Y-%m-%d %H:%M:%S' }}", {}, now=clock.now) == "2030-02-03 04:05:06"
    epoch = int(start.timestamp())
    assert r("{{ now | date: '%s' }}|{{ now }}", {}, now=clock.now) == f"{epoch}|2030-02-03 04:05:06 UTC"
    assert r("{{ 'now' | time_zone: 'Asia/Tokyo' | date: '%H' }}", {}, now=clock.now) == "13"
    assert r("{{ 'now' | date: '%Y' }}", {}) == str(datetime.now(UTC).year)


@pytest.mark.parametrize(("value", "fmt", "expected"), [
    ("2021-06-03 17:13:41 UTC", "%b %d", "Jun 03"),
    ("2021-06-03 17:13:41 UTC", "%s", "1622740421"),
    (datetime(2021, 6, 3, 17, 13, 41, tzinfo=UTC), "%Y-%m-%dT%H:%M:%S", "2021-06-03T17:13:41"),
    (date(1990, 5, 17), "%d.%m.%Y", "17.05.1990"),
    (1622740421, "%Y", "2021"),
    ("not a date", "%Y", "not a date"),
    ("2021-06-03", "", "2021-06-03"),
])
def test_date_filter(value, fmt, expected):
    assert r("{{ v | date: f }}", {"v": value, "f": fmt}) == expected


@pytest.mark.parametrize(("template", "expected"), [
    ("{{ 'big sale' | upcase }} {{ 'BIG' | downcase }} {{ 'big sale' | capitalize }}", "BIG SALE big Big sale"),
    ("{{ 'a' | append: 'b' | prepend: 'c' }}", "cab"),
    ("{{ 4 | plus: 2 }} {{ 4 | minus: 2 }} {{ 4 | times: 2 }} {{ 15 | divided_by: 2 }} {{ 15 | divided_by: 2.0 }}",
     "6 2 8 7 7.5"),
    ("{{ 7 | modulo: 3 }} {{ -3 | abs }} {{ 4.6 | round }} {{ 4.2 | ceil }} {{ 4.8 | floor }}", "1 3 5 5 4"),
    ("{{ 3 | at_least: 5 }} {{ 9 | at_most: 5 }}", "5 5"),
    ("{{ 'a,b,c' | split: ',' | join: '-' }} {{ 'a,b,c' | split: ',' | size }}", "a-b-c 3"),
    ("{{ custom_attribute.${brands} | first }} {{ custom_attribute.${brands} | last }}", "Nike Puma"),
    ("{{ custom_attribute.${brands} | sort | reverse | join: ',' }}", "Puma,Nike,Converse"),
    ("{{ '  x  ' | strip }}|{{ 'a-b-a' | replace: 'a', 'c' }}|{{ 'a-b-a' | remove_first: 'a' }}", "x|c-b-c|-b-a"),
    ("{{ 'Hello world' | truncate: 8 }} {{ 'one two three' | truncatewords: 2 }}", "Hello... one two..."),
    ("{{ '<b>' | escape }} {{ '<b>x</b>' | strip_html }} {{ 'abc' | slice: 1, 2 }}", "&lt;b&gt; x bc"),
    ("{{ list | compact | uniq | join: ',' }}", "a,b"),
    ("{{ list | compact | concat: more | join: ',' }}", "a,b,a,z"),
    ("{{ people | where: 'vip', true | map: 'name' | join: ',' }}", "Al"),
    ("{{ 'a b' | sort_natural | size }}", "1"),
    ("{{ 'x\ny' | newline_to_br }}", "x<br />\ny"),
])
def test_standard_filters(template, expected):
    variables = {**USER, "list": ["a", None, "b", "a"], "more": ["z"],
                 "people": [{"name": "Al", "vip": True}, {"name": "Bo", "vip": False}]}
    assert r(template, variables) == expected


# -- standard tags -------------------------------------------------------------------------------
@pytest.mark.parametrize(("template", "expected"), [
    ("{% if x > 5 %}big{% elsif x > 2 %}mid{% else %}small{% endif %}", "mid"),
    ("{% unless x == 3 %}no{% else %}yes{% endunless %}", "yes"),
    ("{% case ${language} %}{% when 'en' %}Hi{% when 'de', 'at' %}Hallo{% else %}Hey{% endcase %}", "Hallo"),
    ("{% for b in custom_attribute.${brands} offset:1 %}{{forloop.index}}{{b}}{% unless forloop.last %},"
     "{% endunless %}{% endfor %}", "1Converse,2Puma"),
    ("{% for i in (1..5) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 4 %}{% break %}{% endif %}{{i}}"
     "{% endfor %}", "13"),
    ("{% for i in empty_list %}x{% else %}none{% endfor %}", "none"),
    ("{% assign n = 'Bo' | upcase %}{% capture msg %}Hi {{n}}{% endcapture %}{{msg}}!", "Hi BO!"),
    ("{% increment c %}{% increment c %}{% decrement d %}", "01-1"),
    ("a{% comment %}{{ ignored {% endcomment %}b{% # inline comment %}c", "abc"),
    ("{% raw %}{{ x }}{% endraw %}", "{{ x }}"),
    ("{% echo x | plus: 1 %}", "4"),
    ("{% liquid\nassign y = x | times: 2\nif y > 5\necho 'big'\nendif\n%}", "big"),
    ("{% for i in (1..3) %}{% cycle 'a', 'b' %}{% endfor %}", "aba"),
    ("<{%- if true -%} x {%- endif -%}>", "<x>"),
    ("{% tablerow i in (1..2) %}{{i}}{% endtablerow %}", '<tr class="row1">\n<td class="col1">1</td>'
     '<td class="col2">2</td></tr>\n'),
])
def test_standard_tags(template, expected):
    assert r(template, {**USER, "x": 3, "empty_list": []}) == expected


# -- what Braze refuses --------------------------------------------------------------------------
@pytest.mark.parametrize("tag", ["render", "include", "doc"])
def test_unsupported_tags_are_named(tag):
    source = "{% doc %}x{% enddoc %}" if tag == "doc" else "{% " + tag + " 'snippet' %}"
    with pytest.raises(BrazeLiquidError, match=f"does not support the '{tag}' tag"):
        compile_template(source)


def test_unknown_and_stray_tags_are_named():
    with pytest.raises(BrazeLiquidError, match="unknown tag 'frobnicate'"):
        compile_template("{% frobnicate %}")
    with pytest.raises(BrazeLiquidError, match="unexpected tag 'endif'"):
        compile_template("x{% endif %}")


@pytest.mark.parametrize("name", ["lstrip", "rstrip", "camelcase", "pluralize", "money_with_currency", "sum",
                                  "safe", "squish"])
def test_unsupported_filters_are_named(name):
    with pytest.raises(BrazeLiquidError, match=f"does not support the '{name}' filter"):
        compile_template("{{ 'x' | " + name + " }}")


def test_unknown_filters_are_named_even_where_they_would_not_run():
    for source in ("{{ 'x' | shout }}", "{% if false %}{{ 'x' | shout }}{% endif %}",
                   "{% assign a = 'x' | shout %}", "{% connected_content http://a.local/{{ 'x' | shout }} %}"):
        with pytest.raises(BrazeLiquidError, match="unknown filter 'shout'"):
            compile_template(source)


@pytest.mark.parametrize("source", ["{% if x %}open", "{{ x ", "{% for %}{% endfor %}", "{{ x | }}",
                                    "{% if x == %}{% endif %}", "{% assign = 1 %}"])
def test_syntax_errors_are_braze_errors(source):
    with pytest.raises(BrazeLiquidSyntaxError) as caught:
        compile_template(source)
    assert isinstance(caught.value, BrazeLiquidError)
    assert isinstance(caught.value, LiquidError)
    assert str(caught.value)


def test_render_time_failures_are_braze_errors():
    with pytest.raises(BrazeLiquidError, match="divided_by"):
        r("{{ 1 | divided_by: 0 }}")
    with pytest.raises(BrazeLiquidError):
        r("{% if a < 'b' %}x{% endif %}", {"a": 1})


# -- how values print ----------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "expected"), [
    (None, ""), (True, "true"), (False, "false"), (3, "3"), (1.0, "1.0"), (2.5e20, "2.5e+20"),
    (["a", None, True, 2], "atrue2"), ([["x", "y"], "z"], "xyz"),
    ({"a": 1}, '{"a"=>1}'),
    ({"s": 'q"\\\n#{x}', "n": None, "l": [1, "x", None], "h": {"f": 1.5, "b": False}},
     '{"s"=>"q\\"\\\\\\n\\#{x}", "n"=>nil, "l"=>[1, "x", nil], "h"=>{"f"=>1.5, "b"=>false}}'),
    ({}, "{}"),
    (datetime(2021, 6, 3, 17, 13, 41, tzinfo=UTC), "2021-06-03 17:13:41 UTC"),
    (datetime(2021, 6, 3, 17, 13, 41, tzinfo=timezone(timedelta(hours=-7))), "2021-06-03 17:13:41 -0700"),
    (date(1990, 5, 17), "1990-05-17"),
])
def test_values_print_as_braze_prints_them(value, expected):
    assert r("{{ v }}", {"v": value}) == expected


def test_string_filters_see_ruby_text():
    assert r("{{ t | append: f }}|{{ n | append: 'x' }}|{{ l | join: ',' }}",
             {"t": True, "f": False, "n": None, "l": [None, True, {"a": 1}]}) == 'truefalse|x|,true,{"a"=>1}'


# -- compilation and the public API --------------------------------------------------------------
def test_compile_template_is_cached_by_source():
    a = compile_template("Hi {{${first_name}}}")
    assert compile_template("Hi {{${first_name}}}") is a
    assert compile_template("Hi {{${last_name}}}") is not a
    assert isinstance(a, BrazeTemplate)
    assert a.render(USER) == "Hi Ann"
    assert a.render() == "Hi "


def test_render_needs_only_a_template_and_variables():
    assert render("{{${first_name}}}", {"first_name": "Zoe"}) == "Zoe"


def test_assignments_do_not_leak_between_renders():
    template = compile_template("{{ seen }}{% assign seen = 'yes' %}")
    assert template.render({}) == ""
    assert template.render({}) == ""


def test_rendering_is_fast_enough_for_a_campaign():
    template = compile_template('{"to": "{{custom_attribute.${sendbird_id}}}", "user": "{{${user_id}}}", '
                                '"name": "{{${first_name} | default: \'there\'}}", '
                                '"coupon": "{{api_trigger_properties.${coupon}}}", "d": "{{campaign.${dispatch_id}}}"}')
    start = time.perf_counter()
    for _ in range(5000):
        template.render(USER)
    assert time.perf_counter() - start < 2.5  # ~20x headroom over the measured rate


def test_loops_one_after_another_add_up_to_the_iteration_limit():
    """docs/braze-fake.md "Liquid limits": loop iterations count over the whole render, not per loop."""
    assert render("{% for i in (1..50000) %}{% endfor %}{% for i in (1..50000) %}{% endfor %}ok", {}) == "ok"
    with pytest.raises(BrazeLiquidError, match="more than 100000 loop iterations"):
        render("{% for i in (1..60000) %}{% endfor %}{% for i in (1..60000) %}{% endfor %}", {})
