"""The WebSocket protocol of `mocks.sendbird.realtime` without a server: read subscriptions of the feed store,
the credential and command parsers, and the handler driven through doubles of the RSGI protocol objects
(what a live socket cannot show cheaply: a client that stops reading, commands sharing a frame)."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from mocks.sendbird import realtime
from mocks.sendbird.realtime import Outbox, Realtime, credentials
from tests.sendbird.conftest import FEED


def test_a_whole_channel_read_is_told_to_the_readers_subscribers_and_a_partial_one_is_not(api, service, template):
    told: list[tuple[str, int]] = []
    others: list[Any] = []
    stop = service.feeds.subscribe_reads(lambda user, url, ts: told.append((user, url, ts)), "ada")
    service.feeds.subscribe_reads(lambda *args: others.append(args), "bob")
    service.feeds.subscribe_reads(lambda *args: 1 / 0, "ada")  # a broken device fails nothing
    api.send_ok(["ada"])
    first = api.messages("ada")[0]
    assert api.mark_as_read("ada", message_ids=[first["notification_id"]]).status_code == 200
    assert told == []
    assert api.mark_as_read("ada").status_code == 200
    assert told == [("ada", FEED, api.now_ms())]
    assert api.mark_as_read("ada").status_code == 200  # told again: nothing changed, but it is a read
    assert len(told) == 2 and others == []
    stop()
    assert api.mark_as_read("ada").status_code == 200
    assert len(told) == 2


@given(st.dictionaries(st.text(), st.one_of(st.text(), st.integers(), st.none())))
def test_credentials_read_back_what_the_sdk_encodes(creds):
    assert credentials(quote(json.dumps(creds), safe="")) == creds


@given(st.text())
def test_credentials_of_anything_else_are_empty_or_an_object(offered):
    assert isinstance(credentials(offered), dict)


class Message:
    def __init__(self, kind: int, data: Any) -> None:
        self.kind = kind
        self.data = data


class Transport:
    def __init__(self, reading: bool = True) -> None:
        self.incoming: asyncio.Queue = asyncio.Queue()
        self.frames: list[str] = []
        self.reading = reading

    async def receive(self) -> Message:
        return await self.incoming.get()

    async def send_str(self, text: str) -> None:
        if not self.reading and self.frames:  # the LOGI goes out, then the client stops reading
            await asyncio.Event().wait()
        self.frames.append(text)

    def lines(self) -> list[tuple[str, dict[str, Any]]]:
        return [(line[:4], json.loads(line[4:])) for frame in self.frames for line in frame.split("\n") if line]


class Proto:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.subprotocol: str | None = None
        self.closed_with: int | None = None

    async def accept(self, subprotocol: str | None = None) -> Transport:
        self.subprotocol = subprotocol
        return self.transport

    def close(self, status: int | None = None) -> None:
        self.closed_with = status
        self.transport.incoming.put_nowait(Message(0, None))


class Headers(dict):
    pass


class Scope:
    def __init__(self, query: str, offered: str | None) -> None:
        self.query_string = query
        self.headers = Headers({"sec-websocket-protocol": offered} if offered is not None else {})


async def until(predicate, rounds: int = 1000) -> None:
    for _ in range(rounds):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("never happened")


def test_commands_sharing_a_frame_are_each_answered_and_a_refresh_gets_a_new_key(service):
    async def scenario() -> Transport:
        transport = Transport()
        proto = Proto(transport)
        task = asyncio.ensure_future(Realtime(service)(Scope("p=JS&ai=LOCAL&user_id=ada", "%7B%7D"), proto))
        await until(lambda: transport.frames)
        transport.incoming.put_nowait(Message(2, 'PING{"req_id":"a"}\nNOPE{"req_id":"b"}\nLOGI{"req_id":"c"}\n'))
        await until(lambda: len(transport.lines()) == 4)
        proto.close(1001)
        await task
        return transport

    transport = asyncio.run(scenario())
    (logi, login), pong, eror, refresh = transport.lines()
    assert logi == "LOGI" and login["user_id"] == "ada" and service.sessions.user_for(login["key"]) == "ada"
    assert pong == ("PONG", {})
    assert eror[0] == "EROR" and eror[1]["req_id"] == "b"
    assert refresh[0] == "LOGI" and refresh[1]["req_id"] == "c" and refresh[1]["new_key"] != login["key"]
    assert service.sessions.user_for(refresh[1]["new_key"]) == "ada"


def test_a_client_that_stops_reading_is_closed_and_journalled_once_its_outbox_is_full(api, service, template,
                                                                                        runtime, monkeypatch):
    monkeypatch.setattr(realtime, "OUTBOX_LIMIT", 3)

    async def scenario() -> Proto:
        transport = Transport(reading=False)
        proto = Proto(transport)
        task = asyncio.ensure_future(Realtime(service)(Scope("ai=LOCAL&user_id=slow", None), proto))
        await until(lambda: transport.frames)
        for _ in range(6):  # the first is taken by the writer, which then blocks; three wait; two overflow
            api.send_ok(["slow"])
            await asyncio.sleep(0)
        await asyncio.wait_for(task, 5)
        return proto

    proto = asyncio.run(scenario())
    assert proto.closed_with == 1013 and proto.subprotocol is None
    dropped = [r.to_dict() for r in runtime.journal.read(kinds=["websocket.dropped"])[0]]
    assert [(r["user_id"], r["pending"]) for r in dropped] == [("slow", 3)]
    assert service.feeds._user_subscribers["slow"] == [] and service.feeds._read_subscribers["slow"] == []


def test_outbox_fills_from_other_threads_onto_its_loop():
    async def scenario() -> str:
        outbox = Outbox(asyncio.get_running_loop())
        await asyncio.get_running_loop().run_in_executor(None, outbox.put_threadsafe, "PONG{}\n")
        await asyncio.wait_for(outbox.ready.wait(), 5)
        return outbox.take()

    assert asyncio.run(scenario()) == "PONG{}\n"


def _first_logi(service, query: str, offered: str | None) -> tuple[dict[str, Any], int | None]:
    async def scenario() -> tuple[Transport, Proto]:
        transport = Transport()
        proto = Proto(transport)
        task = asyncio.ensure_future(Realtime(service)(Scope(query, offered), proto))
        await until(lambda: transport.frames)
        if proto.closed_with is None:
            proto.close(1001)
        await task
        return transport, proto

    transport, proto = asyncio.run(scenario())
    return transport.lines()[0][1], proto.closed_with


def test_a_connect_without_a_session_follows_the_login_routes_access_token_rules(service):
    """`sb.connect(U, token)` before `authenticateFeed`: the socket logs the user in, so an app that requires
    access tokens refuses a missing or wrong one on the socket as at the login route (400302)."""
    service.require_access_token = True
    token = service.users.create("ada", 0, issue_access_token=True).access_token
    refused, closed = _first_logi(service, "ai=LOCAL&user_id=ada", quote(json.dumps({"token": "wrong"})))
    assert refused["error"] is True and refused["code"] == 400302 and closed == realtime.POLICY
    refused, _ = _first_logi(service, "ai=LOCAL&user_id=nobody", "%7B%7D")
    assert refused["code"] == 400301
    accepted, _ = _first_logi(service, "ai=LOCAL&user_id=ada", quote(json.dumps({"token": token})))
    assert accepted["user_id"] == "ada" and service.sessions.user_for(accepted["key"]) == "ada"
