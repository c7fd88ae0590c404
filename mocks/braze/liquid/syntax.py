"""Where a Braze template's syntax error is, in the source as its author wrote it.

Braze's composer refuses to save a message whose Liquid does not parse, and says where. The renderer parses a
rewritten source (`${name}` references made plain Liquid, `mocks.braze.liquid.render`), python-liquid's tokens
point into that, and some of its errors point at the end of an expression, which is nowhere. `SourceMap`
remembers where each piece of the rewritten text came from; `locate` gives a `BrazeLiquidSyntaxError` the line
of the source as written and a reason that names the tag or output that failed.
"""

from __future__ import annotations

import bisect
import re
from typing import TYPE_CHECKING

from liquid.token import TOKEN_OUTPUT, TOKEN_TAG

if TYPE_CHECKING:
    from liquid.token import Token

    from mocks.braze.liquid.base import BrazeLiquidSyntaxError

_SNIPPET = 60  # characters of an output quoted in a reason
# python-liquid's block tags say one of these when the template ends before their end tag
_UNCLOSED = re.compile(r"expected tag end(\w+), found end of expression")
_NEVER_CLOSED = re.compile(r"(\w+) tag was never closed")


class SourceMap:
    """The rewritten text built piece by piece, each piece noting the part of the original it stands for."""

    def __init__(self, original: str) -> None:
        self.original = original
        self.text = ""
        self._starts: list[int] = []
        self._pieces: list[tuple[int, int, int, bool]] = []  # rewritten start, original start and end, unchanged
        self._parts: list[str] = []
        self._length = 0

    def add(self, start: int, end: int, rewritten: str) -> None:
        """The original's `[start, end)` is written as `rewritten`."""
        if not rewritten:
            return
        self._starts.append(self._length)
        self._pieces.append((self._length, start, end, rewritten == self.original[start:end]))
        self._parts.append(rewritten)
        self._length += len(rewritten)

    def finish(self) -> str:
        self.text = "".join(self._parts)
        self._parts = []
        return self.text

    def _piece(self, index: int) -> tuple[int, int, int, bool]:
        return self._pieces[max(0, bisect.bisect_right(self._starts, index) - 1)]

    def line(self, index: int) -> int:
        """The 1-based line of the original that the rewritten text's `index` falls on. Inside a rewritten tag
        or output the line is counted as written there, up to the lines the original markup spans."""
        if not self._pieces:
            return 1
        at, start, end, _ = self._piece(index)
        inside = min(self.text.count("\n", at, index), self.original.count("\n", start, end))
        return self.original.count("\n", 0, start) + inside + 1

    def snippet(self, index: int, length: int) -> str:
        """The original text of `length` rewritten characters at `index` (a rewritten output: all of it)."""
        if not self._pieces:
            return self.original[index:index + length]
        at, start, end, unchanged = self._piece(index)
        if not unchanged:
            return self.original[start:end]
        return self.original[start + index - at:start + index - at + length]


def _in(token: Token | None, source: SourceMap) -> bool:
    return token is not None and token.start_index >= 0 and token.source is source.text


def _quoted(text: str) -> str:
    first = text.split("\n", 1)[0]
    if len(first) > _SNIPPET:
        first = first[:_SNIPPET] + "…"
    elif first != text:
        first += "…"
    return f"'{first}'"


def locate(error: BrazeLiquidSyntaxError, source: SourceMap) -> None:
    """Set `error.line` (None when nothing points into the source) and `error.reason`."""
    located = _in(error.token, source)
    construct = error.construct if _in(error.construct, source) else None
    if located and error.token.kind == TOKEN_TAG:  # a tag inside the construct: `elsif`, `when`
        construct = error.token
    where = error.token if located else construct
    error.line = source.line(where.start_index) if where is not None else None
    if error.detail is None or construct is None:
        if error.detail is not None:
            error.reason = error.detail
        return
    if construct.kind == TOKEN_TAG:
        name = construct.value
        unclosed = _UNCLOSED.fullmatch(error.detail) if not located else None
        if unclosed is not None or _NEVER_CLOSED.fullmatch(error.detail) is not None:
            end = unclosed.group(1) if unclosed is not None else name
            error.reason = f"tag '{name}' was never closed (expected {{% end{end} %}})"
        else:
            error.reason = f"tag '{name}': {error.detail}"
        return
    # an output, or markup the lexer found unterminated (its token holds the rest of the text)
    what = "output" if construct.kind == TOKEN_OUTPUT or construct.value.startswith("{{") else "tag"
    error.reason = f"{what} {_quoted(source.snippet(construct.start_index, len(construct.value)))}: {error.detail}"
