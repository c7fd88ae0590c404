"""`bsim fault add|list|clear`: fault rules on a running stack, through each service's `/_admin/faults`.

The rules themselves are the kernel's (`harness.faults.rules`): this module only turns flags into the API's
JSON and its answers into lines and a table, so the command line and a scenario's `faults:` section can never
disagree about what a rule is. A rule the service refuses prints the service's own 400 message in one line,
with exit code 2; a service that does not answer prints one line, with exit code 3.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import click
import requests
from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.admin_client import send_admin_token
from simulator.cli_options import UNREACHABLE, admin_token_option, service_options
from simulator.durations import parse_duration

SERVICES = ("braze", "sendbird", "bridge")
NAMES = {"braze": "the fake Braze", "sendbird": "the fake Sendbird", "bridge": "the bridge"}
REFUSED = 2  # exit code of a rule the service refused (its 400)
FAILED = 1  # any other answer that is not what was asked (a wrong admin token, an unknown rule id)
LATENCY_HELP = ("a duration (200ms), uniform:MIN:MAX (uniform:50ms:400ms) or lognormal:MEDIAN:SIGMA "
                "(lognormal:100ms:0.5)")
WIDE = 160
console = Console()


# -- from flags to the API's JSON ---------------------------------------------------------------------
def _ms(text: str, param: str) -> float | int:
    """A duration with its unit (`200ms`, `1.5s`) in milliseconds: a bare number is refused, since it
    could mean either."""
    try:
        if not any(ch.isalpha() for ch in text):
            raise ValueError
        ms = parse_duration(text) * 1000
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a duration with a unit, such as 200ms or 1.5s",
                                 param_hint=param) from None
    ms = round(ms, 3)
    return int(ms) if float(ms).is_integer() else ms


def parse_latency(text: str) -> float | int | dict[str, Any]:
    """`--latency` as the API's `latency_ms`: a number, or a distribution object."""
    kind, _, rest = text.partition(":")
    args = rest.split(":") if rest else []
    if not rest:
        return _ms(text, "--latency")
    if kind == "fixed" and len(args) == 1:
        return {"distribution": "fixed", "ms": _ms(args[0], "--latency")}
    if kind == "uniform" and len(args) == 2:
        return {"distribution": "uniform", "min_ms": _ms(args[0], "--latency"), "max_ms": _ms(args[1], "--latency")}
    if kind == "lognormal" and len(args) == 2:
        try:
            sigma = float(args[1])
        except ValueError:
            raise click.BadParameter(f"sigma {args[1]!r} is not a number", param_hint="--latency") from None
        return {"distribution": "lognormal", "median_ms": _ms(args[0], "--latency"), "sigma": sigma}
    raise click.BadParameter(f"{text!r}: write {LATENCY_HELP}", param_hint="--latency")


def parse_header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise click.BadParameter(f"{text!r} is not NAME=VALUE, as in Retry-After=2", param_hint="--header")
    return name.strip(), value


def _seconds(text: str | None, param: str) -> float | None:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=param) from None


def relative(seconds: float) -> str:
    """`+5s`, `+0.25s`: a delay from the service's now, as the API's `start`/`end` take it."""
    return "+" + f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"


