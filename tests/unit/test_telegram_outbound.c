/*
 * test_telegram_outbound.c - the Telegram adapter's outbound side: the
 * golden bodies of shared/corpus/telegram/outbound (same JSON, key order
 * aside), the body of each message type and what is refused, the URL of
 * send_prepare and check_prepare, one outcome per file of telegram/errors
 * and for the other answers, getMe, addresses. The inbound side is
 * test_telegram.c. The corpus root is $CORPUS, else ../shared/corpus from
 * the repository root.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channels/channel.h"
#include "channels/telegram.h"
#include "util/util.h"

#include "corpus.h"

#define TOKEN      "123456:FAKE-corpus-token"
#define SELF       "123456"
#define SECRET     "corpus_fake_secret_token"

static struct channel *
open_channel(const char *config)
{
	return open_test_channel(&telegram_ops, 7, "tg", config);
}

/* Outbound bodies */

/* The body's JSON with its JSON-serialized fields parsed, for comparing. */
static json_t *
unserialize(const json_t *body)
{
	json_t *c = json_deep_copy(body);
	static const char *const keys[] = { "reply_markup", "reply_parameters", "reaction",
		"link_preview_options" };
	for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
		const char *s = json_string_value(json_object_get(c, keys[i]));
		if (s)
			json_object_set_new(c, keys[i], json_loads(s, JSON_DECODE_ANY, NULL));
	}
	return c;
}

static void
expect_body(const char *msg, const char *method, const char *want)
{
	json_t *m = json_loads(msg, 0, NULL);
	struct channel_error err = { 0 };
	const char *got_method = NULL;
	json_t *body = tg_send_body(m, &got_method, &err);

	if (body == NULL)
		fail_msg("%s: %s: %s", msg, err.field, err.message);
	assert_string_equal(got_method, method);
	json_t *u = unserialize(body);
	assert_json(u, want);
	json_decref(u);
	json_decref(body);
	json_decref(m);
}

static void
expect_refused(const char *msg, const char *field)
{
	json_t *m = json_loads(msg, 0, NULL);
	struct channel_error err = { 0 };
	const char *method = NULL;

	assert_non_null(m);
	assert_null(tg_send_body(m, &method, &err));
	assert_string_equal(err.field, field);
	json_decref(m);
}

/* The golden bodies: the same JSON, key order aside (reply_markup compared parsed). */
static void
test_golden_bodies(void **state)
{
	static const struct {
		const char *file, *msg;
	} golden[] = {
		{ "outbound/sendMessage.request.json",
		  "{\"to\":\"12345\",\"type\":\"text\",\"text\":\"Simple Message\","
		  "\"parse_mode\":\"Markdown\",\"reply_markup\":{\"remove_keyboard\":true}}" },
		{ "outbound/sendMessage_quick_reply.request.json",
		  "{\"to\":\"12345\",\"type\":\"interactive\",\"parse_mode\":\"Markdown\","
		  "\"interactive\":{\"type\":\"quick_reply\",\"body\":{\"text\":\"Are you happy?\"},"
		  "\"action\":{\"buttons\":[{\"type\":\"reply\",\"reply\":{\"id\":\"y\",\"title\":\"Yes\"}},"
		  "{\"type\":\"reply\",\"reply\":{\"id\":\"n\",\"title\":\"No\"}}]}}}" },
	};
	for (size_t i = 0; i < ARRAY_LEN(golden); i++) {
		json_t *want = corpus_json("telegram", golden[i].file), *m = json_loads(golden[i].msg, 0, NULL);
		struct channel_error err = { 0 };
		const char *method = NULL;
		json_t *body = tg_send_body(m, &method, &err);
		assert_non_null(body);
		assert_string_equal(method, "sendMessage");
		/* Serialized fields are strings on both sides. */
		assert_true(json_is_string(json_object_get(body, "reply_markup")));
		json_t *a = unserialize(body), *b = unserialize(want);
		if (!json_equal(a, b))
			fail_msg("%s: got %s", golden[i].file, json_dumps(a, JSON_COMPACT));
		json_decref(a);
		json_decref(b);
		json_decref(body);
		json_decref(want);
		json_decref(m);
	}
}

