"""Problems in a config file, in words: ``KEY.PATH: what is wrong``, as pydantic found
them, with the key an unknown one was likely meant to be. Which settings model a section
has is found by walking the models' fields from the root model, and a replicator's or an
export's model by its ``type``."""

from __future__ import annotations

import difflib
import types
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from metadir.core.settings import secret_fields
from replicators import KindError, export_kind, kinds
from replicators.base import ExportConfig, ReplicatorConfig

# the error type of an installed source or export kind that cannot be loaded: about the
# installation, not about a key, so it is reported once and without a key path
BROKEN_KIND = "kind_broken"


def key_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def describe(path: Path, err: ErrorDetails, raw: Any, root: type[BaseModel]) -> str:
    """One problem as ``FILE: key.path: what is wrong``, in words; ``raw`` is the input
    validated as ``root``, which tells the settings model of each section (a replicator's
    by its type)."""
    loc = tuple(err["loc"])
    kind = err["type"]
    if kind == BROKEN_KIND:
        return f"{path}: {err['msg']}; reinstall or remove that package"
    if kind == "extra_forbidden":
        msg = "unknown key" + _suggestion(loc, raw, root)
    elif kind == "missing":
        msg = "required key is missing"
    else:
        msg = _in_words(err)
    return f"{path}: {key_path(loc)}: {msg}"


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
    got = shown(err.get("input"))
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


def shown(value: object) -> str:
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


def _suggestion(loc: tuple, raw: Any, root: type[BaseModel]) -> str:
    """`` (did you mean 'KEY'?)`` for the unknown key at the end of ``loc``, from the keys
    of the section it stands in; else those keys, where they are few."""
    model = _section(loc[:-1], raw, root)
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
        where = key_path(loc[:-1]) if loc[:-1] else "the top level"
        return f"; {where} has {', '.join(sorted(keys))}"
    return ""


def _section(loc: tuple, raw: Any, root: type[BaseModel]) -> type[BaseModel] | None:
    """The settings model of the section at ``loc`` in the input ``raw``: the path walked
    through the models' fields from ``root``, and a replicator's or an export's model found
    by its type."""
    annotation: Any = root
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
    name = data.get("type") if isinstance(data, dict) else None
    if not isinstance(name, str):
        return model
    try:
        if issubclass(model, ReplicatorConfig):
            kind = kinds().get(name)
            return kind.settings if kind is not None else model
        if issubclass(model, ExportConfig):
            export = export_kind(name)
            return export.settings if export is not None else model
    except KindError:
        pass  # the type's validator reports it
    return model


def _child(data: Any, part: str | int) -> Any:
    if isinstance(data, dict):
        return data.get(part)
    if isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
        return data[part]
    return None
