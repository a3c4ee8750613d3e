"""Id sets, a filter's three-valued outcome over them, and what the evaluators of special
attributes (phone numbers, full text) see of the filter evaluator that calls them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from pyroaring import BitMap, FrozenBitMap

from metadir.core.phone import Location
from metadir.directory import filters as f
from metadir.directory.index import AttributeIndex, Index

Ids = BitMap | FrozenBitMap  # entry ids, in tree order
Outcome = tuple[Ids, Ids]  # (true, undefined)


class Evaluator(Protocol):
    """The filter evaluator (``evaluate.Matcher``) as ``numbers`` and ``words`` use it."""

    @property
    def index(self) -> Index: ...
    @property
    def location(self) -> Location | None: ...
    @property
    def fallback(self) -> bool: ...

    def evaluate(self, filter: f.Filter, scope: Ids) -> Outcome: ...

    def select(
        self,
        held: AttributeIndex,
        name: str,
        values: Iterable[str],
        count: int,
        test: Callable[[str], bool],
        scope: Ids,
    ) -> Ids: ...
