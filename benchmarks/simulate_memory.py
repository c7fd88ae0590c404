"""Where the memory of a simulated run goes (issue 17): the marketing scenario at N users under
tracemalloc, one snapshot at the run's peak (when the report is about to be built: the journal's
records and their dicts both alive), grouped by component and by allocating line.

    .venv/bin/python benchmarks/simulate_memory.py [--users 20000] [--frames 25]

tracemalloc slows the run about fivefold, so the default is 20,000 users. Python objects only: the
bridge's outbox is SQLite in memory, measured apart (page_count * page_size). A component is the
innermost frame inside this project (harness/journal.py -> harness/journal); an allocation made
inside a library (pydantic, requests, werkzeug) counts for the project line that called it, and the
second table names the library the bytes were allocated in.
"""

from __future__ import annotations

import argparse
import gc
import sqlite3
import sys
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import simulator.runner as runner  # noqa: E402
from harness.gc_tuning import tune_for_long_lived_stores  # noqa: E402
from simulator.loader import load  # noqa: E402

PROJECT_DIRS = ("harness", "mocks", "bridge", "simulator")
LIBRARIES = ("pydantic", "requests", "urllib3", "werkzeug", "flask", "liquid", "json", "sqlite3", "http",
             "email", "datetime", "dataclasses", "collections", "faker", "rich")
CENSUS = ("Record", "Profile", "Message", "TaskHandle", "Response", "PreparedRequest", "SimUser", "EventSeries",
          "dict", "str", "datetime", "list", "tuple")


def component(frames: tracemalloc.Traceback) -> str:
    """The innermost frame inside the project, as a module folder (harness/journal, mocks/braze/users)."""
    for frame in reversed(frames):  # tracemalloc lists the outermost frame first when most_recent_first is off
        path = Path(frame.filename)
        try:
            rel = path.resolve().relative_to(ROOT)
        except ValueError:
            continue
        if rel.parts and rel.parts[0] in PROJECT_DIRS:
            parts = rel.with_suffix("").parts
            return "/".join(parts[:3] if parts[0] == "mocks" else parts[:2])
    return "(outside the project)"


def library(frames: tracemalloc.Traceback) -> str:
    """Where the bytes were allocated: the innermost frame's package (or 'project')."""
    filename = frames[-1].filename
    if str(ROOT) in filename and "site-packages" not in filename:
        return "project"
    parts = Path(filename).parts
    for name in LIBRARIES:
        if name in parts or f"{name}.py" in parts:
            return name
    return Path(filename).name


def sqlite_bytes() -> list[tuple[str, int]]:
    """Every live SQLite connection's database size (the bridge's in-memory outbox)."""
    out = []
    for obj in gc.get_objects():
        if isinstance(obj, sqlite3.Connection):
            try:
                pages = obj.execute("PRAGMA page_count").fetchone()[0]
                size = obj.execute("PRAGMA page_size").fetchone()[0]
                cache = obj.execute("PRAGMA cache_size").fetchone()[0]
            except sqlite3.ProgrammingError:  # closed
                continue
            out.append((f"pages {pages:,} x {size} (cache_size {cache})", pages * size))
    return out


