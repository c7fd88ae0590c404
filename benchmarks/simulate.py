"""The marketing scenario scaled up, in simulated mode: wall time, simulated events per second,
peak memory.

    .venv/bin/python benchmarks/simulate.py [--users 100000]

"Events" are journal records: every hop of every notification (render, webhook, accept, send,
delivery, SENT, impression, read, READ, click, conversion), the work the run simulates.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console
from rich.table import Table

from harness.gc_tuning import tune_for_long_lived_stores
from simulator.loader import load
from simulator.runner import run_simulated

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    args = parser.parse_args()
    scenario = load(ROOT / "scenarios" / "marketing_batch_campaign.yaml")
    population = scenario.population.model_copy(update={"size": args.users})
    scenario = scenario.model_copy(update={"population": population, "expectations": []})
    tune_for_long_lived_stores()  # as `bsim run` does
    started = time.perf_counter()
    report = run_simulated(scenario)
    wall = time.perf_counter() - started
    funnel = report["funnel"]
    events = report["journal_records"]
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    table = Table(title=f"marketing_batch_campaign scaled to {args.users:,} users (simulated)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("wall time", f"{wall:,.1f} s")
    table.add_row("simulated events (journal records)", f"{events:,}")
    table.add_row("simulated events per second", f"{events / wall:,.0f}")
    table.add_row("peak memory (max RSS)", f"{peak_mib:,.0f} MiB")
    for stage in ("audience", "notifications", "sent_events", "read", "read_events", "conversions"):
        table.add_row(f"funnel: {stage}", f"{funnel[stage]:,}")
    table.add_row("duplicates / lost", f"{report['checks']['duplicates']} / {report['checks']['lost']}")
    Console().print(table)


if __name__ == "__main__":
    main()
