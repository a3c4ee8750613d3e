"""Any program as a source (``type: command``), estos' "custom replicator" for anything.

metadir runs the program (no shell), reads its stdout as it comes — one JSON object a line
(``format: jsonl``) or CSV text (``format: csv``, read by the CSV source's parser) — and
hands on one ``Record`` per line or row, and a ``Problem`` naming the line of each broken
one. A program that exits non-zero, is killed or runs out of ``timeout`` fails the run,
which then changes nothing, whatever it printed before. Each line it writes to stderr is
one of the run's problems (logged too; the first hundred kept), and the run's note counts
them.

``incremental: true``: the program gets the state its last applied run ended with as JSON
in ``METADIR_STATE`` (not set on a first or ``--full`` run), may print ``{"_removed":
{<key fields>}}`` lines for contacts that are gone, and ends with ``{"_checkpoint": {...},
"whole": false}`` (``whole: true`` when it printed everything): the state for next time.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Generator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from metadir.core import fields
from metadir.core.errors import SourceError
from metadir.core.schedule import Duration, found_program, split_command
from replicators.base import (
    Checkpoint,
    Context,
    Problem,
    Record,
    Removed,
    Replicator,
    ReplicatorConfig,
    mapped_fields,
)
from replicators.command_process import Program, Stderr
from replicators.command_values import checkpoint_of, json_item
from replicators.csv_table import CsvLayout, check_encoding, open_table, table_items

log = logging.getLogger(__name__)

_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# the keys of CSV text that JSON lines have no use for
_CSV_ONLY = ("delimiter", "header", "columns")
STATE_VARIABLE = "METADIR_STATE"


class CommandConfig(ReplicatorConfig, CsvLayout):
    type: Literal["command"]
    # the program and its arguments; a string is split as a shell would, without a shell
    command: list[str]
    format: Literal["jsonl", "csv"] = "jsonl"
    # how the program's output is encoded
    encoding: str = "utf-8"
    # the program is killed after this long, and the run fails
    timeout: Duration = timedelta(minutes=10)
    # variables added to the program's environment (values may be ${ENV} secrets)
    environment: dict[str, SecretStr] = Field(default_factory=dict)
    # the program's working folder, relative to the config file's; that folder by default
    cwd: str = "."
    # the program gets the last state in METADIR_STATE and may end with a checkpoint line
    incremental: bool = False

    _split = field_validator("command", mode="before")(split_command)
    _found = field_validator("command")(found_program)

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        return check_encoding(value)

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, secret in value.items():
            if not _VARIABLE.fullmatch(name):
                raise ValueError(f"{name!r} is no variable name (letters, digits and _)")
            if name == STATE_VARIABLE:
                raise ValueError(f"{name} is metadir's own (incremental: true sets it)")
            if "\0" in secret.get_secret_value():
                raise ValueError(f"{name}: a value cannot hold a NUL character")
        return value

    @model_validator(mode="after")
    def _format(self) -> CommandConfig:
        if self.format == "jsonl" and (
            given := [k for k in _CSV_ONLY if k in self.model_fields_set]
        ):
            raise ValueError(f"{', '.join(given)}: only with format: csv")
        return self

    def build(self, context: Context) -> Replicator:
        return CommandReplicator(self, context)


class CommandReplicator:
    """Runs the program of ``config`` for each read."""

    def __init__(self, config: CommandConfig, context: Context) -> None:
        self.config = config
        self.context = context
        self.name = f"program {Path(config.command[0]).name}"

    def check(self) -> list[str]:
        """The fields a read may hand on, without running the program (a read has effects
        and takes time): the key, and those the mapping names, or else every attribute's
        name, so that a program printing attributes by name needs no mapping. A CSV
        header is checked against them when the program runs."""
        return self._fields()

    def read(
        self, state: dict[str, Any] | None = None
    ) -> Iterator[Record | Problem | Removed | Checkpoint]:
        """Run the program and hand on what it prints; a ``Checkpoint`` at the end carries
        an incremental program's state, or what it wrote to stderr. Raises
        ``SourceError`` after the last line if the program failed, ``Cancelled`` (the
        program killed) if the context asks the read to stop."""
        config = self.config
        env = {name: secret.get_secret_value() for name, secret in config.environment.items()}
        if config.incremental and state:
            env[STATE_VARIABLE] = json.dumps(state)
        program = Program(
            config.command,
            self.context.base_dir / config.cwd,
            env,
            self.name,
            config.timeout,
            tuple(env.values()),
        )
        with program:
            lines = program.lines(config.encoding, lambda: self.context.tick(0))
            if config.format == "csv":
                yield from self._csv(lines)
                checkpoint = None
            else:
                checkpoint = yield from self._jsonl(lines)
            stderr = program.wait()
        note, reported = _stderr_note(stderr, self.name), stderr.problems()
        if checkpoint is not None:
            state, whole = checkpoint
            yield Checkpoint(state, whole, note, reported)
        elif note:
            # a whole read: the checkpoint is how the run keeps what the program complained of
            yield Checkpoint({}, True, note, reported)

    def _csv(self, lines: Iterator[str]) -> Iterator[Record | Problem]:
        where = f"{self.name}: output"
        columns, rows = open_table(lines, self.config, where, "output")
        missing = [name for name in self._fields() if name not in columns]
        if self.config.mapping and missing:
            raise SourceError(
                f"{where}: no column {', '.join(map(repr, missing))}; "
                f"its columns: {', '.join(columns)}"
            )
        yield from table_items(columns, rows, self.config.key, self.context.tick)

    def _jsonl(
        self, lines: Iterator[str]
    ) -> Generator[Record | Problem | Removed, None, tuple[dict[str, Any], bool] | None]:
        """Records, problems and removals of JSON lines; returns the checkpoint the last
        line gave (state, whole), if any."""
        key = self.config.key
        incremental = self.config.incremental
        checkpoint: tuple[dict[str, Any], bool] | None = None
        at = 0
        for number, text in enumerate(lines, 1):
            self.context.tick()
            if not text.strip():
                continue
            if checkpoint is not None:
                raise SourceError(
                    f"{self.name}: line {number}: output after the checkpoint on line {at}"
                )
            item = json_item(text.removeprefix("\ufeff").rstrip(), number, key, incremental)
            if isinstance(item, dict):
                checkpoint, at = checkpoint_of(item, number, self.name), number
            else:
                yield item
        return checkpoint

    def _fields(self) -> list[str]:
        named = (
            mapped_fields(self.config.mapping)
            if self.config.mapping
            else [f.name for f in fields.all_fields() if not f.is_binary]
        )
        wanted = [*self.config.key, *named]
        return list(dict.fromkeys(wanted))


def _stderr_note(stderr: Stderr, name: str) -> str:
    """The run's note on what the program wrote to stderr (each kept line also logged)."""
    for line in stderr.first:
        log.warning("%s: stderr: %s", name, line)
    if not stderr.count:
        return ""
    lines = "1 line" if stderr.count == 1 else f"{stderr.count} lines"
    return f"{name} wrote {lines} to stderr (the run's problems), the first: {stderr.first[0]}"
