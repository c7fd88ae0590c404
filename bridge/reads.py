"""Which notifications a Sendbird read webhook reports read, worked out from what the bridge sent.

Sendbird's `group_channel:message_read` webhook (Chat Platform API v3, "Webhook events: group channel",
https://sendbird.com/docs/chat/platform-api/v3/webhook/events/group-channel) is a chat webhook:
`{"category", "members": [...], "channel": {"channel_url", "name", "custom_type", ...},
"read_updates": [{"user_id", "read_ts", "channel_unread_message_count", "total_unread_message_count"}],
"app_id"}`. It names each reader and their read receipt, never messages: everything of that user in that
channel created at or before `read_ts` is read. So the READs it owes are those of the notifications the
bridge sent to that user through a template of that channel, that Sendbird created at or before `read_ts`,
and that no earlier read covered. A retry, a duplicate or an older receipt arriving late finds nothing new:
the outbox marks each row read once, together with its READ callback (`Outbox.mark_read`). A receipt that
arrives before the bridge has recorded a send it covers (the send's answer on its way, or the send being checked
after a restart) is kept, and read when the send is recorded (`covered_when_sent`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bridge.errors import INVALID_VALUE, MISSING, BridgeError
from bridge.outbox import Outbox, WebhookRow

CATEGORY = "group_channel:message_read"
LAST_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z: the last instant a datetime (and Braze) can hold


def epoch_ms(value: Any) -> int | None:
    """`value` as epoch milliseconds a READ event can carry (1970 to 9999), or None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not 0 <= value <= LAST_EPOCH_MS or value != int(value):
        return None
    return int(value)


@dataclass(frozen=True)
class ReadUpdate:
    user_id: str
    read_ts: int  # epoch ms, Sendbird's clock: the user has read everything created up to here


@dataclass(frozen=True)
class ReadWebhook:
    channel_url: str
    updates: list[ReadUpdate]


def parse_read_webhook(payload: dict[str, Any]) -> ReadWebhook:
    """The reads a webhook reports; BridgeError for a webhook that does not say who read what when. A read time
    no calendar holds is refused rather than guessed: a guess could report notifications nobody read."""
    channel = payload.get("channel")
    channel_url = channel.get("channel_url") if isinstance(channel, dict) else None
    if not isinstance(channel_url, str) or not channel_url:
        raise BridgeError(MISSING, '"channel.channel_url" is required.')
    updates = payload.get("read_updates")
    if not isinstance(updates, list) or not updates:
        raise BridgeError(MISSING, '"read_updates" is required: a list of {"user_id", "read_ts"}.')
    parsed = []
    for i, update in enumerate(updates):
        user_id = update.get("user_id") if isinstance(update, dict) else None
        if not isinstance(user_id, str) or not user_id:
            raise BridgeError(INVALID_VALUE, f'"read_updates[{i}].user_id" must be a non-empty string.')
        read_ts = epoch_ms(update.get("read_ts"))
        if read_ts is None:
            raise BridgeError(INVALID_VALUE, f'"read_updates[{i}].read_ts" must be epoch milliseconds '
                                             f'from 1970 to 9999.')
        parsed.append(ReadUpdate(user_id, read_ts))
    return ReadWebhook(channel_url, parsed)


def covered(outbox: Outbox, update: ReadUpdate, channel_url: str,
            channel_of: Callable[[str], str | None]) -> list[WebhookRow]:
    """The sent, not yet read rows this read covers: the user's, created at or before `read_ts`, sent through
    a template whose channel (`channel_of(template_key)`, None for a template that no longer exists) is the
    read's. `channel_of` may raise: then nothing is decided, and the webhook's retry decides."""
    rows = outbox.unread_sent(update.user_id, update.read_ts)
    channels = {key: channel_of(key) for key in sorted({r.body["template_key"] for r in rows})}
    return [r for r in rows if channels[r.body["template_key"]] == channel_url]


def covered_when_sent(outbox: Outbox, rows: list[WebhookRow], created_at_ms: int,
                      channel_of: Callable[[str], str | None]) -> list[tuple[WebhookRow, int]]:
    """Rows just marked sent (created at `created_at_ms`) that a receipt kept earlier already covers, each with the
    newest such receipt's `read_ts`."""
    receipts = outbox.receipts_of(r.receiver for r in rows)
    found = []
    for row in rows:
        for channel_url, read_ts in receipts.get(row.receiver, ()):
            if read_ts > created_at_ms and channel_of(row.body["template_key"]) == channel_url:
                stored = outbox.webhook(row.message_id)
                if stored is not None and stored.read_at is None:
                    found.append((stored, read_ts))
                break  # a row is in one channel: one receipt of it decides
    return found
