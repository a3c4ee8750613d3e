#!/usr/bin/env bash
# Import and start-up figures for N generated contacts (default 100000) on SQLite:
# first sync, re-sync with 1 % changed, server start-up to answering, server memory (RSS),
# and how long a committed re-sync takes to become visible over LDAP.
#   scripts/bench_import.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup.sh
source scripts/setup.sh
ensure_packages
ensure_venv

count=${1:-100000}
work=$(mktemp -d)
server=""  # set before the trap: under set -u an unset one would stop it before rm -rf
trap '[ -z "$server" ] || kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
py=.venv/bin/python

$py scripts/generate_contacts.py --count "$count" --seed 1 --out "$work/contacts.csv"
sed -e "s#sqlite:///../var/demo.db#sqlite:///$work/bench.db#" -e "s#path: contacts.csv#path: $work/contacts.csv#" \
    demo/metadir.yaml >"$work/metadir.yaml"

seconds() { local t0=$1; $py -c "import time; print(f'{time.time() - $t0:.2f}')"; }
now() { $py -c 'import time; print(time.time())'; }

t0=$(now)
$py -m metadir sync -c "$work/metadir.yaml" | head -n 1
echo "first sync of $count contacts: $(seconds "$t0") s (process wall time)"

$py scripts/generate_contacts.py --from "$work/contacts.csv" --change-percent 1 --seed 2 \
    --out "$work/changed.csv"
mv "$work/changed.csv" "$work/contacts.csv"

t0=$(now)
$py -m metadir serve -c "$work/metadir.yaml" --listen "ldap://127.0.0.1:$port" 2>"$work/serve.log" &
server=$!
# the server's log when it dies before answering or before showing the re-sync
alive() { kill -0 "$server" 2>/dev/null || { cat "$work/serve.log" >&2; die "metadir serve exited"; }; }
until ldapsearch -x -H "ldap://127.0.0.1:$port" -s base -b "" namingContexts >/dev/null 2>&1; do
    alive
    sleep 0.05
done
echo "server start-up to answering with $count contacts: $(seconds "$t0") s"
echo "server memory (RSS): $(awk '/VmRSS/ {printf "%.0f MB", $2 / 1024}' "/proc/$server/status")"

t0=$(now)
$py -m metadir sync -c "$work/metadir.yaml" | head -n 1
echo "re-sync with 1 % changed: $(seconds "$t0") s (process wall time)"
t1=$(now)
until grep -q "store change 2 visible" "$work/serve.log"; do
    alive
    sleep 0.02
done
echo "re-sync visible over LDAP $(seconds "$t1") s after the sync process ended"
echo "server memory after the re-sync (RSS): $(awk '/VmRSS/ {printf "%.0f MB", $2 / 1024}' "/proc/$server/status")"
