"""The Rust core's events reach Python's `logging`, under the logger `zibrato`."""

import os
import subprocess
import sys
import textwrap

from conftest import Console, Daemon, free_ports, start_broker, wait_until


def run_python(code, timeout=60):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_client_warning_reaches_the_programs_handlers(port):
    # No broker on `port`: closing with measurements the broker never took is the
    # client's warning, and it goes through the program's logging configuration.
    done = run_python(
        """
        import logging, zibrato
        logging.basicConfig(format="CAUGHT %%(levelname)s %%(name)s: %%(message)s")
        z = zibrato.Zibrato(port=%d)
        z.count_me("info", "unsent")(lambda: None)()
        z.close()
        """
        % port
    )
    assert done.returncode == 0, done.stderr
    assert (
        "CAUGHT WARNING zibrato.client.publisher: closing with frames the broker never took"
        in done.stderr
    ), done.stderr


def test_a_program_that_configures_nothing_still_sees_warnings(port):
    done = run_python(
        """
        import zibrato
        z = zibrato.Zibrato(port=%d)
        z.count_me("info", "unsent")(lambda: None)()
        """
        % port
    )
    assert done.returncode == 0, done.stderr
    # Python's last-resort handler: the message alone, on stderr, at exit.
    assert "closing with frames the broker never took" in done.stderr, done.stderr


def test_a_daemon_run_from_python_logs_through_the_programs_logging():
    port = free_ports()
    broker = Daemon(
        [
            sys.executable,
            "-c",
            "import logging, sys; "
            "logging.basicConfig(format='MINE %(name)s %(message)s', level=logging.INFO); "
            "from zibrato import backend; sys.exit(backend.main(sys.argv[1:]))",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
    )
    try:
        broker.wait_for("MINE zibrato.broker")
        broker.wait_for("broker listening")
    finally:
        assert broker.stop() == 0


def test_a_raising_backend_logs_its_traceback():
    port = free_ports()
    broker = start_broker(port)
    code = textwrap.dedent(
        """
        import sys, zibrato

        class Flaky(zibrato.Backend):
            failed = False

            def flush(self, window):
                if window.series and not Flaky.failed:
                    Flaky.failed = True
                    raise ValueError("the service said no")
                if window.series:
                    print("DELIVERED", flush=True)

        sys.exit(Flaky().run())
        """
    )
    worker = Daemon(
        [sys.executable, "-c", code, "--port", str(port + 1), "--levels", "info", "--flush", "1"]
    )
    try:
        worker.wait_for("worker subscribed")
        import zibrato

        z = zibrato.Zibrato(port=port)
        wait_until("a connection", lambda: z.stats()["connected"])
        z.count_me("info", "flaky")(lambda: None)()
        z.flush()
        worker.wait_for("DELIVERED")
        out = worker.output()
        assert "zibrato.backend: Flaky.flush raised" in out, out
        assert "Traceback (most recent call last)" in out
        assert "in flush" in out and "ValueError: the service said no" in out
        z.close()
    finally:
        worker.stop()
        broker.stop()
