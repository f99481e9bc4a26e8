"""The package's own exceptions, for callers that want to tell them apart."""


class ZibratoError(Exception):
    """The base of every exception the package raises on its own account."""


class ConfigError(ZibratoError, ValueError):
    """A setting is wrong: an invalid level, name or source given to a decorator or
    context manager, a port out of range, an unreadable ``ZIBRATO_PORT``, keys given
    by halves. Raised when the client, decorator or context manager is made, never
    by a record call. A ``ValueError`` too, as these were before 0.1."""


class FlushError(ZibratoError, RuntimeError):
    """``flush()`` could not hand everything recorded to ZeroMQ within its timeout
    (the broker is away and the client's backlog is full, say). Nothing is lost by
    the raise itself: what was recorded stays queued. A ``RuntimeError`` too."""
