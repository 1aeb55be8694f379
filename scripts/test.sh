#!/usr/bin/env bash
# Full test run: setup, lint, throwaway PostgreSQL, pytest.
# Usage: scripts/test.sh [pytest args...]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"

log() { echo "[test] $*"; }

bash "$ROOT/scripts/setup.sh"

log "ruff check ."
.venv/bin/ruff check .
log "ruff format --check ."
.venv/bin/ruff format --check .

PORT="$(.venv/bin/python -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()')"
PGDIR="$(mktemp -d "${TMPDIR:-/tmp}/nightrun-pg.XXXXXX")"

# shellcheck disable=SC2317  # invoked via trap
cleanup() {
	bash "$ROOT/scripts/postgres.sh" stop "$PGDIR" || true
	rm -rf "$PGDIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bash "$ROOT/scripts/postgres.sh" start "$PGDIR" "$PORT"
NIGHTRUN_TEST_POSTGRES_URL="$(bash "$ROOT/scripts/postgres.sh" url "$PGDIR" "$PORT")"
export NIGHTRUN_TEST_POSTGRES_URL
log "NIGHTRUN_TEST_POSTGRES_URL=$NIGHTRUN_TEST_POSTGRES_URL"

log "pytest $*"
rc=0
.venv/bin/python -m pytest "$@" || rc=$?
if [[ "$rc" -eq 5 ]]; then
	log "error: pytest collected no tests (exit 5); treating as failure"
	exit 1
fi
exit "$rc"
