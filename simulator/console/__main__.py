"""`python -m simulator.console --port 7000 ...`: serve the console live on 127.0.0.1 (what `bsim up` and
`bsim console` start)."""

from __future__ import annotations

import sys

from pydantic import BaseModel, Field

from harness.admin_guard import SHARED_TOKEN_ENV, AdminPolicy, binds_beyond_loopback
from harness.outbound import ALLOW_HELP, policy_from_flag, url_from_flag
from harness.serve import DEFAULT_HOST, refuse_taken_port, serve
from harness.settings import env_name, load_settings

DEFAULT_PORT = 7000


class ConsoleSettings(BaseModel):
    """Serve the console: a web app over a running stack (bsim up starts it)."""

    port: int = Field(DEFAULT_PORT, description="port to listen on")
    host: str = Field(DEFAULT_HOST, description="address to bind: loopback only (the console acts as the operator)")
    braze_url: str = Field("http://127.0.0.1:7100", description="the fake Braze")
    sendbird_url: str = Field("http://127.0.0.1:7200", description="the fake Sendbird")
    bridge_url: str = Field("http://127.0.0.1:7300", description="the bridge")
    braze_key: str = Field("local-braze-key", description="Braze REST API key (triggers from the console)")
    sendbird_token: str = Field("local-sendbird-token", description="Sendbird API token (notification logs)")
    integration_token: str = Field("local-integration-token", description="the bridge's integration token")
    admin_token: str | None = Field(None, description=f"the services' admin token (falls back to {SHARED_TOKEN_ENV})")
    allow_outbound: str = Field("", description=ALLOW_HELP)
    threads: int = Field(8, description="server threads")


def main(argv: list[str] | None = None) -> None:
    import os

    prog = "python -m simulator.console"
    settings = load_settings(ConsoleSettings, argv, env_prefix="CONSOLE_", prog=prog)
    if binds_beyond_loopback(settings.host):
        sys.exit(f"{prog}: --host {settings.host}: the console acts as the stack's operator and binds loopback only")
    outbound = policy_from_flag(prog, settings.allow_outbound, env_name("CONSOLE_", "allow_outbound"))
    for flag, url in (("--braze-url", settings.braze_url), ("--sendbird-url", settings.sendbird_url),
                      ("--bridge-url", settings.bridge_url)):
        url_from_flag(prog, flag, url, outbound)
    token = settings.admin_token or os.environ.get(SHARED_TOKEN_ENV) or None

    def factory():
        from harness.runtime import Runtime
        from simulator.console.app import create_app
        from simulator.console.stack_client import StackClient
        from simulator.runner import Endpoints

        ends = Endpoints(settings.braze_url.rstrip("/"), settings.sendbird_url.rstrip("/"),
                         settings.bridge_url.rstrip("/"), settings.braze_key, settings.sendbird_token,
                         settings.integration_token, token)
        return create_app(StackClient(ends), Runtime.live(workers=2),
                          AdminPolicy(console_origins=frozenset()))

    refuse_taken_port(settings.host, settings.port, prog)
    serve(factory, settings.port, settings.host, settings.threads, name="console",
          banner=f"console on http://{settings.host}:{settings.port} (following {settings.braze_url}, "
                 f"{settings.sendbird_url}, {settings.bridge_url})")


if __name__ == "__main__":
    main()
