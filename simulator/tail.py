"""`bsim tail`: the services' journals, merged, in the terminal as records arrive.

It reads each service's `/_admin/journal?since=<cursor>` in turn, at the kernel's pace (`ticks`); a CLI
following three servers is the one place where polling is the simple, honest choice. Each poll's pages are
merged by time before they are printed, so a hop at Braze and the bridge's answer to it read in order.

A service that restarts comes back with a new journal (a new epoch): its answer says `restarted`, the tail
says so in one line and follows the new journal from its start, instead of waiting for seqs it will only
reach much later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from rich.console import Console
from rich.markup import escape

from harness.admin_client import send_admin_token
from harness.processes import ticks

COLOURS = {"braze": "magenta", "bridge": "cyan", "sendbird": "green", "simulator": "yellow"}
USER_KEYS = ("external_id", "user_id", "receiver", "braze_id")
SHOWN_KEYS = ("external_id", "user_id", "receiver", "message_id", "notification_id", "campaign_id", "canvas_id",
              "step_id", "status", "mode", "name")
PAGE = 1000


def describe(record: dict[str, Any]) -> str:
    props = record.get("properties") or {}
    parts = [f"{k}={escape(str(record[k]))}" for k in SHOWN_KEYS if record.get(k) not in (None, "")]
    if props.get("status"):
        parts.insert(0, f"[bold]{escape(str(props['status']))}[/]")
    return " ".join(parts)


def matches(record: dict[str, Any], kinds: set[str], user: str | None) -> bool:
    if kinds and record["kind"] not in kinds:
        return False
    return user is None or any(record.get(k) == user for k in USER_KEYS)


def time_order(record: dict[str, Any]) -> tuple[str, str, int]:
    """ISO timestamps of one format sort as text; service and seq keep records of one instant stable."""
    return record["ts"], record["service"], record["seq"]


@dataclass
class Followed:
    """One service as the tail knows it: its name and where its journal was read up to."""

    url: str
    name: str = ""
    epoch: str | None = None
    cursor: str | None = None  # None until its health answered: a tail starts at the end


class Tail:
    def __init__(self, console: Console, urls: list[str], kinds: set[str], user: str | None,
                 http: requests.Session | None = None, admin_token: str | None = None) -> None:
        self.console = console
        self.kinds = kinds
        self.user = user
        self.http = http or send_admin_token(requests.Session(), admin_token)
        self.services = [Followed(url) for url in urls]

    def poll(self) -> None:
        """Read every service once and print what arrived, in time order; a service that does not answer
        is tried again at the next poll."""
        records: list[dict[str, Any]] = []
        for service in self.services:
            try:
                records.extend(self._read(service))
            except (requests.RequestException, ValueError, KeyError):
                continue
        for record in sorted(records, key=time_order):
            if matches(record, self.kinds, self.user):
                colour = COLOURS.get(record["service"], "white")
                self.console.print(f"{record['ts']} [{colour}]{record['service']:>8}[/] {record['kind']:<20} "
                                   f"{describe(record)}", highlight=False)

    def _read(self, service: Followed) -> list[dict[str, Any]]:
        if service.cursor is None:
            health = self._get(service.url, "/_admin/health")
            service.name = health["service"]
            service.epoch, service.cursor = health["journal_epoch"], health["journal_cursor"]
        page = self._get(service.url, "/_admin/journal", since=service.cursor, limit=PAGE)
        if page["restarted"]:
            self.note(f"{service.name} restarted (journal epoch {service.epoch} -> {page['epoch']}); "
                      "following from its start")
        if page["truncated"]:
            self.note(f"{service.name}'s journal dropped records the tail had not shown yet; "
                      f"it now starts at seq {page['first_seq']}")
        service.epoch, service.cursor = page["epoch"], page["cursor"]
        return page["records"]

    def _get(self, url: str, path: str, **params: Any) -> dict[str, Any]:
        response = self.http.get(url + path, params=params, timeout=5)
        response.raise_for_status()
        return response.json()

    def note(self, text: str) -> None:
        self.console.print(f"[yellow]{escape(text)}[/]", highlight=False)


def follow(console: Console, urls: list[str], kinds: set[str], user: str | None, interval: float = 0.5,
           iterations: int | None = None, admin_token: str | None = None) -> None:
    tail = Tail(console, urls, kinds, user, admin_token=admin_token)
    for _ in ticks(interval, iterations):
        tail.poll()