static void
test_bodies(void **state)
{
	expect_body("{\"to\":\"-1001\",\"type\":\"text\",\"text\":\"hi\","
	    "\"reply_to\":{\"provider_message_id\":\"-1001:55\",\"message_id\":3}}", "sendMessage",
	    "{\"chat_id\":\"-1001\",\"text\":\"hi\",\"reply_parameters\":{\"message_id\":55}}");
	expect_body("{\"to\":\"5\",\"text\":\"hi\",\"reply_to\":\"6:7\",\"preview_url\":false}",
	    "sendMessage", "{\"chat_id\":\"5\",\"text\":\"hi\","
	    "\"reply_parameters\":{\"message_id\":7,\"chat_id\":\"6\"},"
	    "\"link_preview_options\":{\"is_disabled\":true}}");
	expect_body("{\"to\":\"5\",\"type\":\"image\",\"media\":{\"url\":\"https://x/p.jpg\","
	    "\"caption\":\"cap\"},\"parse_mode\":\"HTML\"}", "sendPhoto",
	    "{\"chat_id\":\"5\",\"photo\":\"https://x/p.jpg\",\"caption\":\"cap\",\"parse_mode\":\"HTML\"}");
	expect_body("{\"to\":\"5\",\"type\":\"document\",\"text\":\"t\",\"media\":{\"id\":\"FILE\","
	    "\"filename\":\"a.pdf\"}}", "sendDocument",
	    "{\"chat_id\":\"5\",\"document\":\"FILE\",\"caption\":\"t\"}");
	expect_body("{\"to\":\"5\",\"type\":\"voice\",\"media\":{\"id\":\"V\"}}", "sendVoice",
	    "{\"chat_id\":\"5\",\"voice\":\"V\"}");
	expect_body("{\"to\":\"5\",\"type\":\"video\",\"media\":{\"url\":\"https://x/v\"}}",
	    "sendVideo", "{\"chat_id\":\"5\",\"video\":\"https://x/v\"}");
	expect_body("{\"to\":\"5\",\"type\":\"audio\",\"media\":{\"url\":\"https://x/a\"}}",
	    "sendAudio", "{\"chat_id\":\"5\",\"audio\":\"https://x/a\"}");
	expect_body("{\"to\":\"5\",\"type\":\"sticker\",\"text\":\"dropped\",\"media\":{\"id\":\"S\"}}",
	    "sendSticker", "{\"chat_id\":\"5\",\"sticker\":\"S\"}");
	expect_body("{\"to\":\"5\",\"type\":\"location\",\"location\":{\"latitude\":1.5,"
	    "\"longitude\":-2}}", "sendLocation",
	    "{\"chat_id\":\"5\",\"latitude\":1.5,\"longitude\":-2}");
	expect_body("{\"to\":\"5\",\"type\":\"location\",\"location\":{\"latitude\":1.5,"
	    "\"longitude\":-2,\"name\":\"N\",\"address\":\"A\"}}", "sendVenue",
	    "{\"chat_id\":\"5\",\"latitude\":1.5,\"longitude\":-2,\"title\":\"N\",\"address\":\"A\"}");
	expect_body("{\"to\":\"5\",\"type\":\"reaction\",\"reaction\":{\"emoji\":\"\xf0\x9f\x91\x8d\","
	    "\"provider_message_id\":\"5:9\",\"message_id\":1}}", "setMessageReaction",
	    "{\"chat_id\":\"5\",\"message_id\":9,\"reaction\":[{\"type\":\"emoji\","
	    "\"emoji\":\"\xf0\x9f\x91\x8d\"}]}");
	expect_body("{\"to\":\"5\",\"type\":\"reaction\",\"reaction\":{\"emoji\":\"\","
	    "\"provider_message_id\":\"5:9\"}}", "setMessageReaction",
	    "{\"chat_id\":\"5\",\"message_id\":9,\"reaction\":[]}");
	/* Buttons: WhatsApp reply buttons and list rows, a URL, the message's own. */
	expect_body("{\"to\":\"5\",\"type\":\"interactive\",\"interactive\":{\"type\":\"button\","
	    "\"body\":{\"text\":\"Pick\"},\"action\":{\"buttons\":[{\"type\":\"reply\","
	    "\"reply\":{\"id\":\"a\",\"title\":\"A\"}},{\"type\":\"reply\",\"reply\":{\"id\":\"b\","
	    "\"title\":\"B\"}}]}}}", "sendMessage",
	    "{\"chat_id\":\"5\",\"text\":\"Pick\",\"reply_markup\":{\"inline_keyboard\":"
	    "[[{\"text\":\"A\",\"callback_data\":\"a\"},{\"text\":\"B\",\"callback_data\":\"b\"}]]}}");
	expect_body("{\"to\":\"5\",\"type\":\"interactive\",\"interactive\":{\"type\":\"list\","
	    "\"body\":{\"text\":\"L\"},\"action\":{\"button\":\"Open\",\"sections\":[{\"title\":\"s\","
	    "\"rows\":[{\"id\":\"r1\",\"title\":\"One\"},{\"id\":\"r2\",\"title\":\"Two\"}]}]}}}",
	    "sendMessage", "{\"chat_id\":\"5\",\"text\":\"L\",\"reply_markup\":{\"inline_keyboard\":"
	    "[[{\"text\":\"One\",\"callback_data\":\"r1\"}],[{\"text\":\"Two\",\"callback_data\":\"r2\"}]]}}");
	expect_body("{\"to\":\"5\",\"type\":\"interactive\",\"interactive\":{\"type\":\"cta_url\","
	    "\"body\":{\"text\":\"Go\"},\"action\":{\"name\":\"cta_url\",\"parameters\":"
	    "{\"display_text\":\"Site\",\"url\":\"https://e.x\"}}}}", "sendMessage",
	    "{\"chat_id\":\"5\",\"text\":\"Go\",\"reply_markup\":{\"inline_keyboard\":"
	    "[[{\"text\":\"Site\",\"url\":\"https://e.x\"}]]}}");
	expect_body("{\"to\":\"@mychannel\",\"text\":\"x\",\"buttons\":[{\"text\":\"A\",\"payload\":\"a\"},"
	    "[{\"title\":\"B\",\"id\":\"b\"},{\"text\":\"W\",\"url\":\"https://w\"}]]}", "sendMessage",
	    "{\"chat_id\":\"@mychannel\",\"text\":\"x\",\"reply_markup\":{\"inline_keyboard\":"
	    "[[{\"text\":\"A\",\"callback_data\":\"a\"}],[{\"text\":\"B\",\"callback_data\":\"b\"},"
	    "{\"text\":\"W\",\"url\":\"https://w\"}]]}}");

	/* Captions: at most 1024 characters (not bytes). */
	char caption[1100 * 2 + 200];
	strcpy(caption, "{\"to\":\"5\",\"type\":\"image\",\"media\":{\"id\":\"P\",\"caption\":\"");
	for (int i = 0; i < 1024; i++)
		strcat(caption, "\xc3\xa9");
	strcat(caption, "\"}}");
	json_t *m = json_loads(caption, 0, NULL);
	struct channel_error err = { 0 };
	const char *method = NULL;
	json_t *body = tg_send_body(m, &method, &err);
	assert_non_null(body);
	assert_string_equal(method, "sendPhoto");
	json_decref(body);
	json_decref(m);
	strcpy(caption + strlen(caption) - 3, "\xc3\xa9\"}}");
	expect_refused(caption, "media.caption");
}

