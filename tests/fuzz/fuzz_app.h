/*
 * fuzz_app.h - a small real app for the harnesses that need one
 * (fuzz_send.c, fuzz_ws.c): default config, a store in a new temporary
 * directory (removed at exit) and an empty channel registry. Include it in
 * one harness file only (it defines static state).
 */
#ifndef MSGD_FUZZ_APP_H
#define MSGD_FUZZ_APP_H

#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "api/api.h"
#include "channels/channel.h"
#include "config/config.h"
#include "fuzz.h"
#include "log/log.h"
#include "store/store.h"

static struct app app;
static struct config cfg;
static char fuzz_dir[64];

static void
fuzz_app_cleanup(void)
{
	static const char *const files[] = { "msgd.db", "msgd.db-wal", "msgd.db-shm" };

	store_close(app.store);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char p[128];
		snprintf(p, sizeof(p), "%s/%s", fuzz_dir, files[i]);
		unlink(p);
	}
	rmdir(fuzz_dir);
}

/* name: the harness ("send"), for the directory's name. Call it first in
 * LLVMFuzzerInitialize; settings in cfg may be changed after it. */
static void
fuzz_app_open(const char *name)
{
	log_set_level(LOGL_ERROR);
	snprintf(fuzz_dir, sizeof(fuzz_dir), "/tmp/msgd-fuzz-%s-XXXXXX", name);
	FUZZ_CHECK(mkdtemp(fuzz_dir) != NULL);
	config_defaults(&cfg);
	app.cfg = &cfg;
	app.base = event_base_new();
	struct store_config sc = { .data_dir = fuzz_dir };
	FUZZ_CHECK(store_open(&app.store, &sc, app.base) == 0);
	atexit(fuzz_app_cleanup);
	app.reg = registry_new();
}

#endif
