"""Liquid's text filters the way Shopify's Ruby Liquid 5 runs them, on Ruby's `String` methods.

python-liquid writes them with Python's `str`: `split` keeps trailing empty strings and splits `" "` on
Unicode spaces, `truncate` counts differently, `escape` writes `'` as `&#x27;`, `escape_once` decodes
every entity, `strip_html` parses HTML instead of cutting `<...>`, `replace_last` misses a match at
the start, and `replace` ignores the `\\0` and `\\\\` that Ruby's `gsub` expands in a replacement. A Braze
template prints what Ruby prints, so these replace python-liquid's. Sources: `lib/liquid/standardfilters.rb`
at v5.4.0 (Shopify/liquid) and Ruby's documentation of the `String` method each filter calls.
"""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse
from collections.abc import Callable
from typing import Any

from liquid.exceptions import FilterArgumentError, OutputStreamLimitError

from mocks.braze.liquid.base import OUTPUT_STREAM_LIMIT
from mocks.braze.liquid.filters import to_s
from mocks.braze.liquid.math_filters import to_integer

# Ruby's whitespace (String#strip, awk-style String#split): ASCII only, so a no-break space is text.
_RUBY_SPACE = re.compile(r"[ \t\n\v\f\r]+")
_STRIPPED = " \t\n\v\f\r\0"
_HTML_ESCAPE = {"&": "&amp;", ">": "&gt;", "<": "&lt;", '"': "&quot;", "'": "&#39;"}
_HTML_ESCAPE_ONCE = re.compile(r"[\"><']|&(?!([a-zA-Z]+|(#\d+));)")  # standardfilters.rb HTML_ESCAPE_ONCE_REGEXP
_STRIP_HTML_BLOCKS = re.compile(r"<script.*?</script>|<!--.*?-->|<style.*?</style>", re.DOTALL)
_STRIP_HTML_TAGS = re.compile(r"<.*?>", re.DOTALL)
# What Ruby's sub/gsub expand in a replacement text: \0 and \& the match, \1-\9 a group (a text pattern has
# none), \` before the match, \' after it, \\ a backslash, \k<name> a named group (none either).
_BACKSLASH = re.compile(r"\\(\\|&|`|'|\d|k<[^>]*>)")


def split(value: Any, pattern: Any = None) -> list[str]:
    """`String#split`: `" "` splits on runs of whitespace ignoring leading whitespace, `""` gives the
    characters, and trailing empty strings are dropped (`'a,b,,c,,'` split on `,` has 4 items)."""
    text, separator = to_s(value), to_s(pattern)
    if separator == " ":
        return _awk_fields(text)
    parts = list(text) if separator == "" else text.split(separator)
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def _awk_fields(text: str) -> list[str]:
    return [field for field in _RUBY_SPACE.split(text) if field]


def truncate(value: Any, length: Any = 50, ellipsis: Any = "...") -> Any:
    """standardfilters.rb `truncate`: at most `length` characters, the ellipsis included (it may be all)."""
    if value is None:
        return None
    text, end = to_s(value), to_s(ellipsis)
    limit = to_integer(length)
    return text[:max(limit - len(end), 0)] + end if len(text) > limit else text


def truncatewords(value: Any, words: Any = 15, ellipsis: Any = "...") -> Any:
    """standardfilters.rb `truncatewords`: the input unchanged when it has no more words than asked (its
    spacing kept), else the first words joined by one space, then the ellipsis; at least one word."""
    if value is None:
        return None
    text = to_s(value)
    count = max(to_integer(words), 1)
    fields = _awk_fields(text)
    if len(fields) <= count:
        return text
    return " ".join(fields[:count]) + to_s(ellipsis)


def slice_filter(value: Any, offset: Any, length: Any = None) -> Any:
    """`String#slice(start, length)` / `Array#slice`: a negative start counts from the end, and a start
    outside the text or a negative length gives nothing."""
    start = to_integer(offset)
    count = to_integer(length) if length is not None else 1
    items: list[Any] | str = value if isinstance(value, list) else to_s(value)
    if start < 0:
        start += len(items)
    if start < 0 or start > len(items) or count < 0:
        return [] if isinstance(items, list) else ""
    return items[start:start + count]


def strip(value: Any) -> str:
    return to_s(value).strip(_STRIPPED)


def escape(value: Any) -> Any:
    """`CGI.escapeHTML`: `'` is `&#39;`, `"` is `&quot;`."""
    return None if value is None else _escape_html(to_s(value))


