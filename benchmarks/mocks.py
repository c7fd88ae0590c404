"""What a team's test costs against the in-process mocks, beside the same test against `live_stack` (issue 16).

    .venv/bin/python benchmarks/mocks.py [--reps 200] [--live-reps 30] [--tests 50] [--live-tests 10]
                                         [--skip-pytest] [--json out.json]

The test (docs/testing-your-code.md's example): a Sendbird template and a Braze campaign that sends it through
the bridge, `/users/track` of a user and `/campaigns/trigger/send` with `requests` at the products' real hosts,
`assert_notified`, the user reads it, `assert_reported(..., "READ")`.
- In-process: each repetition builds `mock_stack()` (a fresh world: both fakes' and the bridge's Flask apps, the
  bridge's in-memory outbox, the doors), runs the test, stops the mock. Timed apart: setup (the build and the
  doors), the test itself and the part of it spent in the `assert_*` helpers, teardown; and the process's CPU time.
- Live: `mocks.live.LiveServers` started once (timed once, apart), then per repetition `reset()` and `stack()` as
  the `live_stack` fixture does (setup) and the same test over loopback; the `assert_*` helpers poll the servers
  every `mocks.live.POLL_INTERVAL` until what they look for is there. The two loops are interleaved.
- Under pytest: a generated file of N such tests, `python -m pytest -q -p no:cacheprovider` in a subprocess: its
  wall time against the same file with empty tests, and each test's own time as pytest measures it (fixture setup,
  call, teardown), the first test (which pays the imports, and for `live_stack` the servers' start) apart.
Figures are medians and 95th percentiles of one run, so the ratio compares both sides under the same load.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests
from rich.console import Console
from rich.table import Table

from mocks.inprocess import FakeStack, mock_stack
from mocks.live import LiveServers


def the_test(stack: FakeStack) -> None:
    """The test every measurement runs; the generated pytest files hold this function's own source."""
    stack.sendbird.add_template("welcome", {"title": "Welcome, {first_name}!"})
    cid = stack.add_sendbird_campaign("W", "welcome", {"first_name": "{{${first_name}}}"})
    requests.post(stack.braze.url + "/users/track", headers=stack.braze.headers,
                  json={"attributes": [{"external_id": "ada", "first_name": "Ada"}]}).raise_for_status()
    requests.post(stack.braze.url + "/campaigns/trigger/send", headers=stack.braze.headers,
                  json={"campaign_id": cid, "recipients": [{"external_user_id": "ada"}]}).raise_for_status()
    n = stack.sendbird.assert_notified("ada", "welcome", first_name="Ada")
    assert n.rendered["title"] == "Welcome, Ada!"
    stack.read("ada")
    stack.assert_reported("ada", "READ", n)