def rule_body(*, path: str | None = None, method: str | None = None, user: str | None = None,
              template: str | None = None, host: str | None = None, status: int | None = None,
              headers: tuple[str, ...] = (), latency: str | None = None, hang: bool = False, drop: bool = False,
              malformed: bool = False, probability: float | None = None, count: int | None = None,
              after: str | None = None, for_: str | None = None, outbound: bool = False, name: str | None = None,
              seed: int | None = None) -> dict[str, Any]:
    """The `POST /_admin/faults` body the flags describe. Only the flags' own syntax is checked here: what a
    rule may be is the service's to say (its 400 is printed as it stands)."""
    match = {key: value for key, value in (("method", method), ("path", path), ("host", host), ("user", user),
                                           ("template", template)) if value is not None}
    effect: dict[str, Any] = {}
    if status is not None:
        effect["status"] = status
    if headers:
        effect["headers"] = dict(parse_header(h) for h in headers)
    if latency is not None:
        effect["latency_ms"] = parse_latency(latency)
    for flag, given in (("hang", hang), ("drop", drop), ("malformed", malformed)):
        if given:
            effect[flag] = True
    body: dict[str, Any] = {"match": match, "effect": effect}
    if outbound:
        body["direction"] = "outbound"
    if probability is not None:
        body["probability"] = probability
    if count is not None:
        body["count"] = count
    start, length = _seconds(after, "--after"), _seconds(for_, "--for")
    if length is not None and length <= 0:
        raise click.BadParameter("a window must last longer than 0 s", param_hint="--for")
    if start:
        body["start"] = relative(start)
    if length is not None:
        body["end"] = relative((start or 0.0) + length)
    if name is not None:
        body["name"] = name
    if seed is not None:
        body["seed"] = seed
    return body


# -- talking to the services --------------------------------------------------------------------------
def _session(ctx: click.Context, admin_token: str | None) -> requests.Session:
    """The root context's `obj["session"]` when a caller gives one (tests route it in-process), else a
    plain session; either sends the admin token on admin paths."""
    obj = ctx.find_root().obj
    given = obj.get("session") if isinstance(obj, dict) else None
    session = given or requests.Session()
    if given is None:
        session.trust_env = False  # loopback services: proxy variables would only misroute the call
    return send_admin_token(session, admin_token)


def _call(session: requests.Session, service: str, url: str, method: str, path: str,
          **kwargs: Any) -> requests.Response:
    try:
        return session.request(method, f"{url.rstrip('/')}{path}", timeout=30, **kwargs)
    except requests.ConnectionError:
        _line(f"cannot reach {NAMES[service]} at {url}: is bsim up running?")
    except requests.Timeout:
        _line(f"{NAMES[service]} at {url} did not answer in time")
    sys.exit(UNREACHABLE)


