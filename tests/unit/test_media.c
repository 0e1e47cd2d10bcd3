/*
 * test_media.c - media both ways (issue 14): each adapter's media slots
 * (channel.h: the fetch steps and their answers, the upload), the
 * fetcher's base64 decoder and backoff (src/media/).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "channels/channel.h"
#include "channels/evolution.h"
#include "channels/telegram.h"
#include "channels/whatsapp_cloud.h"
#include "media/media.h"
#include "util/util.h"

static const char *
header_value(const struct send_request *r, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < r->nheaders; i++)
		if (strncasecmp(r->headers[i], name, n) == 0 && r->headers[i][n] == ':')
			return r->headers[i] + n + 2;
	return NULL;
}

static struct channel *
open_ch(const struct channel_ops *ops, json_t *cfg)
{
	struct channel_error err = { 0 };
	struct channel *ch;

	if (ops->validate(cfg, &err) != 0)
		fail_msg("config refused: %s %s", err.field, err.message);
	ch = channel_new(5, "m", ops, cfg, 1, 1);
	json_decref(cfg);
	assert_int_equal(ch->ops->open(ch), 0);
	return ch;
}

static void
close_ch(struct channel *ch)
{
	ch->ops->close(ch);
	channel_free(ch);
}

static struct send_response
answer(long status, const char *body)
{
	return (struct send_response){ .http_status = status, .body = body, .body_len = strlen(body) };
}

/* --- WhatsApp Cloud --- */

static struct channel *
wa(void)
{
	return open_ch(&whatsapp_cloud_ops, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "phone_number_id", "PN1",
	    "access_token", "TOKEN1", "app_secret", "s", "verify_token", "v", "api_base_url",
	    "http://127.0.0.1:9/graph/", "api_version", "v21.0"));
}

static void
test_wa_fetch_steps(void **state)
{
	struct channel *ch = wa();
	struct channel_error err = { 0 };
	struct media_step st;
	json_t *src = json_pack("{s:s}", "id", "1234567890");
	json_t *st2 = json_pack("{s:s,s:s}", "url", "https://lookaside.fbsbx.com/x?a=1", "mime_type", "image/jpeg");

	assert_int_equal(ch->ops->media_fetch_prepare(ch, src, NULL, &st, &err), 0);
	assert_int_equal(st.kind, MEDIA_STEP_REQUEST);
	assert_string_equal(st.req.method, "GET");
	assert_string_equal(st.req.url, "http://127.0.0.1:9/graph/v21.0/1234567890");
	assert_string_equal(header_value(&st.req, "Authorization"), "Bearer TOKEN1");
	send_request_free(&st.req);

	assert_int_equal(ch->ops->media_fetch_prepare(ch, src, st2, &st, &err), 0);
	assert_int_equal(st.kind, MEDIA_STEP_DOWNLOAD);
	assert_string_equal(st.req.url, "https://lookaside.fbsbx.com/x?a=1");
	assert_string_equal(header_value(&st.req, "Authorization"), "Bearer TOKEN1");
	assert_string_equal(st.mime_type, "image/jpeg");
	send_request_free(&st.req);

	/* A download URL elsewhere (a state kept from before) is never fetched. */
	json_t *st3 = json_pack("{s:s}", "url", "http://127.0.0.1:10/graph/x");
	assert_int_equal(ch->ops->media_fetch_prepare(ch, src, st3, &st, &err), -1);
	assert_null(st.req.url);
	assert_string_equal(err.field, "media.url");
	json_decref(st3);

	/* A media id that would change the path is never requested. */
	json_t *bad = json_pack("{s:s}", "id", "../PN1/messages");
	assert_int_equal(ch->ops->media_fetch_prepare(ch, bad, NULL, &st, &err), -1);
	assert_null(st.req.url);
	json_decref(bad);
	json_decref(src);
	json_decref(st2);
	close_ch(ch);
}

