"""Flask apps whose URL rules share their compiled URL builders.

Werkzeug compiles two builder functions (Python source, through `ast` and `compile`) for every URL rule it binds,
and a fresh app binds all of them again: building the fake Braze, the fake Sendbird and the bridge cost 39 ms, 30
of them in those compilations, and the in-process mocks build them for every test. A builder depends only on the
rule's parsed shape (its `_trace`: static text and argument names) and on whether unknown arguments are appended;
it reaches the rule's converters through the rule it is bound to. So the builder of one shape is compiled once per
process and bound to every rule of that shape. A rule with defaults (whose builder folds converted default values
in) or a Werkzeug without `_trace` builds its own, as Werkzeug does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from werkzeug.routing import Rule

_BUILDERS: dict[tuple[Any, ...], Callable[..., tuple[str, str]]] = {}


class SharedBuilderRule(Rule):
    def _compile_builder(self, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        trace = getattr(self, "_trace", None)
        if self.defaults or trace is None:
            return super()._compile_builder(append_unknown)
        key = (tuple(trace), append_unknown)
        builder = _BUILDERS.get(key)
        if builder is None:
            builder = _BUILDERS[key] = super()._compile_builder(append_unknown)
        return builder


def share_route_builders(app: Flask) -> None:
    """Make `app` bind its rules as `SharedBuilderRule`s: call it before any route is registered."""
    app.url_rule_class = SharedBuilderRule
