"""Test doubles for code instrumented with zibrato: no broker, no network.

``SpyZibrato`` keeps what it would have published, so a test asserts on it::

    from zibrato.testing import Measurement, SpyZibrato

    z = SpyZibrato()

    @z.count_me(level='info', name='orders.placed')
    def place_order() -> None: ...

    place_order()
    assert z.measurements() == [Measurement('info', 'counter', 'orders.placed', None, 1)]

``NoopZibrato`` takes every call and sends nothing, for code that needs a client
and tests that do not look. Both have the whole ``Zibrato`` API and run the same
Rust core (per-thread buffers, batching, frame encoding, validation), stopping
short of the socket: a name a broker would refuse is refused here too.
"""

from __future__ import annotations

from typing import Any, List, NamedTuple, Optional, Union

from ._client import Zibrato

# The client's own counters, published on this level every 10 s; not the test's.
_SELF_METRICS_LEVEL = "zibrato"


class Measurement(NamedTuple):
    """One measurement as a worker would receive it. ``kind`` is ``'counter'``,
    ``'gauge'`` or ``'timer'``; ``value`` an ``int`` for a counter, a ``float``
    for a gauge, seconds (``float``) for a timer; ``source`` ``None`` when none was
    given."""

    level: str
    kind: str
    name: str
    source: Optional[str]
    value: Union[int, float]


class SpyZibrato(Zibrato):
    """A ``Zibrato`` whose measurements are kept for the test instead of sent."""

    _sink = "spy"

    def __init__(self, source: Optional[str] = None, **kwargs: Any) -> None:
        Zibrato.__init__(self, source=source, **kwargs)
        self._kept: List[Measurement] = []

    def measurements(self, timeout: float = 5.0) -> List[Measurement]:
        """Everything recorded so far, in the order it was published (per thread,
        in the order recorded). Flushes first, waiting at most ``timeout`` seconds.
        The client's own counters (level ``zibrato``) are left out."""
        self.flush(timeout)
        for level, kind, name, source, value in self._client.spy_take():
            if level != _SELF_METRICS_LEVEL:
                self._kept.append(Measurement(level, kind, name, source, value))
        return list(self._kept)

    def clear(self) -> None:
        """Forgets what was recorded so far (flushing it first)."""
        self.measurements()
        self._kept.clear()


class NoopZibrato(Zibrato):
    """A ``Zibrato`` that sends nothing anywhere."""

    _sink = "noop"

    def __init__(self, source: Optional[str] = None, **kwargs: Any) -> None:
        Zibrato.__init__(self, source=source, **kwargs)


__all__ = ["Measurement", "NoopZibrato", "SpyZibrato"]
