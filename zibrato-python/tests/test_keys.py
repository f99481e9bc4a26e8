"""CURVE keys from Python: a client with the broker's key and its own pair, allowed by
the broker, gets its counts through; one without a key gets nothing through."""
import os
import subprocess

import pytest

import zibrato
from conftest import Console, bin_path, start_broker, wait_until


@pytest.fixture
def keys(tmp_path):
    def make(name):
        subprocess.run(
            [bin_path("zibrato-broker"), "keygen", name, "--dir", str(tmp_path)],
            check=True,
            capture_output=True,
        )
        return str(tmp_path / (name + ".key")), str(tmp_path / (name + ".key_secret"))

    return make


def test_a_client_with_keys_gets_through_and_one_without_does_not(keys, port, tmp_path):
    broker_public, broker_secret = keys("broker")
    app_public, app_secret = keys("app")
    worker_public, worker_secret = keys("worker")
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    for public in (app_public, worker_public):
        os.link(public, str(allowed / os.path.basename(public)))
    broker = start_broker(
        port, "--curve-secret-file", broker_secret, "--curve-allow", str(allowed)
    )
    console = Console(
        port, "info", "--curve-secret-file", worker_secret, "--curve-server-key", broker_public
    )
    try:
        keyed = zibrato.Zibrato(
            port=port, curve_secret_file=app_secret, curve_server_key=broker_public
        )
        keyless = zibrato.Zibrato(port=port)
        wait_until("the keyed client to connect", lambda: keyed.stats()["connected"])
        for _ in range(7):
            keyed.gauge("info", "through", 1.0)
            keyless.gauge("info", "refused", 1.0)
        keyed.flush(5)
        console.wait_total("through", 7, field="count")
        keyless.close()
        assert console.total("refused", field="count") == 0
        with pytest.raises(ValueError, match="go together"):
            zibrato.Zibrato(port=port, curve_secret_file=app_secret)
        with pytest.raises(ValueError, match="readable by its owner"):
            os.chmod(app_secret, 0o644)
            zibrato.Zibrato(port=port, curve_secret_file=app_secret, curve_server_key=broker_public)
    finally:
        console.stop()
        broker.stop()