def census() -> Counter[str]:
    counts: Counter[str] = Counter()
    for obj in gc.get_objects():
        name = type(obj).__name__
        if name in CENSUS:
            counts[name] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    scenario = load(ROOT / "scenarios" / "marketing_batch_campaign.yaml")
    population = scenario.population.model_copy(update={"size": args.users})
    scenario = scenario.model_copy(update={"population": population, "expectations": []})
    tune_for_long_lived_stores()
    seen: dict[str, Any] = {}
    real_build_report = runner.build_report

    def at_peak(records: list[dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
        seen["snapshot"] = tracemalloc.take_snapshot()
        seen["traced"] = tracemalloc.get_traced_memory()
        seen["records"] = len(records)
        seen["sqlite"] = sqlite_bytes()
        seen["census"] = census()
        return real_build_report(records, **kwargs)

    runner.build_report = at_peak
    tracemalloc.start(args.frames)
    started = time.perf_counter()
    runner.run_simulated(scenario)
    wall = time.perf_counter() - started
    tracemalloc.stop()
    snapshot: tracemalloc.Snapshot = seen["snapshot"]
    users = args.users
    stats = snapshot.statistics("traceback")
    total = sum(s.size for s in stats)
    console = Console()
    console.print(f"{users:,} users, {seen['records']:,} journal records ({seen['records'] / users:.1f} per user); "
                  f"wall under tracemalloc {wall:,.0f} s; traced now {seen['traced'][0] / 2**20:,.0f} MiB, "
                  f"traced peak {seen['traced'][1] / 2**20:,.0f} MiB")

    by_component: Counter[str] = Counter()
    blocks: Counter[str] = Counter()
    by_pair: Counter[tuple[str, str]] = Counter()
    for stat in stats:
        name = component(stat.traceback)
        by_component[name] += stat.size
        blocks[name] += stat.count
        by_pair[(name, library(stat.traceback))] += stat.size
    table = Table(title="live Python bytes at the peak, by component (innermost project frame)")
    for col in ("component", "MiB", "bytes/user", "blocks", "share"):
        table.add_column(col, justify="left" if col == "component" else "right")
    for name, size in by_component.most_common():
        if size < total / 1000:
            continue
        table.add_row(name, f"{size / 2**20:,.1f}", f"{size / users:,.0f}", f"{blocks[name]:,}", f"{size / total:.1%}")
    for label, size in seen["sqlite"]:
        table.add_row(f"bridge/outbox SQLite ({label})", f"{size / 2**20:,.1f}", f"{size / users:,.0f}", "-", "-")
    table.add_row("total traced", f"{total / 2**20:,.1f}", f"{total / users:,.0f}", "", "")
    console.print(table)

    table = Table(title="by component and where the bytes were allocated (top 25)")
    for col in ("component", "allocated in", "MiB", "bytes/user"):
        table.add_column(col, justify="right" if col in ("MiB", "bytes/user") else "left")
    for (name, lib), size in by_pair.most_common(25):
        table.add_row(name, lib, f"{size / 2**20:,.1f}", f"{size / users:,.0f}")
    console.print(table)

    table = Table(title=f"top {args.top} allocating lines (innermost frame)")
    for col in ("line", "MiB", "bytes/user", "blocks", "avg bytes"):
        table.add_column(col, justify="left" if col == "line" else "right")
    for stat in snapshot.statistics("lineno")[:args.top]:
        frame = stat.traceback[0]
        path = Path(frame.filename)
        where = f"{path.relative_to(ROOT) if str(ROOT) in frame.filename else path.name}:{frame.lineno}"
        table.add_row(where, f"{stat.size / 2**20:,.1f}", f"{stat.size / users:,.0f}", f"{stat.count:,}",
                      f"{stat.size / max(stat.count, 1):,.0f}")
    console.print(table)

    table = Table(title=f"top {min(args.top, 12)} tracebacks (innermost project frames)")
    table.add_column("MiB", justify="right")
    table.add_column("bytes/user", justify="right")
    table.add_column("innermost frames, project first")
    for stat in stats[:min(args.top, 12)]:
        frames = [f for f in stat.traceback if str(ROOT) in f.filename and "site-packages" not in f.filename]
        text = " <- ".join(f"{Path(f.filename).relative_to(ROOT)}:{f.lineno}" for f in list(reversed(frames))[:4])
        last = stat.traceback[-1]
        table.add_row(f"{stat.size / 2**20:,.1f}", f"{stat.size / users:,.0f}",
                      f"[{Path(last.filename).name}:{last.lineno}] {text}")
    console.print(table)

    table = Table(title="objects alive at the peak (gc census)")
    table.add_column("type")
    table.add_column("count", justify="right")
    table.add_column("per user", justify="right")
    for name, count in seen["census"].most_common():
        table.add_row(name, f"{count:,}", f"{count / users:,.1f}")
    console.print(table)


if __name__ == "__main__":
    main()
