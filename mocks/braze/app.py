"""`create_app()`: the fake Braze as a Flask app, for in-process use or live serving."""

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
from mocks.braze.rest.admin_api import admin_api_blueprint
from mocks.braze.rest.api import error_answer, install_error_handlers, rest_blueprint, track_fast_path
from mocks.braze.rest.auth import DEFAULT_API_KEY
from mocks.braze.rest.errors import NOT_FOUND, BrazeError, admin_refusal, bad_request
from mocks.braze.rest.export_api import export_blueprint
from mocks.braze.rest.schedule_api import schedule_blueprint
from mocks.braze.rest.series_api import series_blueprint
from mocks.braze.rest.settings_api import settings_blueprint
from mocks.braze.rest.users_api import users_blueprint
from mocks.braze.service import BrazeService

# "All API endpoints have a data payload limit of 4 MB" (Braze's user data endpoints page)
DEFAULT_MAX_BODY_BYTES = 4 * MIB


def create_app(runtime: Runtime | None = None, api_key: str = DEFAULT_API_KEY, webhook_timeout: float = 90.0,
               allow_outbound: OutboundPolicy | str | None = None,
               max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, admin: AdminPolicy | None = None) -> Flask:
    """`allow_outbound` (a policy or a `--allow-outbound` value) replaces the runtime's outbound policy for
    this service; None keeps it (loopback only unless the runtime was made with another). A request body
    over `max_body_bytes` is refused with 413 on every route, as Braze does over its 4 MB. `admin` says who
    may call `/_admin` (`harness.admin_guard`; None: loopback, no token)."""
    runtime = runtime or Runtime.live()
    if allow_outbound is not None:
        runtime = runtime.with_outbound(coerce(allow_outbound))
    faults = FaultRules("braze", runtime.journal, runtime.clock, runtime.ids)
    runtime = runtime.with_faults(faults)
    service = BrazeService(runtime, api_key=api_key, webhook_timeout=webhook_timeout)
    app = Flask("mocks.braze", static_folder=None)  # Braze serves no /static route
    use_compact_json(app)
    share_route_builders(app)
    app.extensions["braze"] = service
    app.extensions["runtime"] = runtime
    app.extensions["faults"] = faults
    app.register_blueprint(rest_blueprint(service))
    app.register_blueprint(schedule_blueprint(service))
    app.register_blueprint(series_blueprint(service))
    app.register_blueprint(users_blueprint(service))
    app.register_blueprint(settings_blueprint(service))
    app.register_blueprint(export_blueprint(service))
    def reset() -> None:  # back to nothing: the fault rules go too
        service.reset()
        faults.clear()

    snapshots = SnapshotKeeper("braze", runtime, service.snapshot_state, service.restore_state, reset)
    app.extensions["snapshots"] = snapshots
    app.register_blueprint(admin_blueprint("braze", runtime, reset, health=service.counts,
                                           bad_request=bad_request,
                                           secrets=lambda: {"api_keys": service.keys.listing()},
                                           snapshots=snapshots))
    app.register_blueprint(admin_api_blueprint(service))
    app.register_blueprint(faults_blueprint("braze", faults, bad_request, lambda rule_id: BrazeError(404, NOT_FOUND)))
    install_error_handlers(app)
    app.wsgi_app = FaultLayer(BodyLimit(track_fast_path(app.wsgi_app, service), max_body_bytes, error_answer),
                              faults, error_answer)
    app.wsgi_app = snapshots.counting(app.wsgi_app)  # a periodic save of an idle fake is skipped
    guard_admin(app, admin, admin_refusal, runtime.transport)
    return app

