"""``metadir check``: the config is valid (load_config did that), every source opens, every
export's target can be reached without writing to it (an LDAP export binds and reads its
OU, a file export's folder is writable), and the store opens with a schema this metadir
can use; and when each scheduled replicator runs
next, with its timeout and the program run after it; and the source and export types
installed, with the package that adds each (a plug-in shows here)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib.metadata import entry_points

from metadir.config import Config
from metadir.core.errors import SourceError, StoreError
from metadir.core.schedule import format_duration
from metadir.store.engine import inspect
from metadir.sync.engine import open_source
from metadir.sync.mapping import MappingError
from replicators import EXPORT_GROUP, kinds
from replicators.base import Context, ReplicatorConfig, TargetError


def check_command(config: Config, now: datetime | None = None) -> int:
    """Open each replicator's source and fit its mapping, then look at the store without
    changing it; 0 when all are fine, else 1. Schedules are shown from ``now`` (the
    current time unless given)."""
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
    for e, export in enumerate(config.exports):
        try:
            export.check(context)
        except TargetError as exc:
            print(f"{config.path}: exports[{e}] ({export.name}): target: {exc}", file=sys.stderr)
            failed += 1
    try:
        store = inspect(config.store_url())
    except StoreError as exc:
        print(f"{config.path}: store.url: {exc}", file=sys.stderr)
        failed += 1
    if failed:
        return 1
    web = f", web on {', '.join(h.url for h in config.http.listen)}" if config.http else ""
    print(
        f"{config.path}: ok: {len(config.directories)} directories, {count} replicators, "
        f"{len(config.exports)} exports, {len(config.server.listen)} listeners{web}; {store}"
    )
    for line in schedule_lines(config, now or datetime.now(UTC)):
        print(line)
    for line in kind_lines():
        print(line)
    return 0


def kind_lines() -> list[str]:
    """The installed source and export types, by the package (and version) that adds them:
    what a plug-in's installation should show."""
    sources = ((kind.name, kind.package, kind.version) for kind in kinds().values())
    # named only: an export kind's model is loaded when a config uses it
    exports = (
        (ep.name, ep.dist.metadata["Name"] if ep.dist else "", ep.dist.version if ep.dist else "")
        for ep in entry_points(group=EXPORT_GROUP)
    )
    return [f"  source types: {_by_package(sources)}", f"  export types: {_by_package(exports)}"]


def _by_package(found: Iterable[tuple[str, str, str]]) -> str:
    """``csv, ldap (metadir 0.1.0); vcard (metadir-plugin-vcard 1.0)``."""
    packages: dict[tuple[str, str], list[str]] = {}
    for name, package, version in sorted(found):
        packages.setdefault((package, version), []).append(name)
    if not packages:
        return "none"
    return "; ".join(
        f"{', '.join(names)} ({' '.join(filter(None, what)) or 'unknown package'})"
        for what, names in packages.items()
    )


def schedule_lines(config: Config, now: datetime) -> list[str]:
    """Per replicator with a schedule or an after_run program: when it runs next (in the
    schedule's zone), its timeout, and the program run after it."""
    lines: list[str] = []
    for directory in config.directories:
        for rep in directory.replicators:
            schedule = config.schedule_for(directory, rep)
            if schedule is None and rep.after_run is None:
                continue
            if schedule is None:
                when = "no schedule (runs by metadir sync only)"
            else:
                zone = schedule.zone
                runs = ", ".join(t.astimezone(zone).isoformat() for t in schedule.upcoming(now))
                when = f"{schedule}; next runs {runs}"
            lines.append(f"  {rep.name}: {when}; run_timeout {format_duration(rep.run_timeout)}")
            if rep.after_run is not None:
                lines.append(
                    f"  {rep.name}: after_run {rep.after_run} "
                    f"(timeout {format_duration(rep.after_run.timeout)})"
                )
    return lines
