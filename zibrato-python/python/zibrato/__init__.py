"""Zibrato: count, time and gauge Python code, on the Rust core.

The original 2013 API, keyword for keyword::

    from zibrato import Zibrato
    z = Zibrato()                         # or Zibrato(host='127.0.0.1', port=5550)

    @z.count_me(level='info', name='calls', value=1, source='web-1')
    def handle(request): ...

    @z.time_me(level='debug', name='db.query')
    def query(sql): ...

    with z.Count_me(level='info', name='jobs'):
        ...
    with z.Time_me(level='debug', name='block'):
        ...
    z.gauge(level='crit', name='queue.depth', value=12)

See README.md in this package for what changed from the original, `fork()`, and
backends written in Python (`zibrato.Backend`).
"""

from ._client import Zibrato
from ._backend import Backend, Fatal, Retry, Series, Window

__all__ = [
    "Zibrato",
    "Backend",
    "Fatal",
    "Retry",
    "Series",
    "Window",
]
