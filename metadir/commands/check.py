"""``metadir check``: the config is valid (load_config did that), every source opens and
the store opens with a schema this metadir can use."""

from __future__ import annotations

import sys

from metadir.config import Config
from metadir.core.errors import SourceError, StoreError
from metadir.store.engine import inspect
from metadir.sync.engine import open_source
from metadir.sync.mapping import MappingError
from replicators.base import Context, ReplicatorConfig


def check_command(config: Config) -> int:
    """Open each replicator's source and fit its mapping, then look at the store without
    changing it; 0 when all are fine, else 1."""
    failed = 0
    count = 0
    context = Context(config.base_dir)
    for d, directory in enumerate(config.directories):
        replicators: list[ReplicatorConfig] = list(directory.replicators)
        for r, rep in enumerate(replicators):
            count += 1
            where = f"{config.path}: directories[{d}].replicators[{r}]"
            try:
                open_source(rep, context)
            except SourceError as exc:
                print(f"{where} ({rep.name}): source: {exc}", file=sys.stderr)
                failed += 1
            except MappingError as exc:
                print(
                    f"{where}.{exc}"
                    if str(exc).startswith("mapping.")
                    else f"{where} ({rep.name}): {exc}",
                    file=sys.stderr,
                )
                failed += 1
    try:
        store = inspect(config.store_url())
    except StoreError as exc:
        print(f"{config.path}: store.url: {exc}", file=sys.stderr)
        failed += 1
    if failed:
        return 1
    print(
        f"{config.path}: ok: {len(config.directories)} directories, {count} replicators, "
        f"{len(config.server.listen)} listeners; {store}"
    )
    return 0
