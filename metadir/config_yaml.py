"""The config file's YAML, read within bounds.

A config file is a few KB written by an admin; one that is not (binary garbage, a
"billion laughs" of aliases, brackets nested 50,000 deep, megabytes in one value) must end
in one error line naming the file, quickly and in little memory, not in a traceback, a
hang or all of the machine's memory. Hence the limits: the file's size, how deep values
nest, and how many values the document holds once every alias is expanded. Aliases stay
allowed (one mapping shared by several replicators is a fair use); only their expansion
is counted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

from metadir.core.errors import ConfigError

MAX_BYTES = 1 << 20
# a config nests about eight levels deep (directories, replicators, mapping...)
MAX_DEPTH = 32
# values (scalars, lists, mappings) after alias expansion: what later steps walk and copy
MAX_NODES = 100_000


def read_yaml(path: Path) -> Any:
    """The YAML document of the file at ``path``, read with the safe loader and the limits
    above. Raises ``ConfigError`` with one problem: ``FILE: [line L, column C: ]what``."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    if len(data) > MAX_BYTES:
        raise ConfigError([f"{path}: larger than {MAX_BYTES >> 20} MiB; a config is a few KB"])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = _position(data, exc.start, b"\n")
        raise ConfigError(
            [f"{path}: {where}not UTF-8 text (byte 0x{data[exc.start]:02x}); save it as UTF-8"]
        ) from None
    try:
        loader = _BoundedLoader(text)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.reader.ReaderError as exc:
        # the reader's own message spans two lines and counts characters, not lines
        where = _position(text, exc.position, "\n")
        problem = f"control character #x{exc.character:04x} is not allowed"
        raise ConfigError([f"{path}: {where}not valid YAML: {problem}"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).replace("\n", " ")
        raise ConfigError([f"{path}: {where}not valid YAML: {problem}"]) from None


def _position(data: Any, offset: int, newline: Any) -> str:
    """``line L, column C: `` of ``offset`` in ``data`` (bytes or text)."""
    line_start = data.rfind(newline, 0, offset) + 1
    return f"line {data.count(newline, 0, offset) + 1}, column {offset - line_start + 1}: "


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with the composer counting depth and expanded values."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0
        # anchored node -> the values it stands for with its own aliases expanded
        self._anchored_sizes: dict[int, int] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        # typed loosely: the stubs give events the marks of the C parser too
        mark: Any = event.start_mark
        if isinstance(event, yaml.AliasEvent):
            node = self.anchors.get(event.anchor)
            if node is not None:
                size = self._anchored_sizes.get(id(node))
                if size is None:
                    # an alias inside its own anchor would expand forever
                    raise ComposerError(None, None, f"alias *{event.anchor} refers to itself", mark)
                self._count(size, mark)
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep", mark)
        before = self._nodes
        self._count(1, mark)
        node = super().compose_node(parent, index)
        self._depth -= 1
        if event.anchor is not None:
            self._anchored_sizes[id(node)] = self._nodes - before
        return node

    def _count(self, nodes: int, mark: Any) -> None:
        self._nodes += nodes
        if self._nodes > MAX_NODES:
            raise ComposerError(
                None,
                None,
                f"more than {MAX_NODES} values, counting what each alias repeats",
                mark,
            )

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:
            # an integer of 5,000 digits or a date such as 2024-13-45; Python's advice after
            # the ";" (sys.set_int_max_str_digits) is not for an admin
            problem = f"cannot read the value: {str(exc).split(';')[0]}"
            raise ConstructorError(None, None, problem, node.start_mark) from None
