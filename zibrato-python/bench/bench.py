"""Per-call cost of recording through the `zibrato` package, beside
prometheus_client's Counter.inc() and the pystatsd client's incr() in the same run.

    python zibrato-python/bench/bench.py            # needs prometheus_client, statsd

A broker is started (python -m zibrato.backend on a free 127.0.0.1 port) so the
client publishes for real. Each figure is the best of 7 runs of 200 000 calls,
in nanoseconds per call; the function bodies are empty, so a decorated call's
figure includes Python's own call of the function. The original Zibrato's 3.4 us
per `count_me`-decorated call (pyzmq, Python 3) was measured on this machine
before and is not re-measured here.
"""

import socket
import subprocess
import sys
import time
import timeit

import zibrato

ORIGINAL_COUNT_ME_NS = 3400.0
NUMBER = 200_000
REPEAT = 7


def free_port_pair():
    while True:
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                    return port
                except OSError:
                    continue


def per_call_ns(stmt, setup_globals):
    timer = timeit.Timer(stmt, globals=setup_globals)
    return min(timer.repeat(repeat=REPEAT, number=NUMBER)) / NUMBER * 1e9


def main():
    port = free_port_pair()
    broker = subprocess.Popen(
        [sys.executable, "-m", "zibrato.backend", "--port", str(port)],
        stderr=subprocess.DEVNULL,
    )
    try:
        z = zibrato.Zibrato(port=port)
        deadline = time.monotonic() + 20
        while not z.stats()["connected"] and time.monotonic() < deadline:
            time.sleep(0.01)

        def plain():
            pass

        @z.count_me(level="info", name="bench.count")
        def counted():
            pass

        @z.time_me(level="info", name="bench.time")
        def timed():
            pass

        g = {"z": z, "plain": plain, "counted": counted, "timed": timed}
        rows = [
            ("plain function call (no instrumentation)", per_call_ns("plain()", g)),
            ("@z.count_me decorated call", per_call_ns("counted()", g)),
            ("@z.time_me decorated call", per_call_ns("timed()", g)),
            (
                "with z.Count_me(...): pass",
                per_call_ns("with z.Count_me('info', 'bench.block'): pass", g),
            ),
            (
                "with z.Time_me(...): pass",
                per_call_ns("with z.Time_me('info', 'bench.tblock'): pass", g),
            ),
            ("z.gauge(...)", per_call_ns("z.gauge('info', 'bench.gauge', 1.5)", g)),
        ]
        try:
            import prometheus_client

            counter = prometheus_client.Counter("bench_total", "calls")
            rows.append(("prometheus_client Counter.inc()", per_call_ns("counter.inc()", {"counter": counter})))

            @counter.count_exceptions()
            def prom_counted():
                pass

            rows.append(
                ("prometheus_client @count_exceptions() decorated call", per_call_ns("prom_counted()", {"prom_counted": prom_counted}))
            )
        except ImportError:
            print("prometheus_client is not installed: pip install prometheus_client", file=sys.stderr)
        try:
            import statsd

            # A UDP socket of our own receives (and drops, unread) what pystatsd
            # sends, as a statsd daemon on this host would: one datagram per call.
            sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sink.bind(("127.0.0.1", 0))
            client = statsd.StatsClient("127.0.0.1", sink.getsockname()[1])
            rows.append(("pystatsd StatsClient.incr()", per_call_ns("client.incr('bench')", {"client": client})))

            @client.timer("bench.timed")
            def statsd_timed():
                pass

            rows.append(("pystatsd @timer decorated call", per_call_ns("statsd_timed()", {"statsd_timed": statsd_timed})))
            sink.close()
        except ImportError:
            print("statsd (pystatsd) is not installed: pip install statsd", file=sys.stderr)
        z.flush(10)
        stats = z.stats()
    finally:
        broker.terminate()
        broker.wait(20)

    print("Python %s, zibrato %s" % (sys.version.split()[0], getattr(zibrato, "__version__", "before 0.1")))
    print("%-56s %10s" % ("call", "ns/call"))
    for name, ns in rows:
        print("%-56s %10.1f" % (name, ns))
    counted_ns = rows[1][1]
    print("original Zibrato @count_me (earlier measurement)          %10.1f" % ORIGINAL_COUNT_ME_NS)
    print("@z.count_me vs the original: %.1fx cheaper (bar: 10x)" % (ORIGINAL_COUNT_ME_NS / counted_ns))
    inc = dict(rows).get("prometheus_client Counter.inc()")
    if inc:
        print("@z.count_me call / Counter.inc(): %.2f (bar: <= 1)" % (counted_ns / inc))
    incr = dict(rows).get("pystatsd StatsClient.incr()")
    if incr:
        print("@z.count_me call / pystatsd incr(): %.2f" % (counted_ns / incr))
    print("client: recorded %d, dropped %d, rejected %d" % (
        stats["recorded"], stats["dropped_buffer_full"] + stats["dropped_backlog"], stats["rejected"]))


if __name__ == "__main__":
    main()
