"""The bridge's realtime leg and batch drain, this checkout against another revision, interleaved in one run.

    .venv/bin/python benchmarks/realtime_leg.py [--baseline f5a567f] [--rounds 3] [--seconds 5]

Issue 17 asks for realtime notifications per second end to end at 2x what the bridge did before it, and for
a batch recipient to cost at most 1/8 of a realtime notification on the bridge's core. Both are measured here
against the baseline revision's bridge (checked out in a temporary git worktree) in the same run, round by
round, so the shared machine's noise falls on both alike. Each variant of each round gets fresh services:
the fake Braze and Sendbird pinned to core 1 with `wrk`, the bridge alone on core 0.

Per variant and round:
1. **Realtime end to end**: `wrk` posts realtime webhooks for `--seconds` (16 connections) while the bridge
   sends them; notifications per second from the first accept to the last SENT recorded at Braze (both
   journals), and the bridge's CPU per notification (its processes' user+system time, from /proc).
2. **Realtime accept and drain**: webhooks accepted with sends held (the bridge's CPU per accept), then
   resumed: the bridge's CPU per notification from the resume until every SENT is posted.
3. **Batch drain**: 10,000 batch webhooks accepted with sends held, then resumed: the bridge's CPU per
   recipient. The ratio to (2) is the issue's 1/8. The same again on a fresh bridge, which costs less.
Progress is polled every 100 ms: the poll (a COUNT over the outbox) is part of what the bridge's core does.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests
from rich.console import Console
from rich.table import Table

from benchmarks.bridge_paths import LOCUST_TEMPLATE, TEMPLATE, _journal, _lua, _pause, _ts
from benchmarks.common import ADMIN, CLIENT_CORE, ROOT, start_module, wrk
from harness.processes import free_port

BATCH = 10_000
POLL = 0.1


def _tree(pid: int) -> list[int]:
    """`pid` and every process below it (granian serves from a forked worker)."""
    out = [pid]
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            children = Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
        except OSError:
            children = []
        for child in children:
            out += _tree(int(child))
    return out


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


class Stack:
    """Fresh fakes on the client core and a bridge from `checkout` on the server core."""

    def __init__(self, checkout: str | None) -> None:
        self.braze = start_module("mocks.braze", free_port(), core=CLIENT_CORE)
        self.sendbird = start_module("mocks.sendbird", free_port(), ["--ws-port", str(free_port())], core=CLIENT_CORE)
        self.tmp = tempfile.TemporaryDirectory()
        self.bridge = start_module("bridge", free_port(), [
            "--sendbird-url", self.sendbird.url, "--braze-url", self.braze.url,
            "--db", str(Path(self.tmp.name) / "o.sqlite3"), "--batch-linger-ms", "200"], cwd=checkout)
        requests.patch(self.braze.url + "/_admin/rate_limits", json={"users.track": {"limit": 10**9,
                                                                                   "window_seconds": 1}},
                       headers=ADMIN, timeout=5).raise_for_status()
        for template in (TEMPLATE, LOCUST_TEMPLATE):
            requests.post(self.sendbird.url + "/v1/templates", json=template,
                          headers={"Api-Token": "local-sendbird-token"}, timeout=5).raise_for_status()
        self.pids = _tree(self.bridge.process.pid)

    def cpu(self) -> float:
        return _cpu_seconds(self.pids)

    def wait_drained(self, timeout: float = 600) -> int:
        """Until nothing is pending or sending and every sent webhook's SENT is posted; the webhooks sent."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            depth = requests.get(self.bridge.url + "/_admin/outbox", headers=ADMIN, timeout=10).json()
            busy = [k for k in ("webhooks_pending", "webhooks_sending", "callbacks_pending", "callbacks_posting",
                                "callbacks_checking") if depth.get(k)]
            if not busy and depth.get("callbacks_posted", 0) == depth.get("webhooks_sent", 0):
                return depth.get("webhooks_sent", 0)
            time.sleep(POLL)
        raise RuntimeError(f"the bridge did not drain in {timeout} s: {depth}")

    def stop(self) -> None:
        for server in (self.bridge, self.sendbird, self.braze):
            server.stop()
        self.tmp.cleanup()