static void
test_wa_fetch_answers(void **state)
{
	struct channel *ch = wa();
	struct media_answer a;
	struct send_response r;

	r = answer(200, "{\"url\":\"https://lookaside.fbsbx.com/y\",\"mime_type\":\"image/png\",\"sha256\":\"x\","
	    "\"file_size\":10,\"id\":\"1\",\"messaging_product\":\"whatsapp\"}");
	ch->ops->media_fetch_parse(ch, NULL, NULL, &r, &a);
	assert_int_equal(a.verdict, MEDIA_NEXT);
	assert_string_equal(json_string_value(json_object_get(a.state, "url")), "https://lookaside.fbsbx.com/y");
	assert_string_equal(json_string_value(json_object_get(a.state, "mime_type")), "image/png");
	json_decref(a.state);

	r = answer(200, "{\"url\":\"file:///etc/passwd\"}");
	ch->ops->media_fetch_parse(ch, NULL, NULL, &r, &a);
	assert_int_equal(a.verdict, MEDIA_TEMPFAIL);
	assert_null(a.state);
	r = answer(200, "{\"url\":\"https://a.example/x y\\r\\nHost: evil\"}");  /* fuzz_media found it */
	ch->ops->media_fetch_parse(ch, NULL, NULL, &r, &a);
	assert_int_equal(a.verdict, MEDIA_TEMPFAIL);
	assert_null(a.state);

	r = answer(400, "{\"error\":{\"message\":\"Unsupported get request\",\"code\":100}}");
	ch->ops->media_fetch_parse(ch, NULL, NULL, &r, &a);
	assert_int_equal(a.verdict, MEDIA_PERMFAIL);
	assert_non_null(strstr(a.error, "Unsupported get request"));

	r = answer(401, "{\"error\":{\"message\":\"Invalid OAuth access token\",\"code\":190}}");
	ch->ops->media_fetch_parse(ch, NULL, NULL, &r, &a);
	assert_int_equal(a.verdict, MEDIA_TEMPFAIL);

	r = answer(503, "<html>down</html>");
	ch->ops->media_fetch_parse(ch, NULL, NULL, &r, &a);
	assert_int_equal(a.verdict, MEDIA_TEMPFAIL);
	assert_string_equal(a.error, "HTTP 503 from the media request");

	r = (struct send_response){ .http_status = 0, .body = "", .net_error = "Connection refused" };
	ch->ops->media_fetch_parse(ch, NULL, NULL, &r, &a);
	assert_int_equal(a.verdict, MEDIA_TEMPFAIL);
	assert_string_equal(a.error, "network: Connection refused");
	/* The token never shows in an error. */
	assert_null(strstr(a.error, "TOKEN1"));
	close_ch(ch);
}

/* The download URL is followed (with the token) only on the api_base_url's
 * origin or over https on a Meta media host; anything else fails for good. */
static void
test_wa_download_origin(void **state)
{
	static const struct { const char *url; bool ok; } cases[] = {
		{ "http://127.0.0.1:9/download/1", true },            /* api_base_url's origin */
		{ "http://127.0.0.1:9/other?x=1", true },
		{ "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1", true },
		{ "https://LOOKASIDE.FBSBX.COM/x", true },
		{ "https://scontent.xx.fbcdn.net/v/t1", true },
		{ "https://mmg.whatsapp.net/d/f/x.enc", true },
		{ "https://media.fbsbx.com/x", true },
		{ "https://www.facebook.com/x", true },
		{ "http://lookaside.fbsbx.com/x", false },             /* plain http */
		{ "https://lookaside.fbsbx.com:8443/x", false },       /* another port */
		{ "https://lookaside.fbsbx.com@evil.example/x", false }, /* user info */
		{ "https://evilfbsbx.com/x", false },
		{ "https://fbsbx.com.evil.example/x", false },
		{ "https://evil.example/x", false },
		{ "http://127.0.0.1:10/download/1", false },           /* another port */
		{ "https://127.0.0.1:9/download/1", false },           /* another scheme */
		{ "http://localhost:9/download/1", false },            /* another host */
		{ "http://169.254.169.254/latest/meta-data/", false },
	};
	struct channel *ch = wa();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct media_answer a;
		char body[512];
		snprintf(body, sizeof(body), "{\"url\":\"%s\",\"mime_type\":\"image/png\"}", cases[i].url);
		struct send_response r = answer(200, body);
		ch->ops->media_fetch_parse(ch, NULL, NULL, &r, &a);
		if (cases[i].ok) {
			if (a.verdict != MEDIA_NEXT)
				fail_msg("%s refused: %s", cases[i].url, a.error);
			json_decref(a.state);
		} else {
			if (a.verdict != MEDIA_PERMFAIL)
				fail_msg("%s not refused (%d)", cases[i].url, (int)a.verdict);
			assert_null(a.state);
			assert_non_null(strstr(a.error, "Meta media host"));
			assert_null(strstr(a.error, "TOKEN1"));
		}
	}
	close_ch(ch);
}

