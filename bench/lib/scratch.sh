# bench/lib/scratch.sh: a scratch PostgreSQL server for bench/run,
# bench/demo and test/run, sourced by each.
#
# The server runs as the postgres system user (PostgreSQL refuses root) in a
# fresh directory under /tmp (named after $SCRATCH_NAME), on a free private
# port with its socket in that directory and no TCP listener; scratch_stop
# (which the callers also run on exit, failure or interrupt) stops it and
# removes the directory.  Clients connect as the database user postgres over
# the socket.

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
SCRATCH_NAME=${SCRATCH_NAME:-kyrodb-bench}
SCRATCH=""
PGDATA_DIR=""

# A progress line on stderr: the time, $PROGRESS if set, the message.
say() { printf '[%s%s] %s\n' "$(date +%H:%M:%S)" "${PROGRESS:+, $PROGRESS}" "$*" >&2; }

# Run a command as the server's OS user (the caller, when not root).
as_pg()
{
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# True if nothing uses port $1 (a usual socket path or TCP on loopback).
port_free()
{
	[ ! -e "/tmp/.s.PGSQL.$1" ] && [ ! -e "/var/run/postgresql/.s.PGSQL.$1" ] &&
		! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# scratch_start FIRST_PORT [SETTING...]: initdb and start a server with the
# given postgresql.conf lines; exports PGHOST, PGPORT, PGUSER, PGDATABASE.
scratch_start()
{
	local first=$1 p
	shift
	SCRATCH=$(mktemp -d "/tmp/$SCRATCH_NAME.XXXXXX")
	chmod 755 "$SCRATCH"
	[ "$(id -u)" -eq 0 ] && chown postgres "$SCRATCH"
	PGDATA_DIR=$SCRATCH/data
	PGPORT=""
	for p in $(seq "$first" $((first + 99))); do
		if port_free "$p"; then
			PGPORT=$p
			break
		fi
	done
	if [ -z "$PGPORT" ]; then
		echo "no free port in $first-$((first + 99))" >&2
		return 1
	fi
	# (--no-sync: a scratch cluster need not survive a crash of the machine)
	as_pg "$PGBIN/initdb" -D "$PGDATA_DIR" -U postgres -A trust -E UTF8 \
		--no-locale --no-sync >"$SCRATCH/initdb.log" 2>&1 || {
		cat "$SCRATCH/initdb.log" >&2
		return 1
	}
	{
		echo "listen_addresses = ''"
		echo "port = $PGPORT"
		echo "unix_socket_directories = '$SCRATCH'"
		printf '%s\n' "$@"
	} | as_pg tee -a "$PGDATA_DIR/postgresql.conf" >/dev/null
	export PGHOST=$SCRATCH PGPORT PGUSER=postgres PGDATABASE=postgres
	unset PGOPTIONS PGSERVICE PGPASSWORD PGHOSTADDR
	scratch_restart
}

# Start (or restart) the server, with extra "-c name=value" options if given.
scratch_restart()
{
	local opts="$*"
	as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null 2>&1 || true
	as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$SCRATCH/server.log" -w -t 300 \
		${opts:+-o "$opts"} start >/dev/null || {
		echo "---- server log ----" >&2
		tail -n 30 "$SCRATCH/server.log" >&2
		return 1
	}
}

# Stop the server and remove its directory.
scratch_stop()
{
	[ -n "$SCRATCH" ] || return 0
	as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m immediate -w stop >/dev/null 2>&1 || true
	rm -rf "$SCRATCH"
	SCRATCH=""
}

# psql against the scratch server: quiet, stop at the first error.
q()
{
	PGOPTIONS="-c client_min_messages=warning" "$PGBIN/psql" -X -q \
		-v ON_ERROR_STOP=1 "$@"
}

# q_ms SQL...: run each statement in one session; the milliseconds the last
# one took, as psql's \timing reports it.
q_ms()
{
	local args=(-c '\timing on') sql
	for sql in "$@"; do
		args+=(-c "$sql")
	done
	q -At "${args[@]}" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n 1
}
