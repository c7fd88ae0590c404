"""`python -m bridge --port 7300 ...`: serve the bridge live on 127.0.0.1."""

from __future__ import annotations

import sys

from pydantic import Field

from bridge.app import DEFAULT_API_TOKEN, DEFAULT_DB, DEFAULT_MAX_BODY_BYTES
from harness.admin_guard import AdminSettings, policy_from_settings
from harness.outbound import ALLOW_HELP, policy_from_flag, url_from_flag
from harness.serve import DEFAULT_HOST, DEFAULT_THREADS, refuse_taken_port, serve
from harness.settings import env_name, load_settings

# The integration endpoints' accept (a SQLite commit under the outbox lock, which a batch flush on a
# scheduler thread can hold for a while) runs on the gateway's pool, not on its event loop: see
# docs/performance.md, "The gateway".
POOLED_ROUTES = ("/braze/notifications/realtime", "/braze/notifications/batch")


class BridgeSettings(AdminSettings):
    """Serve the Braze <-> Sendbird bridge (Sendbird's Braze integration)."""

    port: int = Field(7300, description="port to listen on")
    host: str = Field(DEFAULT_HOST, description="address to bind (loopback by default)")
    sendbird_url: str = Field("http://127.0.0.1:7200", description="Sendbird Notifications API base URL")
    sendbird_token: str = Field("local-sendbird-token", description="Sendbird API token (also verifies webhooks)")
    braze_url: str = Field("http://127.0.0.1:7100", description="Braze REST endpoint")
    braze_key: str = Field("local-braze-key", description="Braze REST API key with users.track")
    api_token: str = Field(DEFAULT_API_TOKEN, description="the integration's API token (Api-Token header)")
    db: str = Field(str(DEFAULT_DB), description="outbox SQLite file")
    event_callback: bool = Field(True, description="post SENT/READ events to Braze (--no-event-callback)")
    batch_linger_ms: int = Field(1000, ge=0, description="longest wait before a batch leaves")
    batch_max: int = Field(10_000, ge=1, le=10_000, description="recipients per batch send")
    sendbird_timeout: float = Field(30.0, gt=0, description="seconds to wait for Sendbird's answer")
    threads: int = Field(DEFAULT_THREADS, description="server threads")
    workers: int = Field(16, ge=1, description="scheduler workers for outbound sends and callbacks (I/O bound)")
    speed: float = Field(1.0, description="clock speed-up for scheduled work")
    clock_epoch: float | None = Field(None, description="Unix time at which the sped-up clock read the wall clock "
                                                        "(bsim up gives its services one, so they share one time)")
    allow_outbound: str = Field("", description=ALLOW_HELP)
    max_body_bytes: int = Field(DEFAULT_MAX_BODY_BYTES, ge=1, description="largest request body accepted (413 over)")


def main(argv: list[str] | None = None) -> None:
    prog = "python -m bridge"
    settings = load_settings(BridgeSettings, argv, env_prefix="BRIDGE_", prog=prog)
    outbound = policy_from_flag(prog, settings.allow_outbound, env_name("BRIDGE_", "allow_outbound"))
    admin = policy_from_settings(prog, settings, "BRIDGE_")
    for flag, url in (("--sendbird-url", settings.sendbird_url), ("--braze-url", settings.braze_url)):
        url_from_flag(prog, flag, url, outbound)

    def factory():
        from bridge.app import create_app
        from harness.gateway import Gateway
        from harness.runtime import Runtime

        runtime = Runtime.live(speed=settings.speed, workers=settings.workers, clock_epoch=settings.clock_epoch)
        app = create_app(runtime, sendbird_url=settings.sendbird_url,
                         sendbird_token=settings.sendbird_token, braze_url=settings.braze_url,
                         braze_key=settings.braze_key, api_token=settings.api_token, db=settings.db,
                         event_callback=settings.event_callback, batch_max=settings.batch_max,
                         batch_linger_ms=settings.batch_linger_ms, sendbird_timeout=settings.sendbird_timeout,
                         allow_outbound=outbound, max_body_bytes=settings.max_body_bytes, admin=admin)
        return Gateway(app, threads=settings.threads, journal=runtime.journal, service="bridge",
                       pooled_routes=POOLED_ROUTES)

    from bridge.outbox import Outbox, OutboxInUse
    from bridge.service import INTEGRATION_SETTING

    # fail here, with one line, rather than in the server's worker: a taken port first (another stack)
    refuse_taken_port(settings.host, settings.port, "python -m bridge")
    try:
        outbox = Outbox(settings.db)
    except OutboxInUse as exc:
        sys.exit(f"python -m bridge: {exc}; stop it or pass another --db")
    try:  # the integration settings a PUT stored there win over the flags: check them here, with one line
        stored = outbox.setting(INTEGRATION_SETTING)
    finally:
        outbox.close()
    if stored is not None:
        url_from_flag(prog, f"the Braze endpoint stored in {settings.db}", stored["braze_rest_endpoint"], outbound)
    serve(factory, settings.port, settings.host, settings.threads, name="bridge",
          banner=f"bridge on http://{settings.host}:{settings.port} (Api-Token {settings.api_token}, "
                 f"outbox {settings.db}; calls reach {outbound.describe()}; {admin.describe()})")


if __name__ == "__main__":
    main()
