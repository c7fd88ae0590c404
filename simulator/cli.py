"""`bsim`: the harness's command line."""

from __future__ import annotations

import contextlib
import json
import math
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import requests
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from harness.admin_client import admin_headers
from harness.admin_guard import SHARED_TOKEN_ENV, TOKEN_HEADER
from harness.outbound import ALLOW_FLAG, ALLOW_HELP, OutboundPolicy
from simulator.cli_options import UNREACHABLE, admin_token_option, service_options
from simulator.fault_cli import fault
from simulator.runner import LIVE_DEFAULTS, Endpoints, RunError

console = Console()
SCHEMA_PATH = Path("scenarios") / "schema.json"


def _endpoints(braze_url: str, sendbird_url: str, bridge_url: str, admin_token: str | None = None) -> Endpoints:
    return Endpoints(braze_url.rstrip("/"), sendbird_url.rstrip("/"), bridge_url.rstrip("/"),
                     admin_token=admin_token or None)


def _live_endpoints(allow_outbound: str, braze_url: str, sendbird_url: str, bridge_url: str,
                    admin_token: str | None = None) -> tuple[OutboundPolicy, Endpoints]:
    """The policy a live run calls under, and its service URLs, each checked by it before anything is sent."""
    try:
        policy = OutboundPolicy.parse(allow_outbound, env="BSIM_ALLOW_OUTBOUND")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=ALLOW_FLAG) from None
    for flag, url in (("--braze-url", braze_url), ("--sendbird-url", sendbird_url), ("--bridge-url", bridge_url)):
        try:
            policy.check_url(url)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint=flag) from None
    return policy, _endpoints(braze_url, sendbird_url, bridge_url, admin_token)


@click.group(help="Local harness for Braze <-> Sendbird Notifications.")
def cli() -> None:
    pass


@cli.command(help="Check scenario files; every problem with its line, column and a hint. Exit codes: 0 every "
             "file valid (warnings allowed), 2 a file has errors.")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate(files: tuple[str, ...]) -> None:
    from simulator.loader import check_file

    failed = False
    for file in files:
        checked = check_file(file)
        errors, warnings = len(checked.errors), len(checked.warnings)
        counts = ", ".join(f"{n} {word}{'s' if n != 1 else ''}" for n, word in ((errors, "error"),
                                                                               (warnings, "warning")) if n)
        if checked.scenario is not None:
            console.print(f"[green]✓[/] {file}: {checked.scenario.name}" + (f" ({counts})" if counts else ""),
                          highlight=False, soft_wrap=True)
        else:
            failed = True
            console.print(f"[red]✗[/] {file}: {counts}", highlight=False, soft_wrap=True)
        if checked.problems:
            console.print(checked.report(), highlight=False, markup=False, soft_wrap=True)
    sys.exit(2 if failed else 0)


@cli.command(help="Run a scenario (simulated by default) and report. Exit codes: 0 every expectation held, "
             "1 an expectation failed, 2 the file is not a valid scenario, 3 the run itself failed (a service "
             "unreachable or refusing, a clock-speed mismatch).")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--live", is_flag=True, help="run against the servers `bsim up` started")
@click.option("--seed", type=int, help="override the scenario's seed")
@click.option("--speed", type=float, default=1.0, show_default=True, help="live clock speed-up")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="write the JSON report here")
@click.option("--junit", type=click.Path(dir_okay=False), help="write JUnit XML here")
@click.option("--report", "report_dir", type=click.Path(file_okay=False), help="write the HTML report here")
@click.option(ALLOW_FLAG, "allow_outbound", default="", envvar="BSIM_ALLOW_OUTBOUND", show_envvar=True,
              help=f"with --live: {ALLOW_HELP}, for the service URLs")
