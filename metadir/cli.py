"""The ``metadir`` command: serve, sync, export, check, status, history, lookup,
hash-password."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from datetime import datetime

from metadir import __version__
from metadir.config import Config, load_config
from metadir.core.errors import ConfigError, MetadirError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="metadir", description=__doc__)
    parser.add_argument("--version", action="version", version=f"metadir {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("-c", "--config", required=True, metavar="FILE", help="YAML config file")
        return p

    serve = with_config("serve", "serve the directories over LDAP")
    serve.add_argument(
        "--listen",
        action="append",
        metavar="URL",
        help="listen here instead of server.listen (repeatable), e.g. ldap://127.0.0.1:7712",
    )

    sync = with_config("sync", "run replicators once and print what changed")
    sync.add_argument("names", nargs="*", metavar="NAME", help="replicators to run (default: all)")
    sync.add_argument(
        "--force",
        action="store_true",
        help="apply a run even if it deletes more than max_delete or updates more than max_update",
    )
    sync.add_argument(
        "--dry-run", action="store_true", help="show what would change, change nothing"
    )
    sync.add_argument(
        "--full",
        action="store_true",
        help="read every source whole instead of only what changed since the last run",
    )

    sync.add_argument(
        "--wait",
        action="store_true",
        help="if a replicator is running elsewhere (a scheduled run, another node), wait for "
        "it instead of exiting with status 3",
    )
    _worker_options(sync)

    export = with_config("export", "run export replicators now and print what each sent")
    export.add_argument("names", nargs="*", metavar="NAME", help="exports to run (default: all)")
    export.add_argument(
        "--full", action="store_true", help="send every entry again, not only what changed"
    )
    export.add_argument(
        "--force", action="store_true", help="send a run even if it deletes more than max_delete"
    )
    export.add_argument("--wait", action="store_true", help="wait for an export running elsewhere")
    _worker_options(export)

    history = with_config("history", "list past sync runs, newest first")
    history.add_argument("name", nargs="?", metavar="NAME", help="only this replicator's runs")
    history.add_argument(
        "--limit", type=int, default=20, metavar="N", help="runs to list (default 20)"
    )
    history.add_argument("--json", action="store_true", help="print JSON instead of text")
    history.add_argument("--run", type=int, metavar="ID", help="show one run with its problems")
    history.add_argument(
        "--offset",
        type=int,
        default=0,
        metavar="N",
        help="with --run: skip the first N problems (they are shown --limit at a time)",
    )

    lookup = with_config("lookup", "print the contacts a phone number belongs to")
    lookup.add_argument("number", metavar="NUMBER", help="the number, written any way")

    with_config("check", "validate the config and test every replicator's source")
    with_config("status", "show each replicator's last run and each directory's size")

    hp = sub.add_parser("hash-password", help="print a password hash for server.accounts")
    hp.add_argument("--stdin", action="store_true", help="read the password from standard input")
    return parser


def _worker_options(parser: argparse.ArgumentParser) -> None:
    """How `metadir serve` starts a scheduled run in a worker process (not for people)."""
    parser.add_argument("--trigger", default="manual", help=argparse.SUPPRESS)
    parser.add_argument("--lease-token", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--node", help=argparse.SUPPRESS)
    parser.add_argument("--slot", type=datetime.fromisoformat, help=argparse.SUPPRESS)
    parser.add_argument("--supervised", action="store_true", help=argparse.SUPPRESS)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command == "hash-password":
        return _hash_password(args.stdin)
    try:
        config = load_config(args.config)
        return _run(args, config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    except MetadirError as exc:
        print(f"metadir: {exc}", file=sys.stderr)
        return 1


_RUN_OPTIONS = ("force", "full", "wait", "trigger", "lease_token", "node", "supervised", "slot")


def _run(args: argparse.Namespace, config: Config) -> int:
    if args.command == "serve":
        from metadir.service.serve import serve

        return serve(config, listen=args.listen)
    if args.command in ("sync", "export"):
        # a run from the command line and a worker of `metadir serve` take these alike
        run = {name: getattr(args, name) for name in _RUN_OPTIONS}
        if args.command == "sync":
            from metadir.commands.sync import sync_command

            return sync_command(config, args.names, dry_run=args.dry_run, **run)
        from metadir.commands.export import export_command

        return export_command(config, args.names, **run)
    if args.command == "history":
        from metadir.commands.history import history_command

        return history_command(
            config, args.name, limit=args.limit, as_json=args.json, run=args.run, offset=args.offset
        )
    if args.command == "lookup":
        from metadir.commands.lookup import lookup_command

        return lookup_command(config, args.number)
    if args.command == "check":
        from metadir.commands.check import check_command

        return check_command(config)
    if args.command == "status":
        from metadir.commands.status import status_command

        return status_command(config)
    raise AssertionError(args.command)


def _hash_password(from_stdin: bool) -> int:
    from metadir.ldap.passwords import hash_password

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("metadir: the passwords differ", file=sys.stderr)
            return 1
    if not password:
        print("metadir: empty password", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0