static void
test_bodies_refused(void **state)
{
	char text[4200 * 3 + 100];
	strcpy(text, "{\"to\":\"5\",\"text\":\"");
	for (int i = 0; i < 4097; i++)
		strcat(text, "\xe2\x82\xac");
	strcat(text, "\"}");
	expect_refused(text, "text");
	expect_refused("{\"to\":\"5\",\"type\":\"template\",\"template\":{\"name\":\"x\"}}", "type");
	expect_refused("{\"to\":\"5\",\"type\":\"contacts\",\"contacts\":[{}]}", "type");
	expect_refused("{\"to\":\"+5\",\"text\":\"x\"}", "to");
	expect_refused("{\"to\":\"05\",\"text\":\"x\"}", "to");
	expect_refused("{\"to\":\"abc\",\"text\":\"x\"}", "to");
	expect_refused("{\"text\":\"x\"}", "to");
	expect_refused("{\"to\":\"5\",\"text\":\"\"}", "text");
	expect_refused("{\"to\":\"5\",\"type\":\"image\"}", "media");
	expect_refused("{\"to\":\"5\",\"type\":\"image\",\"media\":{}}", "media.url");
	expect_refused("{\"to\":\"5\",\"type\":\"location\",\"location\":{\"latitude\":91,"
	    "\"longitude\":0}}", "location");
	expect_refused("{\"to\":\"5\",\"type\":\"reaction\",\"reaction\":{\"emoji\":\"x\","
	    "\"provider_message_id\":\"wamid.X\"}}", "reaction.message_id");
	expect_refused("{\"to\":\"5\",\"type\":\"interactive\",\"interactive\":{\"type\":\"button\","
	    "\"body\":{\"text\":\"b\"},\"action\":{\"buttons\":[{\"reply\":{\"id\":\""
	    "0123456789012345678901234567890123456789012345678901234567890123456789\","
	    "\"title\":\"long id\"}}]}}}", "interactive");
	expect_refused("{\"to\":\"5\",\"type\":\"interactive\",\"interactive\":{\"type\":\"flow\","
	    "\"body\":{\"text\":\"b\"},\"action\":{}}}", "interactive");
	expect_refused("{\"to\":\"5\",\"type\":\"interactive\",\"interactive\":{\"type\":\"button\","
	    "\"action\":{\"buttons\":[]}}}", "text");
	expect_refused("{\"to\":\"5\",\"text\":\"x\",\"buttons\":{}}", "buttons");
	expect_refused("{\"to\":\"5\",\"text\":\"x\",\"reply_markup\":\"{}\"}", "reply_markup");
}

