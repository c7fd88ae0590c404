"""`python -m mocks.braze --port 7100`: serve the fake Braze live on 127.0.0.1."""

from __future__ import annotations

from pydantic import Field

from harness.admin_guard import AdminSettings, policy_from_settings
from harness.outbound import ALLOW_HELP, policy_from_flag
from harness.serve import DEFAULT_HOST, DEFAULT_THREADS, serve
from harness.settings import env_name, load_settings
from harness.snapshots import PersistSettings, check_at_start, persist_note, start_keeping
from mocks.braze.app import DEFAULT_MAX_BODY_BYTES
from mocks.braze.rest.auth import DEFAULT_API_KEY


class BrazeSettings(AdminSettings, PersistSettings):
    """Serve the fake Braze REST API."""

    port: int = Field(7100, description="port to listen on")
    host: str = Field(DEFAULT_HOST, description="address to bind (loopback by default)")
    api_key: str = Field(DEFAULT_API_KEY, description="REST API key holding every permission")
    webhook_timeout: float = Field(90.0, description="seconds a webhook request may take")
    allow_outbound: str = Field("", description=ALLOW_HELP)
    max_body_bytes: int = Field(DEFAULT_MAX_BODY_BYTES, ge=1, description="largest request body accepted (413 over)")
    threads: int = Field(DEFAULT_THREADS, description="server threads")
    speed: float = Field(1.0, description="clock speed-up for scheduled work")
    clock_epoch: float | None = Field(None, description="Unix time at which the sped-up clock read the wall clock "
                                                        "(bsim up gives its services one, so they share one time)")


def main(argv: list[str] | None = None) -> None:
    prog = "python -m mocks.braze"
    settings = load_settings(BrazeSettings, argv, env_prefix="BRAZE_", prog=prog)
    outbound = policy_from_flag(prog, settings.allow_outbound, env_name("BRAZE_", "allow_outbound"))
    admin = policy_from_settings(prog, settings, "BRAZE_")
    check_at_start(prog, "braze", settings)
    kept = {}

    def factory():
        from harness.gateway import Gateway
        from harness.runtime import Runtime
        from mocks.braze.app import create_app

        runtime = Runtime.live(speed=settings.speed, clock_epoch=settings.clock_epoch)
        app = create_app(runtime, api_key=settings.api_key, webhook_timeout=settings.webhook_timeout,
                         allow_outbound=outbound, max_body_bytes=settings.max_body_bytes, admin=admin)
        kept["snapshots"] = app.extensions["snapshots"]
        start_keeping(prog, kept["snapshots"], settings)
        return Gateway(app, threads=settings.threads, journal=runtime.journal, service="braze")

    serve(factory, settings.port, settings.host, settings.threads, name="mocks.braze",
          on_stop=(lambda: kept["snapshots"].save_on_shutdown()) if settings.persist else None,
          banner=f"fake Braze on http://{settings.host}:{settings.port} (REST API key {settings.api_key}; "
                 f"webhooks and Connected Content reach {outbound.describe()}; {admin.describe()}"
                 f"{persist_note(settings)})")


if __name__ == "__main__":
    main()
