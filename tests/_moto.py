"""An S3-compatible server for tests: moto in server mode on 127.0.0.1, started empty.

moto keeps its buckets in process-wide state shared by every server it starts, so a bucket
another test module left behind would show through; :func:`start_moto` resets that state."""

from __future__ import annotations

import urllib.request
from typing import Any


def start_moto() -> tuple[Any, str]:
    """A started, empty moto server and its endpoint URL (stop it with ``server.stop()``)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(reset, timeout=10) as response:  # noqa: S310 - loopback only
        response.read()
    return server, endpoint