def measure(checkout: str | None, seconds: int) -> dict[str, float]:
    stack = Stack(checkout)
    out: dict[str, float] = {}
    try:
        cpu = stack.cpu()
        wrk(stack.bridge.url, _lua("realtime", "r"), seconds, 16)
        sent = stack.wait_drained()
        out["e2e_cpu_us"] = (stack.cpu() - cpu) * 1e6 / sent
        accepted = [r for r in _journal(stack.bridge.url, ["webhook.accepted"]) if r["message_id"].startswith("r")]
        sents = [r for r in _journal(stack.braze.url, ["event.recorded"])
                 if r.get("properties", {}).get("message_id", "").startswith("r")]
        if len(sents) != len(accepted) or len(accepted) != sent:
            raise RuntimeError(f"{len(accepted)} accepted, {sent} sent, {len(sents)} SENT events at Braze")
        span = (max(_ts(r["ts"]) for r in sents) - min(_ts(r["ts"]) for r in accepted)).total_seconds()
        out["e2e_per_s"] = sent / span
        out["e2e_count"] = sent

        _pause(stack.bridge.url, True)
        cpu = stack.cpu()
        wrk(stack.bridge.url, _lua("realtime", "d"), 3, 8)  # every id new: no duplicate answered from the outbox
        depth = requests.get(stack.bridge.url + "/_admin/outbox", headers=ADMIN, timeout=10).json()
        out["accept_cpu_us"] = (stack.cpu() - cpu) * 1e6 / depth["webhooks_pending"]
        cpu = stack.cpu()
        _pause(stack.bridge.url, False)
        drained = stack.wait_drained() - sent
        out["realtime_drain_cpu_us"] = (stack.cpu() - cpu) * 1e6 / drained
        before = sent + drained

        _pause(stack.bridge.url, True)
        wrk(stack.bridge.url, _lua("batch", "b", BATCH), max(3, BATCH // 1500), 8)
        cpu = stack.cpu()
        _pause(stack.bridge.url, False)
        recipients = stack.wait_drained() - before
        if recipients < BATCH - 1:  # wrk builds (and never sends) one request at its start
            depth = requests.get(stack.bridge.url + "/_admin/outbox", headers=ADMIN, timeout=10).json()
            raise RuntimeError(f"batch: {recipients} sent of {BATCH}; before {before} (realtime e2e {sent}, "
                               f"drain {drained}); the outbox: {depth}")
        out["batch_drain_cpu_us"] = (stack.cpu() - cpu) * 1e6 / recipients
    finally:
        stack.stop()
    out["fresh_batch_drain_cpu_us"] = fresh_batch_drain(checkout)
    return out


def fresh_batch_drain(checkout: str | None) -> float:
    """(3) on a bridge with no history: its CPU per recipient draining `BATCH` held batch webhooks. The drain
    after the realtime steps costs more a recipient (the process and its outbox hold ~25,000 notifications)."""
    stack = Stack(checkout)
    try:
        _pause(stack.bridge.url, True)
        wrk(stack.bridge.url, _lua("batch", "f", BATCH), max(3, BATCH // 1500), 8)
        cpu = stack.cpu()
        _pause(stack.bridge.url, False)
        recipients = stack.wait_drained()
        if recipients < BATCH - 1:
            raise RuntimeError(f"fresh batch: {recipients} sent of {BATCH}")
        return (stack.cpu() - cpu) * 1e6 / recipients
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="f5a567f", help="the revision to compare with (a git rev)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    worktree = tempfile.mkdtemp(prefix="baseline-")
    subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", "-f", worktree, args.baseline], check=True,
                   capture_output=True)
    results: dict[str, list[dict[str, float]]] = {"baseline": [], "this": []}
    console = Console()
    try:
        for round_ in range(args.rounds):
            for name, checkout in (("baseline", worktree), ("this", None)) if round_ % 2 == 0 else \
                    (("this", None), ("baseline", worktree)):
                result = measure(checkout, args.seconds)
                results[name].append(result)
                console.print(f"round {round_ + 1} {name}: " + ", ".join(f"{k} {v:,.1f}" for k, v in result.items()))
    finally:
        subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", worktree], check=False)
    med = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in results.items()}
    table = Table(title=f"the bridge: this checkout against {args.baseline} ({args.rounds} interleaved rounds, "
                        "medians)")
    for column in ("figure", args.baseline, "this", "this / baseline"):
        table.add_column(column, justify="right" if column != "figure" else "left")
    for key, label in (("e2e_per_s", "realtime end to end, notifications/s"),
                       ("e2e_cpu_us", "bridge CPU per realtime notification, end to end (us)"),
                       ("accept_cpu_us", "bridge CPU per realtime accept, sends held (us)"),
                       ("realtime_drain_cpu_us", "bridge CPU per realtime notification, drain (us)"),
                       ("batch_drain_cpu_us", "bridge CPU per batch recipient, drain (us)"),
                       ("fresh_batch_drain_cpu_us", "the same on a bridge with no history (us)")):
        base, this = med["baseline"][key], med["this"][key]
        table.add_row(label, f"{base:,.1f}", f"{this:,.1f}", f"{this / base:.2f}x")
    for name in ("baseline", "this"):
        ratio = med[name]["realtime_drain_cpu_us"] / med[name]["batch_drain_cpu_us"]
        table.add_row(f"{name}: realtime drain / batch drain per recipient", "", "", f"{ratio:.1f}")
        ratio = med[name]["realtime_drain_cpu_us"] / med[name]["fresh_batch_drain_cpu_us"]
        table.add_row(f"{name}: realtime drain / fresh batch drain per recipient", "", "", f"{ratio:.1f}")
    console.print(table)
    rounds = [t["e2e_per_s"] / b["e2e_per_s"] for t, b in zip(results["this"], results["baseline"], strict=True)]
    console.print("realtime end to end, this / baseline, round by round: "
                  + ", ".join(f"{r:.2f}x" for r in rounds))
    this = med["this"]
    print(f"realtime_e2e_ratio={this['e2e_per_s'] / med['baseline']['e2e_per_s']:.2f} "
          f"batch_per_recipient_fraction={this['batch_drain_cpu_us'] / this['realtime_drain_cpu_us']:.3f} "
          f"fresh_batch_fraction={this['fresh_batch_drain_cpu_us'] / this['realtime_drain_cpu_us']:.3f}")


if __name__ == "__main__":
    main()
