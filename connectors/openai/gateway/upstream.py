"""The connection to the upstream: TLS always verified, plain http only where it is safe.

Examples
--------
>>> check_upstream_url("https://api.openai.com/v1", allow_insecure=False)
'https://api.openai.com/v1'
>>> check_upstream_url("http://127.0.0.1:8000/v1", allow_insecure=False)
'http://127.0.0.1:8000/v1'
>>> check_upstream_url("http://10.0.0.5:8000/v1", allow_insecure=False)
Traceback (most recent call last):
...
midstream.connectors.openai.gateway.exceptions.InsecureUpstreamError: refusing the plain-http upstream \
on 10.0.0.5: only loopback hosts may use http (use https, or --allow-insecure-upstream)
>>> redacted_url("https://user:pw@example.com/v1")
'https://example.com/v1'
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from midstream.connectors.openai.gateway.exceptions import GatewayConfigError, InsecureUpstreamError

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback name or address (127.0.0.0/8, ::1)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_upstream_url(url: str, *, allow_insecure: bool) -> str:
    """Validate the upstream URL; plain http needs a loopback host or ``allow_insecure``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise GatewayConfigError(f"the upstream must be an http(s) URL with a host, got "
                          f"{redacted_url(url)!r}")
    if parts.scheme == "http" and not allow_insecure and not is_loopback(parts.hostname):
        raise InsecureUpstreamError(
            f"refusing the plain-http upstream on {parts.hostname}: only loopback hosts may "
            "use http (use https, or --allow-insecure-upstream)")
    return url


def redacted_url(url: str) -> str:
    """``url`` without user info, query or fragment: safe to log."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def make_session(timeout: float) -> aiohttp.ClientSession:
    """Open the client session to the upstream.

    TLS certificates are always verified (aiohttp's default context, never
    ``ssl=False``); ``timeout`` bounds connecting and waiting for the response
    headers, not the length of a stream.
    """
    connector = aiohttp.TCPConnector(limit=0, ssl=True, enable_cleanup_closed=True)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout, connect=timeout),
        auto_decompress=True,
        # Upstream bodies pass through; the gateway never follows redirects to other hosts.
        skip_auto_headers=("User-Agent",),
    )
