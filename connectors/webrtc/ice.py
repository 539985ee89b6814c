"""ICE settings for the ingest: which host addresses to offer, and which STUN/TURN servers to use.

Host addresses
--------------
aioice builds its host candidates from ``aioice.ice.get_host_addresses``,
which lists every interface address *except exactly "127.0.0.1"* (and ``::1``).
On a machine, container or test where the peers can reach each other only over
loopback, no candidate pair can then form and the connection never comes up.

:func:`host_addresses` is the supported way around it, without editing the
installed package. It is a context manager that makes the aioice gathering
done *inside it* use exactly the addresses given (for example
``("127.0.0.1",)``) instead of the interface list:

* :func:`install` replaces the module attribute ``aioice.ice.get_host_addresses``
  (which ``Connection.gather_candidates`` looks up at call time) with a wrapper,
  once per process. The wrapper reads a :class:`contextvars.ContextVar`; when
  that is unset it calls the original function with the same arguments, so
  aioice behaves exactly as shipped.
* :func:`host_addresses` sets the context variable for the duration of the
  ``with`` block. Context variables are per asyncio task (tasks copy the
  context they are created in), so the override applies to the gathering that
  our own ``RTCPeerConnection.setLocalDescription`` runs, including the tasks
  it spawns with ``asyncio.gather``, and to nothing else: other peer
  connections in the same process (another ingest, a test's sending peer)
  gathering at the same moment still get aioice's own list.
* The addresses must be IP literals of this machine; aioice binds one UDP
  socket per address, as it does for the interface addresses. IPv4 and IPv6
  ones are filtered by aioice's ``use_ipv4``/``use_ipv6`` flags, as the
  original does. Nothing else in aioice or aiortc changes.

ICE servers
-----------
aiortc defaults to a public Google STUN server when ``iceServers`` is not set.
The ingest never does: :func:`rtc_configuration` gives exactly the configured
servers, none by default. A server is a URL, with TURN credentials in the
user-info part: ``stun:stun.example.org:3478``, ``turn:user:pass@turn.example.org:3478``
(``?transport=tcp`` and ``turns:`` as aiortc supports them).

Examples
--------
>>> import aioice.ice
>>> with host_addresses(["127.0.0.1"]):
...     aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True)
['127.0.0.1']
>>> "127.0.0.1" in aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)
False
>>> parse_ice_server("turn:alice:s3cret@turn.example.org:3478?transport=tcp").urls
'turn:turn.example.org:3478?transport=tcp'
"""

from __future__ import annotations

import contextvars
import ipaddress
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from urllib.parse import unquote

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer

from midstream.connectors.webrtc.exceptions import WebRtcConfigError

_OVERRIDE: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "midstream_webrtc_host_addresses", default=None)
_SCHEMES = ("stun", "stuns", "turn", "turns")

_original: Callable[[bool, bool], list[str]] | None = None


def _gathered_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    """Call aioice's ``get_host_addresses``, unless :func:`host_addresses` is active in this task."""
    override = _OVERRIDE.get()
    assert _original is not None  # install() sets it before this function is reachable
    if override is None:
        return _original(use_ipv4, use_ipv6)
    chosen = []
    for address in override:
        version = ipaddress.ip_address(address).version
        if (version == 4 and use_ipv4) or (version == 6 and use_ipv6):
            chosen.append(address)
    return chosen


def install() -> None:
    """Put the context-aware wrapper in place of ``aioice.ice.get_host_addresses`` (idempotent).

    Raises
    ------
    WebRtcConfigError
        aioice no longer has ``get_host_addresses`` (a version we do not know).
    """
    global _original
    current = getattr(aioice.ice, "get_host_addresses", None)
    if current is _gathered_addresses:
        return
    if current is None:
        raise WebRtcConfigError("this aioice version has no aioice.ice.get_host_addresses; "
                          "host_addresses cannot be applied (known to work with aioice 0.9-0.10)")
    _original = current
    aioice.ice.get_host_addresses = _gathered_addresses


