"""The YAML configuration: loading, ``${ENV}`` and ``*_file`` secrets, validation.

Every problem is reported as ``FILE: key.path: what is wrong``; all problems of a file are
reported at once. Secrets are ``SecretStr`` and never appear in messages or logs.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Annotated, Any, Union
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from metadir import fields
from metadir.config_yaml import read_yaml
from metadir.dn import normalize_dn, normalize_rdns, parse_dn
from metadir.errors import ConfigError
from metadir.phone import Location, PhoneFormat
from metadir.sync.mapping import MappingError, Template
from replicators import REGISTRY
from replicators.base import MAX_NAME, ReplicatorConfig

ROOT_DN: str = fields.load_schema_file("ldap.yaml")["root"]["dn"]
_ENV = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
MAX_DN = 256  # a longer DN is a mistake or an attack, and would be echoed in every message
Name = Annotated[str, Field(max_length=MAX_NAME)]


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
    for name in _secret_fields(model):
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


def _secret_fields(model: type[BaseModel]) -> list[str]:
    return [name for name, spec in model.model_fields.items() if spec.annotation is SecretStr]


class SecretFiles(Strict):
    """A model whose ``SecretStr`` fields may instead be given as ``<field>_file: PATH``."""

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any, info: ValidationInfo) -> Any:
        return read_secret_files(cls, data, info)


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


class Account(SecretFiles):
    dn: str = Field(max_length=MAX_DN)
    # a password hash from `metadir hash-password` (argon2 or {SSHA}), never the password
    password: SecretStr
    # the directories this account may read; all when omitted
    directories: list[Name] | None = None

    @field_validator("dn")
    @classmethod
    def _dn(cls, value: str) -> str:
        _check_dn(value)
        return value

    @field_validator("password")
    @classmethod
    def _hash(cls, value: SecretStr) -> SecretStr:
        from metadir.passwords import is_hash

        if not is_hash(value.get_secret_value()):
            raise ValueError("expected a password hash from `metadir hash-password`")
        return value


class Listener(BaseModel):
    """One address the LDAP server listens on, e.g. ``ldap://0.0.0.0:712``."""

    model_config = ConfigDict(frozen=True)
    url: str
    host: str
    port: int
    # ldaps://: TLS from the first byte (ldap:// may still switch to TLS with StartTLS)
    ldaps: bool = False


def parse_listener(value: str) -> Listener:
    parts = urlsplit(value)
    if parts.scheme not in ("ldap", "ldaps"):
        raise ValueError(
            f"{value!r}: only ldap://HOST:PORT listeners are supported, "
            "and ldaps://HOST:PORT with server.tls"
        )
    ldaps = parts.scheme == "ldaps"
    try:
        port = parts.port if parts.port is not None else (714 if ldaps else 712)
    except ValueError:
        raise ValueError(f"{value!r}: bad port") from None
    if parts.path not in ("", "/"):
        raise ValueError(f"{value!r}: a listener has no path")
    return Listener(url=value, host=parts.hostname or "0.0.0.0", port=port, ldaps=ldaps)


def listener_problems(listeners: list[Listener], tls: TlsConfig | None) -> list[str]:
    """What is wrong with listeners given the TLS settings: ldaps:// needs a certificate."""
    return [
        f"{listener.url!r}: ldaps:// needs server.tls (certificate and private_key)"
        for listener in listeners
        if listener.ldaps and tls is None
    ]


class TlsConfig(Strict):
    # PEM files, relative to the config file; the certificate file may go on with its chain
    certificate: Path
    private_key: Path

    @field_validator("certificate", "private_key")
    @classmethod
    def _relative_to_config(cls, value: Path, info: ValidationInfo) -> Path:
        return Path((info.context or {}).get("base_dir", ".")) / value


class Limits(Strict):
    """Per-connection and server limits; the defaults suit a PBX or a few thousand phones."""

    # a larger request gets a notice of disconnection, without being read
    max_request_bytes: int = Field(default=1 << 20, ge=1024)
    # seconds a connection may stay silent before it is closed; 0 = forever
    idle_timeout: float = Field(default=300, ge=0)
    # connections open at once; more are closed as they come
    max_connections: int = Field(default=1000, ge=1)
    # requests one connection may have in progress (binds wait for their hash check)
    max_outstanding: int = Field(default=10, ge=1)
    # after repeated failed binds from one address, answers wait up to this many seconds
    bind_failure_delay: float = Field(default=8, ge=0)
    # elements (and, or, not, each assertion) one search filter may have: a phone sends a
    # dozen; an OR of 30,000 numbers would hold every other client up for seconds
    max_filter_elements: int = Field(default=1000, ge=1)
    # seconds a request may take to arrive once its first byte came; 0 = no limit (a
    # client dribbling a byte now and then is never idle, yet holds its buffer open)
    request_timeout: float = Field(default=30, ge=0)


