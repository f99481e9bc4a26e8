"""Running a Rust daemon in this process."""

import signal
import threading


def run_daemon(main, argv):
    """Runs ``main(argv)`` and returns its exit code. In the main thread, SIGINT,
    SIGTERM and SIGQUIT get their default handlers first, so the daemon's own are the
    only ones: a stop signal stops it cleanly (SIGQUIT too, as supervisord's
    ``stopsignal=QUIT`` sends), and Python raises no KeyboardInterrupt afterwards."""
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGINT", "SIGTERM", "SIGQUIT"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_DFL)
    return main(argv)
