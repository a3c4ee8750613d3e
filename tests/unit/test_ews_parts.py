"""The parts of the Exchange (EWS) source without a server: settings, the field
flattening, and the contract of ``exchangelib_adapter`` with the exchangelib internals it
relies on (a new exchangelib release that moves them fails here first)."""

from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import Any

import pytest
import requests
from exchangelib import errors as ews_errors
from exchangelib.indexed_properties import EmailAddress, PhoneNumber, PhysicalAddress
from exchangelib.items import Contact
from exchangelib.protocol import BaseProtocol, CachingProtocol, FaultTolerance, Protocol
from pydantic import ValidationError

from replicators import kinds
from replicators.ews import exchangelib_adapter as adapter
from replicators.ews.settings import EwsSettings

pytestmark = pytest.mark.unit

BASE = {"name": "x", "type": "ews", "url": "https://mail.example.com/EWS/Exchange.asmx",
        "username": "CONTOSO\\svc", "password": "pw", "mailboxes": ["a@example.com"]}  # fmt: skip


def settings(**overrides: Any) -> EwsSettings:
    read = kinds()["ews"].settings.model_validate({**BASE, **overrides})
    assert isinstance(read, EwsSettings)
    return read


def test_the_preset_maps_every_field_to_a_known_source_field() -> None:
    mapping = settings().mapping
    assert mapping["telephoneNumber"] == "BusinessPhone" and mapping["sn"] == "Surname"
    assert set(mapping.values()) <= set(adapter.FIELDS)
    assert adapter.PHONES == PhoneNumber.LABEL_CHOICES or set(adapter.PHONES) == set(
        PhoneNumber.LABEL_CHOICES
    )
    assert set(adapter.EMAILS) == set(EmailAddress.LABEL_CHOICES)
    assert set(adapter.ADDRESSES) == set(PhysicalAddress.LABEL_CHOICES)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"url": "http://mail.example.com/EWS/Exchange.asmx"}, "https://HOST"),
     ({"username": "svc"}, "DOMAIN\\\\user"), ({"password": ""}, "password"),
     ({"page_size": 513}, "512"), ({"exchange_version": "2003"}, "2016"),
     ({"mailboxes": ["a@example.com", "A@example.com"]}, "at most once"),
     ({"mailboxes": ["nobody"]}, "primary SMTP address"), ({"auth": "kerberos"}, "ntlm")],
)  # fmt: skip
def test_wrong_settings_are_named(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(**overrides)


def test_the_password_from_a_file_and_never_shown(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("s3cret\n")
    values = {**BASE, "password_file": "pw"}
    del values["password"]
    read = kinds()["ews"].settings.model_validate(values, context={"base_dir": tmp_path})
    assert isinstance(read, EwsSettings)
    assert read.password.get_secret_value() == "s3cret" and "s3cret" not in repr(read)


def test_a_contact_becomes_one_row() -> None:
    item = Contact(
        given_name=" Dora ", surname="Delta", company_name="", job_title="Buyer",
        phone_numbers=[PhoneNumber(label="BusinessPhone", phone_number="+49 89 1"),
                       PhoneNumber(label="Pager", phone_number=" ")],
        email_addresses=[EmailAddress(label="EmailAddress2", email="d@example.com")],
        physical_addresses=[PhysicalAddress(label="Home", city="Köln", zipcode="50667")],
    )  # fmt: skip
    assert adapter.row(item) == {
        "GivenName": "Dora", "Surname": "Delta", "JobTitle": "Buyer",
        "BusinessPhone": "+49 89 1", "EmailAddress2": "d@example.com",
        "Home.City": "Köln", "Home.PostalCode": "50667",
    }  # fmt: skip


def test_only_the_contact_fields_the_mapping_reads() -> None:
    assert adapter.exchange_fields(["Surname", "MobilePhone", "Business.City", "x"]) == [
        "phone_numbers", "physical_addresses", "surname"]  # fmt: skip
    # every name the adapter asks for is a Contact field exchangelib knows
    known = {f.name for f in Contact.FIELDS}
    assert set(adapter.exchange_fields(list(adapter.FIELDS))) <= known
    assert set(adapter.PLAIN.values()) <= known


def test_the_version_setting() -> None:
    assert adapter.version_of(None) is None
    assert adapter.version_of("2016").api_version == "Exchange2016"  # type: ignore[union-attr]
    assert str(adapter.version_of("15.2.1118.7").build) == "15.2.1118.7"  # type: ignore[union-attr]


def test_the_exchangelib_internals_the_adapter_relies_on() -> None:
    # the HTTP adapter, waits and user agent are class attributes read through the class
    assert BaseProtocol.HTTP_ADAPTER_CLS is requests.adapters.HTTPAdapter
    assert "cls.HTTP_ADAPTER_CLS" in inspect.getsource(BaseProtocol.get_adapter)
    for name in ("RETRY_WAIT", "TIMEOUT", "USERAGENT"):
        assert hasattr(BaseProtocol, name)
    # the protocol cache: keyed by (endpoint, credentials), shared by Account
    assert isinstance(Protocol, CachingProtocol)
    assert "config.service_endpoint, config.credentials" in inspect.getsource(
        CachingProtocol._cache_key
    )
    assert isinstance(CachingProtocol._protocol_cache, dict)
    # a 401 under FaultTolerance is taken for throttling (what _FailOn401 undoes)
    assert "Caused by HTTP 401 response" in inspect.getsource(FaultTolerance.__mro__[1])
    # the request log that prints headers, which the filter redacts
    assert "request_headers=r.request.headers" in inspect.getsource(
        __import__("exchangelib.util", fromlist=["post_ratelimited"]).post_ratelimited
    )
    assert adapter._REDACT in logging.getLogger("exchangelib.util").filters
    for name in (
        "ErrorInvalidSyncStateData",
        "ErrorSyncFolderNotFound",
        "ErrorImpersonateUserDenied",
        "ErrorNonExistentMailbox",
        "ErrorAccessDenied",
    ):
        assert issubclass(getattr(ews_errors, name), ews_errors.ResponseMessageError)


def test_each_read_has_its_own_protocol_and_leaves_none_behind(tmp_path: Path) -> None:
    before = dict(CachingProtocol._protocol_cache)
    one, two = adapter.Session(settings(), tmp_path), adapter.Session(settings(), tmp_path)
    try:
        assert one.protocol is not two.protocol
        assert one.protocol.HTTP_ADAPTER_CLS is not BaseProtocol.HTTP_ADAPTER_CLS
        assert len(CachingProtocol._protocol_cache) == len(before) + 2
    finally:
        one.close()
        two.close()
    assert CachingProtocol._protocol_cache == before
    assert BaseProtocol.HTTP_ADAPTER_CLS is requests.adapters.HTTPAdapter


def test_the_authorization_header_is_not_logged() -> None:
    record = logging.LogRecord("exchangelib.util", logging.DEBUG, "", 0, "%(request_headers)s",
                               None, None)  # fmt: skip
    record.args = {"request_headers": {"Authorization": "Basic c3ZjOnB3", "X": "1"}}
    adapter._REDACT.filter(record)
    assert "c3ZjOnB3" not in record.getMessage() and "'X': '1'" in record.getMessage()
