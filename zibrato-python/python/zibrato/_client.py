"""The recording API: the original's decorators and context managers."""

from __future__ import annotations

import atexit
import functools
import inspect
import math
import os
import sys
import time
import weakref
from typing import Any, Callable, Dict, Optional, ParamSpec, Tuple, TypeVar, Union

from . import _zibrato
from ._errors import ConfigError

P = ParamSpec("P")
R = TypeVar("R")

# A monotonic clock in nanoseconds (the original read the wall clock, which jumps).
_now = time.perf_counter_ns

# Every live client, so each can start afresh in a child after fork().
_clients: "weakref.WeakSet[Zibrato]" = weakref.WeakSet()

# The Rust core's log records reach Python's `logging` through a thread of the
# extension's; at exit it drains that queue and writes later records to stderr.
# Registered before `_close_all`, so it runs after it (atexit runs last-in first-out)
# and the clients' last words still reach `logging`.
atexit.register(_zibrato.logging_at_exit)


# The process the after-fork work was last done in: uWSGI with `py-call-osafterfork`
# runs both its own hook and os.register_at_fork's, and one child needs one restart.
_started_in = os.getpid()


def _after_fork_in_child() -> None:
    global _started_in
    if _started_in == os.getpid():
        return
    _started_in = os.getpid()
    _zibrato.logging_after_fork()
    for z in list(_clients):
        z._client.after_fork_in_child()
    # multiprocessing's fork children end with os._exit(), after running its
    # finalizers but not atexit: close there too, so nothing in flight is cut off. Its
    # child start-up clears the finalizers and then runs its after-fork hooks, so the
    # finalizer is registered from one of those.
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None:
        mp_util.register_after_fork(_CLOSE_AT_EXIT, _close_at_multiprocessing_exit)


class _Token(object):
    """A weak-referenceable key for multiprocessing's after-fork registry."""


_CLOSE_AT_EXIT = _Token()


def _close_at_multiprocessing_exit(_token: object) -> None:
    sys.modules["multiprocessing.util"].Finalize(None, _close_all, exitpriority=0)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _register_uwsgi_post_fork() -> None:
    """uWSGI forks its workers in C, where Python's at-fork hooks do not run (unless
    `py-call-osafterfork`): register with uWSGI's own post-fork hook instead, through
    `uwsgidecorators.postfork` when there is one (it keeps a chain that a program's own
    `@postfork` joins), else by chaining `uwsgi.post_fork_hook` by hand."""
    try:
        import uwsgi  # type: ignore[import-untyped,import-not-found,unused-ignore]  # in uWSGI
    except ImportError:
        return
    try:
        import uwsgidecorators  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        previous = getattr(uwsgi, "post_fork_hook", None)

        def hook() -> None:
            if previous is not None:
                previous()
            _after_fork_in_child()

        uwsgi.post_fork_hook = hook
    else:
        uwsgidecorators.postfork(_after_fork_in_child)


_register_uwsgi_post_fork()

def _close_all() -> None:
    # Each close sends what was recorded and gives ZeroMQ up to a second to put it on
    # the network; a broker away at exit costs that second, counted, never raised.
    for z in list(_clients):
        try:
            z._client.close()
        except Exception:  # noqa: BLE001
            pass


atexit.register(_close_all)


