"""`mock_braze()`, `mock_sendbird()`, `mock_stack()`: each a context manager, a decorator, or `start()`/`stop()`,
as moto's `mock_aws` and `responses.activate` are.

Every activation builds a fresh world (so a decorated test starts empty each time it runs) and routes the
products' real hosts to it until it ends. What the context manager yields, and what `start()` returns, is the
fake to drive and read; a decorated function reaches it through the mock object (`braze = mock_braze()`,
`@braze`, then `braze.fake` inside). A fake's background task that raised fails the activation at its end
(a harness bug must never pass as a green test).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable
from datetime import datetime
from typing import Any, Generic, TypeVar

from mocks.inprocess.braze import FakeBraze
from mocks.inprocess.routing import Router
from mocks.inprocess.sendbird import FakeSendbird
from mocks.inprocess.stack import FakeStack
from mocks.inprocess.world import MockError, World

F = TypeVar("F", bound=FakeBraze | FakeSendbird | FakeStack)


class Mock(Generic[F]):
    def __init__(self, build: Callable[[World, Router], F], passthrough: bool, seed: int,
                 start: datetime | None) -> None:
        self._build = build
        self._passthrough = passthrough
        self._seed = seed
        self._start = start
        self._active: tuple[F, Router] | None = None

    @property
    def fake(self) -> F:
        """The fake of the current activation."""
        if self._active is None:
            raise MockError("this mock is not active: use it as `with`, as a decorator, or call start()")
        return self._active[0]

    def start(self) -> F:
        if self._active is not None:
            raise MockError("this mock is already active; make another for a second world")
        world = World(self._seed, self._start, self._passthrough)
        router = Router(world, self._passthrough)
        fake = self._build(world, router)
        router.start()
        self._active = (fake, router)
        return fake

    def stop(self) -> None:
        """End the activation; MockError when a fake's background task raised during it."""
        if self._active is None:
            return
        fake, router = self._active
        self._active = None
        router.stop()
        errors = fake.world.take_task_errors()
        if errors:
            listed = "; ".join(f"{name}: {error}" for name, error in errors[:5])
            raise MockError(f"{len(errors)} background task(s) of the fakes raised (a harness bug): {listed}")

    def __enter__(self) -> F:
        return self.start()

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        if kind is None:
            self.stop()
        else:  # the body's own failure is the one to show
            with contextlib.suppress(MockError):
                self.stop()

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return await func(*args, **kwargs)
            return run_async

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)
        return run


def _maybe_decorating(mock: Mock, func: Callable[..., Any] | None) -> Any:
    return mock if func is None else mock(func)


def mock_braze(func: Callable[..., Any] | None = None, *, api_key: str | None = None, url: str | None = None,
               passthrough: bool = False, seed: int = 0, start: datetime | None = None) -> Any:
    """The fake Braze at every Braze REST instance's host. `api_key`: the key it takes (default
    `local-braze-key`); `url`: the instance the team's code is configured with (for `FakeBraze.url`)."""
    options = {k: v for k, v in (("api_key", api_key), ("url", url)) if v is not None}
    return _maybe_decorating(Mock(lambda world, router: FakeBraze.in_process(world, router, **options),
                                  passthrough, seed, start), func)


def mock_sendbird(func: Callable[..., Any] | None = None, *, app_id: str | None = None,
                  api_token: str | None = None, passthrough: bool = False, seed: int = 0,
                  start: datetime | None = None) -> Any:
    """The fake Sendbird at `api-{app_id}.notifications.sendbird.com` and `api-{app_id}.sendbird.com`."""
    options = {k: v for k, v in (("app_id", app_id), ("api_token", api_token)) if v is not None}
    return _maybe_decorating(Mock(lambda world, router: FakeSendbird.in_process(world, router, **options),
                                  passthrough, seed, start), func)


def mock_stack(func: Callable[..., Any] | None = None, *, passthrough: bool = False, seed: int = 0,
               start: datetime | None = None, **options: Any) -> Any:
    """Both fakes and the bridge, so `SENT` and `READ` come back to Braze (`options`: `FakeStack`'s `braze_key`,
    `braze_url`, `app_id`, `sendbird_token`, `event_callback`, `event_name`, `batch_linger_ms`)."""
    return _maybe_decorating(Mock(lambda world, router: FakeStack.in_process(world, router, **options),
                                  passthrough, seed, start), func)
