"""Notification templates and their `{variable}` placeholders.

A template version is immutable once made: messages keep a reference to the version they were
sent with and render it lazily, so a batch of 10,000 costs no rendering until a device reads it,
and editing a template never changes what was already sent. Placeholders are found as Sendbird's
UIKit finds them (`{name}`, names may hold spaces), once per version, so a send can tell which of
its variables came out empty without walking the UI JSON for every message.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from mocks.sendbird import errors
from mocks.sendbird.errors import SendbirdError, invalid, not_found
from mocks.sendbird.models import TemplateCreate, TemplateUpdate

PLACEHOLDER = re.compile(r"\{([^{}]+)\}")  # UIKit's own pattern
MAX_TEMPLATES = 100


def render_value(value: Any, variables: dict[str, Any]) -> Any:
    """Substitute `{name}` in every string of a UI JSON value; unknown names stay literal."""
    if isinstance(value, str):
        if "{" not in value:
            return value
        return PLACEHOLDER.sub(lambda m: as_text(variables[m.group(1)]) if m.group(1) in variables else m.group(0),
                               value)
    if isinstance(value, dict):
        return {k: render_value(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [render_value(v, variables) for v in value]
    return value


def placeholders(value: Any) -> frozenset[str]:
    """The `{name}` placeholders in every string of a UI JSON value."""
    if isinstance(value, str):
        return frozenset(PLACEHOLDER.findall(value)) if "{" in value else frozenset()
    if isinstance(value, dict):
        return frozenset().union(*map(placeholders, value.values()))
    if isinstance(value, list):
        return frozenset().union(*map(placeholders, value))
    return frozenset()


def is_empty(value: Any) -> bool:
    """A value a device shows as nothing: None, or text that is empty or all whitespace."""
    return value is None or (isinstance(value, str) and (not value or value.isspace()))


def as_text(value: Any) -> str:
    """A variable's value as a placeholder shows it (booleans the JSON way, as a device prints them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class TemplateVersion:
    key: str
    version: int
    ui_template: dict[str, Any]
    variable_schema: tuple[dict[str, Any], ...]
    required: frozenset[str]
    placeholders: frozenset[str] = frozenset()
    names: tuple[str, ...] = ()  # placeholders and schema keys, sorted: what a message's variables should fill

    def render(self, variables: dict[str, Any]) -> dict[str, Any]:
        return render_value(self.ui_template, variables)

    def gaps(self, variables: dict[str, Any]) -> tuple[list[str], list[str]]:
        """(names whose value is empty, placeholders with no variable at all), each sorted."""
        empty: list[str] = []
        unfilled: list[str] = []
        for name in self.names:
            if name in variables:
                if is_empty(variables[name]):
                    empty.append(name)
            elif name in self.placeholders:
                unfilled.append(name)
        return empty, unfilled


@dataclass
class Template:
    key: str
    name: str
    channel_url: str
    category: str | None
    label: str | None
    created_at: int
    updated_at: int
    current: TemplateVersion
    is_archived: bool = False
    history: list[TemplateVersion] = field(default_factory=list)

    def resource(self) -> dict[str, Any]:
        return {
            "key": self.key, "name": self.name, "channel_url": self.channel_url,
            "ui_template": self.current.ui_template, "variable_schema": list(self.current.variable_schema),
            "category": self.category, "label": self.label, "created_at": self.created_at,
            "updated_at": self.updated_at, "version": self.current.version, "is_archived": self.is_archived,
        }


def _version(key: str, number: int, ui_template: dict, specs: tuple[dict[str, Any], ...]) -> TemplateVersion:
    keys = [s["key"] for s in specs]
    if len(set(keys)) != len(keys):
        raise invalid('"variable_schema" has duplicate keys.')
    required = frozenset(s["key"] for s in specs if s["required"])
    found = placeholders(ui_template)
    return TemplateVersion(key, number, ui_template, specs, required, found, tuple(sorted(found | set(keys))))


class TemplateStore:
    def __init__(self) -> None:
        self._templates: dict[str, Template] = {}
        self._lock = threading.Lock()

    def create(self, req: TemplateCreate, now_ms: int) -> Template:
        with self._lock:
            if req.key in self._templates:
                raise SendbirdError(errors.ALREADY_EXISTS, f'Template "{req.key}" already exists.')
            if len(self._templates) >= MAX_TEMPLATES:
                raise invalid(f"An application can have at most {MAX_TEMPLATES} templates.")
            version = _version(req.key, 1, req.ui_template, tuple(s.model_dump() for s in req.variable_schema))
            template = Template(req.key, req.name, req.channel_url, req.category, req.label, now_ms, now_ms, version)
            self._templates[req.key] = template
            return template

    def update(self, key: str, req: TemplateUpdate, now_ms: int) -> Template:
        with self._lock:
            template = self._get(key)
            current = template.current
            ui = req.ui_template if req.ui_template is not None else current.ui_template
            specs = current.variable_schema if req.variable_schema is None else \
                tuple(s.model_dump() for s in req.variable_schema)
            version = _version(key, current.version + 1, ui, specs)
            template.history.append(current)
            template.current = version
            for name in ("name", "category", "label"):
                value = getattr(req, name)
                if value is not None:
                    setattr(template, name, value)
            template.updated_at = max(now_ms, template.updated_at)
            return template

    def set_archived(self, key: str, archived: bool, now_ms: int) -> Template:
        with self._lock:
            template = self._get(key)
            template.is_archived = archived
            template.updated_at = max(now_ms, template.updated_at)
            return template

    def get(self, key: str) -> Template:
        with self._lock:
            return self._get(key)

    def sendable(self, key: str) -> Template:
        """The template a send may use: it exists and is not archived."""
        template = self._templates.get(key)
        if template is None or template.is_archived:
            raise not_found(f"template {key}")
        return template

    def _get(self, key: str) -> Template:
        template = self._templates.get(key)
        if template is None:
            raise not_found(f"template {key}")
        return template

    def all(self) -> list[Template]:
        with self._lock:
            return list(self._templates.values())

    def page(self, limit: int, offset: int) -> tuple[list[Template], int | None]:
        with self._lock:
            items = list(self._templates.values())
        chunk = items[offset:offset + limit]
        nxt = offset + limit if offset + limit < len(items) else None
        return chunk, nxt

    def export(self) -> dict[str, Template]:
        """Copies of the templates (versions are immutable, so shared), for a snapshot."""
        with self._lock:
            return {key: dataclasses.replace(t, history=list(t.history)) for key, t in self._templates.items()}

    @staticmethod
    def build(state: dict[str, Template]) -> dict[str, Template]:
        for template in state.values():
            if not isinstance(template, Template) or not all(
                    isinstance(v, TemplateVersion) for v in (template.current, *template.history)):
                raise ValueError("a template is not a template")
        return dict(state)

    def replace(self, templates: dict[str, Template]) -> None:
        with self._lock:
            self._templates = templates

    def clear(self) -> None:
        with self._lock:
            self._templates.clear()