def _counter_value(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("value must be an integer, not %r" % (value,))
    if isinstance(value, float) and not value.is_integer():
        raise TypeError("a counter's value must be a whole number, not %r" % (value,))
    return int(value)


class Zibrato(object):
    """A client publishing to the Zibrato broker at ``host:port``.

    ``context`` is accepted for compatibility with the original, which took a pyzmq
    context to share. The Rust core runs its own ZeroMQ context (a pyzmq context
    cannot be shared with it), so the argument is kept on the object and otherwise
    not used. ``source`` (new) is the default source of every measurement.

    ``curve_secret_file`` and ``curve_server_key`` (new) connect with CURVE to a broker
    that has keys: this program's secret certificate (from ``zibrato-broker keygen``,
    readable by its owner only) and the broker's public key (its 40 Z85 characters or
    its public certificate's path). A broker on this host needs neither.

    ``host``, ``port`` and ``source`` left out (or ``None``) are read from the
    environment, ``ZIBRATO_HOST``, ``ZIBRATO_PORT`` and ``ZIBRATO_SOURCE``, then
    default to ``127.0.0.1``, ``5550`` and no source. An argument always wins.
    ``ConfigError`` for a port that is not 1-65535 (naming ``ZIBRATO_PORT`` when it
    came from there).
    """

    _sink = "broker"

    def __init__(
        self,
        host: Optional[str] = None,
        port: Optional[int] = None,
        context: Any = None,
        source: Optional[str] = None,
        curve_secret_file: Optional[str] = None,
        curve_server_key: Optional[str] = None,
    ) -> None:
        self.host: str = str(host if host is not None else os.environ.get("ZIBRATO_HOST") or "127.0.0.1")
        self.port: int = _port(port)
        self.context: Any = context
        if source is None:
            source = os.environ.get("ZIBRATO_SOURCE") or None
        self.source: Optional[str] = source
        self._client = _zibrato.Client(self.host, self.port, source,
                                       curve_secret_file, curve_server_key, self._sink)
        self._sites: Dict[Tuple[Any, ...], Any] = {}
        _clients.add(self)

    # Sites: one registered Rust handle per (kind, level, name, value, source), so a
    # decorated call or a `with` costs one short call into Rust.
    def _counter_site(self, level: str, name: str, value: int,
                      source: Optional[str]) -> _zibrato.CounterSite:
        key = ("c", level, name, value, source)
        site = self._sites.get(key)
        if site is None:
            site = self._client.counter_site(level, name, _counter_value(value), source)
            self._sites[key] = site
        return site

    def _timer_site(self, level: str, name: str, source: Optional[str]) -> _zibrato.TimerSite:
        key = ("t", level, name, source)
        site = self._sites.get(key)
        if site is None:
            site = self._client.timer_site(level, name, source)
            self._sites[key] = site
        return site

    def count_me(self, level: str, name: str, value: int = 1,
                 source: Optional[str] = None) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Decorator: counts each call of the function by ``value``, when it returns
        or raises. For a generator or async generator, one count when it finishes or
        is closed; for an ``async def``, when the coroutine completes."""
        hit = self._counter_site(level, name, value, source).hit

        def decorate(f: Callable[P, R]) -> Callable[P, R]:
            wrapper: Any
            if inspect.iscoroutinefunction(f):

                async def wrapper(*args: Any, **kwargs: Any) -> Any:
                    try:
                        return await f(*args, **kwargs)
                    finally:
                        hit()

            elif inspect.isasyncgenfunction(f):

                async def wrapper(*args: Any, **kwargs: Any) -> Any:
                    try:
                        async for item in f(*args, **kwargs):
                            yield item
                    finally:
                        hit()

            elif inspect.isgeneratorfunction(f):

                def wrapper(*args: Any, **kwargs: Any) -> Any:
                    try:
                        return (yield from f(*args, **kwargs))
                    finally:
                        hit()

            else:

                def wrapper(*args: Any, **kwargs: Any) -> Any:
                    try:
                        return f(*args, **kwargs)
                    finally:
                        hit()

            result: Callable[P, R] = functools.wraps(f)(wrapper)
            return result

        return decorate

    def time_me(self, level: str, name: str, value: Any = None,
                source: Optional[str] = None) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Decorator: times each call, in seconds at the workers, from entry to return
        or raise; a generator from its first step to its end, an ``async def`` from
        its first step to its completion, across every ``await``. ``value`` is
        accepted for compatibility and ignored (the original replaced it too)."""
        record = self._timer_site(level, name, source).record_ns
        now = _now

        def decorate(f: Callable[P, R]) -> Callable[P, R]:
            wrapper: Any
            if inspect.iscoroutinefunction(f):

                async def wrapper(*args: Any, **kwargs: Any) -> Any:
                    start = now()
                    try:
                        return await f(*args, **kwargs)
                    finally:
                        record(now() - start)

            elif inspect.isasyncgenfunction(f):

                async def wrapper(*args: Any, **kwargs: Any) -> Any:
                    start = now()
                    try:
                        async for item in f(*args, **kwargs):
                            yield item
                    finally:
                        record(now() - start)

            elif inspect.isgeneratorfunction(f):

                def wrapper(*args: Any, **kwargs: Any) -> Any:
                    start = now()
                    try:
                        return (yield from f(*args, **kwargs))
                    finally:
                        record(now() - start)

            else:

                def wrapper(*args: Any, **kwargs: Any) -> Any:
                    start = now()
                    try:
                        return f(*args, **kwargs)
                    finally:
                        record(now() - start)

            result: Callable[P, R] = functools.wraps(f)(wrapper)
            return result

        return decorate

    def Count_me(self, level: str, name: str, value: int = 1,
                 source: Optional[str] = None) -> _zibrato.CounterSite:
        """Context manager: counts by ``value`` when the block ends (also by an
        exception, which it does not swallow). ``with`` gives None. The object may
        be kept and reused, from any thread."""
        site = self._sites.get(("c", level, name, value, source))
        return site if site is not None else self._counter_site(level, name, value, source)

    def Time_me(self, level: str, name: str, value: Any = None,
                source: Optional[str] = None) -> _zibrato.Timing:
        """Context manager: times the block on a monotonic clock. ``with`` gives
        None. One object times one block at a time: make one per ``with``."""
        site = self._sites.get(("t", level, name, source))
        if site is None:
            site = self._timer_site(level, name, source)
        return site.block()

    def gauge(self, level: str, name: str, value: Union[float, int, Any],
              source: Optional[str] = None) -> None:
        """Records a reading: anything ``float()`` takes (0 is sent as 0). Returns
        None and never raises: an invalid level or name, NaN or infinity, or a value
        ``float()`` refuses (``None``, ``'abc'``) is dropped and counted in
        ``stats()['rejected']``."""
        try:
            reading = float(value)
        except (TypeError, ValueError, OverflowError):
            # NaN is what the core refuses and counts: one count, one place.
            reading = math.nan
        self._client.gauge(level, name, reading, source)

    def flush(self, timeout: float = 5.0) -> None:
        """Publishes everything recorded so far; waits at most ``timeout`` seconds.
        Raises ``FlushError`` (a ``RuntimeError``) if the broker did not take it all
        in time."""
        self._client.flush(timeout)

    def close(self) -> None:
        """Stops publishing: sends what was recorded and gives it up to a second to
        reach the network. Call it before ``os._exit()`` (a forked child ending
        without clean-up); a normal exit does it for you. Later records are dropped
        and counted in ``stats()``."""
        self._client.close()

    def stats(self) -> Dict[str, Union[int, bool]]:
        """The client's counters: recorded, rejected, dropped, sent, connected."""
        return self._client.stats()


def _port(port: Optional[int]) -> int:
    text: object
    if port is not None:
        where, text = "port", port
    elif os.environ.get("ZIBRATO_PORT"):
        where, text = "ZIBRATO_PORT", os.environ["ZIBRATO_PORT"]
    else:
        return 5550
    try:
        number = int(text)  # type: ignore[call-overload,unused-ignore]
    except (TypeError, ValueError):
        number = 0
    if not 1 <= number <= 65535 or isinstance(text, bool):
        raise ConfigError("%s must be a port number, 1-65535, not %r" % (where, text))
    return number
