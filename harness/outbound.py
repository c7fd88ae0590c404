"""The outbound policy: which hosts a service may call, asked when a URL is configured and again on connect.

The harness runs on a developer's laptop beside a browser, and its services make requests on their own, to
URLs that arrive over HTTP: a campaign's webhook, a `connected_content` tag, a webhook or an endpoint set on
an admin page. Left open, one such request turns a service into a relay to any host the laptop can reach,
with the harness's credentials attached. So a service calls loopback only (127.0.0.0/8, ::1, `localhost`)
unless the operator starts it with `--allow-outbound`: host names, IP addresses and CIDR networks,
comma-separated, or `*` for anything.

One rule, asked twice:
- where a URL is configured (`check_url`): its host must be a loopback or listed address, `localhost`, or a
  listed name, so a mistake or an attack is refused where someone sees it;
- on every connection (`resolve`), the same, and then every address the host resolves to must be loopback
  or listed, checked on the one resolution the connection then uses. A name whose DNS answer changes after
  it was configured (DNS rebinding) gets no further than its new address. A listed name is therefore no
  licence to reach whatever it resolves to: list its addresses too.
A name that is not allowed is refused before it is resolved, so not even a DNS query leaves for it.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import sys
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from harness.urls import check_url as check_url_syntax
from harness.urls import normalise_host

ALLOW_FLAG = "--allow-outbound"
ANYTHING = "*"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


class OutboundRefused(requests.ConnectionError):
    """A call the outbound policy refused before any socket connected. The same call is refused again, so
    it is never worth a retry."""


class RefusedURL(ValueError):
    """A configured URL whose syntax is fine but whose host the outbound policy refuses."""


def _unmapped(address: Address) -> Address:
    """`::ffff:192.0.2.1` is 192.0.2.1 on the wire, so it is judged as 192.0.2.1."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def ip_of(host: str) -> Address | None:
    """`host` as an IP address (brackets and an IPv6 zone taken off, the IPv4-mapped form unwrapped), or None
    for a name."""
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return _unmapped(ipaddress.ip_address(text.partition("%")[0]))
    except ValueError:
        return None


def _network(item: str) -> Network:
    text, _, prefix = item.partition("/")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        network = ipaddress.ip_network(f"{text}/{prefix}", strict=True)
    except ValueError as exc:
        raise ValueError(f"{item!r} is not a CIDR network: {exc}") from None
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED):
        return ipaddress.IPv4Network((network.network_address.ipv4_mapped, network.prefixlen - 96))
    return network


def _name(item: str) -> str:
    if ":" in item:
        raise ValueError(f"{item!r} is not a host name, an IP address or a CIDR network (no ports or schemes: "
                         "a host is allowed on every port)")
    try:
        name = normalise_host(item, item).removesuffix(".")
    except ValueError:
        raise ValueError(f"{item!r} is not a host name, an IP address or a CIDR network"
                         f"{' (* stands alone: it allows everything)' if '*' in item else ''}") from None
    if _NUMERIC_LABEL.match(name.rsplit(".", 1)[-1]):
        raise ValueError(f"{item!r} is not a valid IP address, and a host name cannot end in a number")
    return name


