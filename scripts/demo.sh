#!/usr/bin/env bash
# The demo: sync the sample contacts, then serve them on ldap://127.0.0.1:712 and the web
# phone book on http://127.0.0.1:8712. Try it from another shell with the ldapsearch and
# curl lines in README.md, or open the phone book in a browser.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup.sh
source scripts/setup.sh

echo "demo.sh: checking what the demo needs (Debian packages, .venv)"
ensure_packages
ensure_venv
echo "demo.sh: importing demo/contacts.csv (five of its lines are broken on purpose)"
# sync reports skipped malformed rows and still exits 0; non-zero means a run failed
.venv/bin/metadir sync -c demo/metadir.yaml || die "metadir sync failed (exit $?); see above"
cat <<'TEXT'

demo.sh: serving until Ctrl-C
  LDAP        ldap://127.0.0.1:712      ldapsearch -x -H ldap://127.0.0.1:712 -b dc=meta "(sn=müller)" cn telephoneNumber
  phone book  http://127.0.0.1:8712/
  search API  curl -s 'http://127.0.0.1:8712/search.json?searchNumber=089%209687931'
  status      http://127.0.0.1:8712/admin   (demo admin: admin / demo)
  metrics     http://127.0.0.1:8712/metrics

TEXT
exec .venv/bin/metadir serve -c demo/metadir.yaml
