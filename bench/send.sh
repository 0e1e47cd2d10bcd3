#!/bin/sh
# Send benchmark: POST /v1/messages at 64 connections to a whatsapp_cloud
# channel whose "Graph API" is a local nginx answering a unique wamid,
# pacing disabled. Reports API throughput, and from msgd's own records the
# throughput and latency from API call to provider acceptance.
set -e
cd "$(dirname "$0")/.."
for t in wrk nginx sqlite3; do command -v $t >/dev/null || { echo "bench: needs $t"; exit 1; }; done
PORT=${PORT:-18081}
DATA=$(mktemp -d)
NGX=$(mktemp -d)
TOKEN=bench-admin-token-0123456789
export TOKEN
DURATION=${DURATION:-10s}
cp bench/fake-graph-nginx.conf "$NGX/nginx.conf"
nginx -p "$NGX" -c "$NGX/nginx.conf" 2>/dev/null &
NPID=$!
MSGD_ADMIN_TOKEN=$TOKEN MSGD_LOG_LEVEL=warn ./build/msgd serve --listen 127.0.0.1:$PORT --data "$DATA" &
PID=$!
trap 'kill $PID $NPID 2>/dev/null; wait 2>/dev/null; rm -rf "$DATA" "$NGX"' EXIT
for i in $(seq 100); do curl -sf http://127.0.0.1:$PORT/healthz >/dev/null && break; sleep 0.05; done
curl -sf -H "Authorization: Bearer $TOKEN" http://127.0.0.1:$PORT/v1/channels -d '{"name":"bench","type":"whatsapp_cloud","config":{"phone_number_id":"PNID","access_token":"x","verify_token":"y","insecure_skip_signature":true,"api_base_url":"http://127.0.0.1:18090","rate_per_second":0,"enforce_window":false}}' >/dev/null
wrk -t2 -c64 -d"$DURATION" --latency -s bench/send.lua http://127.0.0.1:$PORT/ | grep -A3 "^send API"
# Let the outbox drain, then read msgd's records.
for i in $(seq 200); do
	left=$(sqlite3 "$DATA/msgd.db" 'select count(*) from outbox' 2>/dev/null || echo 1)
	[ "$left" = 0 ] && break
	sleep 0.1
done
sqlite3 "$DATA/msgd.db" <<'SQL'
.mode list
CREATE TEMP VIEW a AS SELECT m.created_ms AS q, s.created_ms AS acc FROM messages m
    JOIN statuses s ON s.message_id = m.id AND s.status = 'accepted' WHERE m.direction = 'out';
CREATE TEMP VIEW o AS SELECT acc - q AS d, row_number() OVER (ORDER BY acc - q) AS r,
    count(*) OVER () AS n FROM a;
SELECT 'accepted by the provider: ' || (SELECT count(*) FROM a) || ' of ' ||
       (SELECT count(*) FROM messages WHERE direction = 'out') || ' queued, ' ||
       printf('%.0f', (SELECT count(*) FROM a) * 1000.0 / ((SELECT max(acc) FROM a) - (SELECT min(q) FROM a))) || ' msg/s';
SELECT 'API call -> provider acceptance: p50 ' || (SELECT d FROM o WHERE r = (n + 1) / 2) || ' ms, p99 ' ||
       (SELECT d FROM o WHERE r = (n * 99 + 99) / 100) || ' ms';
SQL
echo "msgd peak RSS: $(awk '/VmHWM/{print $2" "$3}' /proc/$PID/status)"
