"""The console's Flask app: its pages, its event stream, and the guard over all of it.

Everything the console serves is admin surface: its actions reset fakes, replay dead letters and act
as users. So the whole app sits behind `harness.admin_guard` (prefix `""`: every path): loopback Host,
its own origin only (no other console), the stack's admin token when there is one, JSON bodies (a CSV
import declares `text/csv`). Jinja autoescapes every value; the pages' scripts write user data with
`textContent`, never as markup.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, render_template, request

from harness.admin_guard import AdminPolicy, Refusal, guard_admin
from harness.runtime import Runtime
from simulator.console.actions import BadInput
from simulator.console.follower import INTERVAL, Follower
from simulator.console.live import live_blueprint
from simulator.console.pages import PAGES
from simulator.console.pipeline import Pipeline
from simulator.console.stack_client import StackClient, StackError

HERE = Path(__file__).resolve().parent


@dataclass
class Console:
    """What every page reads: the stack's client, the followed pipeline, and the follower's state."""

    stack: StackClient
    pipeline: Pipeline
    follower: Follower
    runtime: Runtime


def refusal_body(refusal: Refusal) -> dict[str, Any]:
    return {"message": refusal.message}


def create_app(stack: StackClient, runtime: Runtime | None = None, policy: AdminPolicy | None = None,
               follow: bool = True, interval: float = INTERVAL) -> Flask:
    """`follow`: start following the journals on `runtime`'s scheduler (a test may call `poll()` itself)."""
    runtime = runtime or Runtime.live()
    pipeline = Pipeline()
    follower = Follower(stack, pipeline)
    console = Console(stack, pipeline, follower, runtime)
    app = Flask(__name__, template_folder=str(HERE / "templates"), static_folder=str(HERE / "static"),
                static_url_path="/static")
    app.extensions["console"] = console
    app.register_blueprint(live_blueprint(console))
    for page in PAGES:
        app.register_blueprint(page.blueprint(console))

    @app.template_filter("pretty")
    def pretty(value: Any) -> str:
        """JSON for people, escaped by the template like any text (tojson would show `<` as `\\u003c`)."""
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)

    @app.context_processor
    def navigation() -> dict[str, Any]:
        return {"pages": [(p.ENDPOINT, p.TITLE) for p in PAGES], "endpoint": request.endpoint}

    @app.errorhandler(StackError)
    def stack_error(exc: StackError):
        if request.path.startswith("/api/"):
            return jsonify({"message": str(exc), "status": exc.status, "body": exc.body}), 502
        return render_template("error.html", message=str(exc)), 502

    @app.errorhandler(BadInput)
    def bad_input(exc: BadInput):
        return jsonify({"message": str(exc)}), 400

    guard_admin(app, (policy or AdminPolicy(console_origins=frozenset())), refusal_body, prefixes=("",))
    if follow:
        runtime.scheduler.every(interval, follower.poll, name="console.follow")
    return app


def console_of(app: Flask) -> Console:
    return app.extensions["console"]
