"""Webhook templates: saved composer content (URL, method, headers, body) that messages reuse.

In Braze a template is copied into a message and edited there; here a message names a template
and may override its fields and replace its placeholders (literal text such as
`SENDBIRD_API_TOKEN`), which is what editing the copy amounts to. Liquid works in the URL, the
header values and the body (JSON key/value pairs, or raw text).

A URL whose host is written out is asked of the outbound policy when the template, campaign or canvas
is saved, so a refused target is a 400 the author sees, not a failure per user later; one whose host is
Liquid is only known per user, and the dispatcher's transport asks it then. Likewise every field's Liquid
is parsed when saved (after a message's replacements, as it will be sent), as Braze's composer refuses to
save a syntax error; what only a user's render can tell (an undefined variable, a Connected Content
failure, `abort_message`) is still an abort at send time.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.outbound import RefusedURL
from mocks.braze.liquid.render import BrazeLiquidSyntaxError, compile_template
from mocks.braze.state import StateError, Swap, expect, record

METHODS = ("POST", "PUT", "DELETE", "GET", "PATCH")
SENDBIRD_TEMPLATE_ID = "sendbird-webhook-template"

SENDBIRD_BODY = """{
  "template_key": "SENDBIRD_TEMPLATE_KEY",
  "receiver": "{{custom_attribute.${sendbird_id} | json_escape}}",
  "user_id": "{{${user_id} | json_escape}}",
  "variables": SENDBIRD_VARIABLES,
  "event_name": "SENDBIRD_EVENT_NAME",
  "message_id": "{{campaign.${dispatch_id}}}-{{${user_id} | json_escape}}",
  "campaign_id": "{{campaign.${api_id}}}",
  "canvas_id": "{{canvas.${api_id}}}",
  "tags": SENDBIRD_TAGS,
  "label": "SENDBIRD_LABEL"
}"""

SENDBIRD_PLACEHOLDERS = {
    "SENDBIRD_INTEGRATION_URL": "Sendbird's realtime or batch integration endpoint",
    "SENDBIRD_API_TOKEN": "the integration's API token",
    "SENDBIRD_TEMPLATE_KEY": "the Sendbird notification template key",
    "SENDBIRD_EVENT_NAME": "the Braze custom event name for SENT/READ callbacks",
    "SENDBIRD_VARIABLES": "a JSON object of template variables (Liquid allowed), default {}",
    "SENDBIRD_TAGS": "a JSON array of tags, default []",
    "SENDBIRD_LABEL": "a label, default empty",
}
SENDBIRD_DEFAULTS = {"SENDBIRD_VARIABLES": "{}", "SENDBIRD_TAGS": "[]", "SENDBIRD_LABEL": ""}
_ORIGIN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")  # scheme://host[:port], before any path


RECEIVER_FROM_ATTRIBUTE = "{{custom_attribute.${sendbird_id} | json_escape}}"
RECEIVER_FROM_EXTERNAL_ID = "{{${user_id} | json_escape}}"


def _json_safe(liquid: str, slot: str) -> str:
    """A template variable's Liquid, rendered whole into `slot` and then escaped for the JSON string it sits in.

    Capturing the source as it stands (outputs, tags, `default`, `abort_message`, literal text with quotes) and
    escaping what it printed never looks inside the Liquid, so no nesting can be cut in the wrong place: a regex
    over `{{...}}` cut Braze's `{{${first_name}}}` at its first `}}` and every name rendered empty."""
    return "{% capture " + slot + " %}" + liquid + "{% endcapture %}{{ " + slot + " | json_escape }}"


def fill_sendbird_template(integration_url: str, api_token: str, template_key: str, event_name: str,
                           variables: dict[str, str], tags: list[str] = (), label: str | None = None,
                           by_external_id: bool = False) -> dict[str, Any]:
    """A message's `webhook`: the Sendbird Webhook Template with its placeholders filled in, as a marketer fills
    them (`variables`: template variable -> Braze Liquid). `by_external_id` sends to the Sendbird user named by the
    Braze external id instead of the `sendbird_id` custom attribute."""
    rendered = "{" + ", ".join(f"{json.dumps(k)}: \"{_json_safe(v, f'sendbird_variable_{i}')}\""
                               for i, (k, v) in enumerate(variables.items())) + "}"
    replace = {
        "SENDBIRD_INTEGRATION_URL": integration_url,
        "SENDBIRD_API_TOKEN": api_token,
        "SENDBIRD_TEMPLATE_KEY": template_key,
        "SENDBIRD_EVENT_NAME": event_name,
        "SENDBIRD_VARIABLES": rendered,
        "SENDBIRD_TAGS": json.dumps(list(tags)),
        "SENDBIRD_LABEL": label or "",
    }
    if by_external_id:
        replace[RECEIVER_FROM_ATTRIBUTE] = RECEIVER_FROM_EXTERNAL_ID
    return {"template_id": SENDBIRD_TEMPLATE_ID, "replace": replace}


