"""The fake Sendbird's WebSocket, as Sendbird's SDK speaks it (`sb.connect`), on its own port (`--ws-port`).

The SDK connects to `/?p=JS...&ai=<app id>[&user_id=U]` with its credential in `Sec-WebSocket-Protocol`
(URL-encoded JSON: `{"auth": session key}`, `{"token": t}` or `{}`) and aborts unless the 101 answer
echoes that value verbatim. Every frame is text holding commands `CODE{json}\\n`: the server's first is
`LOGI` (the login answer), then it answers `PING` with `PONG`, pushes `ADMM` for each notification
delivered to the user and `READ` for each whole-channel read, and answers what it does not support
with `EROR`. A pushed command never carries a `req_id`: the SDK takes one with a `req_id` for the
answer to a request of its own and drops it when none is pending.

Deliveries and reads are told on whatever thread made them (a fast route on the loop, a request
thread of the pool, a scheduler task), so each socket keeps an outbox that callbacks fill with
`call_soon_threadsafe` and one writer task drains on the socket's loop, several commands a frame.
An outbox that falls `OUTBOX_LIMIT` commands behind (a client that stopped reading) closes its socket,
which the SDK answers by reconnecting and catching up over REST.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote

from mocks.sendbird.errors import INVALID_VALUE, MISSING, SendbirdError
from mocks.sendbird.feeds import Message
from mocks.sendbird.sdk_shapes import login_answer, sdk_message
from mocks.sendbird.service import SendbirdService

log = logging.getLogger(__name__)

APP_NOT_FOUND = 400304  # as Sendbird answers an unknown application id
SESSION_KEY_EXPIRED = 400309  # an unknown or expired key: the SDK gives up without retrying
OUTBOX_LIMIT = 10_000
CLOSED, TEXT = 0, 2  # RSGI's websocket message kinds
NORMAL, POLICY, TRY_AGAIN_LATER = 1000, 1008, 1013  # close codes


def command(code: str, payload: dict[str, Any]) -> str:
    return f"{code}{json.dumps(payload, separators=(',', ':'))}\n"


def credentials(offered: str | None) -> dict[str, Any]:
    """The JSON object the SDK URL-encoded into its subprotocol; {} for anything else."""
    if not offered:
        return {}
    try:
        value = json.loads(unquote(offered))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class Outbox:
    """The commands waiting for one socket, filled from any thread, drained by its writer on the loop.
    `overflow()` is called once when it is full: the writer may be stuck in a send the client never reads."""

    def __init__(self, loop: asyncio.AbstractEventLoop, overflow: Callable[[int], None] = lambda pending: None) -> None:
        self.loop = loop
        self.lines: deque[str] = deque()
        self.ready = asyncio.Event()
        self.overflow = overflow
        self.overflowed = False

    def put(self, line: str) -> None:
        """On the loop."""
        if len(self.lines) < OUTBOX_LIMIT:
            self.lines.append(line)
            self.ready.set()
        elif not self.overflowed:
            self.overflowed = True
            self.overflow(len(self.lines))

    def put_threadsafe(self, line: str) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: the server stops, the socket with it
            self.loop.call_soon_threadsafe(self.put, line)

    def take(self) -> str:
        text = "".join(self.lines)
        self.lines.clear()
        self.ready.clear()
        return text


class Realtime:
    """The gateway's `ws_handler` for the fake Sendbird (`Gateway(app, ws_handler=Realtime(service))`)."""

    def __init__(self, service: SendbirdService) -> None:
        self.service = service

    async def __call__(self, scope: Any, proto: Any) -> None:
        offered = scope.headers.get("sec-websocket-protocol")
        try:  # the echo: without it the SDK's client aborts the handshake
            transport = await (proto.accept(subprotocol=offered) if offered is not None else proto.accept())
        except Exception as exc:  # the client left during the handshake
            log.info("websocket not accepted: %r", exc)
            return
        user_id, key, refusal = self._login(scope, credentials(offered))
        if refusal is not None:
            await _send_quietly(transport, command("LOGI", {"error": True, **refusal}))
            proto.close(POLICY)
            return
        await self._serve(proto, transport, user_id, key)

    def _login(self, scope: Any, creds: dict[str, Any]) -> tuple[str, str, dict[str, Any] | None]:
        """(user, session key, None) or ("", "", the LOGI error). A key names its user; without one the SDK
        names the user in the URL (and its access token as `{"token"}`) and logs in as at the login route, the
        same access-token and deactivation rules included."""
        query = parse_qs(scope.query_string)
        if query.get("ai", [""])[0] != self.service.app_id:
            return "", "", {"code": APP_NOT_FOUND, "message": "Application not found."}
        key = creds.get("auth") or scope.headers.get("sendbird-ws-auth")  # native SDKs send a header
        if key:
            user_id = self.service.sessions.user_for(str(key))
            if user_id is None:
                return "", "", {"code": SESSION_KEY_EXPIRED, "message": "Session key has expired."}
            return user_id, str(key), None
        user_id = query.get("user_id", [""])[0]
        if not user_id:
            return "", "", {"code": MISSING, "message": '"user_id" is required without a session key.'}
        token = creds.get("token")
        try:
            return user_id, self.service.login(user_id, str(token) if token else None), None
        except SendbirdError as exc:
            return "", "", {"code": exc.code, "message": exc.message}

    async def _serve(self, proto: Any, transport: Any, user_id: str, key: str) -> None:
        def overflow(pending: int) -> None:
            self.service.runtime.journal.record("sendbird", "websocket.dropped", None, user_id=user_id,
                                                pending=pending)
            proto.close(TRY_AGAIN_LATER)

        outbox = Outbox(asyncio.get_running_loop(), overflow)
        feeds = self.service.feeds

        def delivered(message: Message) -> None:
            outbox.put_threadsafe(command("ADMM", sdk_message(message)))

        def read(reader: str, channel_url: str, ts: int) -> None:
            outbox.put_threadsafe(command("READ", {"channel_url": channel_url, "channel_type": "feed",
                                                   "user": {"user_id": reader, "nickname": "", "profile_url": ""},
                                                   "ts": ts}))

        # Subscribed before the LOGI goes out, so nothing delivered meanwhile is lost; sent only after it.
        unsubscribe = (feeds.subscribe(delivered, user_id), feeds.subscribe_reads(read, user_id))
        writer = None
        try:
            if await _send_quietly(transport, command("LOGI", login_answer(self.service, user_id, key))):
                writer = asyncio.ensure_future(self._write(proto, transport, outbox))
                await self._read(transport, outbox, user_id)
        finally:
            for stop in unsubscribe:
                stop()
            if writer is not None:
                writer.cancel()

    async def _read(self, transport: Any, outbox: Outbox, user_id: str) -> None:
        while True:
            try:
                message = await transport.receive()
            except Exception:  # closed under us (RSGI raises on a closed transport)
                return
            if int(message.kind) == CLOSED:
                return
            if int(message.kind) != TEXT:
                outbox.put(command("EROR", {"code": INVALID_VALUE, "message": "Frames are text.", "req_id": ""}))
                continue
            for line in message.data.split("\n"):
                if line:
                    self._answer(line, outbox, user_id)

    def _answer(self, line: str, outbox: Outbox, user_id: str) -> None:
        code = line[:4]
        try:
            payload = json.loads(line[4:])
        except ValueError:
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        req_id = payload.get("req_id", "")
        if code == "PING":  # the SDK routes PONG by its code: no req_id needed
            outbox.put(command("PONG", {}))
        elif code == "LOGI":  # a session refresh while connected (after an EXPR)
            outbox.put(command("LOGI", {"new_key": self.service.sessions.issue(user_id), "req_id": req_id}))
        else:
            outbox.put(command("EROR", {"code": INVALID_VALUE, "message": f'Command "{code}" is not supported.',
                                        "req_id": req_id}))

    async def _write(self, proto: Any, transport: Any, outbox: Outbox) -> None:
        while True:
            await outbox.ready.wait()
            if not await _send_quietly(transport, outbox.take()):
                proto.close(NORMAL)
                return


async def _send_quietly(transport: Any, text: str) -> bool:
    try:
        await transport.send_str(text)
    except Exception as exc:  # the client went away
        log.info("websocket send failed: %r", exc)
        return False
    return True
