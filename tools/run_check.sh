#!/usr/bin/env bash
# make run-check: what `make run` does, unattended, as a smoke test a fresh
# machine can run. Starts build/msgd on a free loopback port (port 0, read
# back from its "msgd listening" log line) with a new data directory, checks
# /healthz, sends a message through the sandbox channel and follows it to
# "read" (msgd send), then stops msgd with SIGTERM and expects exit 0.
# Needs only bash and coreutils (HTTP through bash's /dev/tcp).
set -euo pipefail
BIN=${MSGD_BIN:-./build/msgd}
DEADLINE_S=20

data=$(mktemp -d "${TMPDIR:-/tmp}/msgd-run-check.XXXXXX")
log="$data/msgd.log"
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
	rm -rf "$data"
}
trap cleanup EXIT
fail() {
	echo "run-check: FAILED: $*" >&2
	echo "--- msgd log" >&2
	cat "$log" >&2 || true
	exit 1
}

# Wait (bounded) until CMD succeeds; polling is all a shell has here.
wait_until() {
	local what=$1; shift
	local end=$((SECONDS + DEADLINE_S))
	until "$@"; do
		[ "$SECONDS" -lt "$end" ] || fail "timed out waiting for $what"
		kill -0 "$pid" 2>/dev/null || fail "msgd exited while waiting for $what"
		sleep 0.05
	done
}

MSGD_ADMIN_TOKEN= "$BIN" serve --listen 127.0.0.1:0 --data "$data/var" 2>"$log" >"$data/stdout" &
pid=$!
wait_until "msgd to listen" grep -q 'msg="msgd listening"' "$log"
port=$(sed -n 's/.*msg="msgd listening".* port=\([0-9]*\).*/\1/p' "$log" | head -n1)
[ -n "$port" ] || fail "no port in the 'msgd listening' line"
echo "run-check: msgd (pid $pid) listening on 127.0.0.1:$port"

# GET /healthz over bash's /dev/tcp.
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
reply=$(cat <&3)
exec 3<&-
status=$(printf '%s\n' "$reply" | head -n1 | tr -d '\r')
case "$status" in
	"HTTP/1.1 200"*) echo "run-check: GET /healthz -> $status" ;;
	*) fail "GET /healthz answered '$status'" ;;
esac

# Send through the sandbox and follow the status (the sandbox plays the far end).
out=$(MSGD_DATA="$data/var" MSGD_ADMIN_TOKEN= "$BIN" send --url "http://127.0.0.1:$port" \
	--channel sandbox --to 15550001111 --text "run-check" --timeout 15 2>&1) || fail "msgd send: $out"
printf '%s\n' "$out" | sed 's/^/run-check: msgd send: /'
printf '%s\n' "$out" | grep -Eq 'delivered|read' || fail "the message did not reach delivered/read"

kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
[ "$rc" -eq 0 ] || fail "msgd exited $rc on SIGTERM"
echo "run-check: msgd stopped cleanly; OK"
