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
import socket
import types
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    SerializeAsAny,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from metadir.config_yaml import read_yaml
from metadir.core.dn import normalize_dn
from metadir.core.errors import ConfigError
from metadir.core.phone import Location
from metadir.core.schedule import History, Schedule, SchedulerSettings
from metadir.core.settings import Strict, check_name, secret_fields
from metadir.directory.settings import DirectorySettings
from metadir.ldap.settings import ServerConfig, tls_problems
from metadir.store.settings import StoreConfig
from metadir.sync.job import Job, Numbers
from metadir.sync.mapping import canonicalize_mapping
from metadir.web.settings import HttpConfig, http_problems
from replicators import KindError, kinds
from replicators.base import ReplicatorConfig

_ENV = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# the error type of an installed source kind that cannot be loaded: about the
# installation, not about a key, so it is reported once and without a key path
_BROKEN_KIND = "replicator_kind_broken"
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
        raise PydanticCustomError(_BROKEN_KIND, "{problem}", {"problem": str(exc)}) from None
    name = value.get("type")
    if name is None:
        raise _at("type", "required key is missing; known types: {known}", known, name)
    if not isinstance(name, str) or name not in known:
        raise _at("type", "unknown replicator type {name}; known types: {known}", known, name)
    return known[name].settings.model_validate(value, context=info.context)


def _at(key: str, message: str, known: dict[str, Any], name: object) -> ValidationError:
    """A validation error at ``key`` of the entry being validated (pydantic puts a
    ``ValidationError`` raised in a validator below the validator's own location)."""
    ctx = {"name": _shown(name), "known": ", ".join(known)}
    error = PydanticCustomError("replicator_kind", message, ctx)
    return ValidationError.from_exception_data(
        "replicator", [InitErrorDetails(type=error, loc=(key,), input=name)]
    )


# a replicator entry: the settings model its ``type`` names, dumped as that model
ReplicatorEntry = SerializeAsAny[Annotated[ReplicatorConfig, BeforeValidator(_by_kind)]]


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
        described = [_describe(path, err, raw) for err in exc.errors()]
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


def _describe(path: Path, err: ErrorDetails, raw: Any) -> str:
    """One problem as ``FILE: key.path: what is wrong``, in words; ``raw`` is the validated
    input, which tells the settings model of each section (a replicator's by its type)."""
    loc = tuple(err["loc"])
    kind = err["type"]
    if kind == _BROKEN_KIND:
        return f"{path}: {err['msg']}; reinstall or remove that package"
    if kind == "extra_forbidden":
        msg = "unknown key" + _suggestion(loc, raw)
    elif kind == "missing":
        msg = "required key is missing"
    else:
        msg = _in_words(err)
    return f"{path}: {_key_path(loc)}: {msg}"


# pydantic's errors for numbers out of bounds: where its context holds the bound, in words
_BOUNDS = {
    "greater_than_equal": ("ge", "at least"),
    "greater_than": ("gt", "more than"),
    "less_than_equal": ("le", "at most"),
    "less_than": ("lt", "less than"),
}


def _in_words(err: ErrorDetails) -> str:
    """pydantic's message, said the way the other messages are: what was expected."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    got = _shown(err.get("input"))
    if kind == "literal_error":
        return f"{err['msg']}, not {got}"
    if kind == "string_pattern_mismatch":
        return f"expected text of the form {ctx['pattern']}, not {got}"
    if kind in _BOUNDS:
        bound, words = _BOUNDS[kind]
        return f"must be {words} {_number(ctx[bound])}, not {got}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping of keys and values (got {type(err.get('input')).__name__})"
    msg = err["msg"].removeprefix("Value error, ")
    if "input" in err and kind.endswith("_type"):
        msg += f" (got {type(err['input']).__name__})"
    return msg


def _number(value: object) -> object:
    """A bound as an admin writes it: 60, not pydantic's 60.0 of a float setting."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _shown(value: object) -> str:
    """``value`` for a message, cut short: it may be a megabyte of garbage."""
    text = repr(value)
    return text if len(text) <= 60 else text[:50] + "…" + text[-5:]


