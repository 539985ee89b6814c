"""Client keys and per-key rate limits: the gateway is not an open proxy.

Keys are compared in constant time, and rate-limit buckets are indexed by a
hash of the key, so no key sits in memory twice or appears in a repr.

Examples
--------
>>> keys = ClientKeys(frozenset({"k-1"}))
>>> keys.identify("Bearer k-1") is not None, keys.identify("Bearer nope"), keys.identify(None)
(True, None, None)
>>> bucket = TokenBucket(rate=1.0, burst=2, now=0.0)
>>> [bucket.take(0.0), bucket.take(0.0), bucket.take(0.0), bucket.take(1.0)]
[0.0, 0.0, 1.0, 0.0]
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable


class ClientKeys:
    """The keys clients may present; :meth:`identify` returns a key's opaque id."""

    def __init__(self, keys: frozenset[str]) -> None:
        self._keys = tuple((k.encode(), _key_id(k)) for k in sorted(keys))

    def __repr__(self) -> str:
        return f"ClientKeys({len(self._keys)} keys)"

    def __len__(self) -> int:
        return len(self._keys)

    def identify(self, authorization: str | None) -> str | None:
        """Return the id of the key in an ``Authorization: Bearer <key>`` header, or None."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        offered = authorization[len("Bearer "):].strip().encode()
        found = None
        for key, key_id in self._keys:  # no early exit: the time does not depend on the key
            if hmac.compare_digest(offered, key):
                found = key_id
        return found


def _key_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


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
