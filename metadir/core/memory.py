"""Bulk work and the cyclic garbage collector."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while many objects are built at once.

    Reading or writing 100k entries allocates millions of containers, and each time the
    collector wakes it walks them all: bulk work ran two to three times slower with it.
    Reference counting still frees what is dropped; cycles wait for the end of the block.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()
