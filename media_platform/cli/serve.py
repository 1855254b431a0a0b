"""``media-platform serve``: the search API and the editors' page, served by uvicorn.

The API binds to loopback (127.0.0.1) by default. Any other address needs a token
(``MEDIA_PLATFORM_API_TOKEN``) that every request then carries; without one the command refuses
to start (exit 2) rather than expose the catalogue to the network.
"""

from __future__ import annotations

import argparse
import ipaddress
import socket

from media_platform.cli.inputs import EXIT_OK, CliError, check_text
from media_platform.keys import printable
from media_platform.settings import get_settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def is_loopback(host: str) -> bool:
    """True when every address ``host`` names is a loopback address (``127.0.0.0/8``, ``::1``,
    ``localhost``)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


def check_bind(host: str, port: int, token_configured: bool) -> None:
    """Refuse a port out of range, an empty host, or a non-loopback host without a token."""
    if not host:
        raise CliError("--host: empty")
    if not 0 < port < 65536:
        raise CliError(f"--port: {port} is not a TCP port (1-65535)")
    if not is_loopback(host) and not token_configured:
        raise CliError(
            f"--host: {printable(host)} is not a loopback address; binding beyond this machine requires "
            "a token: set MEDIA_PLATFORM_API_TOKEN (every request must then send 'Authorization: Bearer <token>')"
        )


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from media_platform.api.app import create_app

    host = check_text(args.host, "--host")
    settings = get_settings()
    check_bind(host, args.port, settings.api_token is not None)
    app = create_app()
    _prepare_encoder(app, settings.api_encoder_threads)
    print(f"serving the search API on http://{printable(host)}:{args.port} "
          f"(OpenAPI: /docs; token {'required' if settings.api_token is not None else 'not required'})", flush=True)
    uvicorn.run(app, host=host, port=args.port, log_level=args.log_level, access_log=args.log_level == "debug")
    return EXIT_OK


def _prepare_encoder(app: object, threads: int) -> None:
    """Run the text encoder on ``threads`` torch threads and load it in the background, so the
    first text query does not wait for the model (a model that cannot load is reported by the
    query, with a 503)."""
    import threading

    import torch

    torch.set_num_threads(threads)

    def warm() -> None:
        try:
            app.state.context.encoder()  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - the query that needs it answers 503
            print(f"note: the text encoder did not load yet: {printable(str(exc))}", flush=True)

    threading.Thread(target=warm, name="encoder-warm-up", daemon=True).start()


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve the search API and the editors' page (uvicorn)")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help="address to bind (default 127.0.0.1; another needs MEDIA_PLATFORM_API_TOKEN)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})")
    p.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=cmd_serve)
