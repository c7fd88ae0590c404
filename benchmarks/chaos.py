"""The chaos suite at full scale (issue 15): each fault under a Locust load on the realtime and batch paths, with
devices reading, beside the same run without faults.

    .venv/bin/python benchmarks/chaos.py [--seconds 60] [--users 20] [--rps 3] [--down 10] [--cases a,b]

For each case, a fresh stack (`simulator.chaos`): the fake Braze and the fake Sendbird keep their worlds in a
directory (`--persist`), the bridge its outbox. Locust runs RealtimeWebhookUser, BatchWebhookUser (bursts of 5)
and DeviceUser for `--seconds` while the case plays its timeline (fault rules over `/_admin/faults`, Sendbird
stopped and started again on its saved world `--down` seconds later, `kill -9` of the bridge restarted on its
outbox), then the locustfile drains the pipeline and reconciles what was answered 200 against the notifications
in Sendbird and the SENT/READ events at Braze. Printed per case, beside the baseline of the same run: throughput
(webhooks accepted per second of load), the time to drain after the load, their ratios to the baseline, what the
rules fired, and the verdict (0 lost and 0 duplicated, or not). The exit code is 1 when any case is not.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console
from rich.table import Table

from simulator.chaos import BASELINE, CASES, Outcome, run_case


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="load per case")
    parser.add_argument("--users", type=int, default=20, help="Locust users (spread over the three classes)")
    parser.add_argument("--rps", type=float, default=3.0, help="tasks a second per Locust user")
    parser.add_argument("--down", type=float, default=10.0, help="seconds Sendbird stays down")
    parser.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args(argv)
    console = Console()
    chosen = [c for c in CASES if not args.cases or c.name in args.cases.split(",")]
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="bsim-chaos-") as tmp:
        for case in [BASELINE, *chosen]:
            console.print(f"[bold]{case.name}[/]: {case.description} ({args.seconds:g} s of load)")
            outcome = run_case(case, Path(tmp) / case.name, seconds=args.seconds, users=args.users, rps=args.rps,
                               down_seconds=args.down, drain_timeout=max(60.0, args.seconds), say=console.print)
            console.print(f"  {outcome.verdict}: accepted {outcome.accepted}, notifications {outcome.notifications}, "
                          f"SENT {outcome.sent}, READ {outcome.read}, duplicates {outcome.duplicates}, "
                          f"losses {outcome.losses}, drained in {outcome.drained_s} s")
            if not outcome.ok:
                console.print(outcome.reconciliation, markup=False, highlight=False)
            outcomes.append(outcome)
    base = outcomes[0]
    table = Table(title=f"chaos: {args.seconds:g} s of load per case, {args.users} users at {args.rps:g} tasks/s")
    for column in ("case", "accepted/s", "x baseline", "drain s", "x baseline", "fired", "lost", "doubled", "verdict"):
        table.add_column(column)
    for o in outcomes:
        drain_ratio = (f"{o.drained_s / base.drained_s:.2f}" if o.drained_s is not None and base.drained_s else "-")
        throughput_ratio = f"{o.throughput / base.throughput:.2f}" if base.throughput else "-"
        table.add_row(o.case, f"{o.throughput:.1f}", throughput_ratio,
                      f"{o.drained_s}" if o.drained_s is not None else "-", drain_ratio,
                      ", ".join(f"{k} {v}" for k, v in sorted(o.fired.items())) or "-", str(o.losses),
                      str(o.duplicates), o.verdict)
    console.print(table)
    if args.json:
        args.json.write_text(json.dumps([{**{k: v for k, v in o.__dict__.items() if k != "output"},
                                          "throughput": o.throughput} for o in outcomes], indent=2))
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
