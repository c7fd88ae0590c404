"""What the fake Braze's and the fake Sendbird's helpers share: the world they are in, the router that brings them
the team's calls (None for a live fake, reached over sockets), and the hosts those calls name."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import responses

from mocks.inprocess.routing import Call, Router
from mocks.inprocess.world import Driver, MockError


class Fake:
    service_name = ""  # the journal's name for the service

    def __init__(self, world: Driver, router: Router | None, hosts: set[str]) -> None:
        self.world = world
        self._router = router
        self._hosts = hosts

    def _in_process(self, live_hint: str) -> Router:
        if self._router is None:
            raise MockError(live_hint)
        return self._router

    def serve(self, host: str, app: Any) -> None:
        """The team's own WSGI app at `host` (in-process only): the fakes' webhooks and the team's calls reach it."""
        self._in_process("a live fake calls real URLs: serve your app on a port and point the webhook at it") \
            .serve(host, app)

    @property
    def responses(self) -> responses.RequestsMock:
        """The `responses` mock routing the team's calls (in-process only): add stubs for other hosts to it."""
        return self._in_process("a live fake is reached over sockets: `responses` is not in the way").responses

    @property
    def calls(self) -> list[Call]:
        """The requests the team's code made to this fake, oldest first, with its answers (in-process only)."""
        router = self._in_process("a live fake does not see the team's calls; read what they did instead")
        return [call for call in router.calls if (urlsplit(call.request.url or "").hostname or "").lower()
                in self._hosts]

    def journal(self, kind: str | None = None, **attrs: Any) -> list[dict[str, Any]]:
        """This fake's journal records (docs/journal.md), filtered by kind and attribute values."""
        return self.world.journal(kind, service=self.service_name, **attrs)