# keys of other programs' configs, and words an admin may reach for, that difflib cannot
# lead to their names here; the first that the section has is suggested
_SYNONYMS = {
    "cert": ("certificate",),
    "crt": ("certificate",),
    "certfile": ("certificate",),
    "cert_file": ("certificate",),
    "certificate_file": ("certificate",),
    "key": ("private_key",),
    "keyfile": ("private_key",),
    "key_file": ("private_key",),
    "private_key_file": ("private_key",),
    "ca": ("ca_file",),
    "cafile": ("ca_file",),
    "ca_cert": ("ca_file",),
    "cacert": ("ca_file",),
    "ca_certs": ("ca_file",),
    "ca_certificate": ("ca_file",),
    "ca_certificates": ("ca_file",),
    "starttls": ("start_tls",),
    "use_starttls": ("start_tls",),
    "use_start_tls": ("start_tls",),
    "tls_start": ("start_tls",),
    "verify_cert": ("verify",),
    "verify_certificate": ("verify",),
    "validate": ("verify",),
    "uri": ("url",),
    "urls": ("url",),
    "host": ("url",),
    "server": ("url",),
    "base": ("base_dn",),
    "basedn": ("base_dn",),
    "search_base": ("base_dn",),
    "binddn": ("bind_dn",),
    "user": ("bind_dn",),
    "username": ("bind_dn",),
    "passwd": ("password",),
    "pass": ("password",),
    "search_filter": ("filter",),
    "file": ("path",),
    "filename": ("path",),
    "separator": ("delimiter",),
    "sep": ("delimiter",),
    "charset": ("encoding",),
    "country_code": ("country",),
    "listen_on": ("listen",),
    "database": ("url",),
    "db": ("url",),
    "tz": ("timezone",),
    "zone": ("timezone",),
    "time_zone": ("timezone",),
    "interval": ("every",),
    "crontab": ("cron",),
    "at_start": ("run_at_start",),
    "on_start": ("run_at_start",),
    "run_on_start": ("run_at_start",),
    "after": ("after_run",),
    "hook": ("after_run",),
    "post_run": ("after_run",),
    "on_finish": ("after_run",),
    "cmd": ("command",),
    "program": ("command",),
    "keep": ("keep_days",),
    "days": ("keep_days",),
    "retention": ("keep_days",),
    "ttl": ("lease",),
    "lease_time": ("lease",),
    "node_name": ("node",),
    "hostname": ("node",),
}
# a section with at most this many keys has them listed when no single one is suggested
_LISTED = 12


def _suggestion(loc: tuple, raw: Any) -> str:
    """`` (did you mean 'KEY'?)`` for the unknown key at the end of ``loc``, from the keys
    of the section it stands in; else those keys, where they are few."""
    model = _section(loc[:-1], raw)
    if model is None:
        return ""
    keys = set(model.model_fields) | {f"{name}_file" for name in secret_fields(model)}
    typed = str(loc[-1]).strip().lower().replace("-", "_").replace(" ", "_")
    guess = next((k for k in _SYNONYMS.get(typed, ()) if k in keys), None)
    if typed in keys:
        guess = typed
    elif guess is None:
        close = difflib.get_close_matches(typed, sorted(keys), n=1)
        guess = close[0] if close else None
    if guess is not None:
        return f" (did you mean {guess!r}?)"
    if len(keys) <= _LISTED:
        where = _key_path(loc[:-1]) if loc[:-1] else "the top level"
        return f"; {where} has {', '.join(sorted(keys))}"
    return ""


def _section(loc: tuple, raw: Any) -> type[BaseModel] | None:
    """The settings model of the section at ``loc`` in the input ``raw``: the path walked
    through the models' fields from ``Config``, and a replicator's model found by its
    type."""
    annotation: Any = Config
    data = raw
    for part in loc:
        model = _model(annotation, data)
        inner = _unwrapped(annotation)
        if model is not None:
            field = model.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                return None
            annotation = field.annotation
        elif isinstance(part, int) and get_origin(inner) in (list, tuple):
            annotation = get_args(inner)[0]
        elif isinstance(part, str) and get_origin(inner) is dict:
            annotation = get_args(inner)[1]
        else:
            return None
        data = _child(data, part)
    return _model(annotation, data)


def _unwrapped(annotation: Any) -> Any:
    """``annotation`` without ``Annotated`` and ``| None``."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) in (Union, types.UnionType):
            others = [a for a in get_args(annotation) if a is not type(None)]
            if len(others) != 1:
                return annotation
            annotation = others[0]
        else:
            return annotation


def _model(annotation: Any, data: Any) -> type[BaseModel] | None:
    """The settings model ``annotation`` stands for, given its input ``data``."""
    model = _unwrapped(annotation)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return None
    if issubclass(model, ReplicatorConfig) and isinstance(data, dict):
        name = data.get("type")
        try:
            kind = kinds().get(name) if isinstance(name, str) else None
        except KindError:
            kind = None  # _by_kind reports it
        if kind is not None:
            return kind.settings
    return model


def _child(data: Any, part: str | int) -> Any:
    if isinstance(data, dict):
        return data.get(part)
    if isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
        return data[part]
    return None


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
    problems += tls_problems(config.server)
    if config.http is not None:
        problems += http_problems(config.http, config.server.tls)
    return problems


def _given_before(seen: dict[str, str], value: str, where: str) -> str | None:
    """Where ``value`` was given first, if not at ``where``; notes it at ``where`` otherwise."""
    first = seen.setdefault(value, where)
    return first if first != where else None
