"""Who may enter the dashboard: argon2id password hashes (made by ``cli.py hash-password``), the
limit on failed logins, and the company-login allow-list — checked by the gate (``ui.access``)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["LoginLimiter", "check_password", "email_allowed", "hash_password"]

_HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` for the settings."""
    return _HASHER.hash(password)


def check_password(stored_hash: str, attempt: str) -> bool:
    """True when ``attempt`` matches ``stored_hash``; False for a wrong password or a broken hash."""
    try:
        return bool(_HASHER.verify(stored_hash, attempt))
    except (VerificationError, InvalidHashError):
        return False


class LoginLimiter:
    """Failed logins counted per client address and in all, shared by every session of the server
    (a reload, a new tab or a script that opens new sessions counts as the same client).

    Per address: the first ``free`` failures cost nothing; then each next attempt waits twice as long
    as the one before (2 s, 4 s, 8 s … up to ``cap`` seconds); an address is forgotten ``forget``
    seconds after its last failure, or at once when it logs in. In all: more than ``global_max``
    failures within ``global_window`` seconds lock every address out for ``global_window`` seconds
    (many addresses guessing together). An attempt refused for waiting is not checked at all."""

    def __init__(
        self,
        *,
        free: int = 3,
        cap: float = 900.0,
        forget: float = 3600.0,
        global_max: int = 50,
        global_window: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free, self.cap, self.forget = free, cap, forget
        self.global_max, self.global_window = global_max, global_window
        self.clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[int, float]] = {}  # address → (failures in a row, last)
        self._recent: deque[float] = deque()  # times of the failures of every address

    def wait(self, address: str) -> float:
        """Seconds before ``address`` may try a password again (0: now)."""
        now = self.clock()
        with self._lock:
            self._expire(now)
            waits = [0.0]
            count, last = self._failures.get(address, (0, now))
            if count >= self.free:
                waits.append(last + min(self.cap, 2.0 ** (count - self.free + 1)) - now)
            if len(self._recent) > self.global_max:
                waits.append(self._recent[-1] + self.global_window - now)
            return max(waits)

    def failed(self, address: str) -> int:
        """Count a failed attempt; the failures in a row of ``address``."""
        now = self.clock()
        with self._lock:
            self._expire(now)
            count = self._failures.get(address, (0, now))[0] + 1
            self._failures[address] = (count, now)
            self._recent.append(now)
            return count

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)

    def reset(self) -> None:
        with self._lock:
            self._failures.clear()
            self._recent.clear()

    def _expire(self, now: float) -> None:
        while self._recent and self._recent[0] < now - self.global_window:
            self._recent.popleft()
        stale = [a for a, (_n, last) in self._failures.items() if last < now - self.forget]
        for address in stale:
            del self._failures[address]


def email_allowed(email: str | None, emails: Iterable[str] = (), domains: Iterable[str] = ()) -> bool:
    """Whether a company-login account may enter: every account when neither list is set, else an
    address on ``emails`` or at one of ``domains`` (case-insensitive; "azienda.it" admits
    "anna@azienda.it", not "anna@altra-azienda.it")."""
    emails = {e.strip().lower() for e in emails if e.strip()}
    domains = {d.strip().lower().lstrip("@") for d in domains if d.strip()}
    if not emails and not domains:
        return True
    if not email or "@" not in email:
        return False
    address = email.strip().lower()
    return address in emails or address.rsplit("@", 1)[1] in domains
