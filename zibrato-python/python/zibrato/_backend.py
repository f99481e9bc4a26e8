"""Backends written in Python, run by the Rust worker core."""

import sys
from collections import namedtuple

from . import _zibrato
from ._daemon import run_in_process

Series = namedtuple("Series", "level kind name source data")
Series.__doc__ = """One series of a window.

``kind`` is ``'counter'``, ``'gauge'`` or ``'timer'``; ``source`` is
``'not_specified'`` for a series recorded without one. ``data`` is a dict: for a
counter ``{'sum': int}``; for a gauge ``count``, ``sum``, ``min``, ``max``,
``sum_squares`` and ``last``; for a timer the same in seconds, plus ``percentiles``
(``{0.5: seconds, ...}``) and ``values`` (the durations in seconds, when the backend
sets ``timer_values``)."""

Window = namedtuple("Window", "measure_time interval series")
Window.__doc__ = """One flush window: ``measure_time`` (its end, whole seconds since
the epoch, aligned to the interval), ``interval`` (seconds) and ``series`` (a list of
``Series``)."""


class Fatal(Exception):
    """Raised by a backend when retrying cannot help (bad credentials): the worker
    logs it and exits with status 1."""


class Retry(Exception):
    """Raised by a backend to ask for a retry after ``after`` seconds (a service's
    Retry-After); any other exception is retried after the worker's backoff."""

    def __init__(self, reason="", after=None):
        super().__init__(reason)
        self.after = after


def _describe(error):
    text = str(error)
    return "%s: %s" % (type(error).__name__, text) if text else type(error).__name__


def _answer(method, *args):
    try:
        method(*args)
        return ("ok",)
    except Fatal as e:
        return ("fatal", _describe(e))
    except Retry as e:
        return ("retry", _describe(e), e.after)
    except Exception as e:  # noqa: BLE001 - any failure is retried, never fatal
        return ("retry", _describe(e), None)


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

    timer_values = 0

    def connect(self):
        """Called once before the worker starts; the default does nothing."""

    def flush(self, window):
        """Delivers one ``Window``."""
        raise NotImplementedError("a Backend must implement flush(window)")

    def _connect(self):
        return _answer(self.connect)

    def _deliver(self, measure_time, interval, series):
        window = Window(measure_time, interval, [Series(*s) for s in series])
        return _answer(self.flush, window)

    def run(self, argv=None):
        """Runs the worker with the command line ``argv`` (default: this process's
        arguments; ``--help`` lists the flags) until a stop signal; returns the exit
        code."""
        args = sys.argv[1:] if argv is None else list(argv)
        name = "zibrato-%s" % type(self).__name__.lower()
        return run_in_process(lambda a: _zibrato.run_worker(self, a), [name] + args)
