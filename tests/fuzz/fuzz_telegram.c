/*
 * fuzz_telegram.c - a Telegram webhook body, as bytes, through the
 * channel's own webhook (telegram_ops.channel_webhook with the right
 * secret: json_parse_capped() at TG_JSON_DEPTH_MAX, then
 * tg_normalize_update()), and the same JSON as an outbound message through
 * tg_send_body(). Oracles: the answer is 200 or 400, a 400 stores nothing,
 * every record is well formed, every entity's text is valid UTF-8 found in
 * the message's text, and a send body is either refused with a reason or
 * names a chat.
 */
#include <jansson.h>

#include "channels/channel.h"
#include "channels/telegram.h"
#include "core/model.h"
#include "fuzz.h"
#include "log/log.h"
#include "util/util.h"

#define SECRET "fuzz_secret"

static struct channel *ch;

static const char *
header(void *ctx, const char *name)
{
	return strcmp(name, "X-Telegram-Bot-Api-Secret-Token") == 0 ? SECRET : NULL;
}

static const char *
query(void *ctx, const char *name)
{
	return NULL;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	json_t *cfg = json_pack("{s:s,s:s}", "bot_token", "123456:fuzz", "webhook_secret", SECRET);

	log_set_level(LOGL_ERROR);
	ch = channel_new(3, "tg", &telegram_ops, cfg, 0, 0);
	json_decref(cfg);
	if (telegram_ops.open(ch) != 0)
		abort();
	return 0;
}

static void
check_msg(const struct msg_in *m)
{
	const json_t *e;
	size_t i;

	FUZZ_CHECK(m->channel_id == 3);
	FUZZ_CHECK(m->provider_message_id && *m->provider_message_id);
	FUZZ_CHECK(m->dedup_key && strncmp(m->dedup_key, "u:", 2) == 0);
	FUZZ_CHECK(m->type && m->from && m->contact_address && m->raw);
	FUZZ_CHECK(m->to && strcmp(m->to, "123456") == 0);
	FUZZ_CHECK(json_is_object(m->parts));
	FUZZ_CHECK(m->action != MSG_EDIT || (m->target && *m->target));
	json_array_foreach(json_object_get(m->parts, "entities"), i, e) {
		const json_t *t = json_object_get(e, "text");
		FUZZ_CHECK(json_is_string(t) && json_string_length(t) > 0);
		FUZZ_CHECK(utf8_valid(json_string_value(t), json_string_length(t)));
		FUZZ_CHECK(json_integer_value(json_object_get(e, "offset")) >= 0);
		FUZZ_CHECK(json_integer_value(json_object_get(e, "length")) > 0);
		/* The substring of the text as sent (NULs dropped from m->text only). */
		if (!memchr(json_string_value(t), '\0', json_string_length(t)))
			FUZZ_CHECK(m->text && strstr(m->text, json_string_value(t)));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct webhook_request req = { .method = "POST", .header = header, .query = query,
	    .body = (const char *)data, .body_len = size, .request_id = "fuzz" };
	struct webhook_reply reply = { 0 };
	struct ingest_batch b = { 0 };

	telegram_ops.channel_webhook(ch, &req, &reply, &b);
	FUZZ_CHECK(reply.status == 200 || reply.status == 400);
	if (reply.status == 400)
		FUZZ_CHECK(ingest_batch_empty(&b) && reply.error_code[0] != '\0');
	for (size_t i = 0; i < b.nmsgs; i++)
		check_msg(&b.msgs[i]);
	for (size_t i = 0; i < b.ncontacts; i++)
		FUZZ_CHECK(b.contacts[i].address && b.contacts[i].dedup_key);
	FUZZ_CHECK(b.nmsgs + b.ncontacts <= 1);
	free(reply.body);
	ingest_batch_free(&b);

	/* The same JSON as an outbound message. */
	json_t *root = NULL;
	char err[64];
	if (json_parse_capped((const char *)data, size, TG_JSON_DEPTH_MAX, &root, err,
	    sizeof(err)) == 0) {
		struct channel_error cerr = { 0 };
		const char *method = NULL;
		json_t *body = tg_send_body(root, &method, &cerr);
		if (body == NULL) {
			FUZZ_CHECK(cerr.message[0] != '\0');
		} else {
			FUZZ_CHECK(method != NULL);
			FUZZ_CHECK(json_is_string(json_object_get(body, "chat_id")));
		}
		json_decref(body);
		json_decref(root);
	}
	return 0;
}