def _message(response: requests.Response) -> str:
    """What a service's error body says (all three put it in `message`), else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping) and isinstance(body.get("message"), str):
        return body["message"]
    return response.text.strip()[:300] or response.reason or ""


def _line(text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _urls(braze_url: str, sendbird_url: str, bridge_url: str) -> dict[str, str]:
    return {"braze": braze_url, "sendbird": sendbird_url, "bridge": bridge_url}


# -- the commands -------------------------------------------------------------------------------------
@click.group(help="Fault rules on a running stack: make a service answer errors, slow down, hang or drop "
                  "connections (docs/faults.md).")
def fault() -> None:
    pass


@fault.command("add", help="Add one fault rule to SERVICE and print its id. Exit codes: 0 added, 1 the service "
                           "answered otherwise (an admin token missing), 2 the rule refused (the service's "
                           "message) or a flag malformed, 3 the service unreachable.")
@click.argument("service", type=click.Choice(SERVICES))
@click.option("--path", required=True, help="glob on the request path, as /v1/notifications*")
@click.option("--method", help="only this HTTP method")
@click.option("--user", help="only requests naming this user (path, query or JSON body)")
@click.option("--template", help="only requests naming this Sendbird template key")
@click.option("--host", help="with --outbound: glob on the called host")
@click.option("--status", type=int, help="answer this status, in the service's own error body (599 outbound: "
                                         "a connection error)")
@click.option("--header", "headers", multiple=True, metavar="NAME=VALUE", help="a header of the status answer "
                                                                               "(repeatable), as Retry-After=2")
@click.option("--latency", metavar="LATENCY", help=LATENCY_HELP)
@click.option("--hang", is_flag=True, help="no answer until the client gives up")
@click.option("--drop", is_flag=True, help="close the connection with no answer")
@click.option("--malformed", is_flag=True, help="answer with the body cut in half")
@click.option("--probability", type=float, help="chance a matching request is faulted (seeded)  [default: 1]")
@click.option("--count", type=int, help="fault only the first N matches")
@click.option("--after", metavar="DURATION", help="start this long from now on the service's clock, as 5s")
@click.option("--for", "for_", metavar="DURATION", help="end this long after the start, as 30s")
@click.option("--outbound", is_flag=True, help="fault SERVICE's own calls to others instead of its answers")
@click.option("--name", help="a name for the rule, shown in lists, the journal and reports")
@click.option("--seed", type=int, help="the rule's random seed (probability, latency draws)")
@admin_token_option
@service_options
@click.pass_context
def add(ctx: click.Context, service: str, admin_token: str | None, braze_url: str, sendbird_url: str,
        bridge_url: str, **flags: Any) -> None:
    body = rule_body(**flags)
    url = _urls(braze_url, sendbird_url, bridge_url)[service]
    response = _call(_session(ctx, admin_token), service, url, "POST", "/_admin/faults", json=body)
    if response.status_code == 201:
        click.echo(response.json()["id"])
        return
    if response.status_code == 400:
        _line(f"{service} refused the rule: {_message(response)}")
        sys.exit(REFUSED)
    _line(f"{service} answered HTTP {response.status_code}: {_message(response)}")
    sys.exit(FAILED)


def _fetch(session: requests.Session, service: str, url: str) -> list[dict[str, Any]]:
    response = _call(session, service, url, "GET", "/_admin/faults")
    if response.status_code != 200:
        _line(f"{service} answered HTTP {response.status_code}: {_message(response)}")
        sys.exit(FAILED)
    return response.json()["faults"]


def match_text(match: Mapping[str, Any]) -> str:
    """`POST /v1/notifications* user=demo-1`: the method and path first, then the other matchers."""
    parts = [match[k] for k in ("method", "path") if match.get(k)]
    parts += [f"{k}={match[k]}" for k in ("host", "user", "template") if match.get(k)]
    return " ".join(parts) or "every request"


def latency_text(latency: Any) -> str:
    if isinstance(latency, int | float):
        return f"{latency:g} ms"
    kind = latency.get("distribution")
    if kind == "uniform":
        return f"uniform {latency['min_ms']:g}-{latency['max_ms']:g} ms"
    if kind == "lognormal":
        return f"lognormal median {latency['median_ms']:g} ms sigma {latency['sigma']:g}"
    return f"{latency.get('ms', 0):g} ms"


def effect_text(effect: Mapping[str, Any]) -> str:
    """`status 503 (Retry-After: 2)`, `hang`, `malformed 200`, `latency 200 ms`, `status 503 + latency 50 ms`."""
    parts = []
    kind = next((k for k in ("hang", "drop", "malformed") if effect.get(k)), None)
    if kind == "malformed":
        parts.append("malformed" + (f" {effect['status']}" if effect.get("status") is not None else ""))
    elif kind is not None:
        parts.append(kind)
    elif effect.get("status") is not None:
        headers = ", ".join(f"{k}: {v}" for k, v in (effect.get("headers") or {}).items())
        parts.append(f"status {effect['status']}" + (f" ({headers})" if headers else ""))
    if effect.get("latency_ms") is not None:
        parts.append(f"latency {latency_text(effect['latency_ms'])}")
    return " + ".join(parts)


def _clock(at: str | None, default: str) -> str:
    """An API time as its time of day (`09:00:35`): the table's width is for counts; --json has the dates."""
    return default if at is None else at[11:19] if len(at) >= 19 else at


def window_text(rule: Mapping[str, Any]) -> str:
    """`09:00:05-09:00:35` on the service's clock (from its creation when it gave no start); `always`."""
    start, end = rule.get("start"), rule.get("end")
    if start is None and end is None:
        return "always"
    return f"{_clock(start or rule.get('created_at'), 'now')}-{_clock(end, 'removed')}"


