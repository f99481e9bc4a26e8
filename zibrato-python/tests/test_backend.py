"""A backend written in Python (zibrato.Backend), run by the Rust worker core,
receiving exact windows from the real broker."""

import json
import signal
import sys
import time
from pathlib import Path

from conftest import Daemon, wait_until

SCRIPT = str(Path(__file__).parent / "backends" / "record.py")


class Recorder(Daemon):
    def __init__(self, port, env=None):
        Daemon.__init__(
            self,
            [sys.executable, SCRIPT, "--port", str(port + 1), "--levels", "info", "--flush", "1"],
            env=env,
        )

    def lines(self):
        return [json.loads(l) for l in list(self.stdout) if l.startswith("{")]

    def total(self, name, field):
        return sum(s.get(field, 0) for s in self.lines() if s["name"] == name)

    def wait_total(self, name, field, expected):
        wait_until(
            "%s %s == %r (now %r)" % (name, field, expected, self.total(name, field)),
            lambda: self.total(name, field) == expected,
        )


def test_a_python_backend_receives_exact_windows(port, broker, z):
    worker = Recorder(port)
    worker.wait_for("worker subscribed")
    assert "connected" in worker.output()

    @z.count_me("info", "requests", source="web-1")
    def handle():
        return None

    @z.time_me("info", "db.query")
    def query():
        time.sleep(0.02)

    for _ in range(100):
        handle()
    for _ in range(3):
        query()
    for v in (1.5, 4.5):
        z.gauge("info", "depth", v)
    z.gauge("debug", "not.subscribed", 1)
    z.flush()

    worker.wait_total("requests", "sum", 100)
    worker.wait_total("db.query", "count", 3)
    worker.wait_total("depth", "count", 2)
    series = worker.lines()
    requests = [s for s in series if s["name"] == "requests"]
    assert {(s["kind"], s["source"], s["level"]) for s in requests} == {("counter", "web-1", "info")}
    timers = [s for s in series if s["name"] == "db.query"]
    assert all(s["kind"] == "timer" and s["source"] == "not_specified" for s in timers)
    assert min(s["min"] for s in timers) >= 0.02  # seconds, as the original reported
    assert sum(len(s["values"]) for s in timers) == 3
    assert all(0.02 <= v < 60 for s in timers for v in s["percentiles"].values())
    assert worker.total("depth", "sum") == 6.0
    assert all(s["interval"] == 1.0 and s["measure_time"] > 1.7e9 for s in series)
    assert not any(s["name"] == "not.subscribed" for s in series)
    assert worker.stop(signal.SIGTERM) == 0


def test_a_raising_backend_is_retried_and_loses_nothing(port, broker, z):
    worker = Recorder(port, env={"FAIL_FIRST": "3"})
    worker.wait_for("worker subscribed")
    for _ in range(7):
        with z.Count_me("info", "retried"):
            pass
    z.flush()
    worker.wait_total("retried", "sum", 7)
    assert "the service is down" in worker.output()
    assert worker.proc.poll() is None, "a raising backend never kills the worker"
    time.sleep(1.5)
    assert worker.total("retried", "sum") == 7, "each window delivered once"
    assert worker.stop(signal.SIGTERM) == 0


def test_fatal_from_connect_stops_the_worker_with_status_1(port, broker):
    worker = Recorder(port, env={"FATAL_CONNECT": "1"})
    assert worker.proc.wait(30) == 1
    assert "bad credentials" in worker.output()


def test_the_last_window_is_delivered_on_a_stop_signal(port, broker, z):
    worker = Recorder(port)
    worker.wait_for("worker subscribed")
    # A long flush interval: only the shutdown flush can deliver this.
    worker.stop(signal.SIGTERM)
    worker = Daemon(
        [sys.executable, SCRIPT, "--port", str(port + 1), "--levels", "info", "--flush", "3600"]
    )
    worker.wait_for("worker subscribed")
    z.gauge("info", "at.shutdown", 3)
    z.flush()
    time.sleep(1)
    assert worker.stop(signal.SIGQUIT) == 0
    assert '"name": "at.shutdown"' in "".join(worker.stdout)
