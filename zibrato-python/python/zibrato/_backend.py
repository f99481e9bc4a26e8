"""Backends written in Python, run by the Rust worker core."""

from __future__ import annotations

import logging
import sys
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

from . import _zibrato
from ._daemon import run_in_process
from ._errors import ZibratoError

_log = logging.getLogger("zibrato.backend")


class Series(NamedTuple):
    """One series of a window.

``kind`` is ``'counter'``, ``'gauge'`` or ``'timer'``; ``source`` is
``'not_specified'`` for a series recorded without one. ``data`` is a dict: for a
counter ``{'sum': int}``; for a gauge ``count``, ``sum``, ``min``, ``max``,
``sum_squares`` and ``last``; for a timer the same in seconds, plus ``percentiles``
(``{0.5: seconds, ...}``) and ``values`` (the durations in seconds, when the backend
sets ``timer_values``)."""

    level: str
    kind: str
    name: str
    source: str
    data: Dict[str, Any]


class Window(NamedTuple):
    """One flush window: ``measure_time`` (its end, whole seconds since the epoch,
    aligned to the interval), ``interval`` (seconds) and ``series`` (a list of
    ``Series``)."""

    measure_time: int
    interval: float
    series: List[Series]


class Fatal(ZibratoError):
    """Raised by a backend when retrying cannot help (bad credentials): the worker
    logs it and exits with status 1."""


class Retry(ZibratoError):
    """Raised by a backend to ask for a retry after ``after`` seconds (a service's
    Retry-After); any other exception is retried after the worker's backoff."""

    def __init__(self, reason: str = "", after: Optional[float] = None) -> None:
        super().__init__(reason)
        self.after = after


def _describe(error: BaseException) -> str:
    text = str(error)
    return "%s: %s" % (type(error).__name__, text) if text else type(error).__name__


Answer = Union[Tuple[str], Tuple[str, str], Tuple[str, str, Optional[float]]]


def _answer(method: Any, *args: Any) -> Answer:
    try:
        method(*args)
        return ("ok",)
    except Fatal as e:
        return ("fatal", _describe(e))
    except Retry as e:
        return ("retry", _describe(e), e.after)
    except Exception as e:  # noqa: BLE001 - any failure is retried, never fatal
        # The traceback is what the backend's author needs; the worker logs the retry
        # itself (zibrato.worker), without it.
        _log.error("%s raised", _qualname(method), exc_info=True)
        return ("retry", _describe(e), None)


def _qualname(method: Any) -> str:
    owner = getattr(method, "__self__", None)
    name = getattr(method, "__name__", "backend")
    return "%s.%s" % (type(owner).__name__, name) if owner is not None else name


class Backend(object):
    """Subclass and override ``flush``; run with ``MyBackend().run()``.

    The Rust worker core subscribes to the exact levels given by ``--levels``,
    aggregates, flushes every ``--flush`` seconds, retries and shuts down; it calls:

    * ``connect()`` once before it starts reading (the original's ``connect``):
      raise ``Fatal`` to stop the worker, anything else is logged and the worker
      starts anyway.
    * ``flush(window)`` for each window (the original's ``flush``/``post``; the
      original's ``parse`` is done in Rust). Return normally when delivered; raise
      to have the whole window retried with backoff (``Retry(after=s)`` to set the
      wait), or ``Fatal`` to stop. A raising backend never kills the worker.

    ``flush`` runs on the worker's delivery thread, one window at a time.
    ``timer_values``: how many raw durations per timer and window to keep in
    ``data['values']`` (default 0).
    """

    timer_values: int = 0

    def connect(self) -> None:
        """Called once before the worker starts; the default does nothing."""

    def flush(self, window: Window) -> None:
        """Delivers one ``Window``."""
        raise NotImplementedError("a Backend must implement flush(window)")

    def _connect(self) -> Answer:
        return _answer(self.connect)

    def _deliver(self, measure_time: int, interval: float,
                 series: Sequence[Tuple[str, str, str, str, Dict[str, Any]]]) -> Answer:
        window = Window(measure_time, interval, [Series(*s) for s in series])
        return _answer(self.flush, window)

    def run(self, argv: Optional[Sequence[str]] = None) -> int:
        """Runs the worker with the command line ``argv`` (default: this process's
        arguments; ``--help`` lists the flags) until a stop signal; returns the exit
        code."""
        args = sys.argv[1:] if argv is None else list(argv)
        name = "zibrato-%s" % type(self).__name__.lower()
        return run_in_process(lambda a: _zibrato.run_worker(self, a), [name] + args)