/* send_prepare: the URL carries the token; check_prepare: getMe. */
static void
test_prepare(void **state)
{
	struct channel *ch = open_channel("{\"bot_token\":\"" TOKEN "\",\"webhook_secret\":\"s\","
	    "\"api_base_url\":\"http://127.0.0.1:9/\"}");
	json_t *msg = json_loads("{\"to\":\"12345\",\"text\":\"hi\"}", 0, NULL);
	struct send_request req;
	struct channel_error err = { 0 };

	assert_int_equal(telegram_ops.send_prepare(ch, msg, &req, &err), 0);
	assert_string_equal(req.method, "POST");
	assert_string_equal(req.url, "http://127.0.0.1:9/bot" TOKEN "/sendMessage");
	assert_string_equal(req.headers[0], "Content-Type: application/json");
	json_t *body = json_loads(req.body, 0, NULL);
	assert_json(body, "{\"chat_id\":\"12345\",\"text\":\"hi\"}");
	json_decref(body);
	send_request_free(&req);
	json_decref(msg);

	msg = json_loads("{\"to\":\"12345\",\"type\":\"template\"}", 0, NULL);
	assert_int_equal(telegram_ops.send_prepare(ch, msg, &req, &err), -1);
	assert_null(req.url);
	json_decref(msg);

	assert_int_equal(telegram_ops.check_prepare(ch, &req), 0);
	assert_string_equal(req.url, "http://127.0.0.1:9/bot" TOKEN "/getMe");
	send_request_free(&req);
	channel_free(ch);
}

/* Answers */

struct err_row {
	const char *file;       /* errors/<file>.response.{json,txt} */
	enum send_outcome_kind kind;
	int64_t code, retry_ms;
};

static const struct err_row err_rows[] = {
	{ "400", SEND_PERMFAIL, 400, 0 },
	{ "403_blocked", SEND_RECIPIENT_BLOCKED, 403, 0 },
	{ "409_conflict_getUpdates", SEND_CREDENTIALS, 409, 0 },
	{ "429", SEND_THROTTLED, 429, 30000 },
};

static void
classify(long status, const char *body, struct send_outcome *out)
{
	struct send_response r = { .http_status = status, .body = body,
	    .body_len = body ? strlen(body) : 0, .net_error = status ? NULL : "timed out" };
	tg_classify(&r, NULL, out);
}

