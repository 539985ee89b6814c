"""Client keys and per-key rate limits: the gateway is not an open proxy.

Keys are kept and compared as SHA-256 digests, in constant time
(:func:`hmac.compare_digest`, no early exit), so a key file may hold
``sha256:<hex>`` entries instead of keys. Rate-limit buckets are indexed by a
prefix of the digest, so no key sits in memory or appears in a repr.

Examples
--------
>>> import hashlib
>>> hashed = "sha256:" + hashlib.sha256(b"k-2").hexdigest()
>>> keys = ClientKeys(frozenset({"k-1", hashed}))
>>> keys.identify("Bearer k-1") is not None, keys.identify("Bearer nope"), keys.identify(None)
(True, None, None)
>>> keys.identify("Bearer k-2") == hashed[7:23]
True
>>> bucket = TokenBucket(rate=1.0, burst=2, now=0.0)
>>> [bucket.take(0.0), bucket.take(0.0), bucket.take(0.0), bucket.take(1.0)]
[0.0, 0.0, 1.0, 0.0]
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

from midstream.connectors.openai.gateway.exceptions import GatewayConfigError


class ClientKeys:
    """The keys clients may present; :meth:`identify` returns a key's opaque id."""

    def __init__(self, keys: frozenset[str]) -> None:
        digests = {_digest(k) for k in keys}
        self._keys = tuple((d, d.hex()[:16]) for d in sorted(digests))

    def __repr__(self) -> str:
        return f"ClientKeys({len(self._keys)} keys)"

    def __len__(self) -> int:
        return len(self._keys)

    def identify(self, authorization: str | None) -> str | None:
        """Return the id of the key in an ``Authorization: Bearer <key>`` header, or None."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        offered = hashlib.sha256(authorization[len("Bearer "):].strip().encode()).digest()
        found = None
        for digest, key_id in self._keys:  # no early exit: the time does not depend on the key
            if hmac.compare_digest(offered, digest):
                found = key_id
        return found


HASHED_PREFIX = "sha256:"


def _digest(entry: str) -> bytes:
    """Return a key's SHA-256 digest; ``sha256:<hex>`` entries are digests already."""
    if entry.startswith(HASHED_PREFIX):
        try:
            digest = bytes.fromhex(entry[len(HASHED_PREFIX):])
        except ValueError:
            digest = b""
        if len(digest) == 32:
            return digest
        raise GatewayConfigError("a hashed client key must be 'sha256:' and 64 hex digits")
    return hashlib.sha256(entry.encode()).digest()


def read_key_file(path: str) -> frozenset[str]:
    r"""Read client keys from a file: one a line, ``sha256:<hex>`` for hashed ones, ``#`` comments.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", delete=False) as f:
    ...     _ = f.write("# team a\nkey-a\n\nsha256:" + "0" * 64 + "\n")
    >>> sorted(read_key_file(f.name))[0]
    'key-a'
    """
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        raise GatewayConfigError(f"cannot read the key file {path}: {exc.strerror}") from None
    keys = frozenset(s for line in lines if (s := line.strip()) and not s.startswith("#"))
    for key in keys:
        _digest(key)  # a malformed hashed entry is an error, not a key nobody can present
    return keys


class TokenBucket:
    """A token bucket: ``rate`` requests per second sustained, ``burst`` at once."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._at = now

    def take(self, now: float) -> float:
        """Take one token: 0.0 when allowed, else the seconds until one is available."""
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate


class RateLimiter:
    """One :class:`TokenBucket` per key id.

    >>> limiter = RateLimiter(rate=1.0, burst=1, clock=lambda: 5.0)
    >>> limiter.check("a"), limiter.check("a") > 0, limiter.check("b")
    (0.0, True, 0.0)
    """

    def __init__(self, rate: float, burst: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def check(self, key_id: str) -> float:
        """0.0 when the request may go ahead, else seconds to wait (the request is refused)."""
        now = self._clock()
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = TokenBucket(self.rate, self.burst, now)
        return bucket.take(now)
