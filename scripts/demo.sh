#!/usr/bin/env bash
# The demo: sync the sample contacts, then serve them on ldap://127.0.0.1:712.
# Try it from another shell with the ldapsearch line in README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup.sh
source scripts/setup.sh

ensure_packages
ensure_venv
# sync reports skipped malformed rows and still exits 0; non-zero means a run failed
.venv/bin/metadir sync -c demo/metadir.yaml || die "metadir sync failed (exit $?); see above"
exec .venv/bin/metadir serve -c demo/metadir.yaml