static void
test_wa_upload(void **state)
{
	struct channel *ch = wa();
	struct channel_error err = { 0 };
	struct send_request req;
	struct send_outcome out;
	char id[64];
	json_t *msg = json_pack("{s:s,s:{s:s,s:s,s:s,s:s}}", "type", "image", "media", "file_id", "f_x",
	    "sha256", "ab", "mime_type", "image/png", "path", "/data/files/ab/cd");

	assert_int_equal(ch->ops->media_upload_prepare(ch, msg, &req, &err), 1);
	assert_string_equal(req.method, "POST");
	assert_string_equal(req.url, "http://127.0.0.1:9/graph/v21.0/PN1/media");
	assert_string_equal(header_value(&req, "Authorization"), "Bearer TOKEN1");
	assert_int_equal(req.nparts, 3);
	assert_string_equal(req.parts[0].name, "messaging_product");
	assert_string_equal(req.parts[0].value, "whatsapp");
	assert_string_equal(req.parts[1].name, "type");
	assert_string_equal(req.parts[1].value, "image/png");
	assert_string_equal(req.parts[2].name, "file");
	assert_string_equal(req.parts[2].path, "/data/files/ab/cd");
	assert_null(req.parts[2].value);
	assert_string_equal(req.parts[2].type, "image/png");
	send_request_free(&req);

	/* Uploaded already (the outbox set the id): nothing to do; the send names the id. */
	json_object_set_new(json_object_get(msg, "media"), "provider_media_id", json_string("77"));
	assert_int_equal(ch->ops->media_upload_prepare(ch, msg, &req, &err), 0);
	json_t *sendmsg = json_pack("{s:s,s:s,s:O}", "to", "1555", "type", "image", "media",
	    json_object_get(msg, "media"));
	assert_int_equal(ch->ops->send_prepare(ch, sendmsg, &req, &err), 0);
	assert_non_null(strstr(req.body, "\"image\":{\"id\":\"77\"}"));
	send_request_free(&req);
	json_decref(sendmsg);
	/* A link or a media id of the caller's: no upload. */
	json_t *link = json_pack("{s:s,s:{s:s}}", "type", "image", "media", "url", "https://x/y.png");
	assert_int_equal(ch->ops->media_upload_prepare(ch, link, &req, &err), 0);
	json_decref(link);

	struct send_response r = answer(200, "{\"id\":\"1037543291543636\"}");
	assert_int_equal(ch->ops->media_upload_parse(ch, &r, id, sizeof(id), &out), 0);
	assert_string_equal(id, "1037543291543636");
	r = answer(400, "{\"error\":{\"message\":\"(#100) Param file must be a file\",\"code\":100}}");
	assert_int_equal(ch->ops->media_upload_parse(ch, &r, id, sizeof(id), &out), -1);
	assert_int_equal(out.kind, SEND_PERMFAIL);
	r = answer(500, "{\"error\":{\"message\":\"unexpected\",\"code\":2,\"is_transient\":true}}");
	assert_int_equal(ch->ops->media_upload_parse(ch, &r, id, sizeof(id), &out), -1);
	assert_int_equal(out.kind, SEND_TEMPFAIL);
	r = answer(200, "{}");
	assert_int_equal(ch->ops->media_upload_parse(ch, &r, id, sizeof(id), &out), -1);
	assert_int_equal(out.kind, SEND_TEMPFAIL);
	json_decref(msg);
	close_ch(ch);
}