@dataclass(frozen=True)
class OutboundPolicy:
    """Loopback, plus what `--allow-outbound` listed. `env` names the service's environment variable for the
    flag, so a refusal tells the operator both ways to allow a host."""

    names: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()
    anything: bool = False
    env: str | None = None

    @classmethod
    def parse(cls, value: str | None, env: str | None = None) -> OutboundPolicy:
        """The policy a `--allow-outbound` value says; ValueError naming the entry it cannot read.

        Entries are comma-separated: `*`, an IP address (IPv6 with or without brackets), a CIDR network
        (host bits unset, as `192.0.2.0/24`), or a host name. Empty entries and an empty value add nothing."""
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{ALLOW_FLAG} takes a comma-separated string, not {type(value).__name__}")
        names: set[str] = set()
        networks: list[Network] = []
        anything = False
        for raw in (value or "").split(","):
            item = raw.strip()
            if not item:
                continue
            if item == ANYTHING:
                anything = True
            elif "://" in item:
                raise ValueError(f"{item!r} is a URL: list its host alone (a host is allowed on every port)")
            elif "/" in item:
                networks.append(_network(item))
            elif (address := ip_of(item)) is not None:
                if "%" in item:
                    raise ValueError(f"{item!r}: an IPv6 zone (%...) cannot be allowed; list the address alone")
                networks.append(ipaddress.ip_network(address))
            else:
                names.add(_name(item))
        return cls(frozenset(names), tuple(dict.fromkeys(networks)), anything, env)

    def describe(self) -> str:
        """What the policy allows, in words, for a service's start-up line and the docs."""
        if self.anything:
            return "anything (*)"
        listed = sorted(self.names) + [str(n.network_address) if n.num_addresses == 1 else str(n)
                                       for n in self.networks]
        return "loopback only" if not listed else f"loopback and {', '.join(listed)}"

    # -- the matchers -------------------------------------------------------------------------------
    def allows_address(self, address: str | Address) -> bool:
        """Loopback (127.0.0.0/8, ::1), inside a listed network, or `*`; never anything else."""
        ip = ip_of(address) if isinstance(address, str) else _unmapped(address)
        if ip is None:
            return False
        return self.anything or ip.is_loopback or any(ip in n for n in self.networks if n.version == ip.version)

    def host_refusal(self, host: str) -> str | None:
        """Why a URL may not name `host` (an IP literal, bracketed or not, or a host name); None if it may."""
        if self.anything:
            return None
        address = ip_of(host)
        if address is not None:
            return None if self.allows_address(address) else self._address_reason(str(address))
        name = host.lower().removesuffix(".")
        if name == "localhost" or name in self.names:
            return None
        return (f"{name!r} is neither localhost nor an allowed host name: list it, and the addresses it resolves "
                f"to, in {self._where()} to allow it")

    def _address_reason(self, address: str, name: str | None = None) -> str:
        subject = address if name is None else f"{name!r} resolves to {address}, which"
        return f"{subject} is not a loopback address and not allowed: list it in {self._where()} to allow it"

    def _where(self) -> str:
        return ALLOW_FLAG if self.env is None else f"{ALLOW_FLAG} (or {self.env})"

    # -- where a URL is configured ------------------------------------------------------------------
    def check_url(self, url: object) -> str:
        """The URL normalised (`harness.urls.check_url`), or ValueError: RefusedURL when its host is refused."""
        checked = check_url_syntax(url)
        reason = self.host_refusal(urlsplit(checked).hostname or "")
        if reason is not None:
            raise RefusedURL(f"{checked!r} is refused by the outbound policy: {reason}")
        return checked

    # -- on every connection ------------------------------------------------------------------------
    @staticmethod
    def _refused(host: str, port: int, reason: str) -> OutboundRefused:
        return OutboundRefused(f"outbound call to {host}:{port} refused: {reason}")

    def resolve(self, host: str, port: int, family: int = socket.AF_UNSPEC) -> list[tuple[Any, ...]]:
        """`socket.getaddrinfo` for a connection to host:port, every address already allowed: connect to these
        and resolve nothing again. OutboundRefused when the host or any address it resolves to is refused;
        socket.gaierror when it does not resolve."""
        reason = self.host_refusal(host)
        if reason is not None:
            raise self._refused(host, port, reason)
        infos = socket.getaddrinfo(host.strip("[]"), port, family, socket.SOCK_STREAM)
        for info in infos:
            address = str(info[4][0])
            if not self.allows_address(address):
                raise self._refused(host, port, self._address_reason(address, None if ip_of(host) else host))
        return infos


LOOPBACK_ONLY = OutboundPolicy()


def coerce(policy: OutboundPolicy | str | None, env: str | None = None) -> OutboundPolicy:
    """A policy from what a `create_app(allow_outbound=...)` caller passes: a policy, a flag value, or None
    (loopback only)."""
    if isinstance(policy, OutboundPolicy):
        return policy
    return OutboundPolicy.parse(policy, env)


# -- for a service's command line -----------------------------------------------------------------------
ALLOW_HELP = ("hosts, IP addresses and CIDR networks beyond loopback that outbound calls may reach "
              "(comma-separated; * for any)")


def policy_from_flag(prog: str, value: str | None, env: str) -> OutboundPolicy:
    """The policy `--allow-outbound` (or `env`) asks for, or exit with one line saying what is wrong."""
    try:
        return OutboundPolicy.parse(value, env)
    except ValueError as exc:
        sys.exit(f"{prog}: {ALLOW_FLAG}: {exc}")


def url_from_flag(prog: str, flag: str, url: str, policy: OutboundPolicy) -> str:
    """A URL flag's value, checked as where it is configured, or exit with one line naming the flag: here,
    rather than as calls that fail one by one in a background task."""
    try:
        return policy.check_url(url)
    except ValueError as exc:
        sys.exit(f"{prog}: {flag}: {exc}")
