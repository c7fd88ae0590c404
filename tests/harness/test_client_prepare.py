"""The lean client builds a plain call's request itself (`harness.transport._prepared`): for any call it takes,
exactly what `requests.PreparedRequest.prepare` makes of it (method, URL, headers in order, body); a call it does
not take goes through `prepare`; bad headers and bodies fail as requests fails them."""

from __future__ import annotations

import math

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from harness.transport import _prepared

URLS = st.one_of(
    st.builds(lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}", st.sampled_from(["http", "https"]),
              st.sampled_from(["127.0.0.1", "bridge.local", "rest.iad-01.braze.com", "api-ABC.sendbird.com"]),
              st.sampled_from(["", ":7200", ":1"]),
              st.sampled_from(["/", "/v1/notifications", "/users/track", "/a/b_c~d.e-f/", "", "/x y", "/%41",
                               "/q?x=1", "/é"])),
    st.sampled_from(["HTTP://LOCAL/x", "http://[::1]:80/x", "http://h/x#frag", "http://user:pw@h/x"]))
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5)
                    | st.floats(allow_nan=False, allow_infinity=False),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                    max_leaves=8)
HEADERS = st.none() | st.dictionaries(st.sampled_from(["Api-Token", "X-Trace-Id", "Content-Type", "content-length",
                                                       "Authorization"]),
                                      st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=8),
                                      max_size=4)


def requests_prepare(method, url, json, headers):
    prepared = requests.PreparedRequest()
    prepared.prepare(method=method, url=url, json=json, headers=headers)
    return prepared


@given(st.sampled_from(["GET", "post", "PUT", "DELETE", "HEAD"]), URLS, JSON, HEADERS)
def test_a_call_it_takes_is_prepared_as_requests_prepares_it(method, url, json, headers) -> None:
    ours = _prepared(method, url, json, headers)
    if ours is None:
        return
    theirs = requests_prepare(method, url, json, headers)
    assert (ours.method, ours.url, list(ours.headers.items()), ours.body) == \
        (theirs.method, theirs.url, list(theirs.headers.items()), theirs.body)
    assert ours.path_url == theirs.path_url


def test_the_services_calls_are_taken_and_others_are_not() -> None:
    assert _prepared("POST", "http://127.0.0.1:7200/v1/notifications", {"a": 1}, {"Api-Token": "t"}) is not None
    assert _prepared("POST", "http://braze.local/users/track", {"events": []}, None) is not None
    for url in ("http://h", "http://h/x y", "http://h/%41", "http://h/q?x=1", "http://user:pw@h/x", "http://.h/x",
                "http://h-/x", "http://a..b/x", "http://H/x"):
        assert _prepared("GET", url, None, None) is None, url


def test_bad_headers_and_bodies_fail_as_requests_fails_them() -> None:
    with pytest.raises(requests.exceptions.InvalidHeader):
        _prepared("POST", "http://h/x", {}, {"X-Trace-Id": "a\nb"})
    with pytest.raises(requests.exceptions.InvalidJSONError):
        _prepared("POST", "http://h/x", {"n": math.nan}, None)
