# msgd - the user's entry points:
#   make run     install what is missing, build, run msgd on embedded defaults
#   make build   optimized daemon in build/msgd
#   make test    sanitizer build + unit tests + end-to-end tests (SQLite, then PostgreSQL)
#   make bench   load measurements (not part of make test)
#   make fuzz    every libFuzzer harness for FUZZ_S seconds (default 60)
#   make crash-loop  kill -9 msgd CRASH_CYCLES times (default 50) per durable path
#   make soak    an hour (SOAK_S) of mixed load with graceful restarts; RSS and fds must stay flat

CC       ?= cc
PKGS     := libmicrohttpd libevent libevent_pthreads jansson sqlite3 libpq libcrypto libconfig libcurl libsodium yajl libjwt libqrencode libpng libzip expat libmagic libnats librabbitmq libsystemd
# Library flags come from pkg-config, which a fresh machine gets only from
# `make deps`: targets that install packages first (run, build, test, bench)
# build through a sub-make, so these are evaluated after the install. A
# build without them stops with a clear message instead of a link error.
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ifeq ($(strip $(PKG_LIBS)),)
NEED_DEPS = $(error pkg-config found no flags for: $(PKGS); run `make deps` (installs the Debian packages) first)
endif

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
BASEFLAGS := -std=c17 -D_GNU_SOURCE $(WARN) $(PKG_CFLAGS) -Isrc -Ibuild/gen -pthread
REL_CFLAGS := $(BASEFLAGS) -O2 -g
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
TEST_CFLAGS := $(BASEFLAGS) -O1 -g $(SAN)
# wslay (WebSocket framing) and libcsv ship no pkg-config file.
LIBS := $(PKG_LIBS) -lwslay -lcsv -pthread -lm

