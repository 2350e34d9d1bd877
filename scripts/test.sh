#!/usr/bin/env bash
# README command 2: install what the tests need (Dovecot included), then lint, type-check
# and run the whole suite against real Dovecot and SMTP servers on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
scripts/setup.sh test
echo "== ruff"; .venv/bin/ruff check src tests bench
echo "== mypy"; .venv/bin/mypy src
echo "== pytest"
exec .venv/bin/pytest "$@"
