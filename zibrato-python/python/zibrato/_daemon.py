"""Running a Rust daemon in this process: the one shim every ``python -m`` daemon and
every ``Backend.run`` goes through."""

import signal
import sys
import threading

from . import _zibrato


def run_in_process(main, argv):
    """Runs ``main(argv)`` (a Rust daemon's entry point, ``argv`` with the program name
    first) and returns its exit status, the same as the binary's. In the main thread,
    SIGINT, SIGTERM and SIGQUIT get their default handlers first, so the daemon's own
    are the only ones: a stop signal stops it cleanly (SIGQUIT too, as supervisord's
    ``stopsignal=QUIT`` sends), and Python raises no KeyboardInterrupt afterwards."""
    if threading.current_thread() is threading.main_thread():
        for signame in ("SIGINT", "SIGTERM", "SIGQUIT"):
            if hasattr(signal, signame):
                signal.signal(getattr(signal, signame), signal.SIG_DFL)
    return main(argv)


def run_daemon(name, argv=None):
    """Runs the daemon ``name`` (``zibrato-broker``, ``zibrato-librato``) with ``argv``
    (default: this process's arguments) and returns its exit status."""
    args = sys.argv[1:] if argv is None else list(argv)
    return run_in_process(lambda a: _zibrato.daemon_main(name, a), [name] + args)
