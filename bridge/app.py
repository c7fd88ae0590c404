"""`create_app()`: the bridge as a Flask app, for in-process use or live serving."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from bridge.api import admin_extras_blueprint, api_blueprint, error_answer, install_error_handlers, intake_fast_path
from bridge.clients import SENDBIRD_READ_TIMEOUT
from bridge.errors import INVALID_VALUE, NOT_FOUND, BridgeError, admin_refusal
from bridge.outbox import Outbox
from bridge.outbox_views import outbox_views_blueprint
from bridge.service import Bridge, IntegrationSettings
from harness.admin import admin_blueprint
from harness.admin_guard import AdminPolicy, guard_admin
from harness.faults.admin import faults_blueprint
from harness.faults.inbound import FaultLayer
from harness.faults.rules import FaultRules
from harness.json_provider import use_compact_json
from harness.limits import MIB, BodyLimit
from harness.outbound import OutboundPolicy, coerce
from harness.route_builders import share_route_builders
from harness.runtime import Runtime

DEFAULT_API_TOKEN = "local-integration-token"
DEFAULT_DB = Path(".bsim") / "bridge.sqlite3"
# A harness contract (docs/security.md "Limits"): the bridge takes what Sendbird sends it (a read webhook
# lists every message read), so its limit is Sendbird's.
DEFAULT_MAX_BODY_BYTES = 16 * MIB


def create_app(runtime: Runtime | None = None, *, sendbird_url: str = "http://127.0.0.1:7200",
               sendbird_token: str = "local-sendbird-token", braze_url: str = "http://127.0.0.1:7100",
               braze_key: str = "local-braze-key", api_token: str = DEFAULT_API_TOKEN,
               db: str | Path = DEFAULT_DB, event_callback: bool = True, batch_max: int = 10_000,
               batch_linger_ms: int = 1000, sendbird_timeout: float = SENDBIRD_READ_TIMEOUT,
               allow_outbound: OutboundPolicy | str | None = None,
               max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, admin: AdminPolicy | None = None) -> Flask:
    """`db=":memory:"` keeps the outbox in memory (simulated runs); a path makes it durable. `allow_outbound`
    (a policy or a `--allow-outbound` value) replaces the runtime's outbound policy for this service; None
    keeps it. A URL that is not one, or that the policy refuses, is a ValueError. A request body over
    `max_body_bytes` is refused with 413 on every route. `admin` says who may call `/_admin`
    (`harness.admin_guard`; None: loopback, no token)."""
    runtime = runtime or Runtime.live()
    if allow_outbound is not None:
        runtime = runtime.with_outbound(coerce(allow_outbound))
    faults = FaultRules("bridge", runtime.journal, runtime.clock, runtime.ids)
    runtime = runtime.with_faults(faults)
    # a bad URL: ValueError, before the outbox file is locked
    integration = IntegrationSettings(event_callback, runtime.transport.check_url(braze_url), braze_key)
    sendbird_url = runtime.transport.check_url(sendbird_url)
    outbox = Outbox(db)
    try:
        bridge = Bridge(runtime, outbox, sendbird_url, sendbird_token, integration, api_token=api_token,
                        batch_max=batch_max, batch_linger_ms=batch_linger_ms, sendbird_timeout=sendbird_timeout)
    except ValueError:
        outbox.close()
        raise
    app = Flask("bridge", static_folder=None)  # the integration serves no /static route
    use_compact_json(app)
    share_route_builders(app)
    app.extensions["bridge"] = bridge
    app.extensions["runtime"] = runtime
    app.extensions["faults"] = faults
    app.register_blueprint(api_blueprint(bridge))
    def secrets() -> dict[str, str]:
        return {"api_token": bridge.api_token, "sendbird_token": bridge.sendbird_token,
                "braze_rest_api_key": bridge.integration.braze_rest_api_key}

    def reset() -> None:  # back to nothing: the fault rules go too
        bridge.reset()
        faults.clear()

    app.register_blueprint(admin_blueprint("bridge", runtime, reset, health=bridge.outbox.depth,
                                           bad_request=lambda message: BridgeError(INVALID_VALUE, message),
                                           secrets=secrets))
    app.register_blueprint(admin_extras_blueprint(bridge))
    app.register_blueprint(outbox_views_blueprint(outbox))
    app.register_blueprint(faults_blueprint("bridge", faults, lambda message: BridgeError(INVALID_VALUE, message),
                                            lambda rule_id: BridgeError(NOT_FOUND, f'"{rule_id}" not found.', 404)))
    install_error_handlers(app)
    app.wsgi_app = FaultLayer(BodyLimit(intake_fast_path(app.wsgi_app, bridge), max_body_bytes, error_answer),
                              faults, error_answer)
    guard_admin(app, admin, admin_refusal, runtime.transport)
    return app
