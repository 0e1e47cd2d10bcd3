#!/bin/sh
# make test-pg: the store's conformance suite and the end-to-end suite again,
# on PostgreSQL 15: a private cluster (tools/pg.sh) in a temporary
# directory, on a free port, stopped and removed at the end whatever happens.
set -e
dir=$(mktemp -d /tmp/msgd-pg.XXXXXX)
trap 'sh tools/pg.sh stop "$dir"' EXIT INT TERM
dsn=$(sh tools/pg.sh start "$dir")
echo "== PostgreSQL cluster for the tests: $dsn"
export MSGD_TEST_DATABASE="$dsn"
for t in test_store test_store_notify test_store_import test_store_campaign; do
	echo "== build/test/unit/$t on PostgreSQL"
	ASAN_OPTIONS=detect_leaks=1 build/test/unit/$t
done
echo "== end-to-end tests on PostgreSQL"
MSGD_OPENAPI_CHECK=1 FSFAULT_SO="$(pwd)/build/test/fsfault.so" MSGD_BIN="$(pwd)/build/test/msgd" \
    CORPUS="$(pwd)/../shared/corpus" node tests/run.mjs --concurrency 2 tests/e2e
