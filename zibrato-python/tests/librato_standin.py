"""A local HTTP server playing Librato's source-based API for the tests: it checks
basic auth and the JSON shape, and keeps every gauge entry posted."""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LibratoStandIn(object):
    def __init__(self, user="ops@example.com", token="s3cret"):
        self.expected = "Basic " + base64.b64encode(("%s:%s" % (user, token)).encode()).decode()
        self.entries = []
        self.requests = []
        self.lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.headers.get("Authorization") != standin.expected:
                    return self._answer(401, {"errors": {"request": ["Authorization Required"]}})
                self._answer(200, {"query": {}, "metrics": []})

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with standin.lock:
                    standin.requests.append((self.path, dict(self.headers), body))
                if self.headers.get("Authorization") != standin.expected:
                    return self._answer(401, {"errors": {"request": ["Authorization Required"]}})
                if self.path != "/v1/metrics":
                    return self._answer(404, {"errors": {"request": ["not found"]}})
                try:
                    payload = json.loads(body)
                    gauges = payload["gauges"]
                    assert isinstance(gauges, list)
                    for g in gauges:
                        assert isinstance(g["name"], str) and isinstance(g["measure_time"], int)
                        assert "value" in g or {"count", "sum"} <= set(g)
                except (ValueError, KeyError, AssertionError, TypeError):
                    return self._answer(400, {"errors": {"request": ["bad JSON"]}})
                with standin.lock:
                    standin.entries.extend(gauges)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/v1/metrics" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def values(self, name):
        with self.lock:
            return [e.get("value", e.get("sum")) for e in self.entries if e["name"] == name]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