def limits_text(rule: Mapping[str, Any]) -> str:
    """`, p=0.1, first 5` after the effect; nothing for a rule that faults every match."""
    parts = []
    if rule.get("probability", 1) != 1:
        parts.append(f"p={rule['probability']:g}")
    if rule.get("count") is not None:
        parts.append(f"first {rule['count']}")
    return "".join(f", {part}" for part in parts)


@fault.command("list", help="List the fault rules of every service (or SERVICE's), with how often each matched "
                            "and fired. Exit codes: 0 listed, 1 a service answered otherwise, 3 one unreachable.")
@click.argument("service", type=click.Choice(SERVICES), required=False)
@click.option("--json", "as_json", is_flag=True, help="print {service: [rule, ...]} as JSON instead of a table")
@admin_token_option
@service_options
@click.pass_context
def list_rules(ctx: click.Context, service: str | None, as_json: bool, admin_token: str | None, braze_url: str,
               sendbird_url: str, bridge_url: str) -> None:
    session = _session(ctx, admin_token)
    urls = _urls(braze_url, sendbird_url, bridge_url)
    rules = {name: _fetch(session, name, urls[name]) for name in ((service,) if service else SERVICES)}
    if as_json:
        click.echo(json.dumps(rules, indent=2, sort_keys=True))
        return
    if not any(rules.values()):
        _line(f"no fault rules on {service or 'any service'}")
        return
    table = Table(title="Fault rules", title_justify="left")
    table.add_column("service", min_width=8)
    table.add_column("rule", min_width=18)  # the id whole: it is what `bsim fault clear --id` takes
    for column in ("match", "effect", "window"):
        table.add_column(column)
    for column in ("matched", "fired"):
        table.add_column(column, justify="right")
    table.add_column("active")
    for name, listed in rules.items():
        for rule in listed:
            outbound = rule.get("direction") == "outbound"
            table.add_row(name, Text(f"{rule['id']}" + (f"\n{rule['name']}" if rule.get("name") else "")),
                          Text(("outbound " if outbound else "") + match_text(rule.get("match") or {})),
                          Text(effect_text(rule.get("effect") or {}) + limits_text(rule)), window_text(rule),
                          str(rule.get("matched", 0)), str(rule.get("fired", 0)), "yes" if rule.get("active") else "no",
                          style=None if rule.get("active") else "dim")
    # piped (a log, a test), a table is read whole: give it room instead of the 80 columns of no terminal
    (console if console.is_terminal else Console(width=WIDE)).print(table)


@fault.command("clear", help="Remove every fault rule (of every service, or of SERVICE), or one with --id. Exit "
                             "codes: 0 removed, 1 no rule with that id, 3 a service unreachable.")
@click.argument("service", type=click.Choice(SERVICES), required=False)
@click.option("--id", "rule_id", help="remove only this rule (looked for on every service unless SERVICE)")
@admin_token_option
@service_options
@click.pass_context
def clear(ctx: click.Context, service: str | None, rule_id: str | None, admin_token: str | None, braze_url: str,
          sendbird_url: str, bridge_url: str) -> None:
    session = _session(ctx, admin_token)
    urls = _urls(braze_url, sendbird_url, bridge_url)
    for name in (service,) if service else SERVICES:
        path = "/_admin/faults" + (f"/{quote(rule_id, safe='')}" if rule_id else "")
        response = _call(session, name, urls[name], "DELETE", path)
        if rule_id and response.status_code == 404:
            continue
        if response.status_code != 200:
            _line(f"{name} answered HTTP {response.status_code}: {_message(response)}")
            sys.exit(FAILED)
        if rule_id:
            _line(f"{name}: removed {rule_id}")
            return
        removed = response.json()["deleted"]
        _line(f"{name}: removed {removed} fault rule{'s' if removed != 1 else ''}")
    if rule_id:
        _line(f"no fault rule {rule_id} on {service or ', '.join(SERVICES)}")
        sys.exit(FAILED)
