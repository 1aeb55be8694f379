#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for tests.
#
#   scripts/postgres.sh start DIR PORT   init (if needed) + start, wait until ready
#   scripts/postgres.sh stop DIR         stop the cluster in DIR (no-op if not running)
#   scripts/postgres.sh url DIR PORT     print the connection URL
#
# The cluster lives in DIR/data, logs to DIR/postgres.log, listens only on
# 127.0.0.1:PORT (its unix socket is in DIR), user `postgres`, trust auth.
# PostgreSQL refuses to run as root; as root DIR is chowned to the `postgres`
# system user and the server binaries run through `runuser -u postgres --`.
set -euo pipefail

log() { echo "[postgres] $*" >&2; }
die() {
	echo "[postgres] error: $*" >&2
	exit 1
}
usage() {
	echo "usage: $0 start DIR PORT | stop DIR | url DIR PORT" >&2
	exit 2
}

is_root() { [[ "$(id -u)" -eq 0 ]]; }

find_bindir() {
	local d
	if command -v pg_config >/dev/null 2>&1; then
		d="$(pg_config --bindir 2>/dev/null || true)"
		if [[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
			echo "$d"
			return 0
		fi
	fi
	d="$(printf '%s\n' /usr/lib/postgresql/*/bin | grep -v '\*' | sort -V | tail -n 1 || true)"
	if [[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
		echo "$d"
		return 0
	fi
	if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
		dirname "$(command -v pg_ctl)"
		return 0
	fi
	die "PostgreSQL server binaries not found (run scripts/setup.sh)"
}

# Run a PostgreSQL binary as the right user, from inside DIR (so that a cwd
# unreadable by `postgres`, e.g. /root, does not matter).
as_pg() {
	if is_root; then
		(cd "$DIR" && runuser -u postgres -- "$@")
	else
		(cd "$DIR" && "$@")
	fi
}

check_port() {
	if ! [[ "$1" =~ ^[0-9]{1,5}$ ]] || (("10#$1" < 1 || "10#$1" > 65535)); then
		die "invalid port: '$1'"
	fi
}

cmd_start() {
	local port="$1"
	check_port "$port"
	mkdir -p "$DIR"
	DIR="$(cd "$DIR" && pwd -P)"
	local pgdata="$DIR/data" logfile="$DIR/postgres.log"
	local bindir
	bindir="$(find_bindir)"

	if is_root; then
		id postgres >/dev/null 2>&1 ||
			die "running as root but there is no 'postgres' system user (install postgresql)"
		command -v runuser >/dev/null 2>&1 || die "running as root but 'runuser' is missing"
		chown -R postgres:postgres "$DIR"
		runuser -u postgres -- test -w "$DIR" ||
			die "user 'postgres' cannot write $DIR (are its parent directories traversable?)"
	fi

	if [[ ! -s "$pgdata/PG_VERSION" ]]; then
		log "initdb $pgdata"
		if ! as_pg "$bindir/initdb" -D "$pgdata" -U postgres --auth=trust \
			-E UTF8 --no-locale --no-sync >"$DIR/initdb.log" 2>&1; then
			cat "$DIR/initdb.log" >&2
			die "initdb failed"
		fi
		echo "include_if_exists = 'throwaway.conf'" >>"$pgdata/postgresql.conf"
	fi

	# (Re)written every start so PORT always applies. Durability is irrelevant.
	local sockdir="${DIR//\'/\'\'}"
	cat >"$pgdata/throwaway.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sockdir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF
	if is_root; then chown postgres:postgres "$pgdata/throwaway.conf"; fi

	if as_pg "$bindir/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
		log "already running in $pgdata"
	else
		log "starting on 127.0.0.1:$port ($DIR)"
		if ! as_pg "$bindir/pg_ctl" -D "$pgdata" -l "$logfile" -w -t 30 start >/dev/null 2>&1; then
			log "server failed to start; log follows"
			cat "$logfile" >&2 || true
			as_pg "$bindir/pg_ctl" -D "$pgdata" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
			die "could not start PostgreSQL in $DIR on port $port"
		fi
	fi

	local deadline=$((SECONDS + 30))
	until "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port"; do
		if ((SECONDS >= deadline)); then
			log "server not accepting connections on 127.0.0.1:$port after 30 s; log follows"
			cat "$logfile" >&2 || true
			as_pg "$bindir/pg_ctl" -D "$pgdata" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
			die "PostgreSQL did not become ready"
		fi
		sleep 0.2
	done
	log "ready: $(cmd_url "$port")"
}

cmd_stop() {
	if [[ ! -d "$DIR" ]]; then
		return 0
	fi
	DIR="$(cd "$DIR" && pwd -P)"
	local pgdata="$DIR/data"
	if [[ ! -f "$pgdata/postmaster.pid" ]]; then
		return 0
	fi
	local bindir
	bindir="$(find_bindir)"
	log "stopping $pgdata"
	as_pg "$bindir/pg_ctl" -D "$pgdata" -m fast -w -t 30 stop >/dev/null 2>&1 ||
		as_pg "$bindir/pg_ctl" -D "$pgdata" -m immediate -w -t 10 stop >/dev/null 2>&1 ||
		die "could not stop PostgreSQL in $pgdata"
}

cmd_url() {
	echo "postgresql://postgres@127.0.0.1:$1/postgres"
}

[[ $# -ge 2 ]] || usage
CMD="$1"
DIR="$2"
case "$CMD" in
start)
	[[ $# -eq 3 ]] || usage
	cmd_start "$3"
	;;
stop)
	[[ $# -eq 2 ]] || usage
	cmd_stop
	;;
url)
	[[ $# -eq 3 ]] || usage
	check_port "$3"
	cmd_url "$3"
	;;
*) usage ;;
esac
