#!/bin/sh
# make run: start msgd on its embedded defaults (SQLite in ./var, the sandbox
# channel) and print where it is and how to authenticate.
set -e
DATA=${MSGD_DATA:-./var}
LISTEN=${MSGD_LISTEN:-127.0.0.1:8080}
mkdir -p "$DATA"
chmod 700 "$DATA"
if [ -z "$MSGD_ADMIN_TOKEN" ] && [ ! -f "$DATA/admin.token" ]; then
	# First start: generate the token here so it can be shown below.
	umask 077
	printf 'msgd_%s' "$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')" > "$DATA/admin.token"
fi
# The token itself only to a terminal: a pipe or a CI log would keep it.
if [ -t 1 ]; then
	TOKEN=${MSGD_ADMIN_TOKEN:-$(cat "$DATA/admin.token")}
	SHOW="admin token: $TOKEN"
elif [ -n "$MSGD_ADMIN_TOKEN" ]; then
	TOKEN='$MSGD_ADMIN_TOKEN'
	SHOW='admin token: $MSGD_ADMIN_TOKEN'
else
	TOKEN='$TOKEN'
	SHOW="admin token: in $DATA/admin.token (mode 0600): TOKEN=\$(cat $DATA/admin.token)"
fi
cat <<MSG

  msgd is starting on http://$LISTEN  (data: $DATA, SQLite)
  $SHOW

  try:
    curl -s -H "Authorization: Bearer $TOKEN" http://$LISTEN/v1/channels
    curl -s -H "Authorization: Bearer $TOKEN" -d '{"from":"15550001111","text":"hello"}' \\
         http://$LISTEN/v1/sandbox/sandbox/inbound
    curl -s -H "Authorization: Bearer $TOKEN" http://$LISTEN/v1/conversations

  Ctrl-C stops it (gracefully).

MSG
exec ./build/msgd serve --listen "$LISTEN" --data "$DATA"