@admin_token_option
@service_options
def run(file: str, live: bool, seed: int | None, speed: float, json_path: str | None, junit: str | None,
        report_dir: str | None, allow_outbound: str, admin_token: str | None, braze_url: str, sendbird_url: str,
        bridge_url: str) -> None:
    from harness.gc_tuning import tune_for_long_lived_stores
    from simulator.live import run_live
    from simulator.loader import ScenarioError, load
    from simulator.report_html import write_html
    from simulator.reports import print_summary, write_json, write_junit
    from simulator.runner import run_simulated

    try:
        scenario = load(file)
    except ScenarioError as exc:
        console.print(f"[red]✗[/] {file} is not a valid scenario:")
        console.print(exc.report(), highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)
    checked = _live_endpoints(allow_outbound, braze_url, sendbird_url, bridge_url, admin_token) if live else None
    started = time.perf_counter()
    with _progress(scenario.name) as progress:
        try:
            if checked is not None:
                outbound, ends = checked
                report = run_live(scenario, ends, seed, speed, progress, warn=_warn, outbound=outbound)
            else:
                tune_for_long_lived_stores()  # this process holds the whole simulated world
                report = run_simulated(scenario, seed, progress)
        except (RunError, requests.RequestException) as exc:
            console.print(f"[red]run failed:[/] {exc}", highlight=False, soft_wrap=True)
            sys.exit(3)
    print_summary(report, console)
    console.print(f"wall time {time.perf_counter() - started:.1f} s ({report['mode']})")
    if json_path:
        write_json(report, Path(json_path))
        console.print(f"JSON report: {json_path}")
    if junit:
        write_junit(report, Path(junit))
        console.print(f"JUnit XML: {junit}")
    if report_dir:
        path = write_html(report, Path(report_dir))
        console.print(f"HTML report: {path}")
    sys.exit(0 if report["passed"] else 1)


