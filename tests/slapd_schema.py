"""An OpenLDAP schema for the metadir attributes that slapd's standard schemas lack.

slapd is the reference oracle for search semantics, so it must know every attribute metadir
serves, with the matching rules a directory of contacts needs: caseIgnore (+ ordering) for
text, telephoneNumberMatch for phone and fax numbers. The attributes are generated from
``schema/fields.yaml``; the ones core/cosine/inetOrgPerson define already keep their
standard definitions.
"""

from __future__ import annotations

import re
from pathlib import Path

from metadir import fields

SCHEMA_DIR = Path("/etc/ldap/schema")
STANDARD_SCHEMAS = ("core.ldif", "cosine.ldif", "inetorgperson.ldif")
# a private arc for throw-away test definitions, never served to anyone
ARC = "1.3.6.1.4.1.99999.7"

DIRECTORY_STRING = "1.3.6.1.4.1.1466.115.121.1.15"
TELEPHONE_NUMBER = "1.3.6.1.4.1.1466.115.121.1.50"
_DEFINITION = re.compile(r"^#?olcAttributeTypes:\s*\(\s*[0-9.]+\s+NAME\s+(\([^)]*\)|'[^']*')", re.M)


def standard_attribute_names(schema_dir: Path = SCHEMA_DIR) -> set[str]:
    """Lower-cased names (and aliases) of the attributes the standard schemas define.

    Commented definitions count too: core.ldif lists the ones built into slapd that way.
    """
    names: set[str] = set()
    for file in STANDARD_SCHEMAS:
        text = (schema_dir / file).read_text(encoding="utf-8").replace("\n ", "")
        for match in _DEFINITION.finditer(text):
            names.update(n.lower() for n in re.findall(r"'([^']+)'", match.group(1)))
    return names


def missing_fields(schema_dir: Path = SCHEMA_DIR) -> list[fields.Field]:
    standard = standard_attribute_names(schema_dir)
    return [f for f in fields.all_fields() if f.name.lower() not in standard]


def attribute_type(oid: str, field: fields.Field) -> str:
    if field.is_phone:
        rules = (
            f"EQUALITY telephoneNumberMatch SUBSTR telephoneNumberSubstringsMatch "
            f"SYNTAX {TELEPHONE_NUMBER}"
        )
    else:
        rules = (
            f"EQUALITY caseIgnoreMatch ORDERING caseIgnoreOrderingMatch "
            f"SUBSTR caseIgnoreSubstringsMatch SYNTAX {DIRECTORY_STRING}"
        )
    single = "" if field.multi else " SINGLE-VALUE"
    return f"( {oid} NAME '{field.name}' DESC 'metadir: {field.label}' {rules}{single} )"


def schema_ldif(schema_dir: Path = SCHEMA_DIR) -> str:
    """The cn=config schema entry: the missing attributes and the ``contactperson`` class."""
    lines = [
        "dn: cn=metadir,cn=schema,cn=config",
        "objectClass: olcSchemaConfig",
        "cn: metadir",
    ]
    for n, field in enumerate(missing_fields(schema_dir), start=1):
        lines.append(f"olcAttributeTypes: {attribute_type(f'{ARC}.1.{n}', field)}")
    # every canonical field, so an entry may carry those inetOrgPerson does not allow (c, co, info)
    allowed = " $ ".join(f.name for f in fields.all_fields())
    lines.append(
        f"olcObjectClasses: ( {ARC}.2.1 NAME 'contactperson' DESC 'metadir: contact attributes' "
        f"SUP top AUXILIARY MAY ( {allowed} ) )"
    )
    return "\n".join(lines) + "\n"
