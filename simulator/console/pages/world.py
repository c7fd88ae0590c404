"""The Clock and world page: the stack's clock, a reset to the seeded demo world, a CSV import of users, and the
fault rules each service holds (`harness.faults`: added here as the API takes them, listed with how often they
fired, cleared per service).

The reset does what `bsim up` does at its start, on the stack as it runs: every service resets (the
fakes forget everything, the bridge empties its outbox), the console's follower starts over, and the
demo world is seeded again through the public APIs (`simulator.up.demo_scenario`). Seeding writes times
from the stack's clock, so live it runs on a clock made from the services' health (their speed and shared
epoch); a simulated console seeds on its own simulated runtime.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template, request

from harness.admin_guard import accepts_body
from harness.runtime import Runtime
from simulator.console.actions import BadInput, json_body
from simulator.console.stack_client import SERVICES, StackError
from simulator.runner import Run, RunError
from simulator.up import demo_scenario

ENDPOINT = "world.index"
TITLE = "Clock and world"


def follow_from_now(console: Any) -> None:
    """Start the follower over at each journal's newest record: a service's reset forgets its world but
    its journal keeps the records before it (so that no follower misses any), which are no longer the
    pipeline's."""
    console.follower.reset({name: console.stack.admin(name, "GET", "/health")["journal_cursor"]
                            for name in SERVICES})


def reset_world(console: Any) -> int:
    """Reset the three services and the follower, then seed the demo world again; how many users it holds."""
    stack = console.stack
    scenario = demo_scenario()
    health = stack.admin("braze", "GET", "/health")  # before the reset: the clock the stack runs on
    for name in SERVICES:
        stack.admin(name, "POST", "/reset")
    follow_from_now(console)
    if console.runtime.simulated:
        Run(scenario, console.runtime, stack.ends, scenario.seed).setup()
        return scenario.population.size
    runtime = Runtime.live(speed=health.get("clock_speed") or 1.0, seed=scenario.seed, workers=1,
                           clock_epoch=health.get("clock_epoch"))
    try:
        Run(scenario, runtime, stack.ends, scenario.seed).setup()
    finally:
        runtime.close()
    return scenario.population.size


def fault_rules(console: Any) -> dict[str, list[dict[str, Any]] | str]:
    """Each service's rules, or why they cannot be read (a service that is down)."""
    rules: dict[str, list[dict[str, Any]] | str] = {}
    for name in SERVICES:
        try:
            rules[name] = console.stack.admin(name, "GET", "/faults")["faults"]
        except StackError as exc:
            rules[name] = str(exc)
    return rules


def _service(body: dict[str, Any]) -> str:
    service = body.get("service")
    if service not in SERVICES:
        raise BadInput(f"service must be one of {', '.join(SERVICES)}")
    return service


def blueprint(console: Any) -> Blueprint:
    bp = Blueprint("world", __name__)
    stack = console.stack

    @bp.get("/world")
    def index():
        return render_template("world.html", health=stack.health(), rules=fault_rules(console), services=SERVICES)

    @bp.get("/world/clock")
    def clock():
        return render_template("world_clock.html", health=stack.health())

    @bp.get("/world/faults")
    def faults():
        return render_template("world_faults.html", rules=fault_rules(console))

    @bp.post("/api/world/faults")
    def add_fault():
        body = json_body()
        service = _service(body)
        rule = body.get("rule")
        if not isinstance(rule, dict):
            raise BadInput('rule must be a JSON object: {"match": {...}, "effect": {...}}')
        answer = stack.call(service, "POST", "/_admin/faults", json=rule, ok=tuple(range(200, 500)))
        if answer.status != 201:
            said = answer.body.get("message") if isinstance(answer.body, dict) else str(answer.body)
            return jsonify({"message": f"{service} refused the rule: {said}"}), 400
        return jsonify({"message": f"{service}: rule {answer.body['id']} added", "rule": answer.body})

    @bp.post("/api/world/faults/clear")
    def clear_faults():
        service = _service(json_body())
        deleted = stack.admin(service, "DELETE", "/faults")["deleted"]
        return jsonify({"message": f"{service}: {deleted} fault rule{'s' if deleted != 1 else ''} removed"})

    @bp.post("/api/world/reset")
    def reset():
        try:
            users = reset_world(console)
        except RunError as exc:
            return jsonify({"message": f"the services were reset but seeding the demo world failed: {exc}"}), 502
        return jsonify({"message": f"reset to the seeded demo world: {users} users, an empty pipeline",
                        "users": users})

    @bp.post("/api/world/import")
    @accepts_body("text/csv")
    def import_users():
        raw = request.get_data(cache=False)
        if not raw.strip():
            raise BadInput("the CSV file is empty")
        answer = stack.call("braze", "POST", "/_admin/users/import", data=raw,
                            headers={"Content-Type": "text/csv"}, ok=tuple(range(200, 500)))
        if answer.status >= 400:
            said = answer.body.get("message") if isinstance(answer.body, dict) else str(answer.body)
            return jsonify({"message": f"Braze refused the import: {said}"}), 400
        report = answer.body
        return jsonify({"message": f"imported {report['imported']} of {report['rows']} rows"
                                   + (f", {report['dropped']} dropped" if report.get("dropped") else ""),
                        "report": report})

    return bp