class PlainProgress:
    """Progress as lines, for logs (CI, pipes) where a bar would print nothing useful: each set-up
    step, then one line per tenth of the run."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.tenths = 0
        self.text = ""

    def __call__(self, fraction: float, text: str) -> None:
        tenths = math.floor(fraction * 10 + 1e-9)
        if tenths > self.tenths or (text != self.text and (fraction <= 0 or fraction >= 1)):
            click.echo(f"{self.name}: {f'{tenths * 10:3d}% ' if fraction > 0 else ''}{text}")
        self.tenths, self.text = max(self.tenths, tenths), text


@contextlib.contextmanager
def _progress(name: str) -> Iterator[Callable[[float, str], None]]:
    """A transient bar on a terminal, plain lines anywhere else."""
    if not sys.stdout.isatty():
        yield PlainProgress(name)
        return
    with Progress(TextColumn("[bold]{task.fields[name]}"), BarColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("starting", total=1.0, name=name)
        yield lambda fraction, text: bar.update(task, completed=fraction, description=text)


def _warn(text: str) -> None:
    console.print(f"[yellow]warning:[/] {text}", highlight=False, soft_wrap=True)


@cli.command(help="Write the scenario JSON Schema (for editors) to scenarios/schema.json.")
@click.option("--output", type=click.Path(dir_okay=False), default=str(SCHEMA_PATH), show_default=True)
def schema(output: str) -> None:
    from simulator.scenario import json_schema_text

    Path(output).write_text(json_schema_text(), encoding="utf-8")
    console.print(f"wrote {output}")


@cli.command(help="Start the fake Braze, the fake Sendbird, the bridge, the devices and the web console; Ctrl-C "
                  "stops them. "
                  "Exit codes: 0 stopped by Ctrl-C or SIGTERM, 1 could not start (a port already in use, a service "
                  "that did not come up) or a service that could not be restarted.")
@click.option("--no-seed", is_flag=True, help="do not load the demo population")
@click.option("--speed", type=float, default=1.0, show_default=True)
@click.option("--braze-port", type=int, default=7100, show_default=True)
@click.option("--sendbird-port", type=int, default=7200, show_default=True)
@click.option("--sendbird-ws-port", type=int, default=7201, show_default=True,
              help="the fake Sendbird's SDK WebSocket (the SDK's customWebSocketHost)")
@click.option("--bridge-port", type=int, default=7300, show_default=True)
@click.option("--console-port", type=int, default=7000, show_default=True, help="the web console")
@click.option("--no-console", is_flag=True, help="do not start the web console")
@click.option("--braze-key", default="local-braze-key", show_default=True)
@click.option("--sendbird-token", default="local-sendbird-token", show_default=True)
@click.option("--integration-token", default="local-integration-token", show_default=True)
@click.option("--db", default=".bsim/bridge.sqlite3", show_default=True, help="the bridge's outbox")
@click.option("--log-dir", default=".bsim/logs", show_default=True, help="one log file per process")
@click.option("--admin-token", default=None, envvar=SHARED_TOKEN_ENV, show_envvar=True,
              help=f"require this {TOKEN_HEADER} on every service's /_admin (the stack's own calls send it)")
@click.option("--persist", type=click.Path(file_okay=False), default=None,
              help="keep the whole world in this directory across restarts (each fake's snapshot, the bridge's db, "
                   "instead of --db); a directory holding a world is not seeded again, and a fake that exits is "
                   "restarted from its last snapshot")
def up(no_seed: bool, speed: float, braze_port: int, sendbird_port: int, sendbird_ws_port: int, bridge_port: int,
       console_port: int, no_console: bool, braze_key: str, sendbird_token: str, integration_token: str, db: str,
       log_dir: str, admin_token: str | None, persist: str | None) -> None:
    from simulator.up import Stack, StackError

    def terminate(*_: object) -> None:  # SIGTERM stops the stack like Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    stack = Stack(speed, braze_port, sendbird_port, bridge_port, braze_key, sendbird_token, integration_token, db,
                  log_dir, admin_token, sendbird_ws_port, None if no_console else console_port, persist)
    code = 0
    try:
        stack.start(seed=not no_seed, console=console)
        stack.wait(console)
    except StackError as exc:
        console.print(f"[red]{escape(str(exc))}[/]", highlight=False)
        code = 1
    except KeyboardInterrupt:
        console.print("\nstopping ...")
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the stop short
        stack.stop()
        if stack.services:
            console.print("stopped.")
    sys.exit(code)


@cli.command("console", help="Start the web console alone, against a running stack (bsim up starts it too). "
             "Ctrl-C stops it.")
@click.option("--port", type=int, default=7000, show_default=True)
@click.option("--braze-key", default="local-braze-key", show_default=True)
@click.option("--sendbird-token", default="local-sendbird-token", show_default=True)
@click.option("--integration-token", default="local-integration-token", show_default=True)
@click.option(ALLOW_FLAG, "allow_outbound", default="", envvar="BSIM_ALLOW_OUTBOUND", show_envvar=True,
              help=ALLOW_HELP)
@admin_token_option
@service_options
def console_command(port: int, braze_key: str, sendbird_token: str, integration_token: str, allow_outbound: str,
                    admin_token: str | None, braze_url: str, sendbird_url: str, bridge_url: str) -> None:
    from simulator.console.__main__ import main as serve_console

    console.print(f"console: http://127.0.0.1:{port}", highlight=False, markup=False)
    serve_console(["--port", str(port), "--braze-url", braze_url, "--sendbird-url", sendbird_url, "--bridge-url",
                   bridge_url, "--braze-key", braze_key, "--sendbird-token", sendbird_token, "--integration-token",
                   integration_token, "--allow-outbound", allow_outbound,
                   *(["--admin-token", admin_token] if admin_token else [])])


@cli.command(help="Follow the journals live (SENT and READ events as they arrive).")
@click.option("--kind", "kinds", multiple=True, help="only these record kinds (repeatable)")
@click.option("--user", help="only records about this user (external or Sendbird id)")
@admin_token_option
@service_options
def tail(kinds: tuple[str, ...], user: str | None, admin_token: str | None, braze_url: str, sendbird_url: str,
         bridge_url: str) -> None:
    from simulator.tail import follow

    with contextlib.suppress(KeyboardInterrupt):
        follow(console, [braze_url, sendbird_url, bridge_url], set(kinds), user, admin_token=admin_token)


@cli.group(help="Braze users.")
def users() -> None:
    pass


def _call_braze(braze_url: str, method: str, path: str, **kwargs) -> requests.Response:
    """One request to the fake Braze; one line and exit code 3 when it cannot be reached."""
    try:
        return requests.request(method, f"{braze_url.rstrip('/')}{path}", **kwargs)
    except requests.ConnectionError:
        console.print(f"[red]cannot reach the fake Braze at {escape(braze_url)}:[/] is bsim up running?",
                      highlight=False)
    except requests.Timeout:
        console.print(f"[red]the fake Braze at {escape(braze_url)} did not answer in time[/]", highlight=False)
    sys.exit(UNREACHABLE)


@users.command("import", help="Import users from a CSV file with Braze's CSV rules. Exit codes: 0 every row "
                              "imported, 1 rows dropped or the file refused, 3 the fake Braze unreachable.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--braze-url", default=LIVE_DEFAULTS.braze, show_default=True)
@admin_token_option
def users_import(file: str, braze_url: str, admin_token: str | None) -> None:
    response = _call_braze(braze_url, "POST", "/_admin/users/import", data=Path(file).read_bytes(), timeout=300,
                           headers={"Content-Type": "text/csv", **admin_headers(admin_token)})
    body = response.json()
    if response.status_code != 201:
        console.print(f"[red]import refused:[/] {body.get('message')}")
        sys.exit(1)
    console.print(f"imported {body['imported']} rows ({body['created']} created, {body['updated']} updated), "
                  f"dropped {body['dropped']}")
    for error in body["errors"][:50]:
        console.print(f"  line {error['line']}: {error['reason']}", highlight=False)
    sys.exit(0 if not body["errors"] else 1)


@cli.command(help="Trigger an API-triggered campaign or canvas for some users, or everyone. Exit codes: 0 "
                  "triggered, 1 Braze refused it, 3 the fake Braze unreachable.")
@click.argument("kind", type=click.Choice(["campaign", "canvas"]))
@click.argument("object_id")
@click.option("--user", "users_", multiple=True, help="external id (repeatable); none means broadcast")
@click.option("--properties", default="{}", help="trigger properties (campaign) or context (canvas), as JSON")
@click.option("--braze-url", default=LIVE_DEFAULTS.braze, show_default=True)
@click.option("--braze-key", default="local-braze-key", show_default=True)
def trigger(kind: str, object_id: str, users_: tuple[str, ...], properties: str, braze_url: str,
            braze_key: str) -> None:
    try:
        props = json.loads(properties)
    except ValueError:
        raise click.BadParameter("not JSON", param_hint="--properties") from None
    key, props_key, path = (("campaign_id", "trigger_properties", "campaigns") if kind == "campaign"
                            else ("canvas_id", "context", "canvas"))
    body: dict = {key: object_id, props_key: props}
    if users_:
        body["recipients"] = [{"external_user_id": u} for u in users_]
    else:
        body["broadcast"] = True
    response = _call_braze(braze_url, "POST", f"/{path}/trigger/send", json=body, timeout=60,
                           headers={"Authorization": f"Bearer {braze_key}"})
    console.print_json(response.text)
    sys.exit(0 if response.status_code == 201 else 1)


@cli.command(help="Start the fake Sendbird and send one notification end to end. Exit codes: 0 every step "
             "answered as expected, 1 a step failed.")
def quickstart() -> None:
    from simulator.quickstart import run as run_quickstart

    sys.exit(run_quickstart())


cli.add_command(fault)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
