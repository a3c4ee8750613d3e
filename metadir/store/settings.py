"""The store's settings: where the meta database is."""

from __future__ import annotations

from pydantic import field_validator

from metadir.core.settings import Strict


class StoreConfig(Strict):
    # the meta database; relative SQLite paths are relative to the config file
    url: str = "sqlite:///var/metadir.db"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if not scheme.startswith(("sqlite", "postgresql")):
            raise ValueError("expected sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")
        return value
