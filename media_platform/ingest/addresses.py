"""Which URLs and addresses the safe HTTP client may reach (http(s) only, public unicast only),
and the single name resolution a request's connection is pinned to."""

from __future__ import annotations

import ipaddress
import socket
import threading
from typing import Any
from urllib.parse import urlsplit

from media_platform.ingest.deadline import Deadline
from media_platform.ingest.http_errors import HttpError, HttpTimeoutError, UnsafeUrlError

ALLOWED_SCHEMES = ("http", "https")
ALLOW_PRIVATE_VARIABLE = "MEDIA_PLATFORM_ALLOW_PRIVATE_URLS"
_EXTRA_BLOCKED = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.0.0/24", "100.64.0.0/10", "64:ff9b:1::/48", "2001:db8::/32", "fec0::/10")
)


def check_url(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of an absolute http(s) URL with a host (IDNA-encoded), else
    :class:`UnsafeUrlError` (nothing is resolved)."""
    if not isinstance(url, str) or not url:
        raise UnsafeUrlError("<empty>", "URL is empty")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise UnsafeUrlError(url, "URL contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrlError(url, f"malformed URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise UnsafeUrlError(url, f"scheme {scheme or '(none)'!r} is not http(s)")
    if not parts.hostname:
        raise UnsafeUrlError(url, "URL has no host")
    try:
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise UnsafeUrlError(url, f"invalid host name: {exc}") from None
    return scheme, host, port if port is not None else (443 if scheme == "https" else 80)


def is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether an address is globally routable unicast, also looking inside IPv6 forms that
    embed an IPv4 address (IPv4-mapped, 6to4, NAT64 ``64:ff9b::/96``)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in ipaddress.ip_network("64:ff9b::/96"):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and not is_public_address(embedded):
            return False
        if embedded is not None and address.sixtofour is None:
            return True  # IPv4-mapped or NAT64: the embedded IPv4 address decides
    if not address.is_global or address.is_multicast or address.is_reserved:
        return False
    return not any(address in net for net in _EXTRA_BLOCKED if net.version == address.version)


def _lookup(url: str, host: str, port: int, deadline: Deadline | None) -> list[Any]:
    """``getaddrinfo``, abandoned (left to finish in its thread) when the deadline passes: the
    system resolver cannot be interrupted, but the request need not wait for it."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            outcome["error"] = exc

    if deadline is None:
        run()
    else:
        thread = threading.Thread(target=run, name="resolve", daemon=True)
        thread.start()
        thread.join(deadline.remaining())
        if thread.is_alive():
            raise HttpTimeoutError(
                url, f"took longer than {deadline.seconds:g} s in all (resolving {host!r})",
                retryable=True,
            )
    if "error" in outcome:
        raise HttpError(
            url, f"cannot resolve host {host!r}: {outcome['error']}", retryable=True
        ) from None
    return list(outcome["infos"])


def resolve_checked(
    url: str, host: str, port: int, *, allow_private: bool, deadline: Deadline | None = None
) -> list[str]:
    """Resolve ``host`` once (within ``deadline``) and return its addresses, refusing internal
    ones (unless ``allow_private``). The caller connects only to these addresses."""
    infos = _lookup(url, host, port, deadline)
    addresses: list[str] = []
    for info in infos:
        text = str(info[4][0]).split("%", 1)[0]
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise UnsafeUrlError(url, f"host {host!r} resolved to {text!r}, not an address") from None
        if not allow_private and not is_public_address(address):
            raise UnsafeUrlError(
                url,
                f"host {host!r} is an internal address ({address}); "
                f"set {ALLOW_PRIVATE_VARIABLE}=1 to allow it",
            )
        if text not in addresses:
            addresses.append(text)
    if not addresses:
        raise HttpError(url, f"host {host!r} has no address", retryable=True)
    return addresses


