/*
 * fuzz_ws.c - WebSocket frame handling (api_ws.c with wslay): the input is
 * what a client sends after the upgrade (masked frames: text, binary,
 * fragments, pings, closes), fed through api_ws_feed(). Text messages are
 * client JSON ({"op":"ping"}, {"op":"send",...}); the app has a store but
 * no channel, so every send is answered (refused) at once and nothing is
 * committed. Sanitizers and leak checks are the oracle.
 */
#include "fuzz_app.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_app_open("ws");
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
