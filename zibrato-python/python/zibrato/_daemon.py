"""Running a Rust daemon in this process: the one shim every ``python -m`` daemon and
every ``Backend.run`` goes through."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Callable, List, Optional, Sequence

from . import _zibrato

# What a daemon's records look like on stderr when the program set up no logging:
# the binaries' fields, in Python's words.
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _log_to_python() -> None:
    """A daemon's records go to the logger ``zibrato``; its ``--log-level`` (applied
    in Rust) decides which are made, so the logger lets every one through. A program
    that configured no handler anywhere gets them on stderr, as from the binary."""
    logger = logging.getLogger("zibrato")
    logger.setLevel(1)
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT))
        logger.addHandler(handler)


def run_in_process(main: Callable[[List[str]], int], argv: List[str]) -> int:
    """Runs ``main(argv)`` (a Rust daemon's entry point, ``argv`` with the program name
    first) and returns its exit status, the same as the binary's. In the main thread,
    SIGINT, SIGTERM and SIGQUIT get their default handlers first, so the daemon's own
    are the only ones: a stop signal stops it cleanly (SIGQUIT too, as supervisord's
    ``stopsignal=QUIT`` sends), and Python raises no KeyboardInterrupt afterwards."""
    if threading.current_thread() is threading.main_thread():
        for signame in ("SIGINT", "SIGTERM", "SIGQUIT"):
            if hasattr(signal, signame):
                signal.signal(getattr(signal, signame), signal.SIG_DFL)
    _log_to_python()
    return main(argv)


def run_daemon(name: str, argv: Optional[Sequence[str]] = None) -> int:
    """Runs the daemon ``name`` (``zibrato-broker``, ``zibrato-librato``) with ``argv``
    (default: this process's arguments) and returns its exit status."""
    args = sys.argv[1:] if argv is None else list(argv)
    return run_in_process(lambda a: _zibrato.daemon_main(name, a), [name] + args)
