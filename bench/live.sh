#!/bin/bash
# Live-stream benchmark: webhook 200 -> SSE client latency at RATE/s, and
# msgd's RSS with IDLE idle SSE connections open.
set -e
cd "$(dirname "$0")/.."
PORT=${PORT:-18082}
RATE=${RATE:-1000}
SECONDS_RUN=${SECONDS_RUN:-10}
IDLE=${IDLE:-10000}
DATA=$(mktemp -d)
TOKEN=bench-admin-token-0123456789
ulimit -n 65536 2>/dev/null || true
MSGD_ADMIN_TOKEN=$TOKEN MSGD_LOG_LEVEL=warn ./build/msgd serve --listen 127.0.0.1:$PORT --data "$DATA" 2>/dev/null &
PID=$!
trap 'kill $PID 2>/dev/null; wait 2>/dev/null; rm -rf "$DATA"' EXIT
for i in $(seq 100); do curl -sf http://127.0.0.1:$PORT/healthz >/dev/null && break; sleep 0.05; done
curl -sf -H "Authorization: Bearer $TOKEN" http://127.0.0.1:$PORT/v1/channels -d '{"name":"bench","type":"whatsapp_cloud","config":{"phone_number_id":"bench-number","access_token":"x","verify_token":"y","insecure_skip_signature":true}}' >/dev/null
node bench/live.mjs http://127.0.0.1:$PORT $TOKEN latency "$RATE" "$SECONDS_RUN"
before=$(awk '/VmRSS/{print $2}' /proc/$PID/status)
node bench/live.mjs http://127.0.0.1:$PORT $TOKEN idle "$IDLE" 4000 | while read -r line; do
	echo "$line"
	if [ "$line" = READY ]; then
		echo "  msgd RSS with $IDLE idle streams: $(awk '/VmRSS/{print $2" "$3}' /proc/$PID/status) (before: $before kB)"
	fi
done
