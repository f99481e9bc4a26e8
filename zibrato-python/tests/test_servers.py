"""Pre-forking servers as applications run them: gunicorn's sync workers (with and
without `--preload`, with `--max-requests`) and uWSGI (with and without `lazy-apps`),
every request counted exactly once at the real worker."""

import os
import signal
import socket
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import Daemon, wait_until

REQUESTS = 60
BIN = Path(sys.executable).parent

APP = '''
import os
import zibrato

z = zibrato.Zibrato(port=int(os.environ["ZIBRATO_TEST_PORT"]))


@z.count_me(level="info", name="requests")
def handle():
    return b"ok"


def app(environ, start_response):
    body = handle()
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Pid", str(os.getpid()))])
    return [body]
'''


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=10.0):
    """One request, retried while the server starts (bounded: 20 s)."""
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as answer:
                assert answer.read() == b"ok"
                return answer.headers["X-Pid"]
        except (ConnectionError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def serve_and_count(http_port, extra, console):
    """Sends every request; with --max-requests, checks workers were replaced (60
    requests at 7 per worker's life), each sending its last counts as it exited; then
    waits until the worker counted every request while the server runs."""
    pids = {get("http://127.0.0.1:%d/" % http_port) for _ in range(REQUESTS)}
    if "--max-requests" in extra:
        assert len(pids) >= 4, pids
    console.wait_total("requests", REQUESTS)


@pytest.fixture
def app_dir(tmp_path, port):
    (tmp_path / "app.py").write_text(APP)
    return tmp_path


def server_env(port):
    return {"ZIBRATO_TEST_PORT": str(port), "PYTHONUNBUFFERED": "1"}


@pytest.mark.parametrize(
    "extra",
    [[], ["--preload"], ["--max-requests", "7"], ["--preload", "--max-requests", "7"]],
    ids=["plain", "preload", "max-requests", "preload+max-requests"],
)
def test_gunicorn_sync_workers_count_every_request(app_dir, port, console, extra):
    http_port = free_port()
    server = Daemon(
        [str(BIN / "gunicorn"), "--chdir", str(app_dir), "--workers", "3",
         "--worker-class", "sync", "--bind", "127.0.0.1:%d" % http_port] + extra + ["app:app"],
        env=server_env(port),
    )
    try:
        serve_and_count(http_port, extra, console)
    finally:
        assert server.stop(signal.SIGTERM) == 0, server.output()
    # Stopping sends nothing twice.
    assert console.total("requests") == REQUESTS


# uWSGI recycles a worker for --max-requests only after --min-worker-lifetime (10 s
# by default), which this many requests do not last.
RECYCLE = ["--max-requests", "7", "--min-worker-lifetime", "0"]


@pytest.mark.parametrize(
    "extra",
    [[], ["--lazy-apps"], RECYCLE, ["--lazy-apps"] + RECYCLE],
    ids=["preforked", "lazy-apps", "max-requests", "lazy-apps+max-requests"],
)
def test_uwsgi_workers_count_every_request(app_dir, port, console, extra):
    http_port = free_port()
    fifo = app_dir / "master.fifo"
    server = Daemon(
        [str(BIN / "uwsgi"), "--master", "--processes", "3", "--http-socket",
         "127.0.0.1:%d" % http_port, "--chdir", str(app_dir), "--wsgi-file", "app.py",
         "--callable", "app", "--need-app", "--master-fifo", str(fifo)] + extra,
        env=server_env(port),
    )
    try:
        # Counted while serving. Not after the stop: a worker uWSGI recycles at the
        # moment the instance shuts down can be ended by the master before its exit
        # hooks run (see the README's "fork() and servers").
        serve_and_count(http_port, extra, console)
    finally:
        # uWSGI's graceful shutdown ('q' on the master FIFO); SIGTERM would reload.
        if fifo.exists():
            with open(fifo, "w") as f:
                f.write("q")
        try:
            code = server.proc.wait(30)
        finally:
            # The graceful path failed (no FIFO, or stuck): a stop signal, then a kill.
            server.stop(signal.SIGINT)
        assert code == 0, server.output()
    assert console.total("requests") == REQUESTS
