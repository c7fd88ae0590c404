"""Shared URL builders (harness.route_builders): every route of the three services builds the URL Werkzeug's own
rule builds, and a second app of a service compiles nothing new."""

from __future__ import annotations

import pytest
from werkzeug.routing import IntegerConverter, Map, PathConverter, Rule

from bridge.app import create_app as create_bridge
from harness.route_builders import _BUILDERS, SharedBuilderRule
from harness.runtime import Runtime
from mocks.braze.app import create_app as create_braze
from mocks.sendbird.app import create_app as create_sendbird

FACTORIES = {"braze": create_braze, "sendbird": create_sendbird,
             "bridge": lambda runtime: create_bridge(runtime, db=":memory:")}


def _sample(converter) -> object:
    if isinstance(converter, IntegerConverter):
        return 42
    if isinstance(converter, PathConverter):
        return "a b/ü?x"
    return "a b/ü?x&y"


@pytest.mark.parametrize("service", sorted(FACTORIES))
def test_every_route_builds_the_url_werkzeugs_own_rule_builds(service):
    app = FACTORIES[service](Runtime.simulation())
    rules = list(app.url_map.iter_rules())
    assert rules and all(isinstance(rule, SharedBuilderRule) for rule in rules)
    for rule in rules:
        values = {name: _sample(converter) for name, converter in rule._converters.items()}
        plain = Rule(rule.rule, endpoint=rule.endpoint, methods=rule.methods, defaults=rule.defaults)
        Map([plain], converters=app.url_map.converters)
        for extra in ({}, {"page": "2", "q": "a b"}):
            assert rule.build({**values, **extra}) == plain.build({**values, **extra}), rule.rule


def test_a_second_app_of_a_service_compiles_no_builder():
    create_braze(Runtime.simulation())
    compiled = len(_BUILDERS)
    second = create_braze(Runtime.simulation())
    assert len(_BUILDERS) == compiled
    first_rule = next(iter(second.url_map.iter_rules()))
    again = next(r for r in create_braze(Runtime.simulation()).url_map.iter_rules() if r.rule == first_rule.rule)
    assert again._build.__func__ is first_rule._build.__func__  # one function, bound to each rule


def test_a_rule_with_defaults_builds_its_own():
    rule = SharedBuilderRule("/items/<int:page>", endpoint="items", defaults={"page": 1})
    Map([rule])
    other = SharedBuilderRule("/items/<int:page>", endpoint="items", defaults={"page": 2})
    Map([other])
    assert rule.build({}) == ("", "/items/1") and other.build({}) == ("", "/items/2")
