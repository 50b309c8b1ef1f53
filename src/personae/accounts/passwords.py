"""Passwords: what a new one must not be, and argon2 work kept off the event loop.

argon2 is slow on purpose (tens of milliseconds of CPU and 64 MiB per hash). Run on the
event loop it stalls every other request for that long; measured before this module, a
flood of wrong passwords took the p50 of unrelated requests from ~8 ms to 571 ms. So every
hash and verification runs in a small dedicated thread pool (argon2-cffi releases the GIL),
and when too many are already waiting the next one is turned away at once (503 with
`Retry-After`) instead of queueing without bound.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import TypeVar

from personae.errors import Invalid, RateLimited

MIN_PASSWORD = 8
MAX_PASSWORD = 1024
# A username this short turns up inside good passwords by chance ("al" in "royal flush").
MIN_NAME_IN_PASSWORD = 3
COMMON_PASSWORDS = Path(__file__).resolve().parent / "data" / "common-passwords.txt"
T = TypeVar("T")


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lower case (read once, on first use)."""
    lines = COMMON_PASSWORDS.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def check_new_password(password: str, username: str, what: str = "password") -> None:
    """Refuse a password that is too short or long, common, or made of the username."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise Invalid(
            f"the {what} must be {MIN_PASSWORD}-{MAX_PASSWORD} characters",
            code="invalid_password",
        )
    lowered = password.casefold()
    name = username.strip().casefold()
    if name and (lowered == name or (len(name) >= MIN_NAME_IN_PASSWORD and name in lowered)):
        raise Invalid(f"the {what} must not contain the username", code="password_has_username")
    if lowered in common_passwords() or lowered.strip() in common_passwords():
        raise Invalid(
            f"the {what} is one of the most common passwords, which are tried first; "
            "choose another (a few unrelated words make a good one)",
            code="password_too_common",
        )


class HashingPool:
    """A bounded thread pool for password hashing, shared by the whole process."""

    def __init__(self, threads: int = 2, max_waiting: int = 32) -> None:
        self.threads = threads
        self.max_waiting = max_waiting
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        # Submitted and not yet finished, counted until the thread is done (a client that
        # hangs up does not stop the hash it started).
        self._pending = 0

    def configure(self, threads: int, max_waiting: int) -> None:
        """Resize the pool (the app does this at start-up from its settings)."""
        with self._lock:
            if threads != self.threads and self._executor is not None:
                self._executor.shutdown(wait=False)
                self._executor = None
            self.threads, self.max_waiting = threads, max_waiting

    @property
    def pending(self) -> int:
        """Hashes running or waiting for a thread."""
        return self._pending

    def _reserve(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pending >= self.threads + self.max_waiting:
                raise RateLimited(
                    "too many sign-ins are being checked right now; try again in a moment",
                    retry_after_s=1,
                    code="busy",
                    status_code=503,
                )
            self._pending += 1
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="argon2")
            return self._executor

    def _release(self) -> None:
        with self._lock:
            self._pending -= 1

    async def run(self, work: Callable[[], T]) -> T:
        """Run `work` (a hash or a verification) in the pool and wait for it."""
        executor = self._reserve()

        def job() -> T:
            try:
                return work()
            finally:
                self._release()

        try:
            future = asyncio.get_running_loop().run_in_executor(executor, job)
        except RuntimeError:  # the pool was resized (shut down) since it was reserved
            self._release()
            raise
        return await future


POOL = HashingPool()
