"""Password hashes for simple-bind accounts: argon2id (default) or salted SHA-1 ({SSHA}).

{SSHA} is accepted because it is what ``slappasswd`` and existing directories hand over;
new hashes are argon2id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_argon2 = PasswordHasher()


def hash_password(password: str) -> str:
    return _argon2.hash(password)


def is_hash(value: str) -> bool:
    return value.startswith("$argon2") or value.upper().startswith("{SSHA}")


def verify(stored_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash``; constant-time for both schemes."""
    if stored_hash.startswith("$argon2"):
        try:
            return _argon2.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False
    if stored_hash.upper().startswith("{SSHA}"):
        try:
            raw = base64.b64decode(stored_hash[6:], validate=True)
        except ValueError:
            return False
        digest, salt = raw[:20], raw[20:]
        return hmac.compare_digest(hashlib.sha1(password.encode() + salt).digest(), digest)
    return False
