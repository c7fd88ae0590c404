"""Options every `bsim` command that talks to a running stack shares (`simulator.cli`, `simulator.fault_cli`):
the services' URLs and the admin token, declared once so each command spells and documents them alike."""

from __future__ import annotations

import click

from harness.admin_guard import SHARED_TOKEN_ENV, TOKEN_HEADER
from simulator.runner import LIVE_DEFAULTS

UNREACHABLE = 3  # exit code of a command whose service does not answer


def admin_token_option(fn):
    """`--admin-token`: what the services' /_admin requires in X-Admin-Token when they were started with one."""
    return click.option("--admin-token", default=None, envvar=SHARED_TOKEN_ENV, show_envvar=True,
                        help=f"the services' admin token, sent as {TOKEN_HEADER} on admin calls")(fn)


def service_options(fn):
    fn = click.option("--bridge-url", default=LIVE_DEFAULTS.bridge, show_default=True)(fn)
    fn = click.option("--sendbird-url", default=LIVE_DEFAULTS.sendbird, show_default=True)(fn)
    return click.option("--braze-url", default=LIVE_DEFAULTS.braze, show_default=True)(fn)
