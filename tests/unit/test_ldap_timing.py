"""The connection's timers on twisted.internet.task.Clock: the idle timeout and the
failed-bind brake (the request timeout is in tests/e2e/test_ldap_hostile.py). No test
here waits for the wall clock."""

from __future__ import annotations

import logging

import pytest
from ldaptor.protocols import pureldap
from pydantic import SecretStr
from twisted.internet import defer
from twisted.internet.task import Clock

from metadir.ldap.passwords import hash_password
from metadir.ldap.settings import Account, Limits
from tests.unit.test_ldap_protocol import Client, make_factory, read_messages


def test_idle_connections_are_closed_after_idle_timeout(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    limits = Limits(idle_timeout=60, request_timeout=0)
    client = Client(make_factory(clock=clock, limits=limits))
    clock.advance(59)
    client.protocol.dataReceived(b"\x30")  # a request begins: the connection is not idle
    clock.advance(59)
    assert not client.transport.disconnecting
    with caplog.at_level(logging.INFO, "metadir.ldap"):
        clock.advance(1)
    assert client.transport.disconnecting
    assert "idle for 60 s, closing" in caplog.text


def test_no_idle_timeout_when_it_is_zero() -> None:
    clock = Clock()
    client = Client(make_factory(clock=clock, limits=Limits(idle_timeout=0, request_timeout=0)))
    clock.advance(10**6)
    assert not client.transport.disconnecting and not clock.getDelayedCalls()


def _failed_bind(client: Client, clock: Clock, mid: int) -> float:
    """Bind with a wrong password; the seconds on ``clock`` until the answer came."""
    client.transport.clear()
    bind = pureldap.LDAPBindRequest(dn="cn=pbx,dc=meta", auth="wrong")
    client.protocol.dataReceived(pureldap.LDAPMessage(bind, id=mid).toWire())
    waited = 0.0
    clock.advance(0)  # a first failure is answered at once: on the next turn
    while not client.transport.value():
        clock.advance(0.25)
        waited += 0.25
        assert waited < 100, "no answer to a failed bind"
    [reply] = read_messages(client.transport.value())
    assert reply.id == mid and reply.value.resultCode == 49
    return waited


def test_failed_binds_from_one_address_wait_longer_each_time() -> None:
    clock = Clock()
    account = Account(dn="cn=pbx,dc=meta", password=SecretStr(hash_password("s3cret")))
    factory = make_factory(
        accounts=[account],
        clock=clock,
        limits=Limits(bind_failure_delay=1, idle_timeout=0),
        in_thread=defer.maybeDeferred,  # no reactor runs here: the hash is checked at once
    )
    client = Client(factory)
    assert [_failed_bind(client, clock, n) for n in range(1, 6)] == [0, 0.25, 0.5, 1, 1]
    # another connection from the same address is braked alike
    assert _failed_bind(Client(factory), clock, 9) == 1
    # a success lifts the brake
    client.transport.clear()
    bind = pureldap.LDAPBindRequest(dn="cn=pbx,dc=meta", auth="s3cret")
    [reply] = client.send(bind, mid=10)
    assert reply.value.resultCode == 0
    assert _failed_bind(client, clock, 11) == 0
    # failures are forgotten after ten quiet minutes
    assert _failed_bind(client, clock, 12) == 0.25
    clock.advance(601)
    assert _failed_bind(client, clock, 13) == 0
