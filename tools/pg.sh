#!/bin/sh
# A private PostgreSQL 15 cluster for tests and benchmarks: its own data
# directory, a free loopback port, a Unix socket in the same directory,
# owned and run by an unprivileged user (initdb refuses root).
#   tools/pg.sh start DIR     initdb + start; prints the DSN on stdout
#   tools/pg.sh stop DIR      stop it (fast shutdown) and remove DIR
#   tools/pg.sh restart DIR   stop (fast: connections cut) and start again, same port
# The DSN names database "msgd" and user "msgd" (trust authentication on
# loopback only: a throwaway cluster). synchronous_commit and fsync stay on,
# as in production: a commit is durable when it returns.
set -e
cmd=$1 dir=$2
[ -n "$dir" ] || { echo "usage: tools/pg.sh start|stop DIR" >&2; exit 2; }
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
[ -x "$bin/initdb" ] || { echo "pg.sh: no $bin/initdb (apt-get install postgresql-15)" >&2; exit 1; }

# Run as the owner of DIR (nobody when we are root).
as_owner() {
	if [ "$(id -u)" = 0 ]; then
		setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
	else
		"$@"
	fi
}

case $cmd in
start)
	mkdir -p "$dir"
	[ "$(id -u)" = 0 ] && chown nobody:nogroup "$dir"
	as_owner "$bin/initdb" -D "$dir/data" -U msgd --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
	    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
	tries=0
	while :; do
		# A random port in 20000..59999; another process may hold it: try again.
		port=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000 ))
		if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
		    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start \
		    >/dev/null 2>&1; then
			break
		fi
		tries=$((tries + 1))
		[ $tries -lt 5 ] || { tail -20 "$dir/server.log" >&2; exit 1; }
	done
	echo "$port" >"$dir/port"
	as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U msgd msgd
	echo "postgres://msgd@127.0.0.1:$port/msgd"
	;;
restart)
	as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
	as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
	    -o "-p $(cat "$dir/port") -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
	;;
stop)
	[ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
	rm -rf "$dir"
	;;
*)
	echo "usage: tools/pg.sh start|stop|restart DIR" >&2
	exit 2
	;;
esac
