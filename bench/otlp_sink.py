"""`python -m bench.otlp_sink [--port 4318]`: an OTLP/HTTP endpoint on 127.0.0.1 that accepts and drops traces.

For measuring what exporting spans costs Hourglass's processes (`OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318
python -m bench.profile executor`) without a collector's own work on the same machine: it answers every
POST /v1/traces with an empty ExportTraceServiceResponse (an empty protobuf message) and counts what it got.
"""

from __future__ import annotations

import argparse
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Sink(BaseHTTPRequestHandler):
    received = 0

    def do_POST(self) -> None:  # http.server's name
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        Sink.received += length
        self.send_response(200 if self.path == "/v1/traces" else 404)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # http.server's signature
        return


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.otlp_sink", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=4318)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Sink)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        print(f"received {Sink.received:,} bytes of traces", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