def _escape_html(text: str) -> str:
    return re.sub(r"[&<>\"']", lambda match: _HTML_ESCAPE[match.group()], text)


def escape_once(value: Any) -> str:
    """Escapes what is not already an entity: `&amp;`, `&eacute;` and `&#39;` stay, `&#x41;` does not."""
    return _HTML_ESCAPE_ONCE.sub(lambda match: _HTML_ESCAPE[match.group()[0]], to_s(value))


def strip_html(value: Any) -> str:
    """Cuts script, style and comment blocks, then anything between `<` and `>`: `a < b and c > d` is `a  d`."""
    return _STRIP_HTML_TAGS.sub("", _STRIP_HTML_BLOCKS.sub("", to_s(value)))


def url_decode(value: Any) -> Any:
    """`CGI.unescape`; bytes that are not UTF-8 are Liquid's "invalid byte sequence in UTF-8"."""
    if value is None:
        return None
    try:
        return urllib.parse.unquote_plus(to_s(value), errors="strict")
    except UnicodeDecodeError:
        raise FilterArgumentError("invalid byte sequence in UTF-8", token=None) from None


def _decode64(name: str, text: str, altchars: bytes | None) -> str:
    try:
        return base64.b64decode(text.encode("ascii"), altchars=altchars, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError):
        raise FilterArgumentError(f"invalid base64 provided to {name}", token=None) from None


def base64_decode(value: Any) -> str:
    """`Base64.strict_decode64`: a newline, a missing `=` or a stray character is refused."""
    return _decode64("base64_decode", to_s(value), None)


def base64_url_safe_decode(value: Any) -> str:
    """`Base64.urlsafe_decode64`: the `=` padding may be left out."""
    text = to_s(value)
    if "=" not in text and len(text) % 4:
        text += "=" * (4 - len(text) % 4)
    return _decode64("base64_url_safe_decode", text, b"-_")


def _expand(replacement: str, text: str, start: int, end: int) -> str:
    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code in ("0", "&"):
            return text[start:end]
        if code == "`":
            return text[:start]
        if code == "'":
            return text[end:]
        return "\\" if code == "\\" else ""

    return _BACKSLASH.sub(one, replacement)


def _substitute(text: str, old: str, new: str, limit: int | None) -> str:
    """Ruby's `gsub` (`limit` None) or `sub` (1) with a text pattern; a result over the output limit is
    refused while it is built (`replace: "", x` multiplies a text's length)."""
    count = len(text) + 1 if not old else text.count(old)
    count = count if limit is None else min(count, limit)
    if "\\" not in new:
        if len(text) + count * (len(new) - len(old)) > OUTPUT_STREAM_LIMIT:
            raise OutputStreamLimitError("output stream limit reached", token=None)
        return text.replace(old, new, -1 if limit is None else limit)
    pieces: list[str] = []
    size = pos = done = 0
    while done < count:
        at = text.find(old, pos) if old else pos
        piece = text[pos:at] + _expand(new, text, at, at + len(old)) + (text[at:at + 1] if not old else "")
        size += len(piece)
        if size > OUTPUT_STREAM_LIMIT:
            raise OutputStreamLimitError("output stream limit reached", token=None)
        pieces.append(piece)
        pos = at + (len(old) if old else 1)
        done += 1
    pieces.append(text[pos:])
    return "".join(pieces)


def replace(value: Any, old: Any, new: Any = "") -> str:
    return _substitute(to_s(value), to_s(old), to_s(new), None)


def replace_first(value: Any, old: Any, new: Any = "") -> str:
    return _substitute(to_s(value), to_s(old), to_s(new), 1)


def replace_last(value: Any, old: Any, new: Any = "") -> str:
    """`rindex` and an assignment: a match at the start counts, `""` matches at the end, no `\\0` expansion."""
    text, target = to_s(value), to_s(old)
    at = text.rfind(target)
    return text if at < 0 else text[:at] + to_s(new) + text[at + len(target):]


STRING_FILTERS: dict[str, Callable[..., Any]] = {
    "split": split, "truncate": truncate, "truncatewords": truncatewords, "slice": slice_filter, "strip": strip,
    "escape": escape, "escape_once": escape_once, "strip_html": strip_html, "url_decode": url_decode,
    "base64_decode": base64_decode, "base64_url_safe_decode": base64_url_safe_decode,
    "replace": replace, "replace_first": replace_first, "replace_last": replace_last,
    "remove": lambda value, old: replace(value, old, ""), "remove_first": lambda value, old: replace_first(value, old),
    "remove_last": lambda value, old: replace_last(value, old),
}