class TemplateError(ValueError):
    pass


@dataclass(frozen=True)
class WebhookContent:
    """What a webhook message sends, before Liquid: the composer's fields."""

    url: str
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)
    body: str | dict[str, str] = ""  # raw text, or JSON key/value pairs

    def body_text(self, rendered_pairs: dict[str, str] | None = None) -> str:
        if isinstance(self.body, dict):
            return json.dumps(rendered_pairs if rendered_pairs is not None else self.body)
        return self.body

    def replaced(self, replacements: dict[str, str]) -> WebhookContent:
        """Literal placeholder replacement in every field, as a marketer edits a copied template."""
        if not replacements:
            return self

        def sub(text: str) -> str:
            for old, new in replacements.items():
                text = text.replace(old, new)
            return text

        body = {sub(k): sub(v) for k, v in self.body.items()} if isinstance(self.body, dict) else sub(self.body)
        return WebhookContent(sub(self.url), self.method, {sub(k): sub(v) for k, v in self.headers.items()}, body)

    def liquid_fields(self) -> Iterator[tuple[str, str]]:
        """The texts a send renders, by field: the URL, each header's value, and the raw body or each value of
        its key/value pairs (`mocks.braze.delivery.sending`)."""
        yield "url", self.url
        for name, value in self.headers.items():
            yield f"headers.{name}", value
        if isinstance(self.body, dict):
            for key, value in self.body.items():
                yield f"body.{key}", value
        else:
            yield "body", self.body

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "method": self.method, "headers": dict(self.headers),
                "body_type": "json" if isinstance(self.body, dict) else "raw", "body": self.body}


def check_liquid(content: WebhookContent, where: str) -> WebhookContent:
    """TemplateError naming the field, the line within it and the construct when a field's Liquid does not
    parse: `'webhook.body' line 3: unknown tag 'frobnicate'`. Parsed by the renderer's own cache, so what
    is saved here renders without a syntax error (text without `{` holds no Liquid, and is not rendered)."""
    for name, text in content.liquid_fields():
        if "{" not in text:
            continue
        try:
            compile_template(text)
        except BrazeLiquidSyntaxError as exc:
            line = f" line {exc.line}" if exc.line is not None else ""
            raise TemplateError(f"'{where}.{name}'{line}: {exc.reason}") from None
    return content


def content_state(content: WebhookContent) -> dict[str, Any]:
    """A message's composed webhook as plain data (a snapshot keeps it as saved: the template it came from may
    be gone since, and the outbound policy is asked again only when it is sent)."""
    return {"url": content.url, "method": content.method, "headers": dict(content.headers),
            "body": dict(content.body) if isinstance(content.body, dict) else content.body}


def content_from_state(data: Any, where: str) -> WebhookContent:
    record(data, where, ("url", "method", "headers", "body"))
    try:
        return parse_content(data, where)
    except TemplateError as exc:
        raise StateError(where, str(exc)) from None


def parse_content(spec: Any, where: str = "webhook") -> WebhookContent:
    if not isinstance(spec, dict):
        raise TemplateError(f"'{where}' must be an object")
    url = spec.get("url")
    if not isinstance(url, str) or not url:
        raise TemplateError(f"'{where}.url' is required")
    method = spec.get("method", spec.get("request_method", "POST"))
    if method not in METHODS:
        raise TemplateError(f"'{where}.method' must be one of {', '.join(METHODS)}")
    headers = spec.get("headers", spec.get("request_headers", {})) or {}
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise TemplateError(f"'{where}.headers' must be an object of strings")
    body = spec.get("body", "")
    if isinstance(body, dict):
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in body.items()):
            raise TemplateError(f"'{where}.body' key/value pairs must be strings")
    elif not isinstance(body, str):
        raise TemplateError(f"'{where}.body' must be raw text or an object of key/value pairs")
    return WebhookContent(url, method, dict(headers), body)


@dataclass
class WebhookTemplate:
    template_id: str
    name: str
    content: WebhookContent
    description: str = ""
    placeholders: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"template_id": self.template_id, "name": self.name, "description": self.description,
                **self.content.to_dict(), "placeholders": dict(self.placeholders)}


