"""`create_app()`: the fake Sendbird as a Flask app, for in-process use or live serving."""

from __future__ import annotations

from flask import Flask

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
from harness.snapshots import SnapshotKeeper
from mocks.sendbird.api import admin_extras_blueprint, api_blueprint, install_error_handlers, storage_blueprint
from mocks.sendbird.device_api import device_blueprint
from mocks.sendbird.errors import NOT_FOUND, SendbirdError, admin_refusal, error_answer, invalid
from mocks.sendbird.send_route import send_fast_path
from mocks.sendbird.service import SendbirdService
from mocks.sendbird.users_api import users_blueprint

DEFAULT_APP_ID = "LOCAL"
DEFAULT_API_TOKEN = "local-sendbird-token"
# Sendbird publishes no body limit (a harness contract, docs/security.md "Limits"): room for the largest
# targets file (100,000 user ids of up to 80 characters) and a 10,000-target batch send.
DEFAULT_MAX_BODY_BYTES = 16 * MIB


def create_app(runtime: Runtime | None = None, app_id: str = DEFAULT_APP_ID, api_token: str = DEFAULT_API_TOKEN,
               webhook_url: str | None = None, allow_outbound: OutboundPolicy | str | None = None,
               max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, admin: AdminPolicy | None = None,
               create_unknown_users: bool = True, require_access_token: bool = False) -> Flask:
    """`allow_outbound` (a policy or a `--allow-outbound` value) replaces the runtime's outbound policy for
    this service; None keeps it. A `webhook_url` the policy refuses is a ValueError. A request body over
    `max_body_bytes` is refused with 413 on every route. `admin` says who may call `/_admin`
    (`harness.admin_guard`; None: loopback, no token). `create_unknown_users`: a send to a user nobody
    created creates it (else it is refused with 400201); `require_access_token`: a device logs in only with
    its user's access token (docs/sendbird-fake.md, "Users and sessions")."""
    runtime = runtime or Runtime.live()
    if allow_outbound is not None:
        runtime = runtime.with_outbound(coerce(allow_outbound))
    faults = FaultRules("sendbird", runtime.journal, runtime.clock, runtime.ids)
    runtime = runtime.with_faults(faults)
    service = SendbirdService(runtime, app_id=app_id, api_token=api_token, webhook_url=webhook_url,
                              create_unknown_users=create_unknown_users, require_access_token=require_access_token)
    app = Flask("mocks.sendbird", static_folder=None)  # Sendbird serves no /static route
    use_compact_json(app)
    share_route_builders(app)
    app.extensions["sendbird"] = service
    app.extensions["runtime"] = runtime
    app.extensions["faults"] = faults
    app.register_blueprint(api_blueprint(service))
    app.register_blueprint(storage_blueprint(service))
    app.register_blueprint(users_blueprint(service))
    app.register_blueprint(device_blueprint(service))
    def reset() -> None:  # back to nothing: the fault rules go too
        service.reset()
        faults.clear()

    snapshots = SnapshotKeeper("sendbird", runtime, service.snapshot_state, service.restore_state, reset)
    app.extensions["snapshots"] = snapshots
    app.register_blueprint(admin_blueprint("sendbird", runtime, reset,
                                           health=lambda: {"app_id": app_id, **service.counts()}, bad_request=invalid,
                                           secrets=lambda: {"app_id": app_id, "api_token": service.api_token},
                                           snapshots=snapshots))
    app.register_blueprint(admin_extras_blueprint(service))
    app.register_blueprint(faults_blueprint("sendbird", faults, invalid,  # an unknown rule: 404, as the contract says
                                            lambda rule_id: SendbirdError(NOT_FOUND, f'"{rule_id}" not found.', 404)))
    install_error_handlers(app)
    app.wsgi_app = FaultLayer(BodyLimit(send_fast_path(app.wsgi_app, service), max_body_bytes, error_answer),
                              faults, error_answer)
    app.wsgi_app = snapshots.counting(app.wsgi_app)  # a periodic save of an idle fake is skipped
    guard_admin(app, admin, admin_refusal, runtime.transport)
    return app
