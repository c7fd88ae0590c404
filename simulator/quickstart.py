"""One notification end to end through a live fake Sendbird: the smallest thing that shows it works.

Starts `python -m mocks.sendbird` on a free loopback port, creates a template, sends a realtime
notification, reads it from the user's feed as a device would, marks it read, and prints the
notification log with its metrics. Exit code 0 only when every step answered as expected.
"""

from __future__ import annotations

import json

import requests
from rich.console import Console
from rich.table import Table

from harness.processes import free_port, start_service
from mocks.sendbird.app import DEFAULT_API_TOKEN

TEMPLATE = {
    "key": "welcome",
    "name": "Welcome",
    "ui_template": {"title": "Welcome, {first_name}!", "body": "Your {plan} plan is ready."},
    "variable_schema": [{"key": "first_name", "type": "string", "required": True},
                        {"key": "plan", "type": "string"}],
}


class StepFailed(RuntimeError):
    pass


def _check(response: requests.Response, what: str) -> dict:
    if response.status_code != 200:
        raise StepFailed(f"{what}: HTTP {response.status_code} {response.text}")
    return response.json()


def run(console: Console | None = None) -> int:
    console = console or Console()
    port = free_port()
    console.print(f"[bold]Starting the fake Sendbird[/] on http://127.0.0.1:{port} ...")
    # its WebSocket on a free port too: the demo uses none, and must not contend for a `bsim up`'s 7201
    service = start_service("sendbird", "mocks.sendbird", port, ("--ws-port", str(free_port())))
    http = requests.Session()
    http.headers["Api-Token"] = DEFAULT_API_TOKEN
    base = service.url
    try:
        template = _check(http.post(f"{base}/v1/templates", json=TEMPLATE), "create template")
        console.print(f"template [cyan]{template['key']}[/] v{template['version']} "
                      f"on channel {template['channel_url']}")
        sent = _check(http.post(f"{base}/v1/notifications", json={
            "template": {"key": "welcome", "variables": {"ada": {"first_name": "Ada", "plan": "Pro"}}},
            "mode": "realtime", "targets": ["ada"]}), "send")
        console.print(f"sent notification [cyan]{sent['notification_id']}[/] ({sent['mode']}, "
                      f"{sent['targets_count']} target)")
        channel = template["channel_url"]
        key = _check(requests.post(f"{base}/v3/sdk/users/ada/authentication", json={"expiring_session": True}),
                     "log in as ada's device")["key"]
        device = requests.Session()
        device.headers["Session-key"] = key  # a device sends its session key, never the Api-Token
        feed = _check(device.get(f"{base}/v3/group_channels/{channel}/messages",
                                 params={"message_ts": 2**53 - 1, "prev_limit": 20, "next_limit": 0}),
                      "list feed")["messages"]
        if len(feed) != 1:
            raise StepFailed(f"expected 1 message in ada's feed, found {len(feed)}")
        message = feed[0]
        data = json.loads(message["extended_message"]["sub_data"])
        console.print(f"ada's feed: {data['template_key']} {data['template_variables']} "
                      f"[{message['message_status']}]")
        unread = _check(device.get(f"{base}/v3/notifications/users/ada/unread_message_count"),
                        "unread count")["unread_feed_count"]
        _check(device.post(f"{base}/v3/sdk/notification_statistics", json={"log_entries": [{
            "stat_type": "noti:stats", "data": {"action": "viewed", "channel_url": channel,
                                                "message_id": message["notification_message_id"]}}]}),
               "impression")
        after = _check(device.put(f"{base}/v3/group_channels/{channel}/messages/mark_as_read",
                                  json={"message_ids": [message["notification_message_id"]]}), "mark as read")
        console.print(f"unread before reading: {unread}, after: {after['unread_message_count']}")
        log = _check(http.get(f"{base}/v1/notifications/{sent['notification_id']}"), "notification log")
        table = Table(title=f"notification {log['notification_id']}")
        for name in ("sent", "read", "impressions", "clicks"):
            table.add_column(name, justify="right")
        table.add_row(*(str(log["metrics"][k]) for k in ("sent", "read", "impressions", "clicks")))
        console.print(table)
        if log["metrics"]["sent"] != 1 or log["metrics"]["read"] != 1 or after["unread_message_count"] != 0:
            raise StepFailed(f"unexpected metrics {log['metrics']}")
        console.print("[bold green]OK[/]: one notification sent, delivered, read.")
        return 0
    except (StepFailed, requests.RequestException) as exc:
        console.print(f"[bold red]FAILED[/]: {exc}")
        return 1
    finally:
        service.stop()
