"""What one outbox transaction costs the bridge, in process: the figure a shared outbox on a server would replace.

    .venv/bin/python benchmarks/outbox_transactions.py [--count 5000] [--rounds 3] [--share 32] [--batch 10000]

A realtime notification is three outbox transactions: the accept (the row committed before the 200), the claim
(pending -> sending) and the mark sent (sending -> sent, with its SENT callback row). This times each, through
`bridge.outbox.Outbox` as the bridge calls it (Python and SQLite together, WAL, `synchronous=NORMAL`, a file in a
temporary directory), so docs/scaling.md can set it beside a round trip to PostgreSQL. Pin it to a core
(`taskset -c 0`) and compare rounds: on a shared machine the spread is the noise.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bridge.outbox import CallbackRow, Outbox

BODY = {"template_key": "welcome", "variables": {"first_name": "Ada"}, "event_name": "sendbird_notification"}
STEPS = ("accept", "claim", "mark_sent")


def one_round(count: int) -> dict[str, float]:
    """Microseconds per call of each step, over `count` notifications on a new outbox file."""
    spent = dict.fromkeys(STEPS, 0.0)
    with tempfile.TemporaryDirectory() as scratch:
        outbox = Outbox(Path(scratch) / "bridge.sqlite3")
        try:
            for i in range(count):
                message_id, receiver = f"bench-{i}", f"sb-demo-{i % 60}"
                started = time.perf_counter()
                outbox.accept(message_id, "realtime", BODY, receiver, "g", "trace", float(i), {"status": "accepted"})
                accepted = time.perf_counter()
                outbox.claim_realtime([message_id], float(i) + 1)
                claimed = time.perf_counter()
                callback = CallbackRow.of(message_id, "SENT", f"demo-{i % 60}", {"name": "sendbird_notification"},
                                          "trace")
                outbox.mark_sent([message_id], f"n-{i}", float(i) + 2, [callback], 1000 * i)
                done = time.perf_counter()
                spent["accept"] += accepted - started
                spent["claim"] += claimed - accepted
                spent["mark_sent"] += done - claimed
        finally:
            outbox.close()
    return {step: seconds / count * 1e6 for step, seconds in spent.items()}


def shared_round(count: int, share: int) -> dict[str, float]:
    """Microseconds per notification of the claim and the mark when realtime sends share them `share` to a
    transaction, as the bridge's senders do (`claim_realtime`, `mark_each_sent`)."""
    spent = {"claim": 0.0, "mark_sent": 0.0}
    with tempfile.TemporaryDirectory() as scratch:
        outbox = Outbox(Path(scratch) / "bridge.sqlite3")
        try:
            for i in range(count):
                outbox.accept(f"bench-{i}", "realtime", BODY, f"sb-demo-{i % 60}", "g", "trace", float(i),
                              {"status": "accepted"})
            for start in range(0, count, share):
                ids = [f"bench-{i}" for i in range(start, min(count, start + share))]
                began = time.perf_counter()
                outbox.claim_realtime(ids, float(count))
                claimed = time.perf_counter()
                callbacks = [CallbackRow.of(m, "SENT", f"demo-{n % 60}", {"name": "sendbird_notification"}, "trace")
                             for n, m in enumerate(ids)]
                outbox.mark_each_sent([(m, f"n-{m}", 1000 * n) for n, m in enumerate(ids)], float(count) + 1,
                                      callbacks)
                spent["claim"] += claimed - began
                spent["mark_sent"] += time.perf_counter() - claimed
        finally:
            outbox.close()
    return {step: seconds / count * 1e6 for step, seconds in spent.items()}


BATCH_STEPS = ("claim_group", "mark_sent", "claim_callbacks", "callbacks_done")


def batch_round(count: int, batch: int) -> dict[str, float]:
    """Microseconds per recipient of the batch drain's four outbox transactions, `count` webhooks of one group
    waiting and claimed `batch` at a time, their SENT callbacks claimed and finished 75 at a time (Braze's
    /users/track limit), as the bridge's batch flush and callback flush call them."""
    spent = dict.fromkeys(BATCH_STEPS, 0.0)
    body = {**BODY, "campaign_id": "c-1"}
    with tempfile.TemporaryDirectory() as scratch:
        outbox = Outbox(Path(scratch) / "bridge.sqlite3")
        try:
            for i in range(count):
                outbox.accept(f"bench-{i}", "batch", {**body, "user_id": f"u-{i}"}, f"u-{i}", "g", f"t-{i}",
                              i / 1000, {"status": "accepted"})
            now = count / 1000 + 1
            while True:
                began = time.perf_counter()
                rows = outbox.claim_group("g", batch, now)
                claimed = time.perf_counter()
                spent["claim_group"] += claimed - began
                if not rows:
                    break
                callbacks = [CallbackRow.of(r.message_id, "SENT", r.receiver, {
                    "external_id": r.receiver, "name": "sendbird_notification", "time": "2026-12-02T10:00:00.000Z",
                    "properties": {"status": "SENT", "template_key": "welcome", "notification_id": "n-1",
                                   "message_id": r.message_id, "campaign_id": "c-1"}}, r.trace_id) for r in rows]
                began = time.perf_counter()
                outbox.mark_sent([r.message_id for r in rows], "n-1", now, callbacks, 1000)
                spent["mark_sent"] += time.perf_counter() - began
            while True:
                began = time.perf_counter()
                posting = outbox.claim_callbacks(75, now)
                claimed = time.perf_counter()
                spent["claim_callbacks"] += claimed - began
                if not posting:
                    break
                outbox.callbacks_done([c.key for c in posting])
                spent["callbacks_done"] += time.perf_counter() - claimed
        finally:
            outbox.close()
    return {step: seconds / count * 1e6 for step, seconds in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=5000, help="notifications per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--share", type=int, default=32, help="webhooks to a shared claim and mark")
    parser.add_argument("--batch", type=int, default=10_000, help="webhooks to a batch claim (the bridge's batch_max)")
    args = parser.parse_args()
    rounds = [one_round(args.count) for _ in range(args.rounds)]
    for number, figures in enumerate(rounds, 1):
        print(f"round {number}: " + ", ".join(f"{step} {figures[step]:.1f} us" for step in STEPS))
    print("median: " + ", ".join(f"{step} {statistics.median(r[step] for r in rounds):.1f} us" for step in STEPS))
    shared = [shared_round(args.count, args.share) for _ in range(args.rounds)]
    print(f"shared {args.share} to a transaction (realtime senders), median per notification: " + ", ".join(
        f"{step} {statistics.median(r[step] for r in shared):.1f} us" for step in ("claim", "mark_sent")))
    batches = [batch_round(args.count, args.batch) for _ in range(args.rounds)]
    medians = {step: statistics.median(r[step] for r in batches) for step in BATCH_STEPS}
    print(f"batch drain, {args.batch} to a claim, median per recipient: "
          + ", ".join(f"{step} {value:.1f} us" for step, value in medians.items())
          + f", together {sum(medians.values()):.1f} us")


if __name__ == "__main__":
    main()