def check_host_addresses(addresses: Sequence[str]) -> tuple[str, ...]:
    """Validate host-candidate addresses: IP literals, no wildcard, no duplicates.

    >>> check_host_addresses(["127.0.0.1", "::1"])
    ('127.0.0.1', '::1')
    >>> check_host_addresses(["localhost"])
    Traceback (most recent call last):
    ...
    midstream.connectors.webrtc.exceptions.WebRtcConfigError: host address 'localhost' is not an IP address \
(give IP literals of this machine, e.g. 127.0.0.1)
    """
    if isinstance(addresses, str):
        raise WebRtcConfigError(f"host_addresses must be a list of addresses, not the string "
                          f"{addresses!r}")
    checked: list[str] = []
    for address in addresses:
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            raise WebRtcConfigError(f"host address {address!r} is not an IP address (give IP "
                              f"literals of this machine, e.g. 127.0.0.1)") from None
        if parsed.is_unspecified:
            raise WebRtcConfigError(f"host address {address!r} is a wildcard; ICE candidates need "
                              f"a concrete address")
        if str(parsed) not in checked:
            checked.append(str(parsed))
    return tuple(checked)


@contextmanager
def host_addresses(addresses: Sequence[str] | None) -> Iterator[None]:
    """Make aioice gather host candidates from exactly ``addresses`` inside the block.

    ``None`` or an empty sequence leaves aioice's own gathering untouched. See
    the module docstring for why this is needed and why it is safe.

    >>> import aioice.ice
    >>> with host_addresses(["127.0.0.1", "::1"]):
    ...     aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)
    ['127.0.0.1']
    """
    if not addresses:
        yield
        return
    checked = check_host_addresses(addresses)
    install()
    token = _OVERRIDE.set(checked)
    try:
        yield
    finally:
        _OVERRIDE.reset(token)


def parse_ice_server(url: str) -> RTCIceServer:
    """One STUN/TURN server from a URL, with TURN credentials taken from its user-info part.

    >>> parse_ice_server("stun:stun.example.org:3478")
    RTCIceServer(urls='stun:stun.example.org:3478', username=None, credential=None, \
credentialType='password')
    >>> parse_ice_server("turn:bob:p%40ss@10.0.0.5:3478").credential
    'p@ss'
    """
    scheme, sep, rest = url.partition(":")
    if not sep or scheme.lower() not in _SCHEMES or not rest:
        raise WebRtcConfigError(f"ICE server {_redacted(url)!r} must look like stun:host:port or "
                          f"turn:user:password@host:port (schemes: {', '.join(_SCHEMES)})")
    username = credential = None
    if "@" in rest:
        userinfo, _, rest = rest.rpartition("@")
        user, colon, password = userinfo.partition(":")
        if not user or not colon:
            raise WebRtcConfigError(f"ICE server {_redacted(url)!r}: credentials must be "
                              f"user:password@")
        username, credential = unquote(user), unquote(password)
    if not rest.split("?")[0]:
        raise WebRtcConfigError(f"ICE server {_redacted(url)!r} has no host")
    if scheme.lower().startswith("turn") and username is None:
        raise WebRtcConfigError(f"TURN server {_redacted(url)!r} needs credentials: "
                          f"turn:user:password@host:port")
    return RTCIceServer(urls=f"{scheme.lower()}:{rest}", username=username,
                        credential=credential)


def rtc_configuration(ice_servers: Sequence[str]) -> RTCConfiguration:
    """Make the peer connections' configuration: exactly these servers (none: no STUN at all).

    >>> rtc_configuration([]).iceServers
    []
    """
    if isinstance(ice_servers, str):
        raise WebRtcConfigError(f"ice_servers must be a list of URLs, not the string "
                          f"{_redacted(ice_servers)!r}")
    return RTCConfiguration(iceServers=[parse_ice_server(url) for url in ice_servers])


def _redacted(url: str) -> str:
    """Return the URL with any password replaced, for error messages and logs.

    >>> _redacted("turn:alice:s3cret@host:3478")
    'turn:alice:***@host:3478'
    """
    scheme, sep, rest = url.partition(":")
    if "@" not in rest:
        return url
    userinfo, _, host = rest.rpartition("@")
    user = userinfo.partition(":")[0]
    return f"{scheme}{sep}{user}:***@{host}"