def waits(stack: FakeStack) -> list[float]:
    """Seconds the test spends inside the `assert_*` helpers' polls, one entry per poll (live, they wait for the
    servers; in-process, what they look for is there when they look)."""
    spent: list[float] = []
    poll = stack.world.poll

    def timed_poll(check: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        try:
            return poll(check)
        finally:
            spent.append(time.perf_counter() - t0)

    stack.world.poll = timed_poll  # type: ignore[method-assign]
    return spent


def ms(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(s * 1000 for s in seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median": statistics.median(ordered), "p95": p95}


class Samples:
    """Seconds per part of one test, over the repetitions."""

    def __init__(self) -> None:
        self.parts: dict[str, list[float]] = {}

    def add(self, **seconds: float) -> None:
        for part, value in seconds.items():
            self.parts.setdefault(part, []).append(value)

    def summary(self) -> dict[str, dict[str, float]]:
        return {part: ms(values) for part, values in self.parts.items()}


def one_in_process(mock: Any, samples: Samples) -> None:
    cpu = time.process_time()
    t0 = time.perf_counter()
    stack = mock.start()
    t1 = time.perf_counter()
    spent = waits(stack)
    the_test(stack)
    t2 = time.perf_counter()
    mock.stop()
    t3 = time.perf_counter()
    samples.add(setup=t1 - t0, test=t2 - t1, polls=sum(spent), teardown=t3 - t2, total=t3 - t0,
                cpu=time.process_time() - cpu)


def one_live(servers: LiveServers, samples: Samples) -> None:
    t0 = time.perf_counter()
    servers.reset()  # what the live_stack fixture does before each test
    stack = servers.stack()
    t1 = time.perf_counter()
    spent = waits(stack)
    the_test(stack)
    t2 = time.perf_counter()
    samples.add(setup=t1 - t0, test=t2 - t1, polls=sum(spent), total=t2 - t0)


def loops(reps: int, live_reps: int, workdir: Path) -> tuple[float, Samples, Samples]:
    """The servers' start (seconds), then both loops interleaved (each live test follows its share of in-process
    ones), so a change in the machine's load reaches both sides alike."""
    t0 = time.perf_counter()
    servers = LiveServers(workdir).start()
    start = time.perf_counter() - t0
    mock = mock_stack()
    inproc, remote = Samples(), Samples()
    try:
        one_in_process(mock, Samples())  # warm-up: first imports and first-request caches are no test's cost
        one_live(servers, Samples())
        done = 0
        for round_ in range(1, live_reps + 1):
            share = reps * round_ // live_reps - done
            for _ in range(share):
                one_in_process(mock, inproc)
            done += share
            one_live(servers, remote)
    finally:
        servers.stop()
    return start, inproc, remote


def pytest_file(fixture: str | None, count: int) -> str:
    """`count` tests: each the test against `fixture`, or an empty test when `fixture` is None."""
    tests = [f"def test_{i}({fixture or ''}):\n    {f'the_test({fixture})' if fixture else 'pass'}\n"
             for i in range(count)]
    source = inspect.getsource(the_test).replace("stack: FakeStack", "stack")
    return "\n\n".join(["import requests", source, *tests])


# a conftest for the generated files: each test's own time as pytest measures it (setup + call + teardown, the
# fixture's included), written to the file named by $BENCH_DURATIONS at the session's end
DURATIONS_CONFTEST = """
import json, os

durations = {}


def pytest_runtest_logreport(report):
    durations[report.nodeid] = durations.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session):
    with open(os.environ["BENCH_DURATIONS"], "w") as out:
        json.dump(list(durations.values()), out)
"""


def pytest_run(directory: Path, name: str, source: str) -> tuple[float, list[float]]:
    """The wall time of `python -m pytest` on `source`, and each test's own seconds, in the order they ran."""
    path = directory / f"test_{name}.py"
    path.write_text(source)
    (directory / "conftest.py").write_text(DURATIONS_CONFTEST)
    report = directory / f"{name}.json"
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)], cwd=directory,
                          capture_output=True, text=True, env={**os.environ, "BENCH_DURATIONS": str(report)})
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"pytest on {path.name} failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    return wall, json.loads(report.read_text())


def under_pytest(directory: Path, fixture: str, count: int) -> dict[str, float]:
    """The run's wall time beside the same file with empty tests, the difference per test (the one-off cost, the
    first use's imports and for `live_stack` the servers' start, spread over the tests), and the tests' own times
    as pytest measured them: the first (which pays the one-off cost) apart from the others' median and p95."""
    empty, _ = pytest_run(directory, f"empty_{count}", pytest_file(None, count))
    full, durations = pytest_run(directory, f"{fixture}_{count}", pytest_file(fixture, count))
    rest = ms(durations[1:])
    return {"tests": count, "empty_s": empty, "full_s": full, "per_test_ms": (full - empty) / count * 1000,
            "first_ms": durations[0] * 1000, "median_ms": rest["median"], "p95_ms": rest["p95"]}


