"""Braze's dialect of Liquid, for the fake's webhook URLs, headers and bodies.

Braze runs Shopify's Liquid 5 with its own additions: `${name}` attribute references (names may hold
spaces), `{{ }}` written inside tags, `== blank` true for a missing attribute, the `abort_message` and
`connected_content` tags, and a set of extra filters. Anything Braze would reject must fail here too,
so a template that works against the harness works in Braze. python-liquid does the parsing and
evaluation; this module rewrites the Braze syntax into plain Liquid first, restricts the tags and
filters to Braze's, and prints values the Ruby way.

A campaign renders one template for every user, so `compile_template` keeps parsed templates in an
LRU keyed by source and `BrazeTemplate.render` does only the per-user work.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from datetime import datetime
from functools import lru_cache
from io import StringIO
from typing import TYPE_CHECKING, Any, TextIO

from liquid import BoundTemplate, Environment, RenderContext
from liquid.ast import BlockNode, Node
from liquid.builtin.expressions import FilteredExpression
from liquid.builtin.expressions._tokenize import IDENTSTRING_PATTERN
from liquid.builtin.expressions.logical import EqExpression, NeExpression, is_truthy
from liquid.builtin.expressions.primitive import Blank, RangeLiteral
from liquid.builtin.illegal import Illegal
from liquid.builtin.output import Output, OutputNode
from liquid.builtin.tags.echo_tag import EchoTag
from liquid.exceptions import (
    ContextDepthError,
    LiquidError,
    LocalNamespaceLimitError,
    LoopIterationLimitError,
    OutputStreamLimitError,
)
from liquid.output import LimitedStringIO
from liquid.tag import Tag
from liquid.token import TOKEN_DOC, TOKEN_EXPRESSION, TOKEN_TAG
from liquid.utils import ReadOnlyChainMap

from mocks.braze.liquid import filters as liquid_filters
from mocks.braze.liquid.array_filters import ARRAY_FILTERS
from mocks.braze.liquid.base import (
    DEFAULT_ABORT_REASON,
    OUTPUT_STREAM_LIMIT,
    AbortMessage,
    BrazeLiquidError,
    BrazeLiquidSyntaxError,
    RenderState,
)
from mocks.braze.liquid.connected import DEFAULT_VARIABLE, ConnectedContentCache, fetch, parse_json, parse_markup
from mocks.braze.liquid.filters import to_output
from mocks.braze.liquid.string_filters import STRING_FILTERS
from mocks.braze.liquid.syntax import SourceMap, locate

if TYPE_CHECKING:
    import requests
    from liquid.expression import Expression
    from liquid.stream import TokenStream
    from liquid.token import Token

__all__ = ["AbortMessage", "BrazeLiquidError", "BrazeLiquidSyntaxError", "BrazeTemplate", "ConnectedContentCache",
           "compile_template", "render"]

# Shopify tags Braze does not run: no snippet store to `include` or `render` from, and `doc` is newer.
UNSUPPORTED_TAGS = frozenset({"include", "render", "doc"})
_INNER_TAGS = frozenset({"else", "elsif", "when", "break", "continue", "endif", "endunless", "endcase", "endfor",
                         "endtablerow", "endcapture", "endcomment", "endraw", "endifchanged"})
_CACHE_SIZE = 2048

# Resource limits of one render (harness contracts, docs/braze-fake.md "Liquid limits"): far above what a real
# message uses (a loop over a 500-item array, a few KB of output), and low enough that a template that loops
# or grows without end fails in well under a second instead of holding a request or a campaign.
LOOP_ITERATION_LIMIT = 100_000  # loop iterations in all, nested ones included, and the longest range literal
RENDER_STEP_LIMIT = 250_000  # tags and outputs rendered in all: a loop's body counts once per iteration
LOCAL_NAMESPACE_LIMIT = 2 * 1024 * 1024  # bytes (by sys.getsizeof) held by assign, capture and :save variables
CONTEXT_DEPTH_LIMIT = 30  # nested scopes (python-liquid's default)


class RenderStepLimitError(LoopIterationLimitError):
    """More tags and outputs rendered than `RENDER_STEP_LIMIT`: a loop whose body does much work."""


_RESOURCE_LIMITS = {
    RenderStepLimitError: f"more than {RENDER_STEP_LIMIT} tags and outputs rendered",
    LoopIterationLimitError: f"more than {LOOP_ITERATION_LIMIT} loop iterations",
    OutputStreamLimitError: f"output longer than {OUTPUT_STREAM_LIMIT} characters",
    LocalNamespaceLimitError: f"variables larger than {LOCAL_NAMESPACE_LIMIT} bytes",
    ContextDepthError: f"more than {CONTEXT_DEPTH_LIMIT} nested scopes",
}
_NAMES = "__braze_names__"

# The preprocessor finds Liquid markup the way python-liquid's lexer will, except that a `${...}` reference
# is one unit (it may hold `}` or `%`) and an output may hold one nested `{{ }}`, as Braze allows.
_START = re.compile(r"\{[{%]")
_RAW = re.compile(r"\{%-?\s*raw\s*-?%\}.*?\{%-?\s*endraw\s*-?%\}", re.DOTALL)
_TAG = re.compile(r"\{%((?:\$\{[^}]*\}|[^%$]|%(?!\})|\$(?!\{))*)%\}", re.DOTALL)
_OUTPUT = re.compile(r"\{\{((?:\$\{[^}]*\}|\{\{(?:\$\{[^}]*\}|[^}$]|\}(?!\})|\$(?!\{))*\}\}"
                     r"|[^{}$]|\{(?!\{)|\}(?!\})|\$(?!\{))*)\}\}", re.DOTALL)
_TAG_NAME = re.compile(r"-?\s*(\w+)")
_DOLLAR = re.compile(r"(\.)?\$\{([^}]*)\}")
_INNER_OUTPUT = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.DOTALL)
_IDENTIFIER = re.compile(r"[^\W\d]\w*")
_IDENT_STRING = re.compile(IDENTSTRING_PATTERN, re.DOTALL)
_KEYWORDS = frozenset({"true", "false", "nil", "null", "empty", "blank", "and", "or", "not", "contains", "in",
                       "with", "for", "as", "if", "else", "offset", "limit", "reversed", "cols", "continue",
                       "required", "by"})


class _Rewriter:
    """Braze syntax to plain Liquid: `x.${a b}` to `x["a b"]`, `${first_name}` to `first_name`, and
    `{% if {{x}} %}` to `{% if x %}`. A name no quoting can carry goes into a lookup table instead."""

    def __init__(self, source: str) -> None:
        self.names: list[str] = []
        self.map = SourceMap(source)

    def rewrite(self) -> str:
        source, out = self.map.original, self.map.add
        pos = 0
        while (start := _START.search(source, pos)) is not None:
            at = start.start()
            out(pos, at, source[pos:at])
            if source[at + 1] == "%":
                match = _RAW.match(source, at)
                if match is not None:
                    out(at, match.end(), match.group())
                    pos = match.end()
                    continue
                match = _TAG.match(source, at)
                if match is not None:
                    out(at, match.end(), "{%" + self._tag(match.group(1)) + "%}")
                    pos = match.end()
                    continue
            else:
                match = _OUTPUT.match(source, at)
                if match is not None:
                    out(at, match.end(), "{{" + self._strip_inner(self._dollars(match.group(1))) + "}}")
                    pos = match.end()
                    continue
            out(at, at + 2, source[at:at + 2])
            pos = at + 2
        out(pos, len(source), source[pos:])
        return self.map.finish()

    def _tag(self, markup: str) -> str:
        name = _TAG_NAME.match(markup)
        markup = self._dollars(markup)
        # connected_content's markup is itself a template, rendered before the call: its {{ }} stay.
        return markup if name is not None and name.group(1) == "connected_content" else self._strip_inner(markup)

    @staticmethod
    def _strip_inner(markup: str) -> str:
        return _INNER_OUTPUT.sub(lambda m: m.group(1), markup)

    def _dollars(self, markup: str) -> str:
        return _DOLLAR.sub(self._reference, markup)

    def _reference(self, match: re.Match[str]) -> str:
        dotted, name = match.groups()
        if not dotted and _IDENTIFIER.fullmatch(name) and name not in _KEYWORDS:
            return name
        for quote in ('"', "'"):
            candidate = f"[{quote}{name}{quote}]"
            found = _IDENT_STRING.match(candidate)
            if found is not None and found.end() == len(candidate) and found.group("identquoted") == name:
                return candidate
        self.names.append(name)
        return f"[{_NAMES}[{len(self.names) - 1}]]"


class _BlankEq(EqExpression):
    """`x == blank` the Ruby on Rails way: nil, false, and empty or all-space text are all blank."""

    __slots__ = ()

    def evaluate(self, context: RenderContext) -> object:
        return _blank_eq(self.left.evaluate(context), self.right.evaluate(context))


class _BlankNe(NeExpression):
    __slots__ = ()

    def evaluate(self, context: RenderContext) -> object:
        return not _blank_eq(self.left.evaluate(context), self.right.evaluate(context))


def _blank_eq(left: object, right: object) -> bool:
    other = right if isinstance(left, Blank) else left
    if isinstance(other, Blank):
        return True
    if isinstance(other, str):
        return not other or other.isspace()
    if isinstance(other, list | tuple | Mapping):  # includes Undefined, an empty mapping
        return not other
    return not is_truthy(other)


_BLANK_AWARE: dict[type, type] = {EqExpression: _BlankEq, NeExpression: _BlankNe}


class _Reserved(Mapping[str, object]):
    """Braze's reserved `now`, read from the render's clock."""

    __slots__ = ("_state",)

    def __init__(self, state: RenderState) -> None:
        self._state = state

    def __getitem__(self, key: str) -> object:
        if key == "now":
            return self._state.now()
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(("now",))

    def __len__(self) -> int:
        return 1


class _BrazeContext(RenderContext):
    __slots__ = ("_disabled", "braze", "iterations", "steps")

    def __init__(self, template: BoundTemplate, variables: Mapping[str, object], state: RenderState) -> None:
        self.steps = 0
        super().__init__(template, globals=variables)
        self.braze = state
        self.iterations = 0
        self.scope = ReadOnlyChainMap(self.locals, self.globals, _Reserved(state), self.counters)

    @property
    def disabled_tags(self) -> list[str]:
        """python-liquid reads this once before it renders any node (`Node.render`), so it is where a render's
        steps are counted: a loop of 100,000 iterations over a body of twenty tags took eight seconds, though
        each limit python-liquid has allowed it."""
        self.steps += 1
        if self.steps > RENDER_STEP_LIMIT:
            raise RenderStepLimitError("render step limit reached", token=None)
        return self._disabled

    @disabled_tags.setter
    def disabled_tags(self, value: list[str]) -> None:
        self._disabled = value

    def get_buffer(self, buf: TextIO | None = None) -> StringIO:
        """A capture's buffer, within what the output limit leaves (python-liquid's own would turn `\r` into
        `\n`, as a text file does)."""
        carry = buf.size if isinstance(buf, LimitedStringIO) else 0
        return _output_buffer(OUTPUT_STREAM_LIMIT - carry)

    def loop(self, namespace: Mapping[str, object], forloop: Any) -> Any:
        """python-liquid limits the product of the loops open at once; Braze's limit is on the whole render,
        so a thousand loops one after another count too."""
        self.iterations += forloop.length
        if self.iterations > LOOP_ITERATION_LIMIT:
            raise LoopIterationLimitError("loop iteration limit reached", token=None)
        return super().loop(namespace, forloop)


def _output_buffer(limit: int) -> LimitedStringIO:
    return LimitedStringIO(limit=limit, newline="\n")


class _BoundedRange(RangeLiteral):
    """`(1..n)` longer than any loop may run is refused before it is made: `reversed` and filters such as
    `join` would otherwise walk or copy all of it."""

    __slots__ = ()

    def _make_range(self, start: Any, stop: Any) -> range:
        made = super()._make_range(start, stop)
        try:
            too_long = len(made) > LOOP_ITERATION_LIMIT
        except OverflowError:  # longer than a machine word
            too_long = True
        if too_long:
            raise LoopIterationLimitError("loop iteration limit reached", token=None)
        return made


class _OutputNode(OutputNode):
    __slots__ = ()

    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:
        return buffer.write(to_output(self.expression.evaluate(context)))


class _Output(Output):
    node_class = _OutputNode


class _Echo(EchoTag):
    node_class = _OutputNode


class _Illegal(Illegal):
    """An unregistered tag: Braze refuses it by name."""

    def parse(self, stream: TokenStream) -> Node:
        token = stream.current
        name = "doc" if token.kind == TOKEN_DOC else stream.expect(TOKEN_TAG).value  # the lexer pre-cuts doc blocks
        if name in UNSUPPORTED_TAGS:
            message = f"Braze Liquid does not support the '{name}' tag"
        elif name == "raw":  # the lexer takes a raw block whole, endraw included: one left here has none
            message = "tag 'raw' was never closed (expected {% endraw %})"
        elif name in _INNER_TAGS:
            message = f"unexpected tag '{name}'"
        else:
            message = f"unknown tag '{name}'"
        raise BrazeLiquidSyntaxError(message, token=token)


class _AbortNode(Node):
    __slots__ = ("reason",)

    def __init__(self, token: Any, reason: str) -> None:
        super().__init__(token)
        self.reason = reason

    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:
        raise AbortMessage(self.reason)


class _AbortTag(Tag):
    """`{% abort_message %}`, `{% abort_message() %}` or `{% abort_message('reason') %}`; the reason is plain text."""

    name = "abort_message"
    block = False
    _ARGUMENT = re.compile(r"\(\s*(?:(['\"])(.*?)\1)?\s*\)", re.DOTALL)

    def parse(self, stream: TokenStream) -> Node:
        token = stream.eat(TOKEN_TAG)
        if stream.current.kind != TOKEN_EXPRESSION:
            return _AbortNode(token, DEFAULT_ABORT_REASON)
        match = self._ARGUMENT.fullmatch(stream.current.value.strip())
        if match is None:
            raise BrazeLiquidSyntaxError("abort_message takes one quoted string, as in abort_message('reason')",
                                         token=stream.current)
        return _AbortNode(token, match.group(2) or DEFAULT_ABORT_REASON)


class _ConnectedNode(Node):
    __slots__ = ("markup",)

    def __init__(self, token: Any, markup: BlockNode) -> None:
        super().__init__(token)
        self.markup = markup
        self.blank = False

    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:
        text = context.get_buffer(buffer)
        for node in self.markup.nodes:
            node.render(context, text)
        request = parse_markup(text.getvalue())
        response = fetch(request, context.braze)  # type: ignore[attr-defined]
        if response is None:
            return 0
        parsed = parse_json(response.text)
        if parsed is not None:
            # "only automatically added ... if the endpoint returns a valid JSON object and a 2XX response"
            # (local_connected_content_variables.md): a JSON error answer is saved without it.
            if isinstance(parsed, dict) and 200 <= response.status < 300:
                parsed["__http_status_code__"] = response.status
            context.assign(request.save or DEFAULT_VARIABLE, parsed)
            return 0
        if response.status >= 300:  # Braze puts an empty string where an error page would go (and never redirects)
            return 0
        if request.save:
            context.assign(request.save, response.text)
            return 0
        return buffer.write(response.text)

    def children(self, static_context: RenderContext, *, include_partials: bool = True) -> Iterator[Node]:
        yield self.markup


class _ConnectedTag(Tag):
    """`{% connected_content URL :option value ... %}`: the markup is Liquid, rendered before the call."""

    name = "connected_content"
    block = False

    def parse(self, stream: TokenStream) -> Node:
        token = stream.eat(TOKEN_TAG)
        if stream.current.kind != TOKEN_EXPRESSION:
            raise BrazeLiquidSyntaxError("connected_content needs a URL", token=token)
        markup = self.env.from_string(stream.current.value)
        return _ConnectedNode(token, BlockNode(token, markup.nodes))


class _BrazeEnvironment(Environment):
    loop_iteration_limit = LOOP_ITERATION_LIMIT
    output_stream_limit = OUTPUT_STREAM_LIMIT
    local_namespace_limit = LOCAL_NAMESPACE_LIMIT
    context_depth_limit = CONTEXT_DEPTH_LIMIT

    def setup_tags_and_filters(self, *, extra: bool = False) -> None:
        super().setup_tags_and_filters(extra=False)
        for name in UNSUPPORTED_TAGS:
            del self.tags[name]
        for tag in (_Illegal, _Output, _Echo, _AbortTag, _ConnectedTag):
            self.add_tag(tag)
        for tag in self.tags.values():
            tag.get_node = _locating(tag.get_node)  # type: ignore[method-assign]
        liquid_filters.install(self.filters)
        self.filters.update(STRING_FILTERS)
        self.filters.update(ARRAY_FILTERS)

    def check(self, template: BoundTemplate) -> None:
        """Refuse filters Braze lacks, and give `== blank` Braze's meaning, before the first render."""
        static = RenderContext(template)
        # each node with the nearest tag or output of the template's own source (Connected Content's markup is a
        # template of its own), to say where a refused filter is
        nodes: list[tuple[Node, Token]] = [(node, node.token) for node in template.nodes]
        while nodes:
            node, construct = nodes.pop()
            expressions: list[Expression] = list(node.expressions())
            while expressions:
                expression = expressions.pop()
                if isinstance(expression, FilteredExpression):
                    for item in expression.filters or ():
                        if item.name not in self.filters:
                            raise BrazeLiquidSyntaxError(_filter_message(item.name), token=item.token,
                                                         construct=construct)
                swap = _BLANK_AWARE.get(type(expression))
                if swap is not None and (isinstance(expression.left, Blank) or isinstance(expression.right, Blank)):
                    expression.__class__ = swap
                if type(expression) is RangeLiteral:
                    expression.__class__ = _BoundedRange
                expressions.extend(expression.children())
            nodes.extend((child, child.token if child.token.source is construct.source else construct)
                         for child in node.children(static, include_partials=False))


