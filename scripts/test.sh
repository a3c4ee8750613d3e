#!/usr/bin/env bash
# The one test command: installs what is missing (Debian 12, as root), then lint, the
# import layers (import-linter), the type checker (mypy) and the tests.
# Extra arguments go to pytest, e.g. scripts/test.sh -k differential -x
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup.sh
source scripts/setup.sh

ensure_packages test
ensure_postgres
ensure_mariadb
ensure_venv
ensure_browser
echo "test.sh: ruff, import-linter (the layers of docs/architecture.md), mypy"
.venv/bin/ruff check -q . || die "ruff check found problems (above)"
quietly "lint-imports (the contracts in pyproject.toml [tool.importlinter])" \
    .venv/bin/lint-imports --no-cache
quietly "mypy (metadir, replicators)" .venv/bin/mypy
exec .venv/bin/pytest "$@"