def timed(label: str, console: Console, run: Callable[[], Any]) -> Any:
    console.print(f"[dim]{label}...[/]")
    t0 = time.perf_counter()
    result = run()
    console.print(f"[dim]  {time.perf_counter() - t0:.1f} s[/]")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=200, help="in-process repetitions")
    parser.add_argument("--live-reps", type=int, default=30, help="live repetitions")
    parser.add_argument("--tests", type=int, default=50, help="tests in the generated fake_stack file")
    parser.add_argument("--live-tests", type=int, default=10, help="tests in the generated live_stack file")
    parser.add_argument("--skip-pytest", action="store_true", help="only the in-process and live loops")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args(argv)
    console = Console(width=max(Console().width, 130))
    with tempfile.TemporaryDirectory(prefix="bsim-bench-mocks-") as tmp:
        workdir = Path(tmp)
        start, inproc_samples, remote_samples = timed(
            f"in-process ({args.reps}) and live ({args.live_reps}) repetitions, interleaved", console,
            lambda: loops(args.reps, args.live_reps, workdir / "live"))
        inproc, remote = inproc_samples.summary(), remote_samples.summary()
        plugin: dict[str, dict[str, float]] = {}
        if not args.skip_pytest:
            plugin["fake_stack"] = timed(f"pytest, {args.tests} fake_stack tests", console,
                                         lambda: under_pytest(workdir, "fake_stack", args.tests))
            plugin["live_stack"] = timed(f"pytest, {args.live_tests} live_stack tests", console,
                                         lambda: under_pytest(workdir, "live_stack", args.live_tests))

    table = Table(title="one test: template, campaign, /users/track, trigger, assert_notified, read, READ (ms)")
    for column in ("part", "in-process median", "in-process p95", "live median", "live p95", "live / in-process"):
        table.add_column(column, justify="right" if column != "part" else "left")
    for part, what in (("setup", "setup: mock_stack() built / reset + stack()"),
                       ("test", "the test: send and read back"), ("polls", "  of which in assert_* polls"),
                       ("teardown", "teardown: mock stopped"), ("total", "total"),
                       ("cpu", "total CPU time (in-process)")):
        mine = inproc[part]
        theirs = remote.get(part)
        table.add_row(what, f"{mine['median']:.2f}", f"{mine['p95']:.2f}",
                      f"{theirs['median']:.1f}" if theirs else "-", f"{theirs['p95']:.1f}" if theirs else "-",
                      f"{theirs['median'] / mine['median']:.1f}x" if theirs else "-")
    console.print(table)
    console.print(f"live servers' start (once per session): {start * 1000:.0f} ms")
    if plugin:
        under = Table(title="under pytest (wall time of `python -m pytest -q -p no:cacheprovider`)")
        for column in ("fixture", "tests", "run", "empty tests' run", "(run - empty) / tests", "first test",
                       "other tests' median", "p95"):
            under.add_column(column, justify="right" if column != "fixture" else "left")
        for fixture, f in plugin.items():
            under.add_row(fixture, str(f["tests"]), f"{f['full_s']:.2f} s", f"{f['empty_s']:.2f} s",
                          f"{f['per_test_ms']:.1f} ms", f"{f['first_ms']:.0f} ms", f"{f['median_ms']:.1f} ms",
                          f"{f['p95_ms']:.1f} ms")
        console.print(under)
    ratio = remote["total"]["median"] / inproc["total"]["median"]
    line = f"inprocess_ms={inproc['total']['median']:.2f} live_ms={remote['total']['median']:.1f} ratio={ratio:.1f}"
    if plugin:
        line += (f" pytest_fake_stack_ms={plugin['fake_stack']['median_ms']:.1f}"
                 f" pytest_live_stack_ms={plugin['live_stack']['median_ms']:.1f}")
    print(line)
    if args.json:
        args.json.write_text(json.dumps({"in_process": inproc, "live": remote, "live_start_s": start,
                                         "pytest": plugin, "ratio": ratio}, indent=2))


if __name__ == "__main__":
    main()
