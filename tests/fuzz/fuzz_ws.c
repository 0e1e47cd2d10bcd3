/*
 * fuzz_ws.c - WebSocket frame handling (api_ws.c with wslay): the input is
 * what a client sends after the upgrade (masked frames: text, binary,
 * fragments, pings, closes), fed through api_ws_feed(). Text messages are
 * client JSON ({"op":"ping"}, {"op":"send",...}); the app has a store but
 * no channel, so every send is answered (refused) at once and nothing is
 * committed. Sanitizers and leak checks are the oracle.
 */
#include <event2/event.h>
#include <unistd.h>

#include "api/api.h"
#include "channels/channel.h"
#include "config/config.h"
#include "fuzz.h"
#include "log/log.h"
#include "store/store.h"

static struct app app;
static struct config cfg;
static char dir[64];

static void
cleanup(void)
{
	const char *files[] = { "msgd.db", "msgd.db-wal", "msgd.db-shm" };

	store_close(app.store);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char p[128];
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		unlink(p);
	}
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_level(LOGL_ERROR);
	snprintf(dir, sizeof(dir), "/tmp/msgd-fuzz-ws-XXXXXX");
	FUZZ_CHECK(mkdtemp(dir) != NULL);
	config_defaults(&cfg);
	app.cfg = &cfg;
	app.base = event_base_new();
	struct store_config sc = { .data_dir = dir };
	FUZZ_CHECK(store_open(&app.store, &sc, app.base) == 0);
	atexit(cleanup);
	app.reg = registry_new();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	api_ws_feed(&app, data, size);
	/* Nothing outlives the feed but the loop's own state. */
	FUZZ_CHECK(app.websockets == NULL);
	return 0;
}