/* --- Telegram --- */

static struct channel *
tg(void)
{
	return open_ch(&telegram_ops, json_pack("{s:s,s:s,s:s}", "bot_token", "123456:ABC-def_ghi",
	    "api_base_url", "http://127.0.0.1:9/tg/", "webhook_secret", "s3cret"));
}

static void
test_tg_fetch(void **state)
{
	struct channel *ch = tg();
	struct channel_error err = { 0 };
	struct media_step st;
	struct media_answer a;
	struct send_response r;
	json_t *src = json_pack("{s:s}", "file_id", "AgACAgQAAxkBAAIB-_x");

	assert_int_equal(ch->ops->media_fetch_prepare(ch, src, NULL, &st, &err), 0);
	assert_int_equal(st.kind, MEDIA_STEP_REQUEST);
	assert_string_equal(st.req.url, "http://127.0.0.1:9/tg/bot123456:ABC-def_ghi/getFile?file_id=AgACAgQAAxkBAAIB-_x");
	send_request_free(&st.req);

	r = answer(200, "{\"ok\":true,\"result\":{\"file_id\":\"x\",\"file_unique_id\":\"u\",\"file_size\":9,"
	    "\"file_path\":\"photos/file_3.jpg\"}}");
	ch->ops->media_fetch_parse(ch, src, NULL, &r, &a);
	assert_int_equal(a.verdict, MEDIA_NEXT);
	assert_int_equal(ch->ops->media_fetch_prepare(ch, src, a.state, &st, &err), 0);
	assert_int_equal(st.kind, MEDIA_STEP_DOWNLOAD);
	assert_string_equal(st.req.url, "http://127.0.0.1:9/tg/file/bot123456:ABC-def_ghi/photos/file_3.jpg");
	send_request_free(&st.req);
	json_decref(a.state);

	/* A path out of the bot's folder, or an id with a '&': refused. */
	json_t *evil = json_pack("{s:s}", "file_path", "../../etc/passwd");
	assert_int_equal(ch->ops->media_fetch_prepare(ch, src, evil, &st, &err), -1);
	json_decref(evil);
	json_t *bad = json_pack("{s:s}", "file_id", "a&chat_id=1");
	assert_int_equal(ch->ops->media_fetch_prepare(ch, bad, NULL, &st, &err), -1);
	json_decref(bad);
	r = answer(200, "{\"ok\":true,\"result\":{\"file_path\":\"/abs/x\"}}");
	ch->ops->media_fetch_parse(ch, src, NULL, &r, &a);
	assert_int_equal(a.verdict, MEDIA_PERMFAIL);

	r = answer(400, "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: file is too big\"}");
	ch->ops->media_fetch_parse(ch, src, NULL, &r, &a);
	assert_int_equal(a.verdict, MEDIA_PERMFAIL);
	assert_string_equal(a.error, "Bad Request: file is too big");
	r = answer(429, "{\"ok\":false,\"error_code\":429,\"description\":\"Too Many Requests: retry after 3\"}");
	ch->ops->media_fetch_parse(ch, src, NULL, &r, &a);
	assert_int_equal(a.verdict, MEDIA_TEMPFAIL);
	r = answer(502, "Bad Gateway");
	ch->ops->media_fetch_parse(ch, src, NULL, &r, &a);
	assert_int_equal(a.verdict, MEDIA_TEMPFAIL);
	assert_null(strstr(a.error, "ABC-def"));
	json_decref(src);
	close_ch(ch);
}

