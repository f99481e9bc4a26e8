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

See README.md in this package for what changed from the original, `fork()`,
configuration from the environment, logging (the logger ``zibrato``), test doubles
(``zibrato.testing``) and backends written in Python (``zibrato.Backend``).
"""

from . import _zibrato
from ._backend import Backend, Fatal, Retry, Series, Window
from ._client import Zibrato
from ._errors import ConfigError, FlushError, ZibratoError

__version__: str = _zibrato.__version__
"""The package's version, the Rust crates' (one place: zibrato-python/Cargo.toml)."""

__all__ = [
    "Zibrato",
    "Backend",
    "Fatal",
    "Retry",
    "Series",
    "Window",
    "ZibratoError",
    "ConfigError",
    "FlushError",
    "__version__",
]