def _locating(get_node: Callable[[TokenStream], Node]) -> Callable[[TokenStream], Node]:
    """A tag's (or output's) parse that names it in a syntax error found inside it: python-liquid's errors about
    an expression point at the expression's end, and a block left open points at the template's end."""

    def located(stream: TokenStream) -> Node:
        start = stream.current
        try:
            return get_node(stream)
        except BrazeLiquidSyntaxError as exc:
            if exc.construct is None or exc.construct.source is not start.source:
                exc.construct = start
            raise
        except LiquidError as exc:
            raise BrazeLiquidSyntaxError(f"Liquid syntax error: {exc.message}", token=exc.token, construct=start,
                                         detail=str(exc.message)) from exc
    return located


def _filter_message(name: str) -> str:
    if name in liquid_filters.UNSUPPORTED_FILTERS:
        return f"Braze Liquid does not support the '{name}' filter"
    return f"unknown filter '{name}'"


_ENV = _BrazeEnvironment()

# Failures of the Python underneath a filter or tag (a bad number, a huge value) are template errors to the
# caller, who sees them as BrazeLiquidError; anything else is a bug here and propagates.
_RENDER_FAILURES = (ArithmeticError, LookupError, TypeError, ValueError, RecursionError)


class BrazeTemplate:
    """A parsed Braze template; render it once per user."""

    __slots__ = ("_names", "_template", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        rewriter = _Rewriter(source)
        try:
            try:
                self._template = _ENV.from_string(rewriter.rewrite())
                _ENV.check(self._template)
            except BrazeLiquidSyntaxError:
                raise
            except LiquidError as exc:  # the lexer's: its token is the unterminated markup
                raise BrazeLiquidSyntaxError(f"Liquid syntax error: {exc.message}", token=exc.token,
                                             construct=exc.token, detail=str(exc.message)) from exc
        except BrazeLiquidSyntaxError as exc:
            locate(exc, rewriter.map)
            raise
        self._names = {_NAMES: rewriter.names} if rewriter.names else None

    def render(self, variables: Mapping[str, Any] | None = None, *,
               transport_session: requests.Session | None = None, cache: MutableMapping[str, Any] | None = None,
               now: Callable[[], datetime] | None = None,
               credentials: Mapping[str, tuple[str, str]] | None = None) -> str:
        """Render for one user.

        `variables` holds the attributes by name (`first_name`, `user_id`, ...) and the namespaces
        (`custom_attribute`, `api_trigger_properties`, `context`, `event_properties`, `campaign`, ...).
        `transport_session` makes Connected Content calls; `cache` (any mutable mapping, e.g. a
        `ConnectedContentCache`) keeps their answers between renders; `now` is the clock (defaults to
        the wall clock, in UTC); `credentials` maps `:basic_auth` names to (user, password).
        Raises `AbortMessage` when the template aborts and `BrazeLiquidError` when it cannot render.
        """
        scope: Mapping[str, Any] = variables if variables is not None else {}
        if self._names is not None:
            scope = ReadOnlyChainMap(scope, self._names)
        state = RenderState(transport_session, cache, now, credentials)
        context = _BrazeContext(self._template, scope, state)
        buffer = _output_buffer(OUTPUT_STREAM_LIMIT)
        try:
            self._template.render_with_context(context, buffer)
        except BrazeLiquidError:
            raise
        except tuple(_RESOURCE_LIMITS) as exc:
            limit = next(text for kind, text in _RESOURCE_LIMITS.items() if isinstance(exc, kind))
            raise BrazeLiquidError(f"Liquid resource limit reached: {limit} in one render") from exc
        except LiquidError as exc:
            raise BrazeLiquidError(f"Liquid error: {exc.message}", token=exc.token) from exc
        except _RENDER_FAILURES as exc:
            raise BrazeLiquidError(f"Liquid error: {type(exc).__name__}: {exc}") from exc
        return buffer.getvalue()

    def __repr__(self) -> str:
        return f"BrazeTemplate({self.source!r})"


@lru_cache(maxsize=_CACHE_SIZE)
def compile_template(template: str) -> BrazeTemplate:
    """Parse `template` once; the same source string returns the same `BrazeTemplate`."""
    return BrazeTemplate(template)


def render(template: str, variables: Mapping[str, Any] | None = None, *,
           transport_session: requests.Session | None = None, cache: MutableMapping[str, Any] | None = None,
           now: Callable[[], datetime] | None = None, credentials: Mapping[str, tuple[str, str]] | None = None) -> str:
    """Render Braze Liquid `template` for one user; the options are those of `BrazeTemplate.render`."""
    return compile_template(template).render(variables, transport_session=transport_session, cache=cache, now=now,
                                             credentials=credentials)

