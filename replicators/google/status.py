"""Google's error answers (``google.rpc.Status`` as JSON: ``{"error": {"code": 403,
"message": ..., "status": "PERMISSION_DENIED", "details": [{"@type":
"type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED", ...}]}}``) and
what each means for a read.

``HttpStatusError`` names the reason (or the status) as its code and keeps the answer, so
that the read tells an expired sync token from a disabled API by ``parse``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from replicators.http_client import GOOGLE_ERROR_INFO as ERROR_INFO

# the reason of a sync token Google no longer takes (older answers: 410 Gone)
EXPIRED_SYNC_TOKEN = "EXPIRED_SYNC_TOKEN"
SERVICE_DISABLED = "SERVICE_DISABLED"


@dataclass(frozen=True, slots=True)
class Status:
    code: int
    status: str = ""  # PERMISSION_DENIED, FAILED_PRECONDITION, ...
    message: str = ""  # its first line
    reason: str = ""  # of the ErrorInfo detail
    metadata: dict[str, str] = field(default_factory=dict)

    def said(self) -> str:
        """How messages quote it: ``REASON or STATUS: message``."""
        name = self.reason or self.status or f"HTTP {self.code}"
        return f"{name}: {self.message}" if self.message else name

    @property
    def expired_sync_token(self) -> bool:
        return self.reason == EXPIRED_SYNC_TOKEN or self.code == 410


def parse(code: int, body: bytes) -> Status:
    """The status of an error answer (``code`` alone when its body is no Status)."""
    try:
        error = json.loads(body).get("error")
    except (ValueError, UnicodeDecodeError, AttributeError):
        return Status(code)
    if not isinstance(error, dict):
        return Status(code)
    lines = str(error.get("message") or "").strip().splitlines()
    reason, metadata = "", {}
    for detail in error.get("details") or ():
        if isinstance(detail, dict) and detail.get("@type") == ERROR_INFO:
            reason = str(detail.get("reason") or "")
            given = detail.get("metadata")
            metadata = {str(k): str(v) for k, v in given.items()} if isinstance(given, dict) else {}
            break
    return Status(code, str(error.get("status") or ""), lines[0] if lines else "", reason,
                  metadata)  # fmt: skip


def explain(status: Status, what: str, scope: str) -> str:
    """One line for an error answer to reading ``what`` that no retry mends: what to grant
    or fix."""
    if status.reason == SERVICE_DISABLED:
        project = status.metadata.get("consumer", "").removeprefix("projects/")
        where = f"project {project}" if project else "the Google Cloud project of the credentials"
        return (f"Google People API is not enabled in {where} ({status.said()}): enable "
                "the People API (people.googleapis.com) there: Cloud console > APIs & "
                "Services > Library")  # fmt: skip
    if status.code == 403:
        return (f"Google People API denied reading {what} ({status.said()}): grant the "
                f"scope {scope}")  # fmt: skip
    if status.code == 401:
        return f"Google People API refused the access token for {what} ({status.said()})"
    if status.code == 404:
        return f"Google People API: {what}: not found ({status.said()})"
    return f"Google People API: reading {what}: HTTP {status.code} ({status.said()})"
