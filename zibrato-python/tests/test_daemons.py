"""The daemons from Python, as the original documented them: the broker with
``python -m zibrato.backend``, the Librato worker with ``python -m zibrato.librato``,
the same flags, signals and exit codes as the Rust binaries, and under supervisord
with the original's program sections."""

import getpass
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import Daemon, START, wait_until
from librato_standin import LibratoStandIn


def run(args, env=None):
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m"] + args, capture_output=True, text=True, timeout=60, env=full
    )


def test_the_broker_module_stops_cleanly_on_each_stop_signal(port):
    for sig in (signal.SIGQUIT, signal.SIGTERM, signal.SIGINT):
        broker = Daemon([sys.executable, "-m", "zibrato.backend", "--port", str(port)])
        broker.wait_for("broker listening")
        assert broker.stop(sig) == 0, broker.output()
        assert "broker stopped" in broker.output()
        assert "KeyboardInterrupt" not in broker.output()


def test_the_modules_answer_help_and_refuse_bad_command_lines():
    for module in ("zibrato.backend", "zibrato.librato"):
        shown = run([module, "--help"])
        assert shown.returncode == 0 and "--port" in shown.stdout, shown.stderr
        bad = run([module, "--no-such-flag"])
        assert bad.returncode == 2, bad.stderr
    missing = run(["zibrato.librato", "--levels", "info"], env={"LIBRATO_USERNAME": ""})
    assert missing.returncode == 2, missing.stderr


def test_the_librato_module_posts_what_was_recorded(port, broker, z):
    librato = LibratoStandIn()
    try:
        worker = Daemon(
            [sys.executable, "-m", "zibrato.librato", "--port", str(port + 1),
             "--username", "ops@example.com", "--levels", "info", "--flush", "1",
             "--api-url", librato.url],
            env={"LIBRATO_TOKEN": "s3cret"},
        )
        worker.wait_for("worker subscribed")

        @z.count_me("info", "orders.placed", value=2)
        def place():
            return "ok"

        for _ in range(3):
            place()
        z.gauge("info", "queue.depth", 0)
        z.flush()
        wait_until("orders at Librato", lambda: sum(librato.values("orders.placed")) == 6)
        wait_until("the zero gauge", lambda: librato.values("queue.depth") == [0])
        assert "s3cret" not in worker.output(), "the token is never logged"
        assert worker.stop(signal.SIGQUIT) == 0
    finally:
        librato.close()


def ctl(config, *args):
    done = subprocess.run(
        ["supervisorctl", "-c", config] + list(args), capture_output=True, text=True, timeout=30
    )
    return done.stdout + done.stderr


def test_the_original_supervisord_sections_work_with_the_command_changed(port, tmp_path):
    if not os.path.exists("/usr/bin/supervisord") and not shutil_which("supervisord"):
        if os.environ.get("ZIBRATO_REQUIRE_TOOLS") == "1":
            pytest.fail("supervisord is required (apt-get install supervisor)")
        pytest.skip("supervisord is not installed (apt-get install supervisor)")
    import zibrato

    librato = LibratoStandIn(user="USERNAME", token="KEY")
    python = sys.executable
    # The original README's sections; only `command` changed (the module instead of a
    # path into dist-packages; a free port and the local Librato instead of the
    # defaults), and `user` is whoever runs the test.
    sections = """
[program:zibrato_backend]
command={python} -m zibrato.backend --host 127.0.0.1 --port {port}
process_name=%(program_name)s
autostart=true
autorestart=true
stopsignal=QUIT
user={user}

[program:zibrato_librato]
command={python} -m zibrato.librato --port {wport} --username USERNAME --apitoken KEY --levels info,warn --flush 1 --api-url {url}
process_name=%(program_name)s
autostart=true
autorestart=true
stopsignal=QUIT
user={user}
""".format(python=python, port=port, wport=port + 1, url=librato.url, user=getpass.getuser())
    sock = tmp_path / "supervisor.sock"
    config = tmp_path / "supervisord.conf"
    config.write_text(
        "[unix_http_server]\nfile={sock}\n\n[supervisord]\nlogfile={d}/supervisord.log\n"
        "pidfile={d}/supervisord.pid\nchildlogdir={d}\n\n[rpcinterface:supervisor]\n"
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n"
        "[supervisorctl]\nserverurl=unix://{sock}\n{sections}".format(
            sock=sock, d=tmp_path, sections=sections
        )
    )
    supervisord = Daemon(["supervisord", "-n", "-c", str(config)])
    try:
        wait_until(
            "both programs running",
            lambda: ctl(str(config), "status").count("RUNNING") == 2,
            START,
        )
        z = zibrato.Zibrato(port=port)
        wait_until("the client to connect", lambda: z.stats()["connected"], START)
        # The worker subscribes after it starts: count until Librato has seen some.
        def counted():
            with z.Count_me(level="info", name="supervised"):
                pass
            z.flush()
            return sum(librato.values("supervised")) > 0

        wait_until("a count at Librato", counted)
        stopped = ctl(str(config), "stop", "all")
        assert stopped.count("stopped") == 2, stopped
        log = (tmp_path / "supervisord.log").read_text()
        assert "stopped: zibrato_backend (exit status 0)" in log, log
        assert "stopped: zibrato_librato (exit status 0)" in log, log
    finally:
        supervisord.stop()
        librato.close()


def shutil_which(name):
    import shutil

    return shutil.which(name)
