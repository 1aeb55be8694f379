#!/usr/bin/env bash
# Refreshes requirements.lock: resolves pyproject.toml's ranges (the project and its test
# extra) in a throwaway venv and pins every installed distribution with its PyPI hashes
# (scripts/write_lock.py writes the file).
# Usage: scripts/lock.sh                        keep each locked version pyproject.toml still
#                                               allows; resolve only what is new, drop the rest
#        scripts/lock.sh --upgrade              every package to its newest version in range
#        scripts/lock.sh --upgrade-package NAME just NAME (repeatable)
# Then run scripts/setup.sh (it installs the new lock) and the tests.
# Env:   PYTHON=/path/to/python3.11  interpreter to resolve with (CI's Python, 3.11)
#        LOCK_INDEX_URL=URL          simple index the hashes come from (default PyPI)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"

log() { echo "[lock] $*"; }
die() {
	echo "[lock] error: $*" >&2
	exit 1
}

USAGE="usage: scripts/lock.sh [--upgrade | --upgrade-package NAME ...]"
UPGRADE_ALL=0
UPGRADE=()
while (($# > 0)); do
	case "$1" in
	--upgrade) UPGRADE_ALL=1 ;;
	--upgrade-package)
		(($# > 1)) || die "--upgrade-package needs a NAME ($USAGE)"
		UPGRADE+=("$2")
		shift
		;;
	-h | --help)
		echo "$USAGE"
		exit 0
		;;
	*) die "unknown argument '$1' ($USAGE)" ;;
	esac
	shift
done

# PEP 503 names, as the lock spells them: lowercase, runs of -_. as one -.
canonical() { tr '[:upper:]' '[:lower:]' | sed -E 's/[-_.]+/-/g'; }

PY="${PYTHON:-python3}"
command -v "$PY" >/dev/null 2>&1 || die "python interpreter '$PY' not found (set PYTHON=...)"
# The lock is resolved for the interpreter CI runs: dependencies with version markers differ
# between Python versions, so a lock made on another one would not install there.
"$PY" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' ||
	die "'$PY' is not Python 3.11, the version CI runs (set PYTHON=...)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/nightrun-lock.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
VPY="$WORK/venv/bin/python"
vpip() { "$VPY" -m pip -q --disable-pip-version-check "$@"; }

log "throwaway venv in $WORK"
"$PY" -m venv "$WORK/venv"
# The versions to keep, as constraints: what is already locked, less what is to be upgraded.
: >"$WORK/keep.txt"
if ((UPGRADE_ALL == 0)) && [[ -f requirements.lock ]]; then
	printf '%s\n' "${UPGRADE[@]}" | canonical >"$WORK/upgrade.txt"
	sed -n -E 's/^([A-Za-z0-9._-]+)(\[[^]]*\])?==([^ ;\\]+).*/\1 \3/p' requirements.lock |
		awk 'NR == FNR { up[$1] = 1; next } !($1 in up) { print $1 "==" $2 }' \
			"$WORK/upgrade.txt" - >"$WORK/keep.txt"
fi
log "keeping $(wc -l <"$WORK/keep.txt") locked versions"
# pip, setuptools and wheel are locked too: setup.sh builds the editable install with them.
vpip install --upgrade -c "$WORK/keep.txt" pip setuptools wheel

# pyproject.toml's own ranges, not an installed copy's metadata, which may be older.
"$VPY" - >"$WORK/ranges.txt" <<'EOF'
import tomllib

with open("pyproject.toml", "rb") as f:
    project = tomllib.load(f)["project"]
for requirement in project["dependencies"] + project["optional-dependencies"]["test"]:
    print(requirement)
EOF
log "pip install $(wc -l <"$WORK/ranges.txt") requirements from pyproject.toml"
vpip install -c "$WORK/keep.txt" -r "$WORK/ranges.txt" ||
	die "pyproject.toml's ranges exclude a locked version (see pip's message above): scripts/lock.sh --upgrade-package NAME"
"$VPY" -m pip --disable-pip-version-check check
vpip freeze --all >"$WORK/freeze.txt"

log "hashes from ${LOCK_INDEX_URL:-https://pypi.org/simple}"
"$VPY" "$ROOT/scripts/write_lock.py" "$WORK/ranges.txt" "$WORK/freeze.txt" "$ROOT/requirements.lock"