static void
test_tg_multipart_send(void **state)
{
	struct channel *ch = tg();
	struct channel_error err = { 0 };
	struct send_request req;
	json_t *msg = json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s,s:s}}", "to", "4242", "type", "image",
	    "text", "hi", "media", "file_id", "f_x", "sha256", "ab", "mime_type", "image/png",
	    "filename", "p.png", "path", "/d/files/ab/cd");

	assert_int_equal(ch->ops->send_prepare(ch, msg, &req, &err), 0);
	assert_string_equal(req.url, "http://127.0.0.1:9/tg/bot123456:ABC-def_ghi/sendPhoto");
	assert_null(req.body);
	bool chat = false, caption = false, photo = false;
	for (size_t i = 0; i < req.nparts; i++) {
		const struct send_part *p = &req.parts[i];
		if (strcmp(p->name, "chat_id") == 0)
			chat = p->value && strcmp(p->value, "4242") == 0;
		if (strcmp(p->name, "caption") == 0)
			caption = p->value && strcmp(p->value, "hi") == 0;
		if (strcmp(p->name, "photo") == 0)
			photo = p->path && strcmp(p->path, "/d/files/ab/cd") == 0 && strcmp(p->filename, "p.png") == 0;
	}
	assert_true(chat && caption && photo);
	send_request_free(&req);

	/* Telegram's file_id of it, from the accepted send's answer... */
	char id[128];
	struct send_response r = answer(200, "{\"ok\":true,\"result\":{\"message_id\":5,\"chat\":{\"id\":4242},"
	    "\"photo\":[{\"file_id\":\"AgAC-small\",\"width\":90},{\"file_id\":\"AgAC-large\",\"width\":800}]}}");
	assert_int_equal(ch->ops->media_sent_id(ch, msg, &r, id, sizeof(id)), 0);
	assert_string_equal(id, "AgAC-large");
	r = answer(200, "{\"ok\":true,\"result\":{\"message_id\":5,\"photo\":[{\"file_id\":\"a b\"}]}}");
	assert_int_equal(ch->ops->media_sent_id(ch, msg, &r, id, sizeof(id)), -1);
	r = answer(400, "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request\"}");
	assert_int_equal(ch->ops->media_sent_id(ch, msg, &r, id, sizeof(id)), -1);
	/* ... names the file in later sends: JSON, no upload. */
	json_object_set_new(json_object_get(msg, "media"), "provider_media_id", json_string("AgAC-large"));
	assert_int_equal(ch->ops->send_prepare(ch, msg, &req, &err), 0);
	assert_int_equal(req.nparts, 0);
	assert_non_null(strstr(req.body, "\"photo\":\"AgAC-large\""));
	send_request_free(&req);
	json_decref(msg);
	close_ch(ch);
}

/* --- Evolution --- */

static struct channel *
evo(void)
{
	return open_ch(&evolution_ops, json_pack("{s:s,s:s,s:s}", "api_base_url", "http://127.0.0.1:9/evo/",
	    "api_key", "KEY1", "instance", "tigo 1"));
}

static void
test_evo_fetch(void **state)
{
	struct channel *ch = evo();
	struct channel_error err = { 0 };
	struct media_step st;
	struct media_answer a;
	struct send_response r;
	json_t *data = json_pack("{s:{s:s,s:s,s:b},s:{s:{s:s},s:s}}", "key", "id", "ABC", "remoteJid",
	    "1555@s.whatsapp.net", "fromMe", 0, "message", "imageMessage", "mimetype", "image/png",
	    "base64", "aGVsbG8=");
	json_t *src = evo_media_source(data);

	assert_string_equal(json_string_value(json_object_get(src, "base64")), "aGVsbG8=");
	assert_int_equal(ch->ops->media_fetch_prepare(ch, src, NULL, &st, &err), 0);
	assert_int_equal(st.kind, MEDIA_STEP_INLINE);
	assert_int_equal(st.inline_len, 8);
	assert_memory_equal(st.inline_b64, "aGVsbG8=", 8);
	json_decref(src);

	json_object_del(json_object_get(data, "message"), "base64");
	src = evo_media_source(data);
	assert_null(json_object_get(src, "base64"));
	assert_int_equal(ch->ops->media_fetch_prepare(ch, src, NULL, &st, &err), 0);
	assert_int_equal(st.kind, MEDIA_STEP_REQUEST);
	assert_string_equal(st.req.method, "POST");
	assert_string_equal(st.req.url, "http://127.0.0.1:9/evo/chat/getBase64FromMediaMessage/tigo%201");
	assert_string_equal(header_value(&st.req, "apikey"), "KEY1");
	assert_int_equal(st.req.resp_max, EVO_MEDIA_B64_MAX);
	assert_non_null(strstr(st.req.body, "\"id\":\"ABC\""));
	send_request_free(&st.req);

	r = answer(201, "{\"mediaType\":\"imageMessage\",\"mimetype\":\"image/png\",\"base64\":\"aGk=\"}");
	ch->ops->media_fetch_parse(ch, src, NULL, &r, &a);
	assert_int_equal(a.verdict, MEDIA_NEXT);
	assert_int_equal(ch->ops->media_fetch_prepare(ch, src, a.state, &st, &err), 0);
	assert_int_equal(st.kind, MEDIA_STEP_INLINE);
	assert_string_equal(st.mime_type, "image/png");
	json_decref(a.state);
	r = answer(400, "{\"status\":400,\"error\":\"Bad Request\",\"response\":{\"message\":[\"Message not found\"]}}");
	ch->ops->media_fetch_parse(ch, src, NULL, &r, &a);
	assert_int_equal(a.verdict, MEDIA_PERMFAIL);
	r = answer(500, "{}");
	ch->ops->media_fetch_parse(ch, src, NULL, &r, &a);
	assert_int_equal(a.verdict, MEDIA_TEMPFAIL);
	r = answer(200, "{\"base64\":\"\"}");
	ch->ops->media_fetch_parse(ch, src, NULL, &r, &a);
	assert_int_equal(a.verdict, MEDIA_TEMPFAIL);
	json_decref(src);
	json_decref(data);
	close_ch(ch);
}