# Every .c under src/ except main.c is the library; main.c wires the binary.
LIB_SRC  := $(filter-out src/main.c,$(shell find src -name '*.c' | sort))
MIGRATIONS := $(sort $(wildcard src/store/migrations/*.sql))
WEB_FILES := web/index.html web/thread.js web/admin.js web/msgparts.js web/channels.js web/app.js web/app.css \
	web/campaigns.js web/templates.js
GEN_SRC  := build/gen/migrations.c build/gen/web_assets.c
# issue 15, h15ops: the build's commit for `msgd version` (rewritten only when it changes)
GEN_SRC  += build/gen/commit.c

REL_OBJ  := $(patsubst %.c,build/rel/%.o,$(LIB_SRC) $(GEN_SRC))
TEST_OBJ := $(patsubst %.c,build/test/%.o,$(LIB_SRC) $(GEN_SRC))

UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(patsubst tests/unit/%.c,build/test/unit/%,$(UNIT_SRC))

.PHONY: all build run run-check test unit e2e e2e-npm test-pg browser deps test-deps bench-deps clean bench \
	fuzz fuzz-build fuzz-quick fuzz-regress crash-loop soak
all: build
# Installs what is missing, then builds in a sub-make (see PKG_LIBS above).
build: deps
	@$(MAKE) --no-print-directory build/msgd

build/gen/migrations.c: $(MIGRATIONS) tools/embed_sql.sh
	@mkdir -p $(dir $@)
	sh tools/embed_sql.sh $(MIGRATIONS) > $@.tmp && mv $@.tmp $@

build/gen/web_assets.c: $(WEB_FILES) tools/embed_web.sh
	@mkdir -p $(dir $@)
	sh tools/embed_web.sh $(WEB_FILES) > $@.tmp && mv $@.tmp $@

build/gen/commit.c: FORCE
	@sh tools/gen_commit.sh $@
FORCE:

build/rel/%.o: %.c
	$(NEED_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) -MMD -MP -c $< -o $@

build/test/%.o: %.c
	$(NEED_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -MMD -MP -c $< -o $@

build/msgd: $(REL_OBJ) build/rel/src/main.o
	$(CC) $(REL_CFLAGS) -o $@ $^ $(LIBS)

build/test/msgd: $(TEST_OBJ) build/test/src/main.o
	$(CC) $(TEST_CFLAGS) -o $@ $^ $(LIBS)

build/test/unit/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(TEST_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -Itests/unit -o $@ $< $(TEST_OBJ) $(LIBS) -lcmocka

# Install missing Debian packages (as root), or say which to install.
deps:
	@sh tools/deps.sh build

test-deps:
	@sh tools/deps.sh test

bench-deps:
	@sh tools/deps.sh bench

run: build
	@sh tools/run.sh

# make run, unattended: build, start msgd on a free port with a fresh data
# directory, check /healthz, send through the sandbox, stop it.
run-check: build
	@bash tools/run_check.sh

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; ASAN_OPTIONS=detect_leaks=1 $$t; done

# tests/run.mjs runs the files two at a time on Node 18 (Debian 12's) and later.
# The disk-fault shim the e2e fault tests preload (test tooling, not msgd).
build/test/fsfault.so: tests/faults/fsfault.c
	@mkdir -p $(dir $@)
	$(CC) -std=c17 -D_GNU_SOURCE $(WARN) -O2 -shared -fPIC -o $@ $< -ldl

# The e2e tests' npm packages (tests/e2e/package.json: a Prometheus parser,
# a JSON Schema validator).
e2e-npm:
	cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error

e2e: build/test/msgd build/test/fsfault.so e2e-npm
	FSFAULT_SO=$(CURDIR)/build/test/fsfault.so \
	MSGD_BIN=$(CURDIR)/build/test/msgd CORPUS=$(CURDIR)/../shared/corpus \
	  node tests/run.mjs --concurrency 2 tests/e2e

# The store's conformance suite and the e2e suite on PostgreSQL 15 (a private
# cluster started and stopped by tools/test_pg.sh).
test-pg: e2e-npm build/test/msgd build/test/fsfault.so build/test/unit/test_store build/test/unit/test_store_notify \
	build/test/unit/test_store_import build/test/unit/test_store_campaign
	@sh tools/test_pg.sh

# The messages panel in headless Chromium (playwright-core from npm).
browser: build/test/msgd
	cd tests/browser && npm ci --no-audit --no-fund --loglevel=error
	MSGD_BIN=$(CURDIR)/build/test/msgd CORPUS=$(CURDIR)/../shared/corpus \
	  node --test tests/browser/inbox.test.mjs
	MSGD_BIN=$(CURDIR)/build/test/msgd CORPUS=$(CURDIR)/../shared/corpus \
	  node --test tests/browser/people.test.mjs
	MSGD_BIN=$(CURDIR)/build/test/msgd CORPUS=$(CURDIR)/../shared/corpus \
	  node --test tests/browser/channels.test.mjs
	# media both ways (issue 14): thumbnails and Attach
	MSGD_BIN=$(CURDIR)/build/test/msgd CORPUS=$(CURDIR)/../shared/corpus \
	  node --test tests/browser/media.test.mjs
	MSGD_BIN=$(CURDIR)/build/test/msgd CORPUS=$(CURDIR)/../shared/corpus \
	  node --test tests/browser/campaigns.test.mjs

test: test-deps
	@$(MAKE) --no-print-directory build/test/msgd build/test/fsfault.so
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory fuzz-regress fuzz-quick
	@$(MAKE) --no-print-directory browser
	@$(MAKE) --no-print-directory e2e
	@$(MAKE) --no-print-directory test-pg

build/bench/loadgen: bench/loadgen.c
	@mkdir -p $(dir $@)
	$(CC) -std=c17 -O2 -D_GNU_SOURCE $(WARN) -o $@ $< -lcrypto -lpthread

bench: bench-deps
	@$(MAKE) --no-print-directory build/msgd build/bench/loadgen e2e-npm
	@node bench/bench.mjs

# libFuzzer harnesses (tests/fuzz/fuzz_*.c, see docs/RELIABILITY.md): the
# library again with clang-14 in build/fuzz/, one binary per harness.
FUZZ_CC  := clang-14
FUZZ_S   ?= 60
FUZZ_QUICK_S ?= 10
FUZZ_SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
FUZZ_CFLAGS := $(BASEFLAGS) -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(patsubst tests/fuzz/%.c,build/fuzz/bin/%,$(FUZZ_SRC))
FUZZ_OBJ := $(patsubst %.c,build/fuzz/%.o,$(LIB_SRC) $(GEN_SRC))

build/fuzz/%.o: %.c
	$(NEED_DEPS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

build/fuzz/bin/%: tests/fuzz/%.c tests/fuzz/fuzz.h tests/fuzz/fuzz_app.h $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Itests/fuzz -o $@ $< $(FUZZ_OBJ) $(LIBS)

fuzz-build: $(FUZZ_BIN)

# Each harness for FUZZ_S seconds; crashes land in build/fuzz/crashes/<harness>/.
fuzz: test-deps
	@$(MAKE) --no-print-directory fuzz-build
	@sh tools/fuzz.sh run $(FUZZ_S) $(notdir $(FUZZ_BIN))

# make test: every regression input replayed, then a short pass each.
fuzz-regress: fuzz-build
	@sh tools/fuzz.sh regress 0 $(notdir $(FUZZ_BIN))

fuzz-quick: fuzz-build
	@sh tools/fuzz.sh run $(FUZZ_QUICK_S) $(notdir $(FUZZ_BIN))
# kill -9 under load on every durable path (tests/crash/), with the release
# build; the short version runs in make test (tests/e2e/crash_loop.test.mjs).
CRASH_CYCLES ?= 50
crash-loop: build
	MSGD_BIN=$(CURDIR)/build/msgd CORPUS=$(CURDIR)/../shared/corpus CRASH_CYCLES=$(CRASH_CYCLES) \
	  node tests/crash/crash_loop.mjs

# Mixed load for SOAK_S seconds (webhooks, sends, streams, reads), a graceful
# restart every SOAK_RESTART_S, msgd's RSS, fds and latencies sampled every
# SOAK_SAMPLE_S into build/soak/ (tests/soak/, docs/RELIABILITY.md "Soak").
# Release build; not part of make test.
SOAK_S ?= 3600
SOAK_RESTART_S ?= 600
SOAK_SAMPLE_S ?= 60
soak: build
	MSGD_BIN=$(CURDIR)/build/msgd CORPUS=$(CURDIR)/../shared/corpus \
	  SOAK_S=$(SOAK_S) SOAK_RESTART_S=$(SOAK_RESTART_S) SOAK_SAMPLE_S=$(SOAK_SAMPLE_S) \
	  node tests/soak/soak.mjs

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
