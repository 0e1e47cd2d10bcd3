#!/bin/sh
# Install the Debian packages msgd needs (when root), or print what to install.
#   tools/deps.sh build   - to build and run
#   tools/deps.sh test    - to run make test as well
#   tools/deps.sh bench   - to run make bench (nginx, sqlite3, node, PostgreSQL 15)
set -e
BUILD="gcc make pkg-config libmicrohttpd-dev libevent-dev libjansson-dev libsqlite3-dev libpq-dev libssl-dev libconfig-dev libcurl4-openssl-dev uthash-dev libsodium-dev libwslay-dev libyajl-dev libjwt-dev libqrencode-dev libpng-dev libcsv-dev libzip-dev libexpat1-dev libmagic-dev libnats-dev librabbitmq-dev libsystemd-dev"
# clang-14 and libclang-rt-14-dev (libFuzzer and the sanitizer runtimes): make fuzz.
# postgresql-15: make test-pg starts a private cluster (tools/pg.sh).
# python3, python3-yaml, systemd: the packaging and backup tests (a NOTIFY_SOCKET listener,
# compose.yaml parsed, zip archives made, systemd-analyze verify).
TEST="libcmocka-dev nodejs npm chromium clang-14 libclang-rt-14-dev libfaketime postgresql-15 nats-server rabbitmq-server python3 python3-yaml systemd"
BENCH="nginx-light sqlite3 nodejs npm postgresql-15 nats-server rabbitmq-server"
want="$BUILD"
[ "$1" = test ] && want="$BUILD $TEST"
[ "$1" = bench ] && want="$BUILD $BENCH"
missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# nodejs may come from elsewhere than Debian; a node on PATH is enough.
case "$missing" in *nodejs*) command -v node >/dev/null 2>&1 && missing=$(echo "$missing" | sed 's/ nodejs//');; esac
case "$missing" in *npm*) command -v npm >/dev/null 2>&1 && missing=$(echo "$missing" | sed 's/ npm//');; esac
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
	echo "msgd: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	# The tests run their own PostgreSQL cluster: the package must not
	# create and start a system one (kept: --force-confold).
	case "$missing" in *postgresql-15*)
		if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
			mkdir -p /etc/postgresql-common
			echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
		fi;;
	esac
	apt-get update -qq
	apt-get install -y -qq -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
	    $missing >/dev/null
else
	echo "msgd: missing Debian packages; run:  sudo apt-get install$missing" >&2
	exit 1
fi
