"""harness.urls.check_url: the syntax check every configured outbound URL goes through."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.urls import check_url

LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
HOST = st.one_of(st.lists(LABEL, min_size=1, max_size=4).map(".".join),
                 st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(lambda ip: f"[{ip}]"))
PATH = st.lists(st.from_regex(r"[A-Za-z0-9._~%-]{0,8}", fullmatch=True), max_size=4).map(
    lambda parts: "".join(f"/{p}" for p in parts))
QUERY = st.from_regex(r"[A-Za-z0-9=&_-]{0,12}", fullmatch=True)


@st.composite
def valid_urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https", "HTTP", "Https"]))
    host = draw(HOST)
    port = draw(st.none() | st.integers(1, 65535))
    query = draw(QUERY)
    return f"{scheme}://{host}{'' if port is None else f':{port}'}{draw(PATH)}{'?' + query if query else ''}"


@given(valid_urls())
def test_a_valid_url_is_kept_with_scheme_and_host_lower_cased(url: str):
    checked = check_url(url)
    before, after = urlsplit(url), urlsplit(checked)
    assert after.scheme == before.scheme.lower()
    assert after.port == before.port
    assert (after.path, after.query, after.fragment) == (before.path, before.query, "")
    if ":" in before.hostname:  # an IPv6 literal may come back written shorter, never as another address
        assert ipaddress.IPv6Address(after.hostname) == ipaddress.IPv6Address(before.hostname)
    else:
        assert after.hostname == before.hostname.lower()
    assert check_url(checked) == checked  # normalising twice changes nothing


@given(st.text(max_size=40))
def test_any_text_is_a_normalised_url_or_a_value_error(text: str):
    try:
        checked = check_url(text)
    except ValueError as exc:
        assert str(exc)
        return
    assert urlsplit(checked).scheme in ("http", "https") and urlsplit(checked).hostname
    assert check_url(checked) == checked


@given(valid_urls(), st.sampled_from(["user@", "user:pw@", ":pw@"]))
def test_credentials_are_refused(url: str, userinfo: str):
    scheme, rest = url.split("://", 1)
    with pytest.raises(ValueError, match="credentials"):
        check_url(f"{scheme}://{userinfo}{rest}")


PRINTABLE = st.text(max_size=5).filter(lambda s: not any(c.isspace() or ord(c) < 32 or c == "\x7f" for c in s))


@given(valid_urls(), PRINTABLE)
def test_a_fragment_is_refused(url: str, fragment: str):
    with pytest.raises(ValueError, match="fragment"):
        check_url(f"{url}#{fragment}")


@pytest.mark.parametrize(("url", "why"), [
    ("notaurl", "no scheme"), ("localhost:7200", "no scheme"), ("ftp://host/x", "scheme is 'ftp'"),
    ("file:///etc/passwd", "scheme is 'file'"), ("http:///path", "no host"), ("http://host:99999/", "port"),
    ("http://host:0/", "port"), ("http://host:x/", "port"), ("http://a..b/", "host name"),
    ("http://[::1/", "not a URL"), ("http://host/a b", "whitespace"), ("", "empty"), (" http://host", "whitespace"),
])
def test_what_is_refused_says_why(url: str, why: str):
    with pytest.raises(ValueError, match=why):
        check_url(url)


def test_a_non_string_is_refused():
    with pytest.raises(ValueError, match="string"):
        check_url(7200)


@pytest.mark.parametrize(("url", "normalised"), [
    ("HTTP://Sendbird.LOCAL/v1/", "http://sendbird.local/v1/"), ("http://127.0.0.1:7200", "http://127.0.0.1:7200"),
    ("http://[0:0::1]:80/x?y=1", "http://[::1]:80/x?y=1"), ("http://bücher.example", "http://xn--bcher-kva.example"),
])
def test_normal_forms(url: str, normalised: str):
    assert check_url(url) == normalised
