"""The real pipeline for the package's tests: the broker started with
``python -m zibrato.backend``, the real ``zibrato-console`` worker (built by the
workspace's ``cargo build``), sockets on 127.0.0.1 only."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
START = 20.0  # seconds start-up may take before a test gives up
WAIT = 20.0  # seconds a measurement may take to come through


def bin_path(name):
    path = ROOT / "target" / "debug" / name
    if not path.exists():
        pytest.fail("%s is missing: run `cargo build --workspace` first" % path)
    return str(path)


def free_ports():
    """Three consecutive free ports on 127.0.0.1 (publishers, workers, linked brokers)."""
    for _ in range(200):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            if port >= 65533:
                continue
            taken = []
            try:
                for offset in (1, 2):
                    b = socket.socket()
                    taken.append(b)
                    b.bind(("127.0.0.1", port + offset))
            except OSError:
                continue
            finally:
                for b in taken:
                    b.close()
            return port
    raise RuntimeError("no three free ports")


def wait_until(what, check, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(0.05)


class Daemon(object):
    """A process whose stdout and stderr are collected line by line."""

    def __init__(self, argv, env=None):
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.argv = argv
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            text=True,
        )
        self.stdout = []
        self.stderr = []
        self._threads = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr), daemon=True),
        ]
        for t in self._threads:
            t.start()

    @staticmethod
    def _read(stream, into):
        for line in stream:
            into.append(line)

    def output(self):
        return "".join(self.stderr) + "".join(self.stdout)

    def wait_for(self, text, timeout=START):
        wait_until(
            "%r from %s; output so far:\n%s" % (text, self.argv[:3], self.output()),
            lambda: text in self.output() or (self.proc.poll() is not None and text in self.output()),
            timeout,
        )

    def stop(self, sig=signal.SIGTERM, timeout=START):
        """Sends ``sig`` and returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
            raise AssertionError("%s did not stop on %s" % (self.argv[:3], sig))
        for t in self._threads:
            t.join(5)
        return code


def start_broker(port, *extra):
    broker = Daemon(
        [sys.executable, "-m", "zibrato.backend", "--host", "127.0.0.1", "--port", str(port)]
        + list(extra)
    )
    broker.wait_for("broker listening")
    return broker


class Console(Daemon):
    """The real ``zibrato-console`` printing 1 s windows as JSON lines."""

    def __init__(self, port, levels="info", *extra):
        Daemon.__init__(
            self,
            [
                bin_path("zibrato-console"),
                "--port",
                str(port + 1),
                "--levels",
                levels,
                "--flush",
                "1",
                "--format",
                "json",
            ]
            + list(extra),
        )
        self.wait_for("worker subscribed")

    def series(self):
        out = []
        for line in list(self.stdout):
            if line.startswith("{"):
                out.append(json.loads(line))
        return out

    def total(self, name, field="sum", source=None):
        """``field`` added over every window of series ``name``."""
        return sum(
            s.get(field, 0)
            for s in self.series()
            if s["name"] == name and (source is None or s["source"] == source)
        )

    def wait_total(self, name, expected, field="sum", source=None):
        wait_until(
            "%s %s == %r (now %r)" % (name, field, expected, self.total(name, field, source)),
            lambda: self.total(name, field, source) == expected,
        )


@pytest.fixture
def port():
    return free_ports()


@pytest.fixture
def broker(port):
    daemon = start_broker(port)
    yield daemon
    daemon.stop()


@pytest.fixture
def console(port, broker):
    daemon = Console(port)
    yield daemon
    daemon.stop()


@pytest.fixture
def z(port, broker):
    import zibrato

    client = zibrato.Zibrato(host="127.0.0.1", port=port)
    wait_until("the client to connect", lambda: client.stats()["connected"], START)
    return client
