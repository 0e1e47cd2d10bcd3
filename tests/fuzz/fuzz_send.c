/*
 * fuzz_send.c - the send API's body validation, single and batch, as
 * POST /v1/messages and POST /v1/messages/batch run it: the body through
 * json_parse_capped(), then api_batch_validate() for a batch envelope and
 * api_send_validate() for each message (what api_send_submit and
 * api_messages_batch call before anything is stored). The app is real but
 * small: a store in a temporary directory holding one local template
 * ("order_ready", "en"), and three channels: "wa" (WhatsApp, 24-hour
 * window enforced), "wa2" (window off) and "sb" (sandbox). Nothing is
 * committed.
 *
 * Asserted: a refusal is a 422 with a known code and a field, never a
 * storage error; an accepted message is a complete outbound record.
 */
#include <stdbool.h>

#include <jansson.h>

#include "api/api_send.h"
#include "core/model.h"
#include "fuzz_app.h"
#include "util/util.h"

#define BATCH_MAX 50

static void
add_channel(int64_t id, const char *name, const struct channel_ops *ops, const char *config)
{
	json_error_t je;
	json_t *c = json_loads(config, 0, &je);

	FUZZ_CHECK(c != NULL);
	FUZZ_CHECK(registry_add(app.reg, channel_new(id, name, ops, c, 0, 0)) == 0);
	json_decref(c);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_app_open("send");
	cfg.batch_max = BATCH_MAX;
	struct store_op op = { .kind = STORE_OP_TEMPLATE_PUT,
		.u.template = { "order_ready", "en", "Hi {{name}}, order {{ 1 }} is ready" } };
	FUZZ_CHECK(store_submit_wait(app.store, &op) == 0);
	add_channel(1, "wa", &whatsapp_cloud_ops, "{\"phone_number_id\":\"100\",\"access_token\":\"t\","
	    "\"verify_token\":\"v\",\"app_secret\":\"s\"}");
	add_channel(2, "wa2", &whatsapp_cloud_ops, "{\"phone_number_id\":\"200\",\"access_token\":\"t\","
	    "\"verify_token\":\"v\",\"insecure_skip_signature\":true,\"enforce_window\":false}");
	add_channel(3, "sb", &sandbox_ops, "{}");
	return 0;
}

static void
check_one(const json_t *body)
{
	struct ingest_batch b = { 0 };
	struct send_error e = { 0 };
	struct msg_in *m = ingest_batch_add_msg(&b);

	if (api_send_validate(&app, STORE_ORG_DEFAULT, body, NULL, m, &e) == 0) {
		FUZZ_CHECK(m->channel_id >= 1 && m->channel_id <= 3);
		FUZZ_CHECK(m->direction == DIR_OUT);
		FUZZ_CHECK(m->to != NULL && *m->to != '\0' && strlen(m->to) <= 64);
		FUZZ_CHECK(m->type != NULL && m->raw != NULL && json_is_object(m->parts));
		FUZZ_CHECK(m->status == ST_QUEUED || m->status == ST_SCHEDULED);
		/* WhatsApp enforces its window on channel 1: no inbound there yet. */
		if (m->channel_id == 1)
			FUZZ_CHECK(strcmp(m->type, "template") == 0 || json_object_get(m->parts, "template"));
		if (m->text)
			FUZZ_CHECK(strlen(m->text) <= TEXT_MAX_CHARS * 4);
		json_t *sched = json_object_get(m->parts, "scheduled_at");
		if (sched) {
			int64_t t;
			FUZZ_CHECK(json_string_length(sched) == 20);
			FUZZ_CHECK(parse_rfc3339(json_string_value(sched), &t) == 0);
		}
	} else {
		FUZZ_CHECK(e.status == 422);
		FUZZ_CHECK(strcmp(e.code, "validation_failed") == 0 || strcmp(e.code, "invalid_recipient") == 0 ||
		    strcmp(e.code, "window_closed") == 0 || strcmp(e.code, "unsupported_by_channel") == 0 ||
		    strcmp(e.code, "recipient_blocked") == 0 || strcmp(e.code, "recipient_invalid") == 0);
		/* The field names the member at fault (empty for a member named ""). */
		FUZZ_CHECK(e.message[0] != '\0');
	}
	ingest_batch_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	json_t *body = NULL;

	if (json_parse_capped((const char *)data, size, API_JSON_MAX_DEPTH, &body, err, sizeof(err)) != 0)
		return 0;
	if (json_is_object(body) && json_object_get(body, "messages") != NULL) {
		struct send_error e = { 0 };
		if (api_batch_validate(&app, body, &e) == 0) {
			size_t i;
			json_t *item;
			json_array_foreach(json_object_get(body, "messages"), i, item)
				check_one(item);
		} else {
			FUZZ_CHECK(e.status == 422 && e.message[0] != '\0');  /* field: as above */
		}
	} else {
		check_one(body);
	}
	json_decref(body);
	return 0;
}