static void
test_error_files(void **state)
{
	size_t n, seen = 0;
	const char *name;

	for (size_t i = 0; i < ARRAY_LEN(err_rows); i++) {
		char rel[256];
		size_t len, tlen;
		struct send_outcome out;
		long status = 0;

		snprintf(rel, sizeof(rel), "errors/%s.response.txt", err_rows[i].file);
		char *head = corpus_load("telegram", rel, &tlen);
		assert_int_equal(sscanf(head, "HTTP/1.1 %ld", &status), 1);
		snprintf(rel, sizeof(rel), "errors/%s.response.json", err_rows[i].file);
		char *body = corpus_load("telegram", rel, &len);
		struct send_response r = { .http_status = status, .body = body, .body_len = len };
		tg_classify(&r, NULL, &out);
		assert_int_equal(out.kind, err_rows[i].kind);
		assert_int_equal(out.error_code, err_rows[i].code);
		assert_int_equal(out.retry_after_ms, err_rows[i].retry_ms);
		assert_null(out.provider_message_id);
		assert_true(out.error_title[0] != '\0');
		free(head);
		free(body);
	}
	/* Every error file has a row. */
	DIR *d = corpus_opendir("telegram", "errors");
	while ((name = corpus_next(d, ".response.json", &n)) != NULL) {
		bool found = false;
		for (size_t i = 0; i < ARRAY_LEN(err_rows); i++)
			found |= strlen(err_rows[i].file) == n && strncmp(err_rows[i].file, name, n) == 0;
		if (!found)
			fail_msg("no row for errors/%s", name);
		seen++;
	}
	closedir(d);
	assert_int_equal(seen, ARRAY_LEN(err_rows));
}

static void
test_classify(void **state)
{
	struct send_outcome o;
	size_t len;
	char *golden = corpus_load("telegram", "outbound/sendMessage.response.json", &len);

	classify(200, "{\"ok\":true,\"result\":{\"message_id\":133,\"chat\":{\"id\":-1005,"
	    "\"type\":\"group\"},\"date\":1}}", &o);
	assert_int_equal(o.kind, SEND_OK);
	assert_string_equal(o.provider_message_id, "-1005:133");
	free(o.provider_message_id);
	/* The corpus answer has no chat: sent, without a provider id when
	 * the message's chat is unknown, with it when the message names it. */
	classify(200, golden, &o);
	assert_int_equal(o.kind, SEND_OK);
	assert_null(o.provider_message_id);
	struct send_response gr = { .http_status = 200, .body = golden, .body_len = len };
	tg_classify(&gr, "4242", &o);
	assert_int_equal(o.kind, SEND_OK);
	assert_string_equal(o.provider_message_id, "4242:133");
	free(o.provider_message_id);
	free(golden);
	classify(200, "{\"ok\":true,\"result\":true}", &o);
	assert_int_equal(o.kind, SEND_OK);
	assert_null(o.provider_message_id);

	static const struct {
		long status;
		const char *body;
		enum send_outcome_kind kind;
	} cases[] = {
		{ 403, "{\"ok\":false,\"error_code\":403,\"description\":\"Forbidden: user is deactivated\"}",
		  SEND_RECIPIENT_BLOCKED },
		{ 403, "{\"ok\":false,\"error_code\":403,\"description\":\"Forbidden: bot was kicked from "
		  "the group chat\"}", SEND_RECIPIENT_BLOCKED },
		{ 403, "{\"ok\":false,\"error_code\":403,\"description\":\"Forbidden: not enough rights\"}",
		  SEND_PERMFAIL },
		{ 400, "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: chat not found\"}",
		  SEND_RECIPIENT_INVALID },
		{ 400, "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: message text is "
		  "empty\"}", SEND_PERMFAIL },
		{ 401, "{\"ok\":false,\"error_code\":401,\"description\":\"Unauthorized\"}",
		  SEND_CREDENTIALS },
		{ 404, "{\"ok\":false,\"error_code\":404,\"description\":\"Not Found\"}", SEND_CREDENTIALS },
		{ 500, "{\"ok\":false,\"error_code\":500,\"description\":\"Internal Server Error\"}",
		  SEND_TEMPFAIL },
		{ 502, "<html>Bad Gateway</html>", SEND_TEMPFAIL },
		{ 200, "not json", SEND_TEMPFAIL },
		{ 200, "[1]", SEND_TEMPFAIL },
		{ 200, NULL, SEND_TEMPFAIL },
		{ 0, NULL, SEND_TEMPFAIL },
		/* The error_code decides over the HTTP status. */
		{ 200, "{\"ok\":false,\"error_code\":403,\"description\":\"Forbidden: bot was blocked by "
		  "the user\"}", SEND_RECIPIENT_BLOCKED },
		{ 400, "{\"ok\":false,\"description\":\"Bad Request: chat not found\"}",
		  SEND_RECIPIENT_INVALID },
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		classify(cases[i].status, cases[i].body, &o);
		if (o.kind != cases[i].kind)
			fail_msg("case %zu: %s, want %s", i, send_outcome_name(o.kind),
			    send_outcome_name(cases[i].kind));
		assert_null(o.provider_message_id);
		assert_true(o.error_title[0] != '\0');
	}
	/* 409 says what it is; a migrated group says where to go. */
	classify(409, "{\"ok\":false,\"error_code\":409,\"description\":\"Conflict: x\"}", &o);
	assert_non_null(strstr(o.error_title, "configuration"));
	classify(400, "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: group chat was "
	    "upgraded to a supergroup chat\",\"parameters\":{\"migrate_to_chat_id\":-1009}}", &o);
	assert_int_equal(o.kind, SEND_PERMFAIL);
	assert_non_null(strstr(o.error_detail, "-1009"));
	/* retry_after capped at a day. */
	classify(429, "{\"ok\":false,\"error_code\":429,\"description\":\"Too Many Requests\","
	    "\"parameters\":{\"retry_after\":99999999}}", &o);
	assert_int_equal(o.retry_after_ms, 86400LL * 1000);
}