/* --- what each adapter's normalization keeps to fetch (msg_in.media_source) --- */

static int64_t
resolve_any(void *ctx, const char *pnid)
{
	return 9;
}

static void
test_sources(void **state)
{
	struct ingest_batch b = { 0 };
	struct channel_error err = { 0 };
	json_t *wa_body = json_loads("{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"1\","
	    "\"changes\":[{\"field\":\"messages\",\"value\":{\"messaging_product\":\"whatsapp\","
	    "\"metadata\":{\"phone_number_id\":\"PN1\"},\"messages\":[{\"from\":\"1555\",\"id\":\"wamid.A\","
	    "\"timestamp\":\"1700000000\",\"type\":\"document\",\"document\":{\"id\":\"99887766\","
	    "\"mime_type\":\"application/pdf\",\"filename\":\"r.pdf\"}},{\"from\":\"1555\",\"id\":\"wamid.B\","
	    "\"timestamp\":\"1700000000\",\"type\":\"text\",\"text\":{\"body\":\"hi\"}}]}}]}]}", 0, NULL);

	assert_int_equal(whatsapp_cloud_normalize(wa_body, resolve_any, NULL, &b, &err), 0);
	assert_int_equal(b.nmsgs, 2);
	assert_string_equal(json_string_value(json_object_get(b.msgs[0].media_source, "id")), "99887766");
	assert_string_equal(json_string_value(json_object_get(b.msgs[0].media_source, "filename")), "r.pdf");
	assert_null(b.msgs[1].media_source);  /* text: nothing to fetch */
	ingest_batch_free(&b);
	json_decref(wa_body);

	json_t *upd = json_loads("{\"update_id\":5,\"message\":{\"message_id\":3,\"date\":1700000000,"
	    "\"chat\":{\"id\":42,\"type\":\"private\"},\"from\":{\"id\":42,\"is_bot\":false,\"first_name\":\"A\"},"
	    "\"photo\":[{\"file_id\":\"small\",\"file_unique_id\":\"s\",\"width\":90,\"height\":90},"
	    "{\"file_id\":\"large\",\"file_unique_id\":\"l\",\"width\":900,\"height\":900}]}}", 0, NULL);
	assert_int_equal(tg_normalize_update(upd, 9, "bot", &b, &err), 0);
	assert_int_equal(b.nmsgs, 1);
	assert_string_equal(json_string_value(json_object_get(b.msgs[0].media_source, "file_id")), "large");
	ingest_batch_free(&b);
	json_decref(upd);

	json_t *evo_body = json_loads("{\"event\":\"messages.upsert\",\"instance\":\"tigo1\",\"data\":{"
	    "\"key\":{\"remoteJid\":\"1555@s.whatsapp.net\",\"fromMe\":false,\"id\":\"K1\"},"
	    "\"message\":{\"imageMessage\":{\"mimetype\":\"image/png\"},\"base64\":\"aGVsbG8=\"},"
	    "\"messageType\":\"imageMessage\",\"messageTimestamp\":1700000000}}", 0, NULL);
	evo_normalize(evo_body, 9, &b);
	assert_int_equal(b.nmsgs, 1);
	assert_string_equal(json_string_value(json_object_get(b.msgs[0].media_source, "base64")), "aGVsbG8=");
	assert_null(strstr(b.msgs[0].raw, "aGVsbG8="));  /* never kept in the message */
	ingest_batch_free(&b);
	json_decref(evo_body);
}

