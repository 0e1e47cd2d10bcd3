/*
 * fuzz_whatsapp_webhook.c - a WhatsApp Cloud webhook body, as bytes, through
 * what wa_receive() does after authentication: json_parse_capped() at
 * WA_JSON_DEPTH_MAX, then whatsapp_cloud_normalize() into a batch. Phone
 * number ids resolve to channel 1 or 2 (or are skipped) by a hash, so both
 * routing outcomes are explored. The batch must be well formed.
 */
#include <jansson.h>

#include "channels/channel.h"
#include "core/model.h"
#include "fuzz.h"
#include "log/log.h"
#include "util/util.h"

#define WA_DEPTH 64  /* WA_JSON_DEPTH_MAX (whatsapp_cloud.h) */

static int64_t
resolve(void *ctx, const char *phone_number_id)
{
	unsigned h = 0;

	for (const char *p = phone_number_id; *p; p++)
		h = h * 31 + (unsigned char)*p;
	return (int64_t)(h % 3);  /* 0: not configured, skipped */
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_level(LOGL_ERROR);  /* the warnings about odd records cost more than parsing */
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	json_t *root = NULL;
	struct ingest_batch b = { 0 };
	struct channel_error cerr = { 0 };

	if (json_parse_capped((const char *)data, size, WA_DEPTH, &root, err, sizeof(err)) != 0)
		return 0;
	if (whatsapp_cloud_normalize(root, resolve, NULL, &b, &cerr) != 0) {
		FUZZ_CHECK(cerr.message[0] != '\0');
	} else {
		for (size_t i = 0; i < b.nmsgs; i++) {
			const struct msg_in *m = &b.msgs[i];
			FUZZ_CHECK(m->channel_id == 1 || m->channel_id == 2);
			FUZZ_CHECK(m->provider_message_id != NULL && *m->provider_message_id);
			FUZZ_CHECK(m->type != NULL);
		}
		for (size_t i = 0; i < b.nstatuses; i++)
			FUZZ_CHECK(b.statuses[i].channel_id == 1 || b.statuses[i].channel_id == 2);
	}
	ingest_batch_free(&b);
	json_decref(root);
	return 0;
}
