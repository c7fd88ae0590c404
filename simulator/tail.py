"""`bsim tail`: the services' journals, merged, in the terminal as records arrive.

It reads each service's `/_admin/journal?since=<cursor>` in turn, at the kernel's pace (`ticks`); a CLI
following three servers is the one place where polling is the simple, honest choice.
"""

from __future__ import annotations

from typing import Any

import requests
from rich.console import Console

from harness.processes import ticks

COLOURS = {"braze": "magenta", "bridge": "cyan", "sendbird": "green", "simulator": "yellow"}
USER_KEYS = ("external_id", "user_id", "receiver", "braze_id")


def describe(record: dict[str, Any]) -> str:
    props = record.get("properties") or {}
    parts = [f"{k}={record[k]}" for k in ("external_id", "user_id", "receiver", "message_id", "notification_id",
                                          "campaign_id", "canvas_id", "step_id", "status", "mode", "name")
             if record.get(k) not in (None, "")]
    if props.get("status"):
        parts.insert(0, f"[bold]{props['status']}[/]")
    return " ".join(parts)


def matches(record: dict[str, Any], kinds: set[str], user: str | None) -> bool:
    if kinds and record["kind"] not in kinds:
        return False
    return user is None or any(record.get(k) == user for k in USER_KEYS)


def follow(console: Console, urls: list[str], kinds: set[str], user: str | None, interval: float = 0.5,
           iterations: int | None = None) -> None:
    cursors = {url: None for url in urls}
    for _ in ticks(interval, iterations):
        for url in urls:
            try:
                if cursors[url] is None:  # start at the end: a tail shows what happens from now on
                    cursors[url] = requests.get(f"{url}/_admin/health", timeout=5).json()["journal_cursor"]
                page = requests.get(f"{url}/_admin/journal", params={"since": cursors[url], "limit": 1000},
                                    timeout=5).json()
            except requests.RequestException:
                continue
            cursors[url] = page["cursor"]
            for record in page["records"]:
                if matches(record, kinds, user):
                    colour = COLOURS.get(record["service"], "white")
                    console.print(f"{record['ts']} [{colour}]{record['service']:>8}[/] {record['kind']:<20} "
                                  f"{describe(record)}", highlight=False)
