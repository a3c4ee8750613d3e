"""The YAML configuration: loading, ``${ENV}`` and ``*_file`` secrets, validation.

Each component owns its settings model (``metadir.store.settings``,
``metadir.ldap.settings``, ``metadir.directory.settings``, one per replicator kind); this
module assembles them into the file's shape and checks what spans several of them. Every
problem is reported as ``FILE: key.path: what is wrong``; all problems of a file are
reported at once. Secrets are ``SecretStr`` and never appear in messages or logs.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    Field,
    SerializeAsAny,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from metadir.config_errors import BROKEN_KIND, describe, key_path, shown
from metadir.config_yaml import read_yaml
from metadir.core.dn import normalize_dn
from metadir.core.errors import ConfigError
from metadir.core.phone import Location
from metadir.core.schedule import History, Schedule, SchedulerSettings
from metadir.core.settings import Strict, check_name
from metadir.directory import filters as f
from metadir.directory.selection import Selection, filter_problems
from metadir.directory.settings import DirectorySettings
from metadir.ldap.decode import parse_filter
from metadir.ldap.settings import ServerConfig, tls_problems
from metadir.store.settings import StoreConfig
from metadir.sync.job import ExportJob, Job, Numbers
from metadir.sync.mapping import canonicalize_mapping
from metadir.web.settings import HttpConfig, http_problems
from replicators import KindError, export_kind, export_kind_names, kinds
from replicators.base import ExportConfig, ReplicatorConfig

_ENV = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# a node's name goes into the store's leases and run records; a host name may be long
MAX_NODE = 200


def _by_kind(value: Any, info: ValidationInfo) -> Any:
    """A replicator entry validated by the settings model of its ``type``.

    Looked up here rather than in a union of every kind's model: pydantic would name the
    union's tag in error locations and check a broken plug-in at import."""
    if not isinstance(value, dict):
        return value  # pydantic says it is no mapping
    try:
        known = kinds()
    except KindError as exc:
        raise PydanticCustomError(BROKEN_KIND, "{problem}", {"problem": str(exc)}) from None
    name = value.get("type")
    if name is None:
        raise _at("type", "required key is missing; known types: {known}", known, name)
    if not isinstance(name, str) or name not in known:
        raise _at("type", "unknown replicator type {name}; known types: {known}", known, name)
    return known[name].settings.model_validate(value, context=info.context)


def _by_export_kind(value: Any, info: ValidationInfo) -> Any:
    """An export entry validated by the settings model of its ``type``; only that kind is
    loaded, so a broken plug-in target stops only the configs that use it."""
    if not isinstance(value, dict):
        return value
    name = value.get("type")
    known = export_kind_names()
    if name is None:
        raise _at("type", "required key is missing; known types: {known}", known, name)
    try:
        kind = export_kind(name) if isinstance(name, str) else None
    except KindError as exc:
        raise PydanticCustomError(BROKEN_KIND, "{problem}", {"problem": str(exc)}) from None
    if kind is None:
        raise _at("type", "unknown export type {name}; known types: {known}", known, name)
    return kind.settings.model_validate(value, context=info.context)


def _at(key: str, message: str, known: Iterable[str], name: object) -> ValidationError:
    """A validation error at ``key`` of the entry being validated (pydantic puts a
    ``ValidationError`` raised in a validator below the validator's own location)."""
    ctx = {"name": shown(name), "known": ", ".join(known) or "none installed"}
    error = PydanticCustomError("kind", message, ctx)
    return ValidationError.from_exception_data(
        "kind", [InitErrorDetails(type=error, loc=(key,), input=name)]
    )


# a replicator entry: the settings model its ``type`` names, dumped as that model
ReplicatorEntry = SerializeAsAny[Annotated[ReplicatorConfig, BeforeValidator(_by_kind)]]
# an export entry, likewise
ExportEntry = SerializeAsAny[Annotated[ExportConfig, BeforeValidator(_by_export_kind)]]


class DirectoryConfig(DirectorySettings):
    replicators: list[ReplicatorEntry] = Field(default_factory=list)

    @property
    def replicator_names(self) -> set[str]:
        return {rep.name for rep in self.replicators}


