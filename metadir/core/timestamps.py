"""Timestamps as LDAP writes them (RFC 4517 GeneralizedTime)."""

from __future__ import annotations

from datetime import UTC, datetime


def format_generalized_time(when: datetime) -> str:
    """``when`` in UTC to the second, e.g. ``20261203144817Z``."""
    return when.astimezone(UTC).strftime("%Y%m%d%H%M%SZ")
