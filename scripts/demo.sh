#!/usr/bin/env bash
# Run the Night Runs demo. Usage: scripts/demo.sh [args...]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"

bash "$ROOT/scripts/setup.sh"
exec "$ROOT/.venv/bin/nightrun" demo "$@"
