"""The original API against the real broker (python -m zibrato.backend) and the real
zibrato-console worker: what the original test suite checked, and what the rewrite
fixed."""

import asyncio
import os
import sys
import threading
import time

import pytest

from conftest import Console, wait_until

SLEEP = 0.05  # seconds


def test_a_decorated_function_returns_its_result_and_is_counted(z, console):
    @z.count_me(level="info", name="calls")
    def add(a, b=1):
        return a + b

    @z.count_me("info", "calls.by5", value=5, source="web-1")
    def five():
        return "five"

    assert add.__name__ == "add"
    assert [add(i, b=2) for i in range(10)] == [i + 2 for i in range(10)]
    assert five() == "five" and five() == "five"
    z.flush()
    console.wait_total("calls", 10)
    console.wait_total("calls.by5", 10, source="web-1")


def test_the_context_manager_gives_none_and_counts_by_its_value(z, console):
    with z.Count_me(level="info", name="jobs") as given:
        assert given is None
    for _ in range(3):
        with z.Count_me("info", "jobs", value=4):
            pass
    z.flush()
    console.wait_total("jobs", 13)


def test_a_value_of_zero_is_sent_as_zero_and_exceptions_are_counted(z, console):
    # The original sent a value of 0 as 1 and did not count a call that raised.
    @z.count_me("info", "zero", value=0)
    def nothing():
        return None

    @z.count_me("info", "failing")
    def fails():
        raise KeyError("x")

    nothing()
    for _ in range(2):
        with pytest.raises(KeyError):
            fails()
    with pytest.raises(ValueError):
        with z.Count_me("info", "failing"):
            raise ValueError("not swallowed")
    z.gauge("info", "zero.gauge", 0)
    z.flush()
    console.wait_total("failing", 3)
    wait_until("the zero counter", lambda: any(s["name"] == "zero" for s in console.series()))
    assert console.total("zero") == 0
    console.wait_total("zero.gauge", 1, field="count")
    assert console.total("zero.gauge", field="max") == 0


def test_timers_measure_a_sleep_in_seconds_at_the_workers(z, console):
    @z.time_me(level="info", name="slow")
    def slow():
        time.sleep(SLEEP)
        return 42

    assert slow() == 42
    with z.Time_me("info", "block") as given:
        assert given is None
        time.sleep(SLEEP)
    z.flush()
    console.wait_total("slow", 1, field="count")
    console.wait_total("block", 1, field="count")
    for name in ("slow", "block"):
        # The console prints timers in nanoseconds, as measured.
        assert console.total(name, field="min") >= SLEEP * 1e9


def test_gauges_keep_every_reading(z, console):
    for value in (2, 6.5, -1):
        assert z.gauge(level="info", name="depth", value=value) is None
    z.flush()
    console.wait_total("depth", 3, field="count")
    assert console.total("depth", field="sum") == 7.5
    assert console.total("depth", field="min") == -1


def test_levels_match_exactly(z, port, console):
    # The original matched levels by prefix: `info` also received `information`.
    z.gauge("information", "elsewhere", 1)
    z.gauge("info2", "elsewhere", 1)
    z.gauge("info", "here", 1)
    z.flush()
    console.wait_total("here", 1, field="count")
    time.sleep(1.5)  # one more window: nothing else arrives
    assert all(s["name"] != "elsewhere" for s in console.series())


def test_generators_and_async_functions_are_timed_whole(z, console):
    @z.time_me("info", "gen")
    @z.count_me("info", "gen.runs")
    def numbers():
        for i in range(3):
            time.sleep(SLEEP)
            yield i

    @z.time_me("info", "coro")
    async def waits():
        await asyncio.sleep(SLEEP)
        await asyncio.sleep(SLEEP)
        return "done"

    @z.count_me("info", "agen.runs")
    async def agen():
        for i in range(2):
            await asyncio.sleep(0)
            yield i

    async def collect():
        return [i async for i in agen()]

    assert list(numbers()) == [0, 1, 2]
    assert asyncio.run(waits()) == "done"
    assert asyncio.run(collect()) == [0, 1]
    z.flush()
    console.wait_total("gen", 1, field="count")
    console.wait_total("coro", 1, field="count")
    console.wait_total("gen.runs", 1)
    console.wait_total("agen.runs", 1)
    assert console.total("gen", field="min") >= 3 * SLEEP * 1e9
    assert console.total("coro", field="min") >= 2 * SLEEP * 1e9


