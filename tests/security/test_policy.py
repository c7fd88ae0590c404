"""The outbound policy's parser and matchers (`--allow-outbound`, docs/security.md "Outbound calls"): any value
parses or fails with a message naming what it cannot read, and a matcher never allows an address or a host
outside loopback and what was listed."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.outbound import OutboundPolicy, RefusedURL

LABEL = st.from_regex(r"[a-z]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
NAME = st.lists(LABEL, min_size=1, max_size=3).map(".".join)
ADDRESS = st.ip_addresses()


@st.composite
def networks(draw: st.DrawFn) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    address = draw(ADDRESS)
    prefix = draw(st.integers(address.max_prefixlen - 24 if address.version == 6 else 8, address.max_prefixlen))
    return ipaddress.ip_network(f"{address}/{prefix}", strict=False)


ENTRY = st.one_of(ADDRESS.map(str), ADDRESS.filter(lambda a: a.version == 6).map(lambda a: f"[{a}]"),
                  networks().map(str), NAME)


def unmapped(address):
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def covers(entry: str, address) -> bool:
    """The oracle: does this one entry, read the obvious way, take in `address`?"""
    text = entry.strip("[]")
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False  # a name takes in no address
    addresses = {address, unmapped(address)}
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(ipaddress.ip_network("::ffff:0:0/96")):
        network = ipaddress.ip_network((network.network_address.ipv4_mapped, network.prefixlen - 96))
    return any(a.version == network.version and a in network for a in addresses)


@given(st.text(max_size=60))
def test_any_value_is_a_policy_or_a_clear_error(value: str):
    try:
        policy = OutboundPolicy.parse(value)
    except ValueError as exc:
        message = str(exc)
        assert message and ("'" in message or "--allow-outbound" in message), message
        return
    assert isinstance(policy.describe(), str)


@given(st.lists(ENTRY, max_size=5), st.sampled_from([",", ", ", " ,", ",,"]))
def test_listed_entries_parse(entries: list[str], separator: str):
    OutboundPolicy.parse(separator.join(entries))


@given(st.lists(ENTRY, max_size=5), ADDRESS)
def test_an_address_is_allowed_only_when_it_is_loopback_or_listed(entries: list[str], address):
    policy = OutboundPolicy.parse(",".join(entries))
    expected = unmapped(address).is_loopback or any(covers(e, address) for e in entries)
    assert policy.allows_address(address) is expected
    assert policy.allows_address(str(address)) is expected
    assert (policy.host_refusal(str(address)) is None) is expected


@given(networks(), st.integers(min_value=0))
def test_every_address_of_a_listed_network_is_allowed(network, offset: int):
    address = network.network_address + offset % network.num_addresses
    assert OutboundPolicy.parse(str(network)).allows_address(address)


@given(st.lists(NAME, max_size=4), NAME)
def test_a_host_name_is_allowed_only_when_it_is_localhost_or_listed(names: list[str], host: str):
    policy = OutboundPolicy.parse(",".join(names))
    assert (policy.host_refusal(host) is None) is (host in names or host == "localhost")
    assert not policy.allows_address(host)  # a name is no address: listing it lets no address through


@given(st.lists(ENTRY, max_size=3), ADDRESS, NAME)
def test_a_star_allows_everything(entries: list[str], address, host: str):
    policy = OutboundPolicy.parse(",".join([*entries, "*"]))
    assert policy.allows_address(address) and policy.host_refusal(host) is None


@pytest.mark.parametrize("value", [None, "", " ", ",", " , "])
def test_nothing_listed_is_loopback_only(value):
    policy = OutboundPolicy.parse(value)
    assert policy.describe() == "loopback only"
    assert policy.allows_address("127.0.0.1") and policy.allows_address("127.255.0.9")
    assert policy.allows_address("::1") and policy.allows_address("::ffff:127.0.0.1")
    for address in ("192.0.2.1", "10.0.0.1", "0.0.0.0", "::", "::ffff:192.0.2.1", "fe80::1%eth0", "169.254.169.254"):
        assert not policy.allows_address(address), address
    assert policy.host_refusal("localhost") is None and policy.host_refusal("LOCALHOST.") is None
    assert policy.host_refusal("foo.localhost") is not None


@pytest.mark.parametrize(("value", "words"), [
    ("192.0.2.1/24", ["'192.0.2.1/24'", "host bits"]),
    ("10.0.0.0/33", ["'10.0.0.0/33'", "CIDR"]),
    ("*.example.com", ["'*.example.com'", "* stands alone"]),
    ("api.example.com:443", ["'api.example.com:443'", "ports"]),
    ("http://api.example.com", ["URL", "host alone"]),
    ("1.2.3", ["'1.2.3'", "number"]),
    ("192.0.2.300", ["'192.0.2.300'", "number"]),
    ("fe80::1%eth0", ["zone"]),
    ("a..b", ["'a..b'"]),
])
def test_what_cannot_be_read_is_named(value: str, words: list[str]):
    with pytest.raises(ValueError) as caught:
        OutboundPolicy.parse(f"127.0.0.1, {value}")
    for word in words:
        assert word in str(caught.value)


def test_listed_forms_are_read_as_written():
    policy = OutboundPolicy.parse("API.Example.COM., 192.0.2.0/24, [2001:db8::1], 2001:db8:1::/48, "
                                  "::ffff:198.51.100.0/120")
    assert policy.host_refusal("api.example.com") is None
    assert policy.allows_address("192.0.2.200") and not policy.allows_address("192.0.3.1")
    assert policy.allows_address("2001:db8::1") and not policy.allows_address("2001:db8::2")
    assert policy.allows_address("2001:db8:1:ffff::1")
    assert policy.allows_address("198.51.100.7") and policy.allows_address("::ffff:198.51.100.7")
    assert policy.describe() == ("loopback and api.example.com, 192.0.2.0/24, 2001:db8::1, 2001:db8:1::/48, "
                                 "198.51.100.0/24")


def test_a_refused_url_names_the_host_and_the_flag_with_its_environment_variable():
    policy = OutboundPolicy.parse("", env="BRIDGE_ALLOW_OUTBOUND")
    with pytest.raises(RefusedURL) as caught:
        policy.check_url("http://192.0.2.1:7300/x")
    message = str(caught.value)
    assert "192.0.2.1" in message and "--allow-outbound" in message and "BRIDGE_ALLOW_OUTBOUND" in message
    with pytest.raises(RefusedURL, match=r"'bridge\.example' is neither localhost nor an allowed host name"):
        policy.check_url("http://bridge.example/")
    with pytest.raises(ValueError, match="scheme") as syntax:
        policy.check_url("ftp://127.0.0.1/")
    assert not isinstance(syntax.value, RefusedURL)
    assert policy.check_url("HTTP://LocalHost:7300/x") == "http://localhost:7300/x"
    assert policy.check_url("http://[::1]:7300/") == "http://[::1]:7300/"
