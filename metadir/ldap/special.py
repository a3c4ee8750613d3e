"""The entries the front end answers itself, whatever the backend: the root DSE and the
subschema entry (slapd's frontend does the same), and what the server announces there.
"""

from __future__ import annotations

from metadir import __version__
from metadir.core.dn import normalize_dn
from metadir.directory.attributes import object_class_name
from metadir.directory.filters import Equality, Filter, Present
from metadir.directory.index import Entry
from metadir.directory.settings import ROOT_DN
from metadir.directory.tree import SUBSCHEMA_DN, Scope
from metadir.ldap import controls
from metadir.ldap.subschema import subschema_entry

WHO_AM_I = "1.3.6.1.4.1.4203.1.11.3"
START_TLS = "1.3.6.1.4.1.1466.20037"
MANAGE_DSA_IT = "2.16.840.1.113730.3.4.2"  # no referrals here, so honoured by doing nothing
ALL_OPERATIONAL_ATTRIBUTES = "1.3.6.1.4.1.4203.1.5.1"  # RFC 3673 "+"
CLASS_ATTRIBUTES = "1.3.6.1.4.1.4203.1.5.2"  # RFC 4529 "@inetOrgPerson"
SEARCH_CONTROLS = (MANAGE_DSA_IT, controls.PAGED, controls.SORT, controls.VLV)
SUPPORTED_CONTROLS = SEARCH_CONTROLS
SUPPORTED_EXTENSIONS = (WHO_AM_I,)

_SUBSCHEMA_NDN = normalize_dn(SUBSCHEMA_DN)


def root_dse(start_tls: bool) -> Entry:
    """The root DSE; built once per front end, so that its encodings stay cached on it
    like any entry's."""
    attrs = {
        "objectClass": ("top", "extensibleObject"),
        "namingContexts": (ROOT_DN,),
        "defaultNamingContext": (ROOT_DN,),
        "supportedLDAPVersion": ("3",),
        "supportedControl": SUPPORTED_CONTROLS,
        "supportedExtension": SUPPORTED_EXTENSIONS + ((START_TLS,) if start_tls else ()),
        "supportedFeatures": (ALL_OPERATIONAL_ATTRIBUTES, CLASS_ATTRIBUTES),
        "subschemaSubentry": (SUBSCHEMA_DN,),
        "vendorName": ("metadir",),
        "vendorVersion": (f"metadir {__version__}",),
    }
    return Entry(0, "", None, attrs)


def special_entry(base: str, scope: Scope, root: Entry) -> Entry | None:
    """The root DSE or the subschema entry when a base search names it; else None."""
    if scope != Scope.BASE:
        return None
    if not base.strip():
        return root
    try:
        if normalize_dn(base) == _SUBSCHEMA_NDN:
            return subschema_entry()
    except ValueError:
        pass
    return None


def reads(filter: Filter, entry: Entry) -> bool:
    """Whether ``filter`` is (objectClass=*) or (objectClass=<a class of ``entry``>): the
    reads the special entries answer (RFC 4512 §4.4)."""
    if not isinstance(filter, Present | Equality) or filter.attribute.lower() != "objectclass":
        return False
    classes = {name.lower() for name in entry.attributes["objectClass"]}
    if isinstance(filter, Present):
        return True
    name = object_class_name(filter.value)  # None: no class the schema knows
    return name is not None and name.lower() in classes
