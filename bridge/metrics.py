"""Prometheus metrics of one bridge, in a registry of its own so several bridges can share a process."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
BATCH_BUCKETS = (1, 2, 5, 10, 50, 100, 500, 1000, 2500, 5000, 10000)


class BridgeMetrics:
    def __init__(self, depth: Callable[[], dict[str, int]]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.accepted = Counter("bridge_webhooks_accepted", "Webhooks committed to the outbox", ["path"], registry=r)
        self.duplicates = Counter("bridge_webhooks_duplicate", "Webhooks whose message_id was seen before",
                                  ["path"], registry=r)
        self.rejected = Counter("bridge_webhooks_rejected", "Webhooks refused (auth or validation)", ["path", "code"],
                                registry=r)
        self.sends = Counter("bridge_sendbird_sends", "Sends to Sendbird by mode and outcome", ["mode", "outcome"],
                             registry=r)
        self.batch_size = Histogram("bridge_batch_size", "Recipients per Sendbird send", buckets=BATCH_BUCKETS,
                                    registry=r)
        self.retries = Counter("bridge_retries", "Retries scheduled", ["target"], registry=r)
        self.dead_letters = Counter("bridge_dead_letters", "Items moved to the dead letters", ["kind"], registry=r)
        self.callbacks = Counter("bridge_callback_events", "Events posted to Braze /users/track", ["status"],
                                 registry=r)
        self.accept_latency = Histogram("bridge_accept_seconds", "Time to commit and answer a webhook",
                                        buckets=LATENCY_BUCKETS, registry=r)
        self.send_latency = Histogram("bridge_sendbird_call_seconds", "Duration of a Sendbird send call",
                                      buckets=LATENCY_BUCKETS, registry=r)
        self.accept_to_sent = Histogram("bridge_accept_to_sent_seconds", "From accepting a webhook to Sendbird's 200",
                                        buckets=LATENCY_BUCKETS, registry=r)
        self.callback_latency = Histogram("bridge_callback_call_seconds", "Duration of a Braze /users/track call",
                                          buckets=LATENCY_BUCKETS, registry=r)
        self.recovery_checks = Counter("bridge_recovery_checks", "Looks in Sendbird's feed for a send whose outcome"
                                       " was unknown, by verdict", ["outcome"], registry=r)
        self.callback_checks = Counter("bridge_callback_checks", "Callbacks whose post had an unknown outcome,"
                                       " checked against Braze's event count, by verdict", ["outcome"], registry=r)
        self.task_errors = Counter("bridge_task_errors", "Exceptions caught at a task's boundary", ["task"],
                                   registry=r)
        self.depth = Gauge("bridge_outbox_depth", "Outbox rows by table and state", ["state"], registry=r)
        self._depth_source = depth

    def render(self) -> bytes:
        self.depth.clear()  # a state that emptied reads 0, not its last count
        for key, value in self._depth_source().items():
            self.depth.labels(state=key).set(value)
        return generate_latest(self.registry)