static void
test_check(void **state)
{
	struct check_result c;
	struct send_response r = { .http_status = 200,
	    .body = "{\"ok\":true,\"result\":{\"id\":123456,\"is_bot\":true,\"username\":\"msgd_bot\"}}" };

	r.body_len = strlen(r.body);
	tg_check_classify(&r, &c);
	assert_int_equal(c.state, CHECK_OK);
	assert_string_equal(c.message, "@msgd_bot");
	r = (struct send_response){ .http_status = 401,
	    .body = "{\"ok\":false,\"error_code\":401,\"description\":\"Unauthorized\"}" };
	r.body_len = strlen(r.body);
	tg_check_classify(&r, &c);
	assert_int_equal(c.state, CHECK_INVALID_CREDENTIALS);
	assert_int_equal(c.error_code, 401);
	r = (struct send_response){ .http_status = 0, .net_error = "refused" };
	tg_check_classify(&r, &c);
	assert_int_equal(c.state, CHECK_UNREACHABLE);
	r = (struct send_response){ .http_status = 503, .body = "x", .body_len = 1 };
	tg_check_classify(&r, &c);
	assert_int_equal(c.state, CHECK_UNREACHABLE);
}

static void
test_addresses(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "12345", "12345" }, { "-1001000000001", "-1001000000001" }, { "0", "0" },
		{ "@my_channel", "@my_channel" }, { "+12345", NULL }, { "012", NULL }, { "-0", NULL },
		{ "-", NULL }, { "", NULL }, { "12a", NULL }, { "@abc", NULL }, { "@a-bcdef", NULL },
		{ "12345678901234567890", NULL }, { " 12", NULL },
	};
	char out[TG_ID_MAX + 1];

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		int rc = tg_address_normalize(cases[i].in, strlen(cases[i].in), out, sizeof(out));
		if (cases[i].out == NULL) {
			if (rc != -1)
				fail_msg("accepted '%s'", cases[i].in);
		} else {
			assert_int_equal(rc, 0);
			assert_string_equal(out, cases[i].out);
		}
	}
	assert_true(tg_is_group("-100"));
	assert_true(tg_is_group("@chan"));
	assert_false(tg_is_group("100"));
}

int
main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_bodies),
		cmocka_unit_test(test_bodies),
		cmocka_unit_test(test_bodies_refused),
		cmocka_unit_test(test_prepare),
		cmocka_unit_test(test_error_files),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_addresses),
	};
	return cmocka_run_group_tests_name("telegram_outbound", tests, NULL, NULL);
}
