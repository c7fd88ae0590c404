"""`python -m mocks.sendbird --port 7200 --ws-port 7201`: serve the fake Sendbird live on 127.0.0.1, its SDK
WebSocket (`mocks.sendbird.realtime`) on a port of its own in the same process (`harness.ws_listener`: granian's
RSGI websocket cannot echo the subprotocol the SDK requires; the SDK takes the socket's host apart anyway, as
`customWebSocketHost`)."""

from __future__ import annotations

from pydantic import Field

from harness.admin_guard import AdminSettings, policy_from_settings
from harness.outbound import ALLOW_HELP, policy_from_flag, url_from_flag
from harness.serve import DEFAULT_HOST, DEFAULT_THREADS, refuse_taken_port, serve
from harness.settings import env_name, load_settings
from harness.snapshots import PersistSettings, check_at_start, persist_note, start_keeping
from mocks.sendbird.app import DEFAULT_API_TOKEN, DEFAULT_APP_ID, DEFAULT_MAX_BODY_BYTES


class SendbirdSettings(AdminSettings, PersistSettings):
    """Serve the fake Sendbird Notifications API."""

    port: int = Field(7200, description="port to listen on")
    ws_port: int = Field(7201, description="port of the SDK WebSocket (the SDK's customWebSocketHost)")
    host: str = Field(DEFAULT_HOST, description="address to bind (loopback by default)")
    app_id: str = Field(DEFAULT_APP_ID, description="Sendbird application id")
    api_token: str = Field(DEFAULT_API_TOKEN, description="Notifications API token (Api-Token header)")
    webhook_url: str | None = Field(None, description="where to send webhooks")
    allow_outbound: str = Field("", description=ALLOW_HELP)
    max_body_bytes: int = Field(DEFAULT_MAX_BODY_BYTES, ge=1, description="largest request body accepted (413 over)")
    create_unknown_users: bool = Field(True, description="a send to a user nobody created creates it "
                                                         "(--no-create-unknown-users: refused with 400201)")
    require_access_token: bool = Field(False, description="devices log in only with their user's access token")
    threads: int = Field(DEFAULT_THREADS, description="server threads")
    speed: float = Field(1.0, description="clock speed-up for scheduled work")
    clock_epoch: float | None = Field(None, description="Unix time at which the sped-up clock read the wall clock "
                                                        "(bsim up gives its services one, so they share one time)")


def main(argv: list[str] | None = None) -> None:
    prog = "python -m mocks.sendbird"
    settings = load_settings(SendbirdSettings, argv, env_prefix="SENDBIRD_", prog=prog)
    outbound = policy_from_flag(prog, settings.allow_outbound, env_name("SENDBIRD_", "allow_outbound"))
    admin = policy_from_settings(prog, settings, "SENDBIRD_")
    if settings.webhook_url is not None:
        url_from_flag(prog, "--webhook-url", settings.webhook_url, outbound)
    check_at_start(prog, "sendbird", settings)
    kept = {}

    def factory():
        from harness.gateway import Gateway
        from harness.runtime import Runtime
        from mocks.sendbird.app import create_app
        from mocks.sendbird.realtime import Realtime

        runtime = Runtime.live(speed=settings.speed, clock_epoch=settings.clock_epoch)
        app = create_app(runtime, app_id=settings.app_id, api_token=settings.api_token,
                         webhook_url=settings.webhook_url, allow_outbound=outbound,
                         max_body_bytes=settings.max_body_bytes, admin=admin,
                         create_unknown_users=settings.create_unknown_users,
                         require_access_token=settings.require_access_token)
        kept["snapshots"] = app.extensions["snapshots"]
        start_keeping(prog, kept["snapshots"], settings)
        return Gateway(app, threads=settings.threads, journal=runtime.journal, service="sendbird",
                       ws_handler=Realtime(app.extensions["sendbird"]), ws_port=settings.ws_port,
                       ws_host=settings.host)

    if settings.ws_port == settings.port:
        raise SystemExit(f"{prog}: --ws-port must differ from --port ({settings.port})")
    refuse_taken_port(settings.host, settings.ws_port, prog)
    serve(factory, settings.port, settings.host, settings.threads, name="mocks.sendbird",
          on_stop=(lambda: kept["snapshots"].save_on_shutdown()) if settings.persist else None,
          banner=f"fake Sendbird on http://{settings.host}:{settings.port}, SDK WebSocket on "
                 f"ws://{settings.host}:{settings.ws_port} (app id {settings.app_id}, "
                 f"Api-Token {settings.api_token}; webhooks reach {outbound.describe()}; {admin.describe()}"
                 f"{persist_note(settings)})")


if __name__ == "__main__":
    main()
