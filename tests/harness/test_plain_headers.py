"""`harness.outbound_http.plain_headers` is `http.client.parse_headers` made cheap for plain header lines: for
any bytes at all, the same message (names, values, order) and the same bytes left unread."""

from __future__ import annotations

import http.client
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.outbound_http import plain_headers

NAMES = st.sampled_from(["Content-Type", "content-length", "X-RateLimit-Reset", "Set-Cookie", "From", "a", "X_y"])
PLAIN = st.builds(lambda n, v, end: f"{n}:{v}".encode() + end, NAMES,
                  st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20),
                  st.sampled_from([b"\r\n", b"\n"]))
ODD = st.sampled_from([b" folded continuation\r\n", b"\tfolded\r\n", b"no colon here\r\n", b":empty name\r\n",
                       b"Name : spaced\r\n", b"From someone\r\n", b"X-Latin: caf\xe9\r\n", b"X-Ctl: a\x01b\r\n",
                       b"X-CR: a\rb\r\n", b"Truncated: no newline"])
LINE = st.one_of(PLAIN, PLAIN, PLAIN, ODD)


def both(raw: bytes) -> tuple[tuple[list, bytes], tuple[list, bytes]]:
    ours, theirs = io.BytesIO(raw), io.BytesIO(raw)
    mine = plain_headers(ours)
    stdlib = http.client.parse_headers(theirs)
    return (mine.items(), ours.read()), (stdlib.items(), theirs.read())


@given(st.lists(LINE, max_size=8), st.sampled_from([b"\r\n", b"\n", b""]), st.binary(max_size=10))
def test_any_header_block_parses_as_http_client_parses_it(lines: list[bytes], end: bytes, body: bytes) -> None:
    mine, stdlib = both(b"".join(lines) + end + body)
    assert mine == stdlib


def test_a_plain_answer_keeps_names_values_and_order() -> None:
    raw = b"Content-Type: application/json\r\nX-Reply:  r429 \r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n{}"
    (items, rest), stdlib = both(raw)
    assert (items, rest) == stdlib
    assert items == [("Content-Type", "application/json"), ("X-Reply", "r429 "), ("Set-Cookie", "a=1"),
                     ("Set-Cookie", "b=2")]
    assert rest == b"{}"


def test_http_client_limits_still_apply() -> None:
    with pytest.raises(http.client.HTTPException, match="more than 100 headers"):
        plain_headers(io.BytesIO(b"X: y\r\n" * 101 + b"\r\n"))
    with pytest.raises(http.client.LineTooLong):
        plain_headers(io.BytesIO(b"X: " + b"y" * 70_000 + b"\r\n\r\n"))