class Config(Strict):
    store: StoreConfig = StoreConfig()
    server: ServerConfig = ServerConfig()
    location: Location | None = None
    directories: list[DirectoryConfig] = Field(default_factory=list)
    # this node's name in leases and run records; host name and process id when not given
    node: str | None = Field(default=None, max_length=MAX_NODE)
    # how long run records are kept
    history: History = History()
    # how nodes share the scheduled runs
    scheduler: SchedulerSettings = SchedulerSettings()
    # the web server: phone book, JSON search, status page, metrics; off when not given
    http: HttpConfig | None = None
    # export replicators: the store written out to CSV, XML, LDAP
    exports: list[ExportEntry] = Field(default_factory=list)

    @field_validator("node")
    @classmethod
    def _node(cls, value: str | None) -> str | None:
        return None if value is None else check_name(value)

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

    def schedule_for(self, directory: DirectorySettings, rep: ReplicatorConfig) -> Schedule | None:
        """When ``rep`` runs: its own schedule, else its directory's; None: only by hand."""
        return rep.schedule or directory.schedule

    def node_name(self) -> str:
        """This process's name among the nodes sharing the store."""
        return self.node or f"{socket.gethostname()}-{os.getpid()}"

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

    def export(self, name: str) -> ExportConfig | None:
        return next((export for export in self.exports if export.name == name), None)

    def exported(self, export: ExportConfig) -> list[DirectoryConfig]:
        """The directories ``export`` reads: its ``directory``, those at or below its
        ``base_dn``, or all."""
        if export.directory is not None:
            return [d for d in self.directories if d.name == export.directory]
        if (selection := export.selection_dn()) is None:
            return list(self.directories)
        base = normalize_dn(selection)
        return [d for d in self.directories if _at_or_below(normalize_dn(d.dn), base)]

    def export_job(self, export: ExportConfig) -> ExportJob:
        """What ``run_export`` needs to run ``export``."""
        directories = self.exported(export)
        select = None
        if export.filter is not None:
            select = Selection(directories, self.location, parse_filter(export.filter))
        names = tuple(d.name for d in directories)
        return ExportJob(export, names, self.base_dir, select)

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
        described = [describe(path, err, raw, Config) for err in exc.errors()]
        # a broken plug-in is named once, not at every replicator
        raise ConfigError(problems + list(dict.fromkeys(described))) from None
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
            problems.append(f"{path}: {key_path(where)}: environment variable {name} is not set")
            return ""
        return os.environ[name]

    return _ENV.sub(replace, node)


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
    problems += _export_problems(config, seen_reps)
    problems += tls_problems(config.server)
    if config.http is not None:
        problems += http_problems(config.http, config.server.tls)
    return problems


def _export_problems(config: Config, replicators: dict[str, str]) -> list[str]:
    """Unique export names, the directories they read, filters that parse and can match."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    written: dict[str, str] = {}
    for e, export in enumerate(config.exports):
        where = f"exports[{e}]"
        if first := _given_before(seen, export.name, where):
            problems.append(f"{where}.name: export {export.name!r} is already defined at {first}")
        if (rep := replicators.get(export.name)) is not None:
            # `metadir history NAME` and Run now must know which is meant
            problems.append(f"{where}.name: {export.name!r} is already a replicator's name ({rep})")
        if export.directory is not None and not config.exported(export):
            known = ", ".join(d.name for d in config.directories) or "none configured"
            problems.append(
                f"{where}.directory: no directory named {export.directory!r}; known: {known}"
            )
        elif (selection := export.selection_dn()) is not None and not config.exported(export):
            problems.append(f"{where}.base_dn: no directory at or below {selection!r}")
        elif not config.directories:
            problems.append(f"{where}: no directories configured to export")
        if export.filter is not None:
            problems += [f"{where}.filter: {p}" for p in _filter_problems(export.filter)]
        for key, output in export.outputs(config.base_dir).items():
            if first := _given_before(written, output, f"{where}.{key}"):
                problems.append(f"{where}.{key}: {first} writes there already")
    return problems


def _filter_problems(text: str) -> list[str]:
    try:
        parsed: f.Filter = parse_filter(text)
    except ValueError as exc:
        # ldaptor's parser says what it expected and where (0-based)
        why, at = getattr(exc.__cause__, "msg", None), getattr(exc.__cause__, "loc", None)
        where = f": {why} at character {at + 1}" if why and isinstance(at, int) else ""
        return [f"not an LDAP filter{where}: {shown(text)}"]
    return filter_problems(parsed)


def _at_or_below(dn: str, base: str) -> bool:
    return dn == base or dn.endswith("," + base)


def _given_before(seen: dict[str, str], value: str, where: str) -> str | None:
    """Where ``value`` was given first, if not at ``where``; notes it at ``where`` otherwise."""
    first = seen.setdefault(value, where)
    return first if first != where else None
