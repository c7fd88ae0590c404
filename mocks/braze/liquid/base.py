"""The errors and per-render state of Braze Liquid, kept apart from `mocks.braze.liquid.render` so that the
filters and Connected Content can raise the errors and read the render's clock without importing the
renderer that imports them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from liquid.exceptions import LiquidError, LiquidSyntaxError

if TYPE_CHECKING:
    import requests
    from liquid.token import Token

DEFAULT_ABORT_REASON = "{% abort_message %} called"
# A reason goes into the Message Activity Log, the journal and Currents for every user: a template's own text
# (an abort reason, a name in an error) is cut to this many characters there.
MAX_REASON = 1000
# Characters one field (URL, a header, the body) renders to, captures included: a resource limit of the render
# (mocks.braze.liquid.render) that the filters building long text check too.
OUTPUT_STREAM_LIMIT = 1024 * 1024


def clipped(text: str) -> str:
    return text if len(text) <= MAX_REASON else text[:MAX_REASON - 1] + "…"


class BrazeLiquidError(LiquidError):
    """A template Braze would not send: bad syntax, an unsupported tag or filter, a failed render."""

    def __init__(self, message: str, *, token: Token | None = None) -> None:
        super().__init__(clipped(message), token=token)

    def __str__(self) -> str:  # python-liquid adds the template's line, which may be long
        return clipped(super().__str__())


class BrazeLiquidSyntaxError(BrazeLiquidError, LiquidSyntaxError):
    """Raised while parsing, so python-liquid passes it through as a syntax error instead of wrapping it.

    A template is refused when it is saved, so the error says where: `construct` is the tag or output being
    parsed (python-liquid's own errors may point at the end of an expression, which is nowhere in the source),
    and `BrazeTemplate` sets `line` (1-based, in the source as written) and `reason` (what failed, naming the
    construct). `detail` is python-liquid's wording of an error Braze's own messages do not cover."""

    def __init__(self, message: str, *, token: Token | None = None, construct: Token | None = None,
                 detail: str | None = None) -> None:
        super().__init__(message, token=token)
        self.construct = construct
        self.detail = detail
        self.line: int | None = None
        self.reason = str(self.message)


class AbortMessage(Exception):
    """`{% abort_message %}` ran: no message for this user, and `reason` goes to the message activity log."""

    def __init__(self, reason: str = DEFAULT_ABORT_REASON) -> None:
        reason = clipped(reason)
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class RenderState:
    """What one render may use beyond its variables: HTTP for Connected Content, its cache, the clock."""

    session: requests.Session | None = None
    cache: MutableMapping[str, Any] | None = None
    clock: Callable[[], datetime] | None = None
    credentials: Mapping[str, tuple[str, str]] | None = None
    calls: int = 0  # Connected Content requests made so far (cache hits are not calls)

    def now(self) -> datetime:
        """The current time in UTC, from the harness clock when one was given."""
        value = self.clock() if self.clock is not None else datetime.now(UTC)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