class ServerConfig(Strict):
    listen: list[Listener] = [parse_listener("ldap://0.0.0.0:712")]
    allow_anonymous: bool = True
    accounts: list[Account] = []
    # most entries one search returns, whatever the client asks; 0 = no server limit
    size_limit: int = Field(default=1000, ge=0)
    # seconds between looks at the store for committed syncs
    refresh_interval: float = Field(default=1.0, gt=0, le=60)
    # certificate and key for ldaps:// listeners and StartTLS
    tls: TlsConfig | None = None
    # refuse simple binds and searches (but of the root DSE) until the connection is TLS
    require_tls: bool = False
    limits: Limits = Limits()
    # one log line per operation (logger metadir.access)
    access_log: bool = True

    @field_validator("listen", mode="before")
    @classmethod
    def _listen(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            raise ValueError("expected a list of ldap://HOST:PORT or ldaps://HOST:PORT URLs")
        return [v if isinstance(v, Listener) else parse_listener(str(v)) for v in value]


_SETTINGS = tuple(REGISTRY.values())
# one settings model per source kind, told apart by ``type``
ReplicatorSettings = (
    Annotated[Union[_SETTINGS], Field(discriminator="type")]  # noqa: UP007
    if len(_SETTINGS) > 1
    else _SETTINGS[0]
)


class DirectoryConfig(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=MAX_NAME)
    # where the directory is served; ou=<name>,dc=meta unless given
    base_dn: str | None = Field(default=None, max_length=MAX_DN)
    # how search input is read, and the default for the directory's replicators
    location: Location | None = None
    # how numbers are served: e164, readable, national or as the source wrote them
    phone_format: PhoneFormat = "e164"
    # whether anonymous clients may read it; server.allow_anonymous when not given
    anonymous: bool | None = None
    # the client addresses (networks) that may read it; any when not given
    allow_from: list[IPvAnyNetwork] | None = None
    replicators: list[ReplicatorSettings] = []  # type: ignore[valid-type]

    @field_validator("allow_from", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        # a bare address means that host; "10.0.0.0/8" a network
        return [value] if isinstance(value, str) else value

    @field_validator("base_dn")
    @classmethod
    def _base_dn(cls, value: str | None) -> str | None:
        if value is None:
            return None
        rdns = _check_dn(value)
        if len(rdns) != 2 or normalize_rdns(rdns[1:]) != ROOT_DN:
            raise ValueError(
                f"{value!r} must lie directly below {ROOT_DN}, e.g. ou=phones,{ROOT_DN}"
            )
        return value

    @property
    def dn(self) -> str:
        return self.base_dn or f"ou={self.name},{ROOT_DN}"


class Config(Strict):
    store: StoreConfig = StoreConfig()
    server: ServerConfig = ServerConfig()
    location: Location | None = None
    directories: list[DirectoryConfig] = []

    # where the config was read from; set by load_config, not by YAML
    path: Path = Field(default=Path("metadir.yaml"), exclude=True)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def replicator(self, name: str) -> tuple[DirectoryConfig, ReplicatorConfig] | None:
        for directory in self.directories:
            for rep in directory.replicators:
                if rep.name == name:
                    return directory, rep
        return None

    def location_for(
        self, directory: DirectoryConfig, rep: ReplicatorConfig | None = None
    ) -> Location | None:
        """The numbering plan in force: the replicator's, else the directory's, else global."""
        return (rep and rep.location) or directory.location or self.location

    def store_url(self) -> str:
        """The store URL with a relative SQLite path made relative to the config file."""
        url = self.store.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and url != "sqlite:///:memory:":
            path = Path(url[len(prefix) :])
            if not path.is_absolute():
                return prefix + str((self.base_dir / path).resolve())
        return url


def _check_dn(value: str) -> tuple:
    try:
        rdns = parse_dn(value)
    except ValueError as exc:
        raise ValueError(f"not a valid DN: {exc}") from None
    if not rdns:
        raise ValueError("must not be empty")
    return rdns


def load_config(path: str | Path) -> Config:
    """Read and validate the config file at ``path``. Raises ``ConfigError``."""
    path = Path(path)
    raw = read_yaml(path)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([f"{path}: expected a mapping of settings at the top level"])
    problems: list[str] = []
    raw = _substitute_env(raw, (), problems, path)
    try:
        config = Config.model_validate(raw, context={"base_dir": path.parent})
    except ValidationError as exc:
        raise ConfigError(problems + [_describe(path, err) for err in exc.errors()]) from None
    config.path = path
    problems += [f"{path}: {p}" for p in _cross_checks(config)]
    if problems:
        raise ConfigError(problems)
    return config


def _substitute_env(node: Any, where: tuple, problems: list[str], path: Path) -> Any:
    """Replace ``${NAME}`` in every string with the environment variable (``$$`` is ``$``)."""
    if isinstance(node, dict):
        return {k: _substitute_env(v, (*where, k), problems, path) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute_env(v, (*where, i), problems, path) for i, v in enumerate(node)]
    if not isinstance(node, str):
        return node

    def replace(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        if name not in os.environ:
            problems.append(f"{path}: {_key_path(where)}: environment variable {name} is not set")
            return ""
        return os.environ[name]

    return _ENV.sub(replace, node)


def _key_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _known_keys() -> set[str]:
    models: list[type[BaseModel]] = [Config, StoreConfig, ServerConfig, Account, Location, Limits]
    models += [DirectoryConfig, TlsConfig, *REGISTRY.values()]
    keys = {name for model in models for name in model.model_fields}
    return keys | {f"{name}_file" for model in models for name in _secret_fields(model)}


def _describe(path: Path, err: dict) -> str:
    loc = list(err["loc"])
    # pydantic puts the union tag ("csv") into the location of a replicator's errors
    loc = [
        part
        for i, part in enumerate(loc)
        if not (
            i >= 2
            and loc[i - 2] == "replicators"
            and isinstance(loc[i - 1], int)
            and part in REGISTRY
        )
    ]
    kind = err["type"]
    if kind == "extra_forbidden":
        guess = difflib.get_close_matches(str(loc[-1]), sorted(_known_keys()), n=1)
        msg = "unknown key" + (f" (did you mean {guess[0]!r}?)" if guess else "")
    elif kind == "missing":
        msg = "required key is missing"
    elif kind == "union_tag_not_found":
        loc.append("type")  # pydantic names the replicator, not its missing type
        msg = f"required key is missing; known types: {', '.join(sorted(REGISTRY))}"
    elif kind == "union_tag_invalid" or (
        kind == "literal_error" and loc[-1] == "type" and "replicators" in loc
    ):
        if kind == "union_tag_invalid":
            loc.append("type")
        msg = f"unknown replicator type; known types: {', '.join(sorted(REGISTRY))}"
    else:
        msg = err["msg"].removeprefix("Value error, ")
        if "input" in err and kind.endswith("_type"):
            msg += f" (got {type(err['input']).__name__})"
    return f"{path}: {_key_path(tuple(loc))}: {msg}"


def _cross_checks(config: Config) -> list[str]:
    """Checks that span several keys: unique names and DNs, mapping targets, account scopes."""
    problems: list[str] = []
    # name or DN -> where it was first given
    seen_dirs: dict[str, str] = {}
    seen_dns: dict[str, str] = {}
    seen_reps: dict[str, str] = {}
    for d, directory in enumerate(config.directories):
        where = f"directories[{d}]"
        if first := _given_before(seen_dirs, directory.name, where):
            problems.append(
                f"{where}.name: directory {directory.name!r} is already defined at {first}"
            )
        if first := _given_before(seen_dns, normalize_dn(directory.dn), where):
            problems.append(f"{where}.base_dn: {directory.dn!r} is already the base DN of {first}")
        for r, rep in enumerate(directory.replicators):
            rwhere = f"{where}.replicators[{r}]"
            if first := _given_before(seen_reps, rep.name, rwhere):
                problems.append(
                    f"{rwhere}.name: replicator {rep.name!r} is already defined at {first}"
                )
            problems += [f"{rwhere}.mapping.{p}" for p in canonicalize_mapping(rep)]
    for a, account in enumerate(config.server.accounts):
        for name in account.directories or ():
            if name not in seen_dirs:
                problems.append(f"server.accounts[{a}].directories: no directory named {name!r}")
    return problems + _tls_problems(config.server)


def _given_before(seen: dict[str, str], value: str, where: str) -> str | None:
    """Where ``value`` was given first, if not at ``where``; notes it at ``where`` otherwise."""
    first = seen.setdefault(value, where)
    return first if first != where else None


def _tls_problems(server: ServerConfig) -> list[str]:
    problems = [f"server.listen: {p}" for p in listener_problems(server.listen, server.tls)]
    if server.tls is None:
        if server.require_tls:
            problems.append("server.require_tls: needs server.tls (certificate and private_key)")
        return problems
    from metadir.ldap.tls import TlsFileError, load_options

    try:
        load_options(server.tls.certificate, server.tls.private_key)
    except TlsFileError as exc:
        problems.append(f"server.tls.{exc.key}: {exc}")
    return problems


def canonicalize_mapping(rep: ReplicatorConfig) -> list[str]:
    """Rewrite ``rep.mapping`` onto canonical attribute names; return the problems found."""
    problems: list[str] = []
    mapping: dict[str, str] = {}
    for target, source in rep.mapping.items():
        field = fields.lookup(target)
        if field is None:
            names = [f.name for f in fields.all_fields()]
            guess = difflib.get_close_matches(target, names, n=1)
            problems.append(
                f"{target}: unknown attribute" + (f" (did you mean {guess[0]!r}?)" if guess else "")
            )
            continue
        if field.name in mapping:
            problems.append(f"{target}: {field.name!r} is mapped twice")
            continue
        if not isinstance(source, str) or not source.strip():
            problems.append(f"{target}: expected a source field name or a template")
            continue
        try:
            Template.parse(source)
        except MappingError as exc:
            problems.append(f"{target}: {exc}")
            continue
        mapping[field.name] = source
    rep.mapping = mapping
    return problems