/* --- the fetcher's helpers --- */

struct sink {
	char buf[200000];
	size_t n;
	int calls;
};

static int
sink_put(void *arg, const void *p, size_t n)
{
	struct sink *s = arg;
	if (s->n + n > sizeof(s->buf))
		return -1;
	memcpy(s->buf + s->n, p, n);
	s->n += n;
	s->calls++;
	return 0;
}

static void
test_b64(void **state)
{
	struct sink *s = calloc(1, sizeof(*s));
	const char *t = "aGVs\r\nbG8g d29y\tbGQ=";

	assert_int_equal(media_b64_decode(t, strlen(t), sink_put, s), 0);
	assert_int_equal(s->n, 11);
	assert_memory_equal(s->buf, "hello world", 11);
	s->n = 0;
	t = "data:image/png;base64,aGk=";
	assert_int_equal(media_b64_decode(t, strlen(t), sink_put, s), 0);
	assert_int_equal(s->n, 2);
	assert_memory_equal(s->buf, "hi", 2);
	assert_int_equal(media_b64_decode("aGk", 3, sink_put, s), -1);        /* cut short */
	assert_int_equal(media_b64_decode("a*k=", 4, sink_put, s), -1);       /* not base64 */
	assert_int_equal(media_b64_decode("", 0, sink_put, s), 0);

	/* Larger than a slice: decoded in several writes, byte-exact. */
	size_t n = 150000;
	unsigned char *raw = malloc(n);
	for (size_t i = 0; i < n; i++)
		raw[i] = (unsigned char)(i * 31 + 7);
	size_t elen = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	char *enc = malloc(elen);
	sodium_bin2base64(enc, elen, raw, n, sodium_base64_VARIANT_ORIGINAL);
	s->n = 0;
	s->calls = 0;
	assert_int_equal(media_b64_decode(enc, strlen(enc), sink_put, s), 0);
	assert_int_equal(s->n, n);
	assert_memory_equal(s->buf, raw, n);
	assert_true(s->calls > 1);
	free(enc);
	free(raw);
	free(s);
}

static void
test_backoff(void **state)
{
	assert_int_equal(media_backoff_ms(1, 10000), 10000);
	assert_int_equal(media_backoff_ms(2, 10000), 40000);
	assert_int_equal(media_backoff_ms(3, 10000), 160000);
	assert_int_equal(media_backoff_ms(40, 10000), MEDIA_BACKOFF_CAP_MS);
	/* Eight attempts with the defaults (media_retry_ms 10 s) span most of a day. */
	int64_t total = 0;
	for (int i = 1; i < 8; i++)
		total += media_backoff_ms(i, 10000);
	assert_true(total > 6LL * 3600 * 1000 && total < 24LL * 3600 * 1000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wa_fetch_steps),
		cmocka_unit_test(test_wa_fetch_answers),
		cmocka_unit_test(test_wa_download_origin),
		cmocka_unit_test(test_wa_upload),
		cmocka_unit_test(test_tg_fetch),
		cmocka_unit_test(test_tg_multipart_send),
		cmocka_unit_test(test_evo_fetch),
		cmocka_unit_test(test_sources),
		cmocka_unit_test(test_b64),
		cmocka_unit_test(test_backoff),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
