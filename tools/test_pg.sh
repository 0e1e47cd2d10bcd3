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
echo "== build/test/unit/test_store on PostgreSQL"
ASAN_OPTIONS=detect_leaks=1 build/test/unit/test_store
echo "== end-to-end tests on PostgreSQL"
FSFAULT_SO="$(pwd)/build/test/fsfault.so" MSGD_BIN="$(pwd)/build/test/msgd" \
    CORPUS="$(pwd)/../shared/corpus" node tests/run.mjs --concurrency 2 tests/e2e
