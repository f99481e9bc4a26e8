"""What a Python developer expects of a package: its version, its own exceptions,
configuration from the environment, test doubles, and calls that do what their
documentation says."""

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import zibrato
from zibrato.testing import Measurement, NoopZibrato, SpyZibrato

from conftest import ROOT, Console, wait_until


def test_the_version_is_the_crates():
    cargo = (ROOT / "zibrato-python" / "Cargo.toml").read_text()
    version = re.search(r'^version = "([^"]+)"', cargo, re.M).group(1)
    assert zibrato.__version__ == version
    from importlib.metadata import version as installed

    assert installed("zibrato") == version


def test_the_package_says_it_is_typed():
    package = Path(zibrato.__file__).parent
    assert (package / "py.typed").exists()
    assert (package / "_zibrato.pyi").exists()


def test_errors_are_the_packages_own_and_still_the_builtins_they_were(tmp_path):
    spy = SpyZibrato()
    with pytest.raises(zibrato.ConfigError) as refused:
        spy.count_me("info", "bad\nname")
    assert isinstance(refused.value, ValueError)
    assert isinstance(refused.value, zibrato.ZibratoError)
    with pytest.raises(zibrato.ConfigError):
        zibrato.Zibrato(port=70000)
    with pytest.raises(zibrato.ConfigError):
        zibrato.Zibrato(curve_secret_file=str(tmp_path / "half"))
    assert issubclass(zibrato.FlushError, RuntimeError)
    assert issubclass(zibrato.Fatal, zibrato.ZibratoError)
    assert issubclass(zibrato.Retry, zibrato.ZibratoError)


def test_a_flush_that_cannot_finish_raises_flush_error(port):
    # Nothing listens on `port`: the client holds what it recorded, and a flush
    # with a short timeout cannot hand it to a broker.
    z = zibrato.Zibrato(port=port)
    z.count_me("info", "waiting")(lambda: None)()
    with pytest.raises(zibrato.FlushError):
        z.flush(0.2)
    z.close()


def test_a_gauge_never_raises_and_counts_what_it_refuses():
    z = SpyZibrato()
    for bad in (None, "abc", object(), float("nan"), math.inf, 10**400):
        assert z.gauge("info", "g", bad) is None
    z.gauge("info", "g", "2.5")  # what float() takes is a number
    z.gauge("info", "g", True)
    z.gauge("info", "bad\nname", 1)
    assert z.measurements() == [
        Measurement("info", "gauge", "g", None, 2.5),
        Measurement("info", "gauge", "g", None, 1.0),
    ]
    assert z.stats()["rejected"] == 7


def test_the_spy_keeps_every_measurement_and_the_noop_nothing():
    z = SpyZibrato(source="test-host")

    @z.count_me(level="info", name="orders.placed", value=2)
    def place():
        return "placed"

    assert place() == "placed"
    with z.Time_me("debug", "block"):
        pass
    z.gauge("crit", "depth", 12, source="queue-1")
    got = z.measurements()
    assert got[0] == Measurement("info", "counter", "orders.placed", "test-host", 2)
    assert got[1][:4] == ("debug", "timer", "block", "test-host")
    assert 0 <= got[1].value < 5.0
    assert got[2] == Measurement("crit", "gauge", "depth", "queue-1", 12.0)
    assert len(got) == 3
    z.clear()
    assert z.measurements() == []

    n = NoopZibrato()
    n.count_me("info", "x")(lambda: None)()
    n.flush()
    assert n.stats()["recorded"] == 1 and n.stats()["rejected"] == 0


RECORD = """
import zibrato
z = zibrato.Zibrato()
print(z.host, z.port, z.source, flush=True)
z.count_me('info', 'from.env')(lambda: None)()
"""


def run_python(code, env):
    full = dict(os.environ)
    full.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=60
    )


def test_host_port_and_source_come_from_the_environment(port, broker, console):
    env = {"ZIBRATO_HOST": "127.0.0.1", "ZIBRATO_PORT": str(port), "ZIBRATO_SOURCE": "web-7"}
    done = run_python(RECORD, env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["127.0.0.1", str(port), "web-7"]
    console.wait_total("from.env", 1, source="web-7")


def test_an_argument_wins_over_the_environment_and_a_bad_port_is_named(port):
    env = {"ZIBRATO_PORT": "1", "ZIBRATO_SOURCE": "env", "ZIBRATO_HOST": "localhost"}
    done = run_python(
        "import zibrato; z = zibrato.Zibrato(host='127.0.0.1', port=%d, source='arg');"
        "print(z.host, z.port, z.source)" % port,
        env,
    )
    assert done.stdout.split() == ["127.0.0.1", str(port), "arg"], done.stderr
    bad = run_python("import zibrato; zibrato.Zibrato()", {"ZIBRATO_PORT": "http"})
    assert bad.returncode == 1
    assert "ConfigError: ZIBRATO_PORT must be a port number, 1-65535, not 'http'" in bad.stderr
