"""An OTLP/HTTP metrics receiver for zibrato-otlp's tests, decoding with the official
`opentelemetry-proto` package (not our code). Prints `listening PORT`, then one JSON
line per export request: its headers, encoding, compression and the request as
protobuf's own JSON form (MessageToDict, proto field names).

    python otlp_receiver.py [--fail N --status S] [--partial K] [--path P] [--refuse S]

--fail N: answer the first N non-empty exports with status S and `Retry-After: 1`.
--partial K: answer the first non-empty export with partial_success (K points refused).
--path P: the path exports are taken at (default /v1/metrics; others get 404).
--refuse S: answer the first non-empty export with status S and a google.rpc.Status
  body (the official googleapis-common-protos type), protobuf or JSON as the request.
--delay S: wait S seconds before answering any export.
--tls-cert F --tls-key F: serve HTTPS with this certificate and key (PEM).
--client-ca F: and require a client certificate signed by this CA (mutual TLS); each
  export line then names the client certificate's common name.
"""

import argparse
import gzip
import json
import ssl
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as service

parser = argparse.ArgumentParser()
parser.add_argument("--fail", type=int, default=0)
parser.add_argument("--status", type=int, default=503)
parser.add_argument("--partial", type=int, default=0)
parser.add_argument("--path", default="/v1/metrics")
parser.add_argument("--refuse", type=int, default=0)
parser.add_argument("--delay", type=float, default=0.0)
parser.add_argument("--tls-cert")
parser.add_argument("--tls-key")
parser.add_argument("--client-ca")
args = parser.parse_args()
state = {"failed": 0, "partial_sent": False, "refused": False}
REFUSAL = "the test refuses this export"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if args.delay:
            time.sleep(args.delay)
        compressed = self.headers.get("Content-Encoding") == "gzip"
        if compressed:
            body = gzip.decompress(body)
        is_json = self.headers.get("Content-Type", "").startswith("application/json")
        request = service.ExportMetricsServiceRequest()
        try:
            if is_json:
                json_format.Parse(body, request)
            else:
                request.ParseFromString(body)
        except Exception as e:  # noqa: BLE001
            self.send_response(400)
            self.end_headers()
            self.wfile.write(str(e).encode())
            return
        empty = len(request.resource_metrics) == 0
        if self.path != args.path:
            self.send_response(404)
            self.end_headers()
            return
        if not empty and state["failed"] < args.fail:
            state["failed"] += 1
            print(json.dumps({"refused": args.status}), flush=True)
            self.send_response(args.status)
            self.send_header("Retry-After", "1")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if not empty and args.refuse and not state["refused"]:
            from google.rpc import code_pb2, status_pb2

            state["refused"] = True
            status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=REFUSAL)
            if is_json:
                out = json_format.MessageToJson(status).encode()
                content_type = "application/json"
            else:
                out = status.SerializeToString()
                content_type = "application/x-protobuf"
            print(json.dumps({"refused": args.refuse}), flush=True)
            self.send_response(args.refuse)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
            return
        response = service.ExportMetricsServiceResponse()
        if not empty and args.partial and not state["partial_sent"]:
            state["partial_sent"] = True
            response.partial_success.rejected_data_points = args.partial
            response.partial_success.error_message = "%d points refused by the test" % args.partial
        line = {
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "json": is_json,
            "gzip": compressed,
            "empty": empty,
            "bytes": len(body),
            "request": json_format.MessageToDict(request, preserving_proto_field_name=True),
            "client": client_name(self.connection),
        }
        print(json.dumps(line), flush=True)
        if is_json:
            out = json_format.MessageToJson(response).encode()
            content_type = "application/json"
        else:
            out = response.SerializeToString()
            content_type = "application/x-protobuf"
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


def client_name(connection):
    """The common name of the client's certificate, if it presented one."""
    cert = connection.getpeercert() if isinstance(connection, ssl.SSLSocket) else None
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value
    return None


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
if args.tls_cert:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.tls_cert, args.tls_key)
    if args.client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(args.client_ca)
    server.socket = context.wrap_socket(server.socket, server_side=True)
print("listening %d" % server.server_address[1], flush=True)
try:
    server.serve_forever()
except KeyboardInterrupt:
    pass
