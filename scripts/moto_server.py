"""moto_server with every request handled atomically.

moto's in-memory backends are not thread-safe, and `moto_server` serves requests on threads:
concurrent writes to one table can fail with HTTP 500 ("dictionary changed size during
iteration" in TransactWriteItems) or interleave a condition check with another write. Real
DynamoDB applies each request atomically. This wrapper serves moto as `moto_server` does
(same app, same request handler, threaded I/O) but runs one request at a time through moto, so
conditional writes and transactions behave as on AWS; and it sets TCP_NODELAY (see Handler).

Usage (same flags as moto_server): python scripts/moto_server.py -H 127.0.0.1 -p 5005
"""

import argparse
import os
import signal
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


class Handler(MotoRequestHandler):
    # TCP_NODELAY, as a real endpoint's server sets it: werkzeug writes a response's head and
    # body separately, and with Nagle's algorithm on loopback the body then waits for the
    # client's delayed ACK, adding a millisecond or more to every AWS call.
    disable_nagle_algorithm = True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))

    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    moto_app = DomainDispatcherApplication(create_backend_app)
    moto_app.debug = True
    lock = threading.Lock()

    def serialized(environ, start_response):
        with lock:
            # Produce the whole body under the lock: moto builds it from shared state.
            return [b"".join(moto_app(environ, start_response))]

    run_simple(
        args.host,
        args.port,
        serialized,
        threaded=True,
        use_reloader=False,
        request_handler=Handler,
    )


if __name__ == "__main__":
    main()
