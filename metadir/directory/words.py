"""Full-text search for estos' ``searchContact`` and ``searchIndividual`` (MetaDirectory 6):
the words of a search box, in any order, each match the start of a word in any of the
fields searched — ``A* Becke*`` and ``becke alex`` find "Alexander Beckenbauer"; leading
wildcards are ignored.

The words of those fields are kept in a word index per virtual attribute (built on the
first such search from the attribute indexes, then maintained like any index), so a search
is a few prefix lookups in a sorted list and bitmap intersections, not a scan.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from metadir.core.dn import fold
from metadir.directory import filters as f
from metadir.directory.attributes import AttributeType, virtual_members
from metadir.directory.index import EMPTY, WordIndex
from metadir.directory.sets import Evaluator, Ids, Outcome

# the virtual attributes searched as full text (the others stand for their members)
FULL_TEXT = frozenset({"searchContact", "searchIndividual"})
_RUNS = re.compile(r"\w+")
_APOSTROPHES = re.compile(r"['’`´]")


@lru_cache(maxsize=65536)  # first names, companies and towns repeat across contacts
def words_of(value: str) -> tuple[str, ...]:
    """The words of a field's value a query word may be the start of: each whitespace-
    separated token (``müller-lüdenscheidt``, ``anna@acme.example``), the runs of letters
    and digits in it (``lüdenscheidt``, ``acme``), and a token without its apostrophes
    (``obrien``); folded as names are."""
    found = []
    for token in fold(value).split():
        found.append(token)
        if not token.isalnum():
            found += _RUNS.findall(token)
            if _APOSTROPHES.search(token):
                found.append(_APOSTROPHES.sub("", token))
    return tuple(found)


def query_words(filter: f.Equality | f.Substrings | f.Approx) -> list[str]:
    """The words of a search box, folded; ``*`` marks nothing but where words end."""
    if isinstance(filter, f.Substrings):
        pieces: Sequence[str | None] = (filter.initial, *filter.any, filter.final)
    else:
        pieces = (filter.value,)
    return fold(" ".join(piece for piece in pieces if piece)).split()


def evaluate(
    matcher: Evaluator,
    attr: AttributeType,
    filter: f.Equality | f.Substrings | f.Approx,
    scope: Ids,
) -> Outcome:
    """Entries whose fields hold a word starting with each word of the assertion; and, for
    a value that looks like a number, those holding it in a number attribute."""
    index = matcher.index
    words = index.words(attr.name, frozenset(attr.virtual), words_of)
    found = _matching(words, query_words(filter), scope)
    numbers = tuple(m for m in virtual_members(attr, filter) if m.attribute not in attr.virtual)
    if not numbers:
        return found, EMPTY
    true, undefined = matcher.evaluate(f.Or(numbers), scope)
    true = true | found
    return true, undefined - true if undefined else EMPTY


def _matching(words: WordIndex, wanted: list[str], scope: Ids) -> Ids:
    if not wanted:
        return EMPTY
    held = words.held
    found: Ids = scope
    # the rarest word first: the others then only narrow a small set
    for word in sorted(set(wanted), key=held.count_with_prefix):
        found = found & held.ids_with_prefix(word)
        if not found:
            break
    return found
