"""Presets of SQL sources (``preset:``), read from ``schema/sql_presets.yaml``: the table,
key and mapping of well-known layouts (Dynamics NAV / Business Central, a CRM table)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from metadir.core import fields

# what NAV and Business Central write as "_" when a company name becomes part of a
# table name
_NOT_IN_TABLE_NAMES = re.compile(r"[.\"\\/']")


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    label: str
    # with {company} and {app} to fill in
    table: str
    key: tuple[str, ...]
    mapping: dict[str, str]

    @property
    def needs_company(self) -> bool:
        return "{company}" in self.table

    def table_name(self, company: str | None, app_id: str | None) -> str:
        """The table's name in the database, for ``company`` (as NAV shows it) and
        ``app_id`` (the extension that owns the table, Business Central 15 and later)."""
        return self.table.format(
            company=_NOT_IN_TABLE_NAMES.sub("_", company or ""),
            app=f"${app_id}" if app_id else "",
        )


@cache
def presets() -> dict[str, Preset]:
    rows = fields.load_schema_file("sql_presets.yaml")["presets"]
    return {
        name: Preset(name, row["label"], row["table"], tuple(row["key"]), dict(row["mapping"]))
        for name, row in rows.items()
    }
