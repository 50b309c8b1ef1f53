"""Flood guards for the inbox, kept in memory (one set per process).

`HostRateLimiter`: token buckets, checked before anything is fetched or verified, so a
flood costs us no network and no database. The inbox spends one token from two buckets
per request: the remote host (the hostname of its signature's keyId, without the port,
so rotating ports gains nothing) and the client's address (an IPv6 client by its /64,
so rotating keyId subdomains, or addresses within one network, gains nothing either).
The keyId is not yet verified, so a forger can spend a real host's budget by naming
it; that only delays that host's deliveries (they retry), never loses or forges
anything.

`FailedKeys`: key documents that failed to fetch lately, answered again from memory,
so POSTs naming the same bad keyId do not make us fetch it again and again.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from personae.errors import DomainError

# Buckets remembered at once; the least recently seen is forgotten first (it starts
# again with a full bucket, which is what an idle host would have anyway).
MAX_HOSTS = 10_000
# Failed key documents remembered at once, and for how long by default.
MAX_FAILED_KEYS = 10_000
FAILED_KEY_TTL_S = 300.0


class RetryLater(DomainError):
    """Refused for now; the sender should try again after `retry_after_s` (Retry-After)."""

    status_code = 503
    code = "unavailable"

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RateLimited(RetryLater):
    """A remote host or address sent more than its share of requests (HTTP 429)."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, host: str, retry_after_s: int) -> None:
        super().__init__(
            f"too many requests from {host[:100]}; retry in {retry_after_s} s", retry_after_s
        )


def host_bucket(key_id: str) -> str:
    """The bucket of a keyId's server: its hostname, lower case, without the port."""
    try:
        host = urlsplit(key_id).hostname
    except ValueError:
        host = None
    return f"host:{host or key_id[:100]}"


def address_bucket(client_ip: str) -> str:
    """The bucket of a client address: itself for IPv4, its /64 for IPv6."""
    try:
        ip = ipaddress.ip_address(client_ip)
    except ValueError:
        return f"ip:{client_ip[:100]}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"ip:{ip.ipv4_mapped}"
        return f"ip:{ipaddress.IPv6Network((ip, 64), strict=False)}"
    return f"ip:{ip}"


@dataclass
class _Bucket:
    tokens: float
    updated: float


class HostRateLimiter:
    """Token buckets by key: `hit(*keys)` spends one token from each or raises RateLimited."""

    def __init__(
        self,
        per_minute: int,
        *,
        max_hosts: int = MAX_HOSTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens per second
        self.max_hosts = max_hosts
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def _bucket(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(self.capacity, now)
            self._buckets[key] = bucket
            while len(self._buckets) > self.max_hosts:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(self.capacity, bucket.tokens + elapsed * self.rate)
            bucket.updated = now
        return bucket

    def hit(self, *keys: str) -> None:
        """Count one request against every key; RateLimited (nothing spent) if any is empty."""
        now = self.clock()
        buckets = [self._bucket(key, now) for key in dict.fromkeys(keys)]
        for key, bucket in zip(dict.fromkeys(keys), buckets, strict=True):
            if bucket.tokens < 1.0:
                wait = max(1, math.ceil((1.0 - bucket.tokens) / self.rate))
                raise RateLimited(key.partition(":")[2] or key, wait)
        for bucket in buckets:
            bucket.tokens -= 1.0


class FailedKeys:
    """Key document URLs whose fetch failed lately, each with the error it gave."""

    def __init__(
        self,
        *,
        max_entries: int = MAX_FAILED_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._failures: OrderedDict[str, tuple[float, DomainError]] = OrderedDict()

    def get(self, url: str) -> DomainError | None:
        """The error a fetch of `url` gave, while it is remembered; else None."""
        found = self._failures.get(url)
        if found is None:
            return None
        until, error = found
        if self.clock() >= until:
            del self._failures[url]
            return None
        return error

    def add(self, url: str, error: DomainError, ttl_s: float = FAILED_KEY_TTL_S) -> None:
        """Remember that fetching `url` failed with `error`, for `ttl_s` seconds."""
        self._failures.pop(url, None)
        self._failures[url] = (self.clock() + ttl_s, error)
        while len(self._failures) > self.max_entries:
            self._failures.popitem(last=False)
