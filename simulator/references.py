"""Checks across the parts of a scenario: names that must point at something the file defines, the
variables a Sendbird template needs, and timeline actions that fall inside the run.

They read the data as written (plain YAML values, or models given to `Scenario(...)`) and skip
whatever is missing or of the wrong shape, so they can run on a file that also has field errors and
report every problem in one pass, each at the value it concerns (`Finding.loc`). `Scenario`
runs them after its fields validate; `simulator.loader` runs them itself to place each one in the file.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from mocks.braze.liquid.base import BrazeLiquidSyntaxError
from mocks.braze.liquid.render import compile_template
from mocks.sendbird.templates import PLACEHOLDER
from simulator.durations import parse_duration

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Finding:
    loc: Loc  # keys and indexes from the top of the file to the offending value
    message: str
    hint: str = ""
    level: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        return f"{'.'.join(map(str, self.loc))}: {self.message}"


def get(node: Any, *keys: str | int) -> Any:
    """`node[key][key]...` over mappings, models and lists; None where a level is absent or of another shape."""
    for key in keys:
        if isinstance(node, Mapping):
            node = node.get(key)
        elif isinstance(node, BaseModel) and isinstance(key, str):
            node = getattr(node, key, None)
        elif isinstance(node, list | tuple) and isinstance(key, int) and 0 <= key < len(node):
            node = node[key]
        else:
            return None
    return node


def entries(node: Any) -> list[tuple[int, Any]]:
    return list(enumerate(node)) if isinstance(node, list | tuple) else []


def text(node: Any) -> str | None:
    return node if isinstance(node, str) else None


def names(node: Any) -> set[str]:
    """The keys of a mapping (a message's variables), whatever holds it."""
    return {k for k in node if isinstance(k, str)} if isinstance(node, Mapping) else set()


def suggest(word: str, known: set[str], what: str) -> str:
    close = difflib.get_close_matches(word, sorted(known), n=1)
    if close:
        return f"did you mean `{close[0]}`?"
    return f"known {what}: {', '.join(sorted(known))}" if known else f"no {what} is defined in this file"


@dataclass(frozen=True)
class Message:
    """A Sendbird message (a campaign's or a canvas message step's `sendbird:`) and where it is."""

    loc: Loc
    owner: str
    body: Any


@dataclass
class Parts:
    """The names a scenario defines, read from whatever of it parsed."""

    templates: dict[str, Any] = field(default_factory=dict)  # key -> the template as written
    campaigns: set[str] = field(default_factory=set)
    canvases: dict[str, Any] = field(default_factory=dict)  # id -> the canvas as written
    segments: set[str] = field(default_factory=set)
    messages: list[Message] = field(default_factory=list)

    @classmethod
    def read(cls, data: Any) -> Parts:
        parts = cls()
        for _, template in entries(get(data, "sendbird", "templates")):
            if (key := text(get(template, "key"))) is not None:
                parts.templates.setdefault(key, template)
        for _, segment in entries(get(data, "braze", "segments")):
            if (name := text(get(segment, "name"))) is not None:
                parts.segments.add(name)
        for i, campaign in entries(get(data, "braze", "campaigns")):
            campaign_id = text(get(campaign, "id"))
            if campaign_id is not None:
                parts.campaigns.add(campaign_id)
            if get(campaign, "sendbird") is not None:
                parts.messages.append(Message(("braze", "campaigns", i, "sendbird"), f"campaign {campaign_id!r}",
                                              get(campaign, "sendbird")))
        for i, canvas in entries(get(data, "braze", "canvases")):
            canvas_id = text(get(canvas, "id"))
            if canvas_id is not None:
                parts.canvases.setdefault(canvas_id, canvas)
            for j, step in entries(get(canvas, "steps")):
                if get(step, "type") == "message" and get(step, "sendbird") is not None:
                    parts.messages.append(Message(("braze", "canvases", i, "steps", j, "sendbird"),
                                                  f"canvas {canvas_id!r} step {text(get(step, 'id'))!r}",
                                                  get(step, "sendbird")))
        return parts


def placeholders(value: Any) -> set[str]:
    """The `{name}` placeholders in a UI template's strings, as Sendbird fills them."""
    if isinstance(value, str):
        return set(PLACEHOLDER.findall(value))
    if isinstance(value, Mapping):
        value = list(value.values())
    return set().union(*map(placeholders, value)) if isinstance(value, list | tuple) else set()


def required_variables(template: Any) -> set[str]:
    return {key for _, spec in entries(get(template, "variable_schema"))
            if get(spec, "required") is True and (key := text(get(spec, "key"))) is not None}


def check(data: Any, run_for_default: float) -> list[Finding]:
    """Every cross-reference problem of a scenario (`run_for_default`: the run length when it says none)."""
    parts = Parts.read(data)
    return [*_duplicates(data), *_messages(parts), *_liquid(data, parts), *_segments_in_audiences(data, parts),
            *_timeline(data, parts, run_for_default), *_faults(data, parts, run_for_default),
            *_content_expectations(data, parts), *_stubs(data)]


def _duplicates(data: Any) -> Iterator[Finding]:
    sections = ((("sendbird", "templates"), "key", "Sendbird template"), (("braze", "segments"), "name", "segment"),
                (("braze", "campaigns"), "id", "campaign"), (("braze", "canvases"), "id", "canvas"))
    for section, key, what in sections:
        seen: set[str] = set()
        for i, item in entries(get(data, *section)):
            name = text(get(item, key))
            if name in seen:
                yield Finding((*section, i, key), f"a second {what} named {name!r}",
                              f"give each {what} its own `{key}`")
            if name is not None:
                seen.add(name)


def _messages(parts: Parts) -> Iterator[Finding]:
    for message in parts.messages:
        key = text(get(message.body, "template_key"))
        if key is None:
            continue  # a field error says so
        if key not in parts.templates:
            yield Finding((*message.loc, "template_key"), f"{message.owner} uses unknown Sendbird template {key!r}",
                          suggest(key, set(parts.templates), "templates"))
            continue
        template = parts.templates[key]
        supplied = names(get(message.body, "variables"))
        missing = sorted(required_variables(template) - supplied)
        if missing:
            yield Finding((*message.loc, "variables"),
                          f"{message.owner} does not supply {_listed(missing)}, required by template {key!r}",
                          "add " + ", ".join(f"`{name}:`" for name in missing) + " under `variables:` "
                          "(Sendbird refuses a send without them)")
        unfilled = sorted(placeholders(get(template, "ui_template")) - supplied - set(missing))
        if unfilled:
            yield Finding((*message.loc, "variables"),
                          f"{message.owner} does not supply {_listed(unfilled)}, used by template {key!r}",
                          "the notification would show " + ", ".join(f"`{{{name}}}`" for name in unfilled)
                          + " as written; add it under `variables:`", "warning")


def _liquid(data: Any, parts: Parts) -> Iterator[Finding]:
    """Liquid that does not parse, at its own value: the fake Braze refuses such a message when the run saves it
    (as Braze's composer refuses to save it), so the author hears of it here first, with the construct. Checked:
    a Sendbird message's variables, and a written-out `webhook`'s URL, header values and body."""
    for message in parts.messages:
        variables = get(message.body, "variables")
        for name in sorted(names(variables)):
            yield from _parsed(get(variables, name), (*message.loc, "variables", name),
                               f"variable {name!r} of {message.owner}")
    for loc, owner, webhook in _webhooks(data):
        fields = [("url", get(webhook, "url")), ("body", get(webhook, "body"))]
        headers = get(webhook, "headers")
        fields += [(f"headers.{name}", get(headers, name)) for name in sorted(names(headers))]
        if isinstance(get(webhook, "body"), Mapping):
            fields[1:2] = [(f"body.{key}", get(webhook, "body", key)) for key in sorted(names(get(webhook, "body")))]
        for field_name, value in fields:
            yield from _parsed(value, (*loc, *field_name.split(".", 1)), f"webhook {field_name} of {owner}")


def _webhooks(data: Any) -> Iterator[tuple[Loc, str, Any]]:
    """Every written-out `webhook` (not a Sendbird message, not a saved template's id), with where it is."""
    for i, campaign in entries(get(data, "braze", "campaigns")):
        if isinstance(get(campaign, "webhook"), Mapping):
            yield ("braze", "campaigns", i, "webhook"), f"campaign {text(get(campaign, 'id'))!r}", \
                get(campaign, "webhook")
    for i, canvas in entries(get(data, "braze", "canvases")):
        for j, step in entries(get(canvas, "steps")):
            if get(step, "type") == "message" and isinstance(get(step, "webhook"), Mapping) \
                    and get(step, "webhook", "sendbird") is None:
                yield (("braze", "canvases", i, "steps", j, "webhook"),
                       f"canvas {text(get(canvas, 'id'))!r} step {text(get(step, 'id'))!r}", get(step, "webhook"))


def _parsed(value: Any, loc: Loc, what: str) -> Iterator[Finding]:
    liquid = text(value)
    if liquid is None or "{" not in liquid:
        return
    try:
        compile_template(liquid)
    except BrazeLiquidSyntaxError as exc:
        line = f" (line {exc.line})" if exc.line is not None and "\n" in liquid else ""
        yield Finding(loc, f"{what}{line}: {exc.reason}", "Braze refuses to save a message whose Liquid does not parse")


def _listed(variables: list[str]) -> str:
    return ("the variable " if len(variables) == 1 else "the variables ") + ", ".join(map(repr, variables))


def _audiences(data: Any) -> Iterator[tuple[Loc, Any]]:
    """Every audience that may name a saved segment, with its place."""
    for i, behaviour in entries(get(data, "population", "behaviours")):
        yield ("population", "behaviours", i, "audience"), get(behaviour, "audience")
    for section in ("campaigns", "canvases"):
        for i, item in entries(get(data, "braze", section)):
            yield ("braze", section, i, "audience"), get(item, "audience")
    for i, canvas in entries(get(data, "braze", "canvases")):
        for j, step in entries(get(canvas, "steps")):
            yield ("braze", "canvases", i, "steps", j, "audience"), get(step, "audience")
            for k, path in entries(get(step, "paths")):
                yield ("braze", "canvases", i, "steps", j, "paths", k, "audience"), get(path, "audience")


def _segments_in_audiences(data: Any, parts: Parts) -> Iterator[Finding]:
    for loc, audience in _audiences(data):
        name = text(get(audience, "segment"))
        if name is not None and name not in parts.segments:
            yield Finding((*loc, "segment"), f"unknown segment {name!r}",
                          suggest(name, parts.segments, "segments") + " (segments are defined under braze.segments)")


def _duration(value: Any) -> float | None:
    try:
        return parse_duration(value)
    except ValueError:
        return None  # a field error says so


def _shown(written: Any, seconds: float) -> str:
    return f"{written} ({seconds:g} s)" if isinstance(written, str) else f"{seconds:g} s"


def _timeline(data: Any, parts: Parts, run_for_default: float) -> Iterator[Finding]:
    run_for = run_for_default if get(data, "run_for") is None else _duration(get(data, "run_for"))
    for i, item in entries(get(data, "timeline")):
        campaign = text(get(item, "trigger_campaign", "campaign"))
        if campaign is not None and campaign not in parts.campaigns:
            yield Finding(("timeline", i, "trigger_campaign", "campaign"), f"triggers unknown campaign {campaign!r}",
                          suggest(campaign, parts.campaigns, "campaigns"))
        canvas = text(get(item, "trigger_canvas", "canvas"))
        if canvas is not None and canvas not in parts.canvases:
            yield Finding(("timeline", i, "trigger_canvas", "canvas"), f"triggers unknown canvas {canvas!r}",
                          suggest(canvas, set(parts.canvases), "canvases"))
        for action in ("trigger_campaign", "trigger_canvas", "track_event", "set_attributes"):
            segment = text(get(item, action, "recipients", "segment"))
            if segment is not None and segment not in parts.segments:
                yield Finding(("timeline", i, action, "recipients", "segment"), f"names unknown segment {segment!r}",
                              suggest(segment, parts.segments, "segments"))
        if "sendbird_id" in names(get(item, "set_attributes", "attributes")) and \
                get(data, "population", "id_mapping") in (None, "sendbird_id"):
            yield Finding(("timeline", i, "set_attributes", "attributes", "sendbird_id"),
                          "may not change 'sendbird_id': it names each user's Sendbird user, the devices' own",
                          "the population sets it; set another attribute")
        at = _duration(get(item, "at"))
        if at is not None and run_for is not None and at >= run_for:
            yield Finding(("timeline", i, "at"), f"at {_shown(get(item, 'at'), at)} is not before the end of the run, "
                          f"run_for {_shown(get(data, 'run_for'), run_for)}: it would never happen",
                          "move it earlier or make `run_for` longer")


def _faults(data: Any, parts: Parts, run_for_default: float) -> Iterator[Finding]:
    """A fault after the end of the run never acts; two faults of one name would be one line of the report."""
    run_for = run_for_default if get(data, "run_for") is None else _duration(get(data, "run_for"))
    seen: set[str] = set()
    for i, item in entries(get(data, "faults")):
        name = text(get(item, "name"))
        if name in seen:
            yield Finding(("faults", i, "name"), f"a second fault named {name!r}", "give each fault its own `name`")
        if name is not None:
            seen.add(name)
        at = _duration(get(item, "at")) if get(item, "at") is not None else 0.0
        if at is not None and run_for is not None and at >= run_for:
            yield Finding(("faults", i, "at"), f"at {_shown(get(item, 'at'), at)} is not before the end of the run, "
                          f"run_for {_shown(get(data, 'run_for'), run_for)}: it would never act",
                          "move it earlier or make `run_for` longer")
        template = text(get(item, "match", "template"))
        if template is not None and template not in parts.templates:
            yield Finding(("faults", i, "match", "template"), f"matches unknown Sendbird template {template!r}",
                          suggest(template, set(parts.templates), "templates") + " (a run creates only these)",
                          "warning")


def _content_expectations(data: Any, parts: Parts) -> Iterator[Finding]:
    for i, expectation in entries(get(data, "expectations")):
        template = text(get(expectation, "content", "template"))
        if template is not None and template not in parts.templates:
            yield Finding(("expectations", i, "content", "template"), f"unknown Sendbird template {template!r}",
                          suggest(template, set(parts.templates), "templates"))


def _stubs(data: Any) -> Iterator[Finding]:
    """The first stub that matches answers: a second one of the same method and url would never answer."""
    seen: set[tuple[str, str]] = set()
    for i, stub in entries(get(data, "stubs")):
        url, method = text(get(stub, "url")), get(stub, "method") or "GET"
        if url is None or not isinstance(method, str):
            continue
        if (method, url) in seen:
            yield Finding(("stubs", i, "url"), f"a second stub for {method} {url}: the first one answers every request",
                          "remove one, or give them different paths")
        seen.add((method, url))
