"""The recording API: the original's decorators and context managers."""

import atexit
import functools
import inspect
import os
import sys
import time
import weakref

from . import _zibrato

# A monotonic clock in nanoseconds (the original read the wall clock, which jumps).
_now = time.perf_counter_ns

# Every live client, so each can start afresh in a child after fork().
_clients = weakref.WeakSet()


def _after_fork_in_child():
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


def _close_at_multiprocessing_exit(_token):
    sys.modules["multiprocessing.util"].Finalize(None, _close_all, exitpriority=0)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

def _close_all():
    # Each close sends what was recorded and gives ZeroMQ up to a second to put it on
    # the network; a broker away at exit costs that second, counted, never raised.
    for z in list(_clients):
        try:
            z._client.close()
        except Exception:  # noqa: BLE001
            pass


atexit.register(_close_all)


def _counter_value(value):
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
    """

    def __init__(self, host="127.0.0.1", port=5550, context=None, source=None,
                 curve_secret_file=None, curve_server_key=None):
        self.host = str(host)
        self.port = int(port)
        self.context = context
        self._client = _zibrato.Client(self.host, self.port, source,
                                       curve_secret_file, curve_server_key)
        self._sites = {}
        _clients.add(self)

    # Sites: one registered Rust handle per (kind, level, name, value, source), so a
    # decorated call or a `with` costs one short call into Rust.
    def _counter_site(self, level, name, value, source):
        key = ("c", level, name, value, source)
        site = self._sites.get(key)
        if site is None:
            site = self._client.counter_site(level, name, _counter_value(value), source)
            self._sites[key] = site
        return site

    def _timer_site(self, level, name, source):
        key = ("t", level, name, source)
        site = self._sites.get(key)
        if site is None:
            site = self._client.timer_site(level, name, source)
            self._sites[key] = site
        return site

    def count_me(self, level, name, value=1, source=None):
        """Decorator: counts each call of the function by ``value``, when it returns
        or raises. For a generator or async generator, one count when it finishes or
        is closed; for an ``async def``, when the coroutine completes."""
        hit = self._counter_site(level, name, value, source).hit

        def decorate(f):
            if inspect.iscoroutinefunction(f):

                async def wrapper(*args, **kwargs):
                    try:
                        return await f(*args, **kwargs)
                    finally:
                        hit()

            elif inspect.isasyncgenfunction(f):

                async def wrapper(*args, **kwargs):
                    try:
                        async for item in f(*args, **kwargs):
                            yield item
                    finally:
                        hit()

            elif inspect.isgeneratorfunction(f):

                def wrapper(*args, **kwargs):
                    try:
                        return (yield from f(*args, **kwargs))
                    finally:
                        hit()

            else:

                def wrapper(*args, **kwargs):
                    try:
                        return f(*args, **kwargs)
                    finally:
                        hit()

            return functools.wraps(f)(wrapper)

        return decorate

    def time_me(self, level, name, value=None, source=None):
        """Decorator: times each call, in seconds at the workers, from entry to return
        or raise; a generator from its first step to its end, an ``async def`` from
        its first step to its completion, across every ``await``. ``value`` is
        accepted for compatibility and ignored (the original replaced it too)."""
        record = self._timer_site(level, name, source).record_ns
        now = _now

        def decorate(f):
            if inspect.iscoroutinefunction(f):

                async def wrapper(*args, **kwargs):
                    start = now()
                    try:
                        return await f(*args, **kwargs)
                    finally:
                        record(now() - start)

            elif inspect.isasyncgenfunction(f):

                async def wrapper(*args, **kwargs):
                    start = now()
                    try:
                        async for item in f(*args, **kwargs):
                            yield item
                    finally:
                        record(now() - start)

            elif inspect.isgeneratorfunction(f):

                def wrapper(*args, **kwargs):
                    start = now()
                    try:
                        return (yield from f(*args, **kwargs))
                    finally:
                        record(now() - start)

            else:

                def wrapper(*args, **kwargs):
                    start = now()
                    try:
                        return f(*args, **kwargs)
                    finally:
                        record(now() - start)

            return functools.wraps(f)(wrapper)

        return decorate

    def Count_me(self, level, name, value=1, source=None):
        """Context manager: counts by ``value`` when the block ends (also by an
        exception, which it does not swallow). ``with`` gives None. The object may
        be kept and reused, from any thread."""
        site = self._sites.get(("c", level, name, value, source))
        return site if site is not None else self._counter_site(level, name, value, source)

    def Time_me(self, level, name, value=None, source=None):
        """Context manager: times the block on a monotonic clock. ``with`` gives
        None. One object times one block at a time: make one per ``with``."""
        site = self._sites.get(("t", level, name, source))
        if site is None:
            site = self._timer_site(level, name, source)
        return site.block()

    def gauge(self, level, name, value, source=None):
        """Records a reading (0 is sent as 0). Returns None and never raises: an
        invalid level or name, or NaN, is counted in ``stats()['rejected']``."""
        self._client.gauge(level, name, float(value), source)

    def flush(self, timeout=5.0):
        """Publishes everything recorded so far; waits at most ``timeout`` seconds.
        Raises RuntimeError if the broker did not take it all in time."""
        self._client.flush(timeout)

    def close(self):
        """Stops publishing: sends what was recorded and gives it up to a second to
        reach the network. Call it before ``os._exit()`` (a forked child ending
        without clean-up); a normal exit does it for you. Later records are dropped
        and counted in ``stats()``."""
        self._client.close()

    def stats(self):
        """The client's counters: recorded, rejected, dropped, sent, connected."""
        return self._client.stats()
