"""The status page (``/admin``), for signed-in admins only: each directory's size; each
replicator's and each export's schedule, last and next run, outcome, counts and the running
run's progress; Run now; the nodes sharing the store and the leases they hold. The page asks
``/admin/status`` for its middle part every few seconds, so it updates without reloading.
Everything shown comes from the status poller's last read of the store, not from a query
per view; a run's problems (``/admin/runs/ID``) are read when asked for.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from twisted.internet.defer import Deferred
from twisted.web.server import Request

from metadir.core.schedule import Schedule
from metadir.store.runs import RunRecord
from metadir.web.context import Web
from metadir.web.http import JSON, BadRequest, Response, Route, number_parameter, parameter
from metadir.web.http import redirect as see_other
from metadir.web.pages import render
from metadir.web.sessions import Session, check_form

# a node silent for longer than this is shown as gone (it signs in every 10 s)
GONE_AFTER = timedelta(seconds=30)
PROBLEMS_PER_PAGE = 100


def routes(web: Web) -> list[Route]:
    return [
        Route("GET", "/admin", lambda request: _page(web, request, "admin.html")),
        Route("GET", "/admin/status", lambda request: _page(web, request, "status.html")),
        Route("POST", "/admin/run", lambda request: _run_now(web, request)),
        Route("GET", r"/admin/runs/(\d{1,18})", lambda request, n: _run(web, request, int(n))),
    ]


def _admin(web: Web, request: Request) -> Session | Response:
    """The admin's session, or where to send a visitor who is none."""
    session, _ = web.visitor(request)
    if session is not None and session.admin:
        return session
    if request.path == b"/admin/status":  # the page's own poll: it reloads into sign-in
        raise BadRequest("sign in as an admin", 401)
    target = request.uri.decode("utf-8", "replace")
    return see_other("/signin?next=" + quote(target, safe="/"))


def _page(web: Web, request: Request, template: str) -> Response:
    session = _admin(web, request)
    if isinstance(session, Response):
        return session
    notice, session.notice = session.notice, ""
    return render(
        template, title=web.settings.title, session=session, notice=notice, **status_view(web)
    )


def status_view(web: Web) -> dict[str, Any]:
    """What the status page shows, from the tree and the poller's last read."""
    snapshot = web.status.snapshot
    now = snapshot.at if snapshot else datetime.now().astimezone()
    runs = snapshot.last_runs if snapshot else {}
    leases = snapshot.leases if snapshot else {}

    def row(info: Any, key: str, schedule: Schedule | None) -> dict[str, Any]:
        """What the page shows of replicator or export ``info``, whose runs and lease are
        named ``key``."""
        upcoming = schedule.upcoming(now, 1) if schedule else []
        lease = leases.get(key)
        running = lease if lease is not None and lease.holder is not None else None
        return {"info": info, "key": key, "next": upcoming[0] if upcoming else None,
                "last": runs.get(key), "running": running}  # fmt: skip

    directories = []
    for name, container in web.tree.containers.items():
        replicators = [
            row(rep, rep.name, rep.schedule) for rep in web.replicators if rep.directory == name
        ]
        size = len(container.members)
        directories.append({"name": name, "dn": container.entry.dn, "size": size,
                            "replicators": replicators})  # fmt: skip
    nodes = []
    for node in snapshot.nodes if snapshot else []:
        holds = sorted(
            r for r, lease in leases.items() if lease.holder == node.name and not lease.expired
        )
        gone = now - node.last_seen > GONE_AFTER
        nodes.append({"node": node, "gone": gone, "holds": holds, "this": node.name == web.node})
    return {
        "directories": directories,
        "exports": [row(export, export.key, export.schedule) for export in web.exports],
        "nodes": nodes,
        "reachable": web.status.reachable,
        "problem": web.status.problem,
        "read_at": snapshot.at if snapshot else None,
    }


def _run_now(web: Web, request: Request) -> Response | Deferred[Response]:
    session = _admin(web, request)
    if isinstance(session, Response):
        raise BadRequest("sign in as an admin", 403)
    check_form(request, session.csrf)
    name = parameter(request, "replicator") or ""
    wants_json = "application/json" in (request.getHeader("accept") or "")

    def answered(started: Any) -> Response:
        web.status.refresh()  # the page's next poll shows the run
        if wants_json:
            body = json.dumps({"started": started.started, "message": started.message})
            return Response(body, 200 if started.started else 409, JSON)
        session.notice = started.message
        return see_other("/admin")

    return web.run_now(name, session.name).addCallback(answered)


def _run(web: Web, request: Request, run_id: int) -> Response | Deferred[Response]:
    session = _admin(web, request)
    if isinstance(session, Response):
        return session
    offset = number_parameter(request, "from", 1, 10**9) - 1

    def read() -> tuple[RunRecord | None, list[Any]]:
        run = web.store.run(run_id)
        problems = web.store.problems(run_id, offset, PROBLEMS_PER_PAGE) if run else []
        return run, problems

    def show(found: tuple[RunRecord | None, list[Any]]) -> Response:
        run, problems = found
        if run is None:
            raise BadRequest(f"no run {run_id} in the history", 404)
        return render(
            "run.html", title=web.settings.title, session=session, notice="", run=run,
            problems=problems, offset=offset, per_page=PROBLEMS_PER_PAGE,
        )  # fmt: skip

    return web.in_thread(read).addCallback(show)
