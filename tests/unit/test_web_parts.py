"""The web front end's parts on their own: sessions on a clock, where sign-in may send a
visitor, tel: links, the CSRF checks, and the router's answers to errors."""

from __future__ import annotations

import pytest
from twisted.internet import task
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from metadir.ldap.authenticator import ANONYMOUS
from metadir.web.contacts import tel_uri
from metadir.web.http import BadRequest, Response, Route, Router, number_parameter
from metadir.web.sessions import SESSION_COOKIE, Sessions, check_form
from metadir.web.signin import local_target


def request(path: bytes = b"/", method: bytes = b"GET", **args: str) -> DummyRequest:
    found = DummyRequest(path.strip(b"/").split(b"/"))
    found.path, found.uri, found.method = path, path, method
    found.args = {k.encode(): [v.encode()] for k, v in args.items()}
    return found


def test_sessions_expire_after_the_timeout_without_requests() -> None:
    clock = task.Clock()
    sessions = Sessions(60, clock.seconds)
    session = sessions.start("admin", ANONYMOUS, admin=True)
    asked = request()
    cookies = {SESSION_COOKIE.encode(): session.token.encode()}
    asked.getCookie = cookies.get  # DummyRequest has no cookies of its own
    clock.advance(50)
    assert sessions.of(asked) is session  # and this request keeps it alive
    clock.advance(50)
    assert sessions.of(asked) is session
    clock.advance(61)
    assert sessions.of(asked) is None
    assert len(session.token) >= 43 and session.csrf != session.token


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/admin", "/admin"),
        ("/?q=m%C3%BCller", "/?q=m%C3%BCller"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_sign_in_only_sends_visitors_to_this_server(target: str | None, expected: str) -> None:
    assert local_target(target) == expected


@pytest.mark.parametrize(
    ("number", "uri"),
    [
        ("+49 (89) 1234-567", "tel:+49(89)1234-567"),
        ("+49891234567", "tel:+49891234567"),
        ("<script>", "tel:%3Cscript%3E"),
        ("javascript:alert(1)", "tel:(1)"),
    ],
)
def test_tel_links_stay_phone_numbers(number: str, uri: str) -> None:
    assert tel_uri(number) == uri


def test_forms_need_their_token_and_this_site() -> None:
    good = request(b"/signin", b"POST", csrf="t" * 43)
    check_form(good, "t" * 43)
    with pytest.raises(BadRequest) as wrong:
        check_form(request(b"/signin", b"POST", csrf="x"), "t" * 43)
    assert wrong.value.status == 403
    elsewhere = request(b"/signin", b"POST", csrf="t" * 43)
    elsewhere.requestHeaders.setRawHeaders(b"origin", [b"https://evil.example"])
    elsewhere.requestHeaders.setRawHeaders(b"host", [b"metadir.example"])
    with pytest.raises(BadRequest, match="another site"):
        check_form(elsewhere, "t" * 43)


@pytest.mark.parametrize(
    ("value", "ok"),
    [("1", True), ("500", True), ("501", False), ("0", False), ("-1", False), ("1e3", False)],
)
def test_number_parameters_are_bounded(value: str, ok: bool) -> None:
    asked = request(limit=value)
    if ok:
        assert number_parameter(asked, "limit", 50, 500) == int(value)
    else:
        with pytest.raises(BadRequest):
            number_parameter(asked, "limit", 50, 500)


def _errors(asked: object, status: int, message: str) -> Response:
    return Response(f"{status}: {message}", status)


def _broken(asked: object) -> Response:
    raise RuntimeError("secret detail")


def test_the_router_answers_errors_without_tracebacks() -> None:
    router = Router(
        [Route("GET", "/broken", _broken), Route("GET", r"/item/(\d+)", lambda r, n: Response(n))],
        _errors,
    )
    broken = request(b"/broken")
    body = router.render(broken)
    assert broken.responseCode == 500 and body == b"500: internal error"
    item = request(b"/item/42")
    assert router.render(item) == b"42"
    assert item.responseHeaders.getRawHeaders(b"content-security-policy")
    assert item.responseHeaders.getRawHeaders(b"cache-control") == [b"no-store"]
    missing = request(b"/nothing")
    assert router.render(missing) == b"404: nothing at /nothing"
    wrong = request(b"/broken", b"POST")
    assert router.render(wrong) == b"405: POST is not allowed here"
    assert wrong.responseHeaders.getRawHeaders(b"allow") == [b"GET"]
    big = request(b"/item/1")
    big.requestHeaders.setRawHeaders(b"content-length", [b"1000000"])
    assert router.render(big) == b"413: the request body is over 16384 bytes"
    assert router.render(request(b"/item/1")) is not NOT_DONE_YET
