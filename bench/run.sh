#!/bin/sh
# A first load run (issue 5 grows this into the full harness): start an
# optimized msgd on a fresh data dir, post unique text webhooks with wrk,
# check nothing acknowledged was lost, and report the rate and idle RSS.
set -e
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench: needs wrk (apt-get install wrk)"; exit 1; }
PORT=${PORT:-18080}
DATA=$(mktemp -d)
TOKEN=bench-admin-token-0123456789
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
MSGD_ADMIN_TOKEN=$TOKEN MSGD_LOG_LEVEL=warn ./build/msgd serve --listen 127.0.0.1:$PORT --data "$DATA" &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$DATA"' EXIT
for i in $(seq 100); do curl -sf http://127.0.0.1:$PORT/healthz >/dev/null && break; sleep 0.05; done
echo "idle RSS: $(awk '/VmRSS/{print $2" "$3}' /proc/$PID/status)"
curl -sf -H "Authorization: Bearer $TOKEN" http://127.0.0.1:$PORT/v1/channels -d '{"name":"bench","type":"whatsapp_cloud","config":{"phone_number_id":"bench-number","access_token":"x","verify_token":"y","insecure_skip_signature":true}}' >/dev/null
wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s bench/ingest.lua http://127.0.0.1:$PORT/ | tail -n 6
LAST=$(curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/v1/events?since=0&limit=1" >/dev/null; \
  sqlite3 "$DATA/msgd.db" 'select count(*) from messages' 2>/dev/null || echo "?")
echo "messages stored: $LAST"
echo "peak RSS: $(awk '/VmHWM/{print $2" "$3}' /proc/$PID/status)"
