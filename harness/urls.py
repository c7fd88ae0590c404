"""The one syntax check for a configured outbound URL (the bridge's Sendbird and Braze URLs, the fake
Sendbird's webhook URL, the fake Braze's webhook URLs).

A URL that `requests` cannot call (`notaurl`, `ftp://...`) must be refused where it is configured, with a
message naming the problem, and not later inside a background task where nobody sees the failure. Which
hosts a service may call at all is the outbound policy's question (`harness.outbound`), asked after this one.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit, urlunsplit

SCHEMES = ("http", "https")
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$")


def normalise_host(name: str, url: str) -> str:
    """The host, lower-cased (and IDNA-encoded): a DNS name of letters, digits, `-` and `_`, or an IP (an IPv6
    one in brackets). `url` is what the error message quotes."""
    if ":" in name:  # urlsplit takes the brackets off an IPv6 literal
        try:
            return f"[{ipaddress.IPv6Address(name).compressed}]"
        except ValueError:
            raise ValueError(f"{url!r} has an invalid IPv6 host {name!r}") from None
    try:
        ascii_name = name.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValueError(f"{url!r} has an invalid host name {name!r}") from None
    labels = ascii_name.removesuffix(".").split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise ValueError(f"{url!r} has an invalid host name {name!r}")
    return ascii_name


def check_url(url: object) -> str:
    """The URL, normalised (scheme and host lower-cased), or ValueError saying what is wrong with it.

    Accepted: `http` or `https`, a host, an optional port 1-65535, any path and query. Refused: no scheme or
    another one, no host, credentials (`user:pass@`: they would be sent with every call and echoed by admin
    pages), a fragment (never sent, so it hides a mistake), whitespace or control characters.
    """
    if not isinstance(url, str):
        raise ValueError(f"a URL must be a string, not {type(url).__name__}")
    if not url:
        raise ValueError("the URL is empty")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise ValueError(f"{url!r} contains whitespace or control characters")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ValueError(f"{url!r} is not a URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        given = f"its scheme is {parts.scheme!r}" if parts.scheme and "://" in url else "it has no scheme"
        raise ValueError(f"{url!r} is not an http(s) URL: {given} (expected e.g. http://127.0.0.1:7200)")
    if "@" in parts.netloc:
        raise ValueError(f"{url!r} must not carry credentials (user:password@)")
    if parts.fragment or "#" in url:
        raise ValueError(f"{url!r} must not have a fragment (#...)")
    if not parts.hostname:
        raise ValueError(f"{url!r} names no host")
    host = normalise_host(parts.hostname, url)
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{url!r} has an invalid port") from None
    if port == 0:
        raise ValueError(f"{url!r} has an invalid port")
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path, parts.query, ""))
