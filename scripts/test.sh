#!/usr/bin/env bash
# The one test command: installs what is missing (Debian 12, as root), then lint and tests.
# Extra arguments go to pytest, e.g. scripts/test.sh -k differential -x
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup.sh
source scripts/setup.sh

ensure_packages test
ensure_postgres
ensure_venv
.venv/bin/ruff check -q . || die "ruff check found problems (above)"
exec .venv/bin/pytest "$@"