def test_many_threads_lose_nothing(z, console):
    @z.count_me("info", "threaded")
    def work():
        return None

    def run():
        for _ in range(2000):
            work()
            z.gauge("info", "threaded.gauge", 1)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    z.flush()
    console.wait_total("threaded", 16000)
    console.wait_total("threaded.gauge", 16000, field="count")
    assert z.stats()["rejected"] == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX")
def test_a_forked_child_records_through_a_client_of_its_own(z, console):
    @z.count_me("info", "forked")
    def work():
        return None

    work()
    z.flush()
    console.wait_total("forked", 1)
    pid = os.fork()
    if pid == 0:  # the child: record, publish, and leave without Python's clean-up
        code = 1
        try:
            for _ in range(5):
                work()
            with z.Count_me("info", "forked.child"):
                pass
            # os._exit skips every clean-up: close first (flush alone hands frames to
            # ZeroMQ, whose thread would die with the process before sending them).
            z.close()
            code = 0 if z.stats()["measurements_sent"] == 6 else 2
        finally:
            os._exit(code)
    for _ in range(10):
        work()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    z.flush()
    console.wait_total("forked", 16)
    console.wait_total("forked.child", 1)


def test_invalid_names_are_refused_when_decorating(z):
    with pytest.raises(ValueError):
        z.count_me("info", "")
    with pytest.raises(ValueError):
        z.time_me("no spaces in levels", "x")
    with pytest.raises(TypeError):
        z.count_me("info", "x", value="one")
    # A record call never raises: it is counted.
    z.gauge("info", "", 1)
    assert z.stats()["rejected"] == 1


def test_the_original_readme_example_runs(port, broker, tmp_path):
    # The example of the original README, with its two typos fixed: a mismatched
    # quote ("myfunct_counter') and `import zibrato` before a bare `Zibrato()`; the
    # `...` elisions filled with calls. No flush: what was recorded is published
    # when the interpreter exits, as the original's users expected.
    console = Console(port, levels="info,debug")
    try:
        script = tmp_path / "example.py"
        script.write_text(
            """
from zibrato import Zibrato
z = Zibrato()
z = Zibrato(host = '127.0.0.1', port = '%d')

def time_consuming_operations():
  pass

def slow_function_to_time():
  pass

@z.time_me(level = 'debug', name = 'myfunct_timer', source = 'myprog')
def myfunctt():
  time_consuming_operations()

@z.count_me(level = 'info', name = 'myfunct_counter', value = 5) # inc by 5
def myfunctc():
  pass

myfunctt()
myfunctc()
with z.Count_me(level = 'info', name = 'counter_name', source = 'deathstar'):
  pass
with z.Time_me(level = 'debug', name = 'timer_name'):
  slow_function_to_time()
"""
            % port
        )
        subprocess_run([sys.executable, str(script)])
        console.wait_total("myfunct_counter", 5)
        console.wait_total("counter_name", 1, source="deathstar")
        console.wait_total("myfunct_timer", 1, field="count", source="myprog")
        console.wait_total("timer_name", 1, field="count")
    finally:
        console.stop()


def subprocess_run(argv):
    import subprocess

    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def _record_in_child(port):
    # A module-level target: it uses the parent's client as inherited by fork.
    _CHILD["z"].gauge("info", "mp.child", 1)


_CHILD = {}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX")
def test_a_multiprocessing_child_publishes_before_it_exits(z, port, console):
    import multiprocessing

    _CHILD["z"] = z
    ctx = multiprocessing.get_context("fork")
    children = [ctx.Process(target=_record_in_child, args=(port,)) for _ in range(3)]
    for c in children:
        c.start()
    for c in children:
        c.join(30)
        assert c.exitcode == 0
    console.wait_total("mp.child", 3, field="count")
