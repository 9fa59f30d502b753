"""Passwords for the dashboard's gate: argon2id hashes, made by ``cli.py hash-password`` and checked
by the gate (``ui.access``)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["check_password", "hash_password"]

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
