"""What every component's settings model shares: unknown keys refused, secrets from files,
bounded names and DNs. Each component owns its model; ``metadir.config`` assembles them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, model_validator

from metadir.core.dn import parse_dn

# names go into DNs, log lines and the store: a longer one is a mistake or an attack
MAX_NAME = 64
# a longer DN is a mistake or an attack, and would be echoed in every message
MAX_DN = 256
Name = Annotated[str, Field(max_length=MAX_NAME)]
# a directory's or replicator's own name: it goes into DNs, the store and messages
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def read_secret_files(model: type[BaseModel], data: Any, info: ValidationInfo) -> Any:
    """``data`` for ``model`` with each ``<field>_file: PATH`` of a ``SecretStr`` field
    replaced by ``<field>``: the file's text (PATH relative to the config file). For a
    ``mode="before"`` model validator; raises ``ValueError`` naming the key."""
    if not isinstance(data, dict):
        return data
    base_dir = Path((info.context or {}).get("base_dir", "."))
    data = dict(data)
    for name in secret_fields(model):
        key = f"{name}_file"
        if key not in data:
            continue
        if name in data:
            raise ValueError(f"give either {name!r} or {key!r}, not both")
        path = base_dir / str(data.pop(key))
        try:
            data[name] = path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ValueError(f"{key}: cannot read {path}: {exc.strerror}") from None
    return data


def secret_fields(model: type[BaseModel]) -> list[str]:
    """The ``SecretStr`` fields of ``model``: each may be given as ``<field>_file``."""
    return [name for name, spec in model.model_fields.items() if spec.annotation is SecretStr]


class SecretFiles(Strict):
    """A model whose ``SecretStr`` fields may instead be given as ``<field>_file: PATH``."""

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any, info: ValidationInfo) -> Any:
        return read_secret_files(cls, data, info)


def relative_to_config(value: Path, info: ValidationInfo) -> Path:
    """A path setting read relative to the directory of the config file."""
    return Path((info.context or {}).get("base_dir", ".")) / value


def check_name(value: str) -> str:
    """``value`` if it may name a directory or replicator; raises ``ValueError`` in words."""
    if not _NAME.fullmatch(value):
        raise ValueError("use letters, digits, '.', '_' or '-', starting with a letter or digit")
    return value


def check_dn(value: str) -> tuple:
    """The RDNs of a DN setting; raises ``ValueError`` for a malformed or empty one."""
    try:
        rdns = parse_dn(value)
    except ValueError as exc:
        raise ValueError(f"not a valid DN: {exc}") from None
    if not rdns:
        raise ValueError("must not be empty")
    return rdns


def split_listener(value: str, ports: dict[str, int], expected: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a listener URL such as ``ldap://0.0.0.0:712``: ``ports`` the
    schemes taken and each one's default port, ``expected`` what to say of any other.
    Raises ``ValueError`` in words."""
    parts = urlsplit(value)
    if parts.scheme not in ports:
        raise ValueError(f"{value!r}: {expected}")
    try:
        port = parts.port if parts.port is not None else ports[parts.scheme]
    except ValueError:
        raise ValueError(f"{value!r}: bad port") from None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{value!r}: a listener has no path")
    return parts.scheme, parts.hostname or "0.0.0.0", port
