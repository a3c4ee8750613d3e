"""The YAML configuration: loading, ``${ENV}`` and ``*_file`` secrets, validation.

Each component owns its settings model (``metadir.store.settings``,
``metadir.ldap.settings``, ``metadir.directory.settings``, one per replicator kind); this
module assembles them into the file's shape and checks what spans several of them. Every
problem is reported as ``FILE: key.path: what is wrong``; all problems of a file are
reported at once. Secrets are ``SecretStr`` and never appear in messages or logs.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import BaseModel, Field, ValidationError

from metadir.config_yaml import read_yaml
from metadir.core.dn import normalize_dn
from metadir.core.errors import ConfigError
from metadir.core.phone import Location
from metadir.core.settings import Strict, secret_fields
from metadir.directory.settings import DirectorySettings
from metadir.ldap.settings import Account, Limits, ServerConfig, TlsConfig, tls_problems
from metadir.store.settings import StoreConfig
from metadir.sync.engine import Job, Numbers
from metadir.sync.mapping import canonicalize_mapping
from replicators import kinds
from replicators.base import ReplicatorConfig

_ENV = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
REGISTRY = {name: kind.settings for name, kind in kinds().items()}
_SETTINGS = tuple(REGISTRY.values())
# one settings model per source kind, told apart by ``type``
ReplicatorSettings = (
    Annotated[Union[_SETTINGS], Field(discriminator="type")]  # noqa: UP007
    if len(_SETTINGS) > 1
    else _SETTINGS[0]
)


class DirectoryConfig(DirectorySettings):
    replicators: list[ReplicatorSettings] = Field(default_factory=list)  # type: ignore[valid-type]

    @property
    def replicator_names(self) -> set[str]:
        return {rep.name for rep in self.replicators}


class Config(Strict):
    store: StoreConfig = StoreConfig()
    server: ServerConfig = ServerConfig()
    location: Location | None = None
    directories: list[DirectoryConfig] = Field(default_factory=list)

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

    def job(self, directory: DirectorySettings, rep: ReplicatorConfig) -> Job:
        """What the sync engine needs to run ``rep`` into ``directory``."""
        served = self.location_for(directory)
        numbers = Numbers(
            self.location_for(directory, rep),
            directory.phone_format,
            served.country if served else None,
        )
        return Job(rep, directory.name, directory.dn, numbers, self.base_dir)

    def location_for(
        self, directory: DirectorySettings, rep: ReplicatorConfig | None = None
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
    return keys | {f"{name}_file" for model in models for name in secret_fields(model)}


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
    return problems + tls_problems(config.server)


def _given_before(seen: dict[str, str], value: str, where: str) -> str | None:
    """Where ``value`` was given first, if not at ``where``; notes it at ``where`` otherwise."""
    first = seen.setdefault(value, where)
    return first if first != where else None
