"""The Salesforce REST API as the source uses it, over the shared HTTP layer
(``http_client.HttpClient``: retries, Retry-After, one new token on 401
INVALID_SESSION_ID): SOQL through ``queryAll`` in pages (``nextRecordsUrl`` until
``done``), the delete log of an object (``sobjects/<Object>/deleted/``), and what the
service says of the org's API usage (the ``Sforce-Limit-Info`` header of every answer).

The shared layer reads Salesforce's error answers (``[{"errorCode": ..., "message": ...}]``)
into ``HttpStatusError``'s code and detail; ``refusals`` turns them into one line saying
what to grant or fix. A response hook keeps the usage header and the service's clock."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metadir.core.errors import SourceError
from replicators.http_client import HttpClient, HttpStatusError
from replicators.salesforce.auth import Credentials
from replicators.salesforce.settings import SalesforceSettings, permissions

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

LIMIT_HEADER = "Sforce-Limit-Info"
_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")
# usage from this share of the org's daily limit on is logged as a warning
WARN_SHARE = 0.8
_NO_COLUMN = re.compile(r"No such column '([^']+)' on entity '([^']+)'")
_RELATION = re.compile(r"Didn't understand relationship '([^']+)'")
# the delete log cannot answer for the window asked (older than it reaches)
REPLICATION_DATE = "INVALID_REPLICATION_DATE"
_ACCESS = ("API_DISABLED_FOR_ORG", "API_CURRENTLY_DISABLED", "INSUFFICIENT_ACCESS",
           "INSUFFICIENT_ACCESS_OR_READONLY", "FUNCTIONALITY_NOT_ENABLED")  # fmt: skip


class DeleteLogGone(SourceError):
    """The delete log no longer reaches back to where the last run stopped; ``earliest``:
    where it begins now, if it said so."""

    def __init__(self, message: str, earliest: datetime | None = None) -> None:
        super().__init__(message)
        self.earliest = earliest


class Api:
    """One read's session: the HTTP client, its token, and the instance it talks to."""

    def __init__(self, config: SalesforceSettings, base_dir: Path) -> None:
        self.config = config
        self.http = HttpClient(config, base_dir, "Salesforce")
        self.credentials = Credentials(config, self.http.client)
        self.http.token = self.credentials
        self.http.client.event_hooks["response"].append(self._seen)
        # the last Sforce-Limit-Info
        self.usage = ""
        # the service's time (Date) at its first answer: where the session's reads began
        self.began: datetime | None = None

    def close(self) -> None:
        self.http.close()

    def login(self) -> None:
        self.credentials.login()

    @property
    def base(self) -> str:
        return f"{self.credentials.instance_url}/services/data/v{self.config.api_version}"

    def query(self, soql: str) -> Iterator[list[dict[str, Any]]]:
        """The pages of records ``soql`` finds, deleted ones too (queryAll)."""
        headers: dict[str, str] = {}
        if self.config.page_size is not None:
            headers["Sforce-Query-Options"] = f"batchSize={self.config.page_size}"
        url = f"{self.base}/queryAll"
        params: dict[str, str] | None = {"q": soql}
        while True:
            body = self.http.get_json(url, params, headers)
            records = body.get("records")
            if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
                raise SourceError("Salesforce: a query page holds no list of records")
            yield records
            if body.get("done") is True:
                return
            following = body.get("nextRecordsUrl")
            if not isinstance(following, str) or not following.startswith("/services/data/"):
                raise SourceError("Salesforce: a query page is neither done nor has nextRecordsUrl")
            url, params = f"{self.credentials.instance_url}{following}", None

    def deleted(self, sobject: str, start: datetime, end: datetime) -> dict[str, Any]:
        """The delete log of ``sobject`` between ``start`` and ``end`` (UTC)."""
        # whole seconds: the start rounded down, the end up (the window rather wider)
        params = {"start": _iso(start), "end": _iso(end + timedelta(seconds=1))}
        try:
            return self.http.get_json(f"{self.base}/sobjects/{sobject}/deleted/", params)
        except HttpStatusError as exc:
            if exc.code == REPLICATION_DATE:
                raise DeleteLogGone(f"the delete log of {sobject} refused {_iso(start)} "
                                    f"({REPLICATION_DATE}: {exc.detail})") from None  # fmt: skip
            raise

    def report_usage(self, name: str) -> None:
        """Log the org's API usage as the last answer told it."""
        found = _USAGE.search(self.usage)
        if found is None:
            return
        used, limit = int(found.group(1)), int(found.group(2))
        level = logging.WARNING if limit and used >= WARN_SHARE * limit else logging.INFO
        log.log(level, "%s: Salesforce API usage %d/%d requests in the last 24 hours (%s)",
                name, used, limit, f"{used / limit:.0%}" if limit else "no limit")  # fmt: skip

    def _seen(self, response: httpx.Response) -> None:
        if self.began is None and (date := response.headers.get("Date")):
            with suppress(TypeError, ValueError):
                self.began = parsedate_to_datetime(date).astimezone(UTC)
        usage = response.headers.get(LIMIT_HEADER)
        if usage:
            self.usage = usage

    @contextmanager
    def refusals(self, sobject: str) -> Iterator[None]:
        """Refusals of the service while reading ``sobject`` told as what to grant or fix."""
        try:
            yield
        except HttpStatusError as exc:
            raise SourceError(self._explain(exc, sobject, exc.code, exc.detail)) from None

    def _explain(self, exc: HttpStatusError, sobject: str, code: str, message: str) -> str:
        user = self.config.username
        grants = permissions()
        said = f"{code}: {message}" if code else f"HTTP {exc.status}"
        read = grants.get(sobject, f"Read on {sobject}")
        if code == "REQUEST_LIMIT_EXCEEDED":
            usage = _USAGE.search(self.usage)
            seen = f", api-usage {usage.group(1)}/{usage.group(2)}" if usage else ""
            return (f"Salesforce: the org's daily API request limit is used up "
                    f"(REQUEST_LIMIT_EXCEEDED{seen}): the next run resumes; raise the limit "
                    f"or read less often")  # fmt: skip
        if code == "INVALID_FIELD":
            column = _NO_COLUMN.search(message) or _RELATION.search(message)
            field = f" {column.group(1)}" if column else ""
            return (f"Salesforce: {sobject} has no field{field} that the mapping reads, or "
                    f"{user} may not see it (INVALID_FIELD): fix the mapping or grant read "
                    f"access to the field (field-level security)")  # fmt: skip
        if code == "INVALID_TYPE" or (exc.status == 404 and code in ("NOT_FOUND", "")):
            return (f"Salesforce: {user} may not read {sobject} ({said}): grant {read} "
                    f"(profile or permission set)")  # fmt: skip
        if exc.status in (401, 403) or code in _ACCESS:
            return (f"Salesforce denied reading {sobject} ({said}): give {user} the "
                    f"permission {grants['api']} and {read} "
                    "(profile or permission set)")  # fmt: skip
        return f"Salesforce: reading {sobject}: HTTP {exc.status} ({said})"


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S+00:00")
