"""metadir's own schema (its cn=Subschema entry) as an OpenLDAP cn=config schema entry.

slapd is the reference oracle for search semantics, so it must know every attribute metadir
serves, matched as metadir matches it. The test slapd loads OpenLDAP's standard schemas (the
entries metadir serves must satisfy them) and, from ``metadir.ldap.subschema``, the contact
attributes and object classes those lack.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from metadir.core import fields
from metadir.ldap import subschema

SCHEMA_DIR = Path("/etc/ldap/schema")
STANDARD_SCHEMAS = ("core.ldif", "cosine.ldif", "inetorgperson.ldif")

_DEFINITION = re.compile(
    r"^#?olc(?:AttributeTypes|ObjectClasses):\s*\(\s*(\S+)\s+NAME\s+(\([^)]*\)|'[^']*')", re.M
)
_MACRO = re.compile(r"^olcObjectIdentifier:\s*(\S+)\s+(\S+)", re.M)


def defined_oids(files: Iterable[str], schema_dir: Path = SCHEMA_DIR) -> dict[str, str]:
    """Lower-cased name (and alias) -> OID of the attribute types and object classes these
    OpenLDAP schema files define, OID macros (msuser.ldif) expanded.

    Commented definitions count too: core.ldif lists the ones built into slapd that way.
    """
    oids: dict[str, str] = {}
    for file in files:
        text = (schema_dir / file).read_text(encoding="utf-8").replace("\n ", "")
        macros = dict(_MACRO.findall(text))

        def expand(oid: str, macros: dict[str, str] = macros) -> str:
            prefix, _, rest = oid.partition(":")
            if prefix not in macros:
                return oid
            return expand(macros[prefix]) + (f".{rest}" if rest else "")

        for oid, names in _DEFINITION.findall(text):
            oids.update((name.lower(), expand(oid)) for name in re.findall(r"'([^']+)'", names))
    return oids


def olc_schema_ldif(name: str, attribute_types: Iterable[object], classes: Iterable[object]) -> str:
    """A ``cn=<name>,cn=schema,cn=config`` entry holding these RFC 4512 definitions."""
    lines = [f"dn: cn={name},cn=schema,cn=config", "objectClass: olcSchemaConfig", f"cn: {name}"]
    lines += [f"olcAttributeTypes: {definition}" for definition in attribute_types]
    lines += [f"olcObjectClasses: {definition}" for definition in classes]
    return "\n".join(lines) + "\n"


def schema_ldif(schema_dir: Path = SCHEMA_DIR) -> str:
    """metadir's contact attributes the standard schemas lack, and its own object classes."""
    standard = defined_oids(STANDARD_SCHEMAS, schema_dir)
    contact_fields = {f.name for f in fields.all_fields()}
    missing = [
        a
        for a in subschema.attribute_types()
        if a.names[0] in contact_fields and a.names[0].lower() not in standard
    ]
    own = [c for c in subschema.object_classes() if c.oid.startswith(subschema.arc() + ".")]
    return olc_schema_ldif("metadir", missing, own)
