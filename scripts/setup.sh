#!/usr/bin/env bash
# Idempotent developer/CI setup:
#   1. Debian packages (only those missing; apt-get update only when needed)
#   2. .venv at the repo root (Python >= 3.11)
#   3. requirements.lock into .venv, exactly (hash-checked), then the project itself,
#      editable; redone when pyproject.toml or the lock changes (refresh it: scripts/lock.sh)
# Usage: scripts/setup.sh            (from anywhere)
# Env:   PYTHON=/path/to/python3.x   interpreter used to create .venv
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"

log() { echo "[setup] $*"; }
die() {
	echo "[setup] error: $*" >&2
	exit 1
}

APT_PACKAGES=(
	postgresql
	tesseract-ocr
	tesseract-ocr-spa
	tesseract-ocr-eng
	ffmpeg
	chromium
	fonts-dejavu-core
)

# ---------------------------------------------------------------- python check
PY="${PYTHON:-python3}"
command -v "$PY" >/dev/null 2>&1 || die "python interpreter '$PY' not found (set PYTHON=...)"
PY_VERSION="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" ||
	die "could not run '$PY'"
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' ||
	die "Python >= 3.11 required, but '$PY' is $PY_VERSION (set PYTHON=...)"

# A Debian system python cannot create venvs without pythonX.Y-venv.
if ! "$PY" -c 'import ensurepip' >/dev/null 2>&1; then
	if [[ "$("$PY" -c 'import sys; print(sys.base_prefix)')" == "/usr" ]]; then
		APT_PACKAGES+=("python${PY_VERSION}-venv")
	fi
fi

# ---------------------------------------------------------------- apt packages
is_installed() {
	dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed$'
}

if command -v dpkg >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
	missing=()
	for pkg in "${APT_PACKAGES[@]}"; do
		is_installed "$pkg" || missing+=("$pkg")
	done
	if ((${#missing[@]} > 0)); then
		SUDO=()
		if [[ "$(id -u)" -ne 0 ]]; then
			command -v sudo >/dev/null 2>&1 ||
				die "not root and no sudo; please install: ${missing[*]}"
			SUDO=(sudo)
		fi
		export DEBIAN_FRONTEND=noninteractive
		apt_log="$(mktemp "${TMPDIR:-/tmp}/nightrun-apt.XXXXXX")"
		run_apt() {
			if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "$@" >>"$apt_log" 2>&1; then
				tail -n 50 "$apt_log" >&2
				rm -f "$apt_log"
				die "apt-get $1 failed"
			fi
		}
		log "apt-get update"
		run_apt update
		log "apt-get install ${missing[*]}"
		run_apt install -y --no-install-recommends "${missing[@]}"
		rm -f "$apt_log"
		for pkg in "${missing[@]}"; do
			is_installed "$pkg" || die "package '$pkg' still not installed"
		done
	else
		log "Debian packages present"
	fi
else
	log "warning: no dpkg/apt-get; skipping system packages (${APT_PACKAGES[*]})" >&2
fi

# ---------------------------------------------------------------- virtualenv
VENV="$ROOT/.venv"
if [[ -x "$VENV/bin/python" ]] &&
	! "$VENV/bin/python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
		>/dev/null 2>&1; then
	log "existing .venv is broken or older than Python 3.11; recreating"
	rm -rf "$VENV"
fi
if [[ ! -x "$VENV/bin/python" ]]; then
	log "creating .venv with $PY ($PY_VERSION)"
	rm -rf "$VENV"
	"$PY" -m venv "$VENV"
fi

# ---------------------------------------------------------------- pip install
[[ -f requirements.lock ]] || die "requirements.lock is missing (scripts/lock.sh makes it)"
DEPS_SHA="$(cat pyproject.toml requirements.lock | sha256sum | cut -d' ' -f1)"
STAMP="$VENV/.installed-$DEPS_SHA"
if [[ -f "$STAMP" ]]; then
	log "python deps up to date"
else
	vpip() { "$VENV/bin/python" -m pip -q --disable-pip-version-check "$@"; }
	# PEP 503 names, as the lock spells them: lowercase, runs of -_. as one -.
	canonical() { tr '[:upper:]' '[:lower:]' | sed -E 's/[-_.]+/-/g'; }
	rm -f "$VENV"/.installed-*
	log "pip install -r requirements.lock (exact versions, hash-checked)"
	# Hash-checking also refuses any dependency the lock does not pin.
	vpip install --require-hashes -r requirements.lock
	# A .venv made from an older lock may hold packages this one dropped.
	stale="$(comm -23 \
		<(vpip freeze --all --exclude-editable | sed -n -E 's/^([A-Za-z0-9._-]+)( @ |==).*/\1/p' |
			canonical | sort -u) \
		<(sed -n -E 's/^([A-Za-z0-9._-]+)(\[[^]]*\])?==.*/\1/p' requirements.lock |
			canonical | sort -u))"
	if [[ -n "$stale" ]]; then
		log "pip uninstall (not in the lock): ${stale//$'\n'/ }"
		# shellcheck disable=SC2086  # one name per word
		vpip uninstall -y $stale
	fi
	# The project alone: its dependencies are the lock's, and the build uses the locked
	# setuptools instead of whatever is newest on PyPI.
	log "pip install -e . (no dependencies: the lock's)"
	# setuptools warns on every editable build that a folder named like the package could
	# shadow it: that folder is the package itself.
	PYTHONWARNINGS="ignore:Editable installation" vpip install --no-deps --no-build-isolation -e .
	if ! broken="$("$VENV/bin/python" -m pip check --disable-pip-version-check)"; then
		echo "$broken" >&2
		die "requirements.lock does not satisfy pyproject.toml: refresh it with scripts/lock.sh"
	fi
	touch "$STAMP"
fi

log "done"