def sendbird_template() -> WebhookTemplate:
    return WebhookTemplate(
        SENDBIRD_TEMPLATE_ID, "Sendbird Webhook Template",
        WebhookContent("SENDBIRD_INTEGRATION_URL", "POST",
                       {"Content-Type": "application/json", "Api-Token": "SENDBIRD_API_TOKEN"}, SENDBIRD_BODY),
        description="Posts to Sendbird's Braze integration (realtime or batch endpoint); replace the placeholders.",
        placeholders=dict(SENDBIRD_PLACEHOLDERS), defaults=dict(SENDBIRD_DEFAULTS))


class WebhookTemplateStore:
    """`check_url` is the transport's configure-time check (`Transport.check_url`); without one, targets are
    only asked when they are called."""

    def __init__(self, check_url: Callable[[str], str] | None = None) -> None:
        self._templates: dict[str, WebhookTemplate] = {}
        self._lock = threading.Lock()
        self._check_url = check_url
        self.reset()

    def _check_target(self, content: WebhookContent, where: str) -> WebhookContent:
        """TemplateError when the outbound policy refuses a host written out in the URL. A URL that is not
        one yet (a placeholder, Liquid in the host, a typo) is left to fail where it is sent, as in Braze."""
        origin = _ORIGIN.match(content.url)
        if self._check_url is None or origin is None or "{" in origin.group():
            return content
        try:
            self._check_url(origin.group())
        except RefusedURL as exc:
            raise TemplateError(f"'{where}.url': {exc}") from None
        except ValueError:
            pass
        return content

    def reset(self) -> None:
        with self._lock:
            self._templates = {SENDBIRD_TEMPLATE_ID: sendbird_template()}

    def create(self, template_id: str, spec: dict[str, Any]) -> WebhookTemplate:
        name = spec.get("name")
        if not isinstance(name, str) or not name:
            raise TemplateError("'name' is required")
        content = check_liquid(self._check_target(parse_content(spec, "template"), "template"), "template")
        template = WebhookTemplate(template_id, name, content, description=str(spec.get("description", "")))
        with self._lock:
            if any(t.name == name for t in self._templates.values()):
                raise TemplateError(f"a webhook template named {name!r} already exists")
            self._templates[template_id] = template
        return template

    def get(self, template_id: str) -> WebhookTemplate:
        template = self._templates.get(template_id)
        if template is None:
            raise TemplateError(f"no webhook template {template_id!r}")
        return template

    def list(self) -> list[WebhookTemplate]:
        return list(self._templates.values())

    def delete(self, template_id: str) -> None:
        with self._lock:
            if self._templates.pop(template_id, None) is None:
                raise TemplateError(f"no webhook template {template_id!r}")

    def snapshot_state(self) -> list[dict[str, Any]]:
        """Every template (the built-in Sendbird one too, which may have been deleted), in creation order."""
        with self._lock:
            return [{"template_id": t.template_id, "name": t.name, "description": t.description,
                     "content": content_state(t.content), "placeholders": dict(t.placeholders),
                     "defaults": dict(t.defaults)} for t in self._templates.values()]

    def stage_state(self, state: Any) -> Swap:
        templates: dict[str, WebhookTemplate] = {}
        for i, data in enumerate(expect(state, list, "webhook_templates")):
            where = f"webhook_templates[{i}]"
            record(data, where, ("template_id", "name", "description", "content", "placeholders", "defaults"))
            for key in ("template_id", "name", "description"):
                expect(data[key], str, f"{where}.{key}")
            for key in ("placeholders", "defaults"):
                expect(data[key], dict, f"{where}.{key}")
            templates[data["template_id"]] = WebhookTemplate(
                data["template_id"], data["name"], content_from_state(data["content"], f"{where}.content"),
                data["description"], dict(data["placeholders"]), dict(data["defaults"]))

        def swap() -> None:
            with self._lock:
                self._templates = templates
        return swap

    def resolve(self, spec: Any, where: str) -> WebhookContent:
        """A message's webhook: inline content, or a template with overrides and replacements."""
        if not isinstance(spec, dict):
            raise TemplateError(f"'{where}' must be an object")
        if "template_id" not in spec:
            return check_liquid(self._check_target(parse_content(spec, where), where), where)
        if not isinstance(spec["template_id"], str):
            raise TemplateError(f"'{where}.template_id' must be a string")
        template = self.get(spec["template_id"])
        replacements = spec.get("replace", {})
        if not isinstance(replacements, dict) or not all(isinstance(v, str) for v in replacements.values()):
            raise TemplateError(f"'{where}.replace' must be an object of strings")
        content = template.content
        overrides = {k: spec[k] for k in ("url", "method", "headers", "body") if k in spec}
        if overrides:
            content = parse_content({**content.to_dict(), **overrides}, where)
        return check_liquid(self._check_target(content.replaced({**template.defaults, **replacements}), where), where)
