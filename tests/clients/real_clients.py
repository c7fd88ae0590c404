"""The real clients teams use, imported as they run on this Python: `braze-client` and `sendbird-platform-sdk`.

braze-client 2.3.3 pins tenacity<6, whose asyncio helper decorates with `asyncio.coroutine`, removed in Python
3.11, so `import braze.client` fails there. The client never uses that helper; `types.coroutine` stands in for
the import only and is taken away again.
"""

from __future__ import annotations

import asyncio
import types
from typing import Any


def _import_braze_client() -> types.ModuleType:
    added = not hasattr(asyncio, "coroutine")
    if added:
        asyncio.coroutine = types.coroutine
    try:
        from braze import client
    finally:
        if added:
            del asyncio.coroutine
    return client


braze_client = _import_braze_client()


def braze_send(client: Any, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    """An endpoint braze-client has no method for (`/campaigns/trigger/send`, `/canvas/trigger/send`), through
    the client's own request path: its auth header, its retries on 429/5XX and its reading of the answer."""
    client.request_url = client.api_url + path
    return client._BrazeClient__create_request(payload)
