"""CSV / text file replicator (``type: csv``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import field_validator, model_validator

from replicators.base import Replicator, ReplicatorConfig


class CsvConfig(ReplicatorConfig):
    type: Literal["csv"]
    path: str
    # the column(s) that identify a row across runs
    key: list[str]
    # auto: UTF-8 (with or without BOM), UTF-16 with BOM, else cp1252
    encoding: str = "auto"
    # auto: sniffed from the header line among , ; tab |
    delimiter: Literal[",", ";", "\t", "|", "auto"] = "auto"
    header: bool = True
    # column names when the file has no header row
    columns: list[str] | None = None

    @field_validator("key", mode="before")
    @classmethod
    def _key(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("delimiter", mode="before")
    @classmethod
    def _delimiter(cls, value: object) -> object:
        return "\t" if isinstance(value, str) and value.lower() in ("tab", "\\t") else value

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        import codecs

        if value != "auto":
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(f"unknown encoding {value!r}") from None
        return value

    @model_validator(mode="after")
    def _columns(self) -> CsvConfig:
        if not self.key or not all(k.strip() for k in self.key):
            raise ValueError("key: name at least one key column")
        if not self.header and not self.columns:
            raise ValueError("columns: required when header is false")
        return self

    def build(self, base_dir: Path) -> Replicator:
        from replicators.csv_reader import CsvReplicator

        return CsvReplicator(self, base_dir)
