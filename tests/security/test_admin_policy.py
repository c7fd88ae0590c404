"""The admin guard's decision (`harness.admin_guard.AdminPolicy.decide`) and the parsers under it, on their own
(docs/security.md, "The admin surface"): which Host, Origin, Sec-Fetch-Site, token and Content-Type get
through, as a Hypothesis property over headers that are labelled allowed or refused by how they were made."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.admin_guard import (
    AdminPolicy,
    AdminRequest,
    binds_beyond_loopback,
    is_loopback_host,
    parse_origin,
    split_host,
)
from harness.masking import is_credential_name, mask, mask_credentials

TOKEN = "s3cret-admin-token"
SERVED = {"braze.local"}  # a name the app is registered under in-process
POLICY = AdminPolicy.parse(allowed_hosts="10.0.0.5,lab.example")
WITH_TOKEN = AdminPolicy.parse(allowed_hosts="10.0.0.5,lab.example", token=TOKEN)


def decide(policy: AdminPolicy = POLICY, accepted: tuple[str, ...] = (), **request):
    return policy.decide(AdminRequest(**{"host": "127.0.0.1:7100", **request}), SERVED, lambda: accepted)


# -- parsers --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("header", "expected"), [
    ("localhost", ("localhost", None)), ("LOCALHOST:7100", ("localhost", 7100)), ("localhost.", ("localhost", None)),
    ("127.0.0.1:7100", ("127.0.0.1", 7100)), ("[::1]:7100", ("::1", 7100)), ("[::ffff:127.0.0.1]", ("127.0.0.1", None)),
    ("Braze.Local", ("braze.local", None)), ("0x7f.1", ("0x7f.1", None)),
])
def test_split_host_reads_a_host_header(header, expected):
    assert split_host(header) == expected


@pytest.mark.parametrize("header", ["", ":7100", "localhost:", "localhost:x", "localhost:99999", "[::1", "[::1]x",
                                    "::1", "a b", "evil.example/x", "[fe80::1%25eth0]", "user@localhost",
                                    "\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54"])
def test_split_host_refuses_what_is_no_host(header):
    with pytest.raises(ValueError):
        split_host(header)


@pytest.mark.parametrize("host", ["localhost", "app.localhost", "127.0.0.1", "127.255.0.9", "::1", "::ffff:127.0.0.1"])
def test_loopback_hosts(host):
    assert is_loopback_host(split_host(host if ":" not in host else f"[{host}]")[0])


@pytest.mark.parametrize("host", ["0x7f.1", "127.1", "2130706433", "127.0.0.1.evil.example", "localhost.evil.example",
                                  "0.0.0.0", "::", "10.0.0.1", "evil.example"])
def test_lookalikes_are_not_loopback(host):
    """Browsers send the canonical dotted quad (`http://0x7f.1/` goes out as `Host: 127.0.0.1`): the other
    spellings are names here, and no name but localhost is loopback."""
    assert not is_loopback_host(split_host(host if host != "::" else "[::]")[0])


@pytest.mark.parametrize(("origin", "expected"), [
    ("http://localhost:7000", ("http", "localhost", 7000)), ("HTTP://LOCALHOST", ("http", "localhost", 80)),
    ("https://[::1]", ("https", "::1", 443)), ("http://127.0.0.1:80", ("http", "127.0.0.1", 80)),
])
def test_parse_origin(origin, expected):
    assert parse_origin(origin) == expected


@pytest.mark.parametrize("origin", ["null", "", "file://", "http://", "http://localhost/", "http://localhost:7000/x",
                                    "ftp://localhost", "http://a@localhost", "localhost:7000", "http://localhost?x"])
def test_parse_origin_refuses_what_is_no_origin(origin):
    with pytest.raises(ValueError):
        parse_origin(origin)


@pytest.mark.parametrize(("bind", "beyond"), [("127.0.0.1", False), ("127.0.0.2", False), ("localhost", False),
                                              ("::1", False), ("0.0.0.0", True), ("::", True), ("10.0.0.5", True),
                                              ("myhost.lan", True), ("", True)])
def test_what_binds_beyond_loopback(bind, beyond):
    assert binds_beyond_loopback(bind) is beyond


def test_a_specific_bind_address_is_one_of_the_service_s_hosts_and_0_0_0_0_is_not():
    assert AdminPolicy.parse(bind_host="10.0.0.5").hosts == {"10.0.0.5"}
    assert AdminPolicy.parse(bind_host="0.0.0.0").hosts == frozenset()
    assert AdminPolicy.parse(bind_host="::", allowed_hosts="[2001:db8::1], Lab.Example.").hosts == {
        "2001:db8::1", "lab.example"}


@pytest.mark.parametrize(("flags", "mentions"), [
    ({"allowed_hosts": "*"}, "--allowed-host"), ({"allowed_hosts": "10.0.0.5:7100"}, "--allowed-host"),
    ({"allowed_hosts": "http://x"}, "--allowed-host"), ({"console_origins": "http://localhost:7000/app"},
                                                        "--console-origin"),
    ({"console_origins": "null"}, "--console-origin"), ({"token": "two words"}, "--admin-token"),
    ({"token": "tök"}, "--admin-token"),
])
def test_flags_that_cannot_be_read_are_refused_naming_the_flag(flags, mentions):
    with pytest.raises(ValueError, match=mentions):
        AdminPolicy.parse(**flags)


# -- the checks, one by one -----------------------------------------------------------------------

def test_a_refused_host_says_which_and_how_to_fix_it():
    refusal = decide(host="rebind.evil.example")
    assert (refusal.status, refusal.reason) == (403, "host")
    assert 'Host "rebind.evil.example" is not this service' in refusal.message
    assert "--allowed-host" in refusal.message and "10.0.0.5" in refusal.message


def test_own_origin_and_console_origins_pass_and_others_do_not():
    assert decide(host="localhost:7100", origin="http://localhost:7100") is None
    assert decide(origin="http://127.0.0.1:7000") is None and decide(origin="http://localhost:7000") is None
    for origin in ("null", "https://127.0.0.1:7100", "http://127.0.0.1:7101", "http://evil.example",
                   "http://localhost:7100", "http://127.0.0.1:7100, http://evil.example"):
        refusal = decide(origin=origin)
        assert refusal is not None and (refusal.status, refusal.reason) == (403, "origin"), origin


def test_sec_fetch_site_cross_site_is_refused_even_with_an_allowed_origin():
    assert decide(fetch_site="cross-site", origin="http://127.0.0.1:7000").reason == "fetch-site"
    assert all(decide(fetch_site=site) is None for site in ("same-origin", "same-site", "none", None))


def test_the_token_is_required_and_must_match():
    assert decide(WITH_TOKEN).reason == "token" and "is required" in decide(WITH_TOKEN).message
    assert decide(WITH_TOKEN, token="wrong").status == 401 and "not this service" in decide(WITH_TOKEN,
                                                                                             token="wrong").message
    assert decide(WITH_TOKEN, token=TOKEN) is None
    assert decide(WITH_TOKEN, token=TOKEN + "x") is not None and decide(WITH_TOKEN, token=TOKEN[:-1]) is not None


def test_a_body_must_be_json_unless_the_route_declares_its_type():
    assert decide(has_body=True, content_type="application/json; charset=utf-8") is None
    assert decide(has_body=True, content_type="text/csv", accepted=("text/csv",)) is None
    for content_type in (None, "text/plain", "text/csv", "application/x-www-form-urlencoded",
                         "multipart/form-data; boundary=x", "application/json-patch+json"):
        refusal = decide(has_body=True, content_type=content_type)
        assert refusal is not None and (refusal.status, refusal.reason) == (415, "content-type"), content_type
    assert decide(has_body=False, content_type="text/plain") is None  # no body, nothing to smuggle


def test_checks_run_host_first_then_origin_token_and_content_type():
    bad = {"host": "evil.example", "origin": "null", "has_body": True, "content_type": "text/plain"}
    assert decide(WITH_TOKEN, **bad).reason == "host"
    assert decide(WITH_TOKEN, **{**bad, "host": "localhost"}).reason == "origin"
    assert decide(WITH_TOKEN, **{**bad, "host": "localhost", "origin": None}).reason == "token"
    assert decide(WITH_TOKEN, **{**bad, "host": "localhost", "origin": None, "token": TOKEN}).reason == "content-type"


# -- the property ---------------------------------------------------------------------------------

ALLOWED_HOSTS = ["localhost", "LOCALHOST", "localhost.", "app.localhost", "127.0.0.1", "127.1.2.3", "[::1]",
                 "[0:0:0:0:0:0:0:1]", "[::ffff:127.0.0.1]", "braze.local", "10.0.0.5", "lab.example"]
REFUSED_HOSTS = ["rebind.evil.example", "evil.example:7100", "127.0.0.1.evil.example", "localhost.evil.example",
                 "0x7f.1", "127.1", "2130706433", "0177.0.0.1", "[::2]", "10.0.0.6", "0.0.0.0", "[::]",
                 "localhost:abc", "localhost:99999", "", "[::1", "::1", "sendbird.local", "lab.example.evil"]


def _junk_host(text: str) -> bool:
    """Random text that cannot name loopback or an allowed host by chance."""
    lowered = text.lower()
    if any(word in lowered for word in ("localhost", "braze.local", "lab.example", "10.0.0.5")):
        return False
    try:
        ipaddress.ip_address(lowered.strip("[]").rsplit(":", 1)[0] if lowered.count(":") == 1 else lowered.strip("[]"))
    except ValueError:
        return "::" not in lowered and "127." not in lowered
    return False


ports = st.none() | st.integers(1, 65535)
allowed_host = st.tuples(st.sampled_from(ALLOWED_HOSTS), ports).map(lambda hp: hp[0] + ("" if hp[1] is None
                                                                                      else f":{hp[1]}"))
hosts = st.one_of(allowed_host.map(lambda h: (h, True)), st.sampled_from(REFUSED_HOSTS).map(lambda h: (h, False)),
                  st.text(max_size=20).filter(_junk_host).map(lambda h: (h, False)))
CONSOLE = ["http://127.0.0.1:7000", "http://localhost:7000", "HTTP://LOCALHOST:7000", "http://[::ffff:127.0.0.1]:7000"]
FOREIGN = ["null", "https://evil.example", "http://localhost:7001", "http://127.0.0.1:7000/x", "file://",
           "http://127.0.0.1.evil.example:7000", "chrome-extension://abc"]
fetch_sites = st.sampled_from([(None, True), ("same-origin", True), ("same-site", True), ("none", True),
                               ("cross-site", False), ("CROSS-SITE", False)])
JSON_TYPES = ["application/json", "application/json; charset=utf-8", "Application/JSON", " application/json ;x=1"]
OTHER_TYPES = [None, "", "text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded",
               "multipart/form-data; boundary=x", "application/jsonx", "application/json-seq", "text/csv", "*/*"]


@st.composite
def requests(draw):
    """A request and whether every header in it is one the guard must let through."""
    host, host_ok = draw(hosts)
    origin_kind = draw(st.sampled_from(["none", "own", "console", "foreign", "junk"]))
    origin, origin_ok = {
        "none": (None, True),
        "own": (f"http://{host}", True),
        "console": (draw(st.sampled_from(CONSOLE)), True),
        "foreign": (draw(st.sampled_from(FOREIGN)), False),
        "junk": (draw(st.text(max_size=20).filter(lambda t: "://" not in t)), False),
    }[origin_kind]
    fetch_site, site_ok = draw(fetch_sites)
    has_body = draw(st.booleans())
    declared = draw(st.sampled_from([(), ("text/csv",)]))
    content_type = draw(st.sampled_from(JSON_TYPES + OTHER_TYPES) | st.text(max_size=20))
    media = (content_type or "").split(";")[0].strip().lower()
    type_ok = not has_body or media == "application/json" or (media == "text/csv" and declared == ("text/csv",))
    token_policy = draw(st.booleans())
    token = draw(st.sampled_from([None, TOKEN, "wrong", TOKEN.upper(), ""]))
    token_ok = not token_policy or token == TOKEN
    request = AdminRequest(host=host, origin=origin, fetch_site=fetch_site, token=token, content_type=content_type,
                           has_body=has_body)
    return request, WITH_TOKEN if token_policy else POLICY, declared, host_ok and origin_ok and site_ok \
        and type_ok and token_ok, host_ok


@settings(max_examples=1500, deadline=None)
@given(requests())
def test_random_headers_never_get_through_unless_each_is_allowed(case):
    request, policy, declared, allowed, host_ok = case
    refusal = policy.decide(request, SERVED, lambda: declared)
    assert (refusal is None) == allowed, (request, refusal)
    if refusal is not None:
        assert refusal.status in (401, 403, 415) and refusal.message
        assert (refusal.reason == "host") == (not host_ok)


# -- masking --------------------------------------------------------------------------------------

def test_mask_keeps_the_last_four_characters_of_a_long_secret_and_none_of_a_short_one():
    assert mask("local-braze-key") == "…-key"
    assert mask("abcdefg") == "…" and mask("") == "…"


@pytest.mark.parametrize(("name", "credential"), [
    ("Authorization", True), ("Api-Token", True), ("X-Api-Key", True), ("SENDBIRD_API_TOKEN", True),
    ("client_secret", True), ("password", True), ("token", True), ("SENDBIRD_TEMPLATE_KEY", False),
    ("Content-Type", False), ("template_key", False), ("tokens_used", False), ("key", False),
])
def test_credential_names(name, credential):
    assert is_credential_name(name) is credential


def test_mask_credentials_masks_by_name_and_keeps_what_keep_allows():
    values = {"Api-Token": "literal-token-1234", "Authorization": "Bearer {{custom_attribute.key}}",
              "Content-Type": "application/json", "X-Count": 5}
    assert mask_credentials(values, keep=lambda v: "{{" in v) == {
        "Api-Token": "…1234", "Authorization": "Bearer {{custom_attribute.key}}",
        "Content-Type": "application/json", "X-Count": 5}
