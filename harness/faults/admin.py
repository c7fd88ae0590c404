"""`/_admin/faults` on every service: add, list, read and remove fault rules (`harness.faults.rules`)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, jsonify, request

from harness import strict_json
from harness.faults.rules import FaultInputError, FaultRules

SHAPE = 'the body must be a JSON object: {"match": {...}, "effect": {...}}'


def faults_blueprint(service: str, rules: FaultRules, bad_request: Callable[[str], Exception],
                     not_found: Callable[[str], Exception]) -> Blueprint:
    """`bad_request(message)` and `not_found(rule_id)` make the service's own errors (raised, so its error
    handler words them in its product's format)."""
    bp = Blueprint(f"{service}_faults", __name__, url_prefix="/_admin/faults")

    @bp.post("")
    def add_fault():
        try:
            body = strict_json.loads(request.get_data())
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            raise bad_request(SHAPE) from None
        try:
            rule = rules.add(body)
        except FaultInputError as exc:
            raise bad_request(str(exc)) from None
        return jsonify(rule.to_dict(rules.clock.now())), 201

    @bp.get("")
    def list_faults():
        return jsonify({"faults": rules.listing()})

    @bp.get("/<rule_id>")
    def get_fault(rule_id: str):
        rule = rules.get(rule_id)
        if rule is None:
            raise not_found(rule_id)
        return jsonify(rule)

    @bp.delete("/<rule_id>")
    def delete_fault(rule_id: str):
        if not rules.remove(rule_id):
            raise not_found(rule_id)
        return jsonify({"deleted": rule_id})

    @bp.delete("")
    def delete_faults():
        return jsonify({"deleted": rules.clear()})

    return bp
