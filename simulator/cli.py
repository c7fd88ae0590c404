"""`bsim`: the harness's command line."""

from __future__ import annotations

import sys

import click


@click.group(help="Local harness for Braze <-> Sendbird Notifications.")
def cli() -> None:
    pass


@cli.command(help="Start the fake Sendbird and send one notification end to end.")
def quickstart() -> None:
    from simulator.quickstart import run

    sys.exit(run())


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
