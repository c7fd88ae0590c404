"""A READ event is owed once Sendbird's read webhook can report the read (docs/report.md, `checks.lost`): its read
receipt covers a message (`message.receipt`), not merely a read of it, since a read that leaves an older message
unread does not move the receipt."""

from __future__ import annotations

from typing import Any

from simulator.analysis import Trail


def _record(service: str, kind: str, trace: str, **attrs: Any) -> dict[str, Any]:
    return {**attrs, "ts": "2026-01-05T09:00:00.000Z", "service": service, "kind": kind, "trace_id": trace}


def _delivered_and_read(trace: str, receipt: bool, read_event: bool) -> list[dict[str, Any]]:
    records = [_record("bridge", "webhook.accepted", trace),
               _record("sendbird", "message.delivered", trace, notification_id="n", user_id="u"),
               _record("braze", "event.recorded", trace, properties={"status": "SENT", "message_id": trace}),
               _record("sendbird", "message.read", trace, notification_id="n", user_id="u")]
    if receipt:
        records.append(_record("sendbird", "message.receipt", trace, notification_id="n", user_id="u"))
    if read_event:
        records.append(_record("braze", "event.recorded", trace, properties={"status": "READ", "message_id": trace}))
    return records


def test_a_read_no_receipt_covers_yet_owes_no_read_event_but_a_covered_one_does():
    records = [*_delivered_and_read("read-out-of-order", receipt=False, read_event=False),
               *_delivered_and_read("covered-and-reported", receipt=True, read_event=True),
               *_delivered_and_read("covered-not-reported", receipt=True, read_event=False)]
    checks = Trail(records).checks(event_callback=True)
    assert checks["lost_details"] == [{"trace_id": "covered-not-reported", "missing": "READ event"}]
