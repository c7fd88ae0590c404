"""The Bridge page: the outbox as the bridge holds it, and the operator's switches.

Everything is read server-side from the bridge's admin API on each render (the page and its live
fragment), so what it shows is the outbox itself, not a model of it. The integration settings come
from `GET /_admin/integration`, which masks the credentials; the page never reads `/_admin/secrets`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template

from simulator.console.actions import BadInput, json_body
from simulator.console.stack_client import StackError

ENDPOINT = "bridge.index"
TITLE = "Bridge"
# what the fragment refreshes on: the bridge's records that move a row of the outbox
LIVE_KINDS = ",".join(f"bridge:{k}" for k in (
    "webhook.accepted", "sendbird.sent", "sendbird.retry", "sendbird.dead", "callback.posted", "callback.retry",
    "callback.dead", "callback.unknown", "callback.check.landed", "callback.check.absent", "callback.check.gave_up",
    "recovery.delivered", "recovery.absent", "recovery.gave_up", "sending.paused",
    "sending.resumed"))


def _read(stack: Any, path: str) -> tuple[Any, str | None]:
    """One admin read, or the error to show in its place (the other sections still render)."""
    try:
        return stack.admin("bridge", "GET", path), None
    except StackError as exc:
        return None, str(exc)


def _view(stack: Any) -> dict[str, Any]:
    sections = {name: _read(stack, path) for name, path in (
        ("depth", "/outbox"), ("batches", "/outbox/batches"), ("dead", "/dead_letters"),
        ("sending", "/sending"), ("integration", "/integration"), ("health", "/health"))}
    health = sections["health"][0] or {}
    return {name: value for name, (value, _) in sections.items()} | {
        "errors": {name: error for name, (_, error) in sections.items() if error},
        "clock_speed": health.get("clock_speed")}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def blueprint(console: Any) -> Blueprint:
    bp = Blueprint("bridge", __name__)
    stack = console.stack

    @bp.get("/bridge")
    def index():
        return render_template("bridge.html", live_kinds=LIVE_KINDS, **_view(stack))

    @bp.get("/bridge/fragment")
    def fragment():
        return render_template("bridge_fragment.html", **_view(stack))

    @bp.post("/api/bridge/dead_letters/replay")
    def replay():
        ids = json_body().get("ids")
        if ids is not None and (not isinstance(ids, list)
                                or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)):
            raise BadInput('"ids" must be a list of dead letter ids (or absent: all of them)')
        answer = stack.admin("bridge", "POST", "/dead_letters/replay", json={} if ids is None else {"ids": ids})
        replayed = answer.get("replayed", [])
        return jsonify({"message": f"replayed {_plural(len(replayed), 'dead letter')}", "replayed": replayed})

    @bp.put("/api/bridge/sending")
    def sending():
        paused = json_body().get("paused")
        if not isinstance(paused, bool):
            raise BadInput('the body must be {"paused": true} or {"paused": false}')
        answer = stack.admin("bridge", "PUT", "/sending", json={"paused": paused})
        return jsonify({"message": "sending paused" if answer["paused"] else "sending resumed", **answer})

    @bp.put("/api/bridge/integration")
    def integration():
        on = json_body().get("event_callback")
        if not isinstance(on, bool):
            raise BadInput('the body must be {"event_callback": true} or {"event_callback": false}')
        answer = stack.admin("bridge", "PUT", "/integration", json={"event_callback": on})
        return jsonify({"message": f"event callback {'on' if answer['event_callback'] else 'off'}",
                        "event_callback": answer["event_callback"]})

    return bp
