/*
 * test_evolution_outbound.c - the Evolution API adapter's other half
 * (src/channels/evolution*.c): the golden outbound bodies, every outcome
 * class, the check and connect answers, the config and the addresses.
 * The normalization of inbound events is in test_evolution.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "channels/channel.h"
#include "channels/evolution.h"
#include "util/util.h"

#include "corpus.h"
#include "evolution_fixture.h"

static const char *
header_value(const struct send_request *r, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < r->nheaders; i++)
		if (strncasecmp(r->headers[i], name, n) == 0 && r->headers[i][n] == ':')
			return r->headers[i] + n + 2;
	return NULL;
}

static void
test_outbound_golden(void **state)
{
	struct channel *ch = open_channel();
	struct channel_error err = { 0 };
	struct send_request req;
	size_t len;
	char *golden = corpus_load("evolution", "outbound/sendText.request.json", &len);
	json_t *want = parse_json(golden, len), *got;
	json_t *msg = json_pack("{s:s,s:s,s:s}", "to", "553198296801", "type", "text", "text",
	    "Ol\xc3\xa1!");

	assert_int_equal(ch->ops->send_prepare(ch, msg, &req, &err), 0);
	assert_string_equal(req.method, "POST");
	/* The request line of sendText.request.headers.txt, under the configured base. */
	assert_string_equal(req.url, "http://127.0.0.1:9/evo/message/sendText/tigo1");
	assert_string_equal(header_value(&req, "apikey"), KEY);
	assert_string_equal(header_value(&req, "Content-Type"), "application/json");
	got = parse_json(req.body, req.body_len);
	assert_int_equal(req.body_len, strlen(req.body));
	if (!json_equal(got, want))
		fail_msg("body %s differs from the golden file", req.body);
	json_decref(got);
	json_decref(want);
	free(golden);
	send_request_free(&req);

	/* A reply quotes its message by id. */
	json_object_set_new(msg, "reply_to", json_pack("{s:i,s:s}", "message_id", 4,
	    "provider_message_id", "3EB0QUOTED"));
	assert_int_equal(ch->ops->send_prepare(ch, msg, &req, &err), 0);
	got = parse_json(req.body, req.body_len);
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(got,
	    "quoted"), "key"), "id")), "3EB0QUOTED");
	json_decref(got);
	send_request_free(&req);
	json_decref(msg);

	/* Media: sendMedia with the v2 fields. */
	msg = json_pack("{s:s,s:s,s:{s:s,s:s,s:s,s:s}}", "to", "120363025246125888@g.us", "type",
	    "document", "media", "url", "https://files.example/r.pdf", "caption", "the report",
	    "filename", "r.pdf", "mime_type", "application/pdf");
	assert_int_equal(ch->ops->send_prepare(ch, msg, &req, &err), 0);
	assert_string_equal(req.url, "http://127.0.0.1:9/evo/message/sendMedia/tigo1");
	got = parse_json(req.body, req.body_len);
	want = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "number", "120363025246125888@g.us",
	    "mediatype", "document", "mimetype", "application/pdf", "caption", "the report",
	    "media", "https://files.example/r.pdf", "fileName", "r.pdf");
	if (!json_equal(got, want))
		fail_msg("media body %s", req.body);
	json_decref(got);
	json_decref(want);
	send_request_free(&req);
	json_decref(msg);

	msg = json_pack("{s:s,s:s,s:{s:f,s:f,s:s}}", "to", "15550100001", "type", "location",
	    "location", "latitude", -23.5, "longitude", -46.25, "name", "Office");
	assert_int_equal(ch->ops->send_prepare(ch, msg, &req, &err), 0);
	assert_string_equal(req.url, "http://127.0.0.1:9/evo/message/sendLocation/tigo1");
	got = parse_json(req.body, req.body_len);
	assert_string_equal(json_string_value(json_object_get(got, "address")), "");
	assert_true(json_real_value(json_object_get(got, "longitude")) == -46.25);
	json_decref(got);
	send_request_free(&req);
	json_decref(msg);

	/* What it cannot send: -1 naming the field, no request. */
	static const char *const bad[][2] = {
		{ "{\"to\":\"1555\",\"type\":\"template\",\"template\":{\"name\":\"x\"}}", "type" },
		{ "{\"to\":\"1555\",\"type\":\"image\",\"media\":{\"id\":\"123\"}}", "media.url" },
		{ "{\"to\":\"1555\",\"type\":\"text\",\"text\":\"\"}", "text" },
		{ "{\"type\":\"text\",\"text\":\"x\"}", "to" },
		{ "{\"to\":\"1555\",\"type\":\"location\",\"location\":{\"latitude\":91,\"longitude\":0}}",
		  "location.latitude" },
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		msg = parse_json(bad[i][0], strlen(bad[i][0]));
		assert_int_equal(ch->ops->send_prepare(ch, msg, &req, &err), -1);
		assert_string_equal(err.field, bad[i][1]);
		assert_null(req.url);
		json_decref(msg);
	}

	/* The connection check. */
	assert_int_equal(ch->ops->check_prepare(ch, &req), 0);
	assert_string_equal(req.method, "GET");
	assert_string_equal(req.url, "http://127.0.0.1:9/evo/instance/connectionState/tigo1");
	assert_string_equal(header_value(&req, "apikey"), KEY);
	assert_null(req.body);
	send_request_free(&req);
	channel_free(ch);
}

/* Answers */

static void
classify(long status, const char *body, const char *retry_after, struct send_outcome *out)
{
	struct send_response r = { .http_status = status, .body = body,
	    .body_len = body ? strlen(body) : 0, .retry_after = retry_after,
	    .net_error = status == 0 ? "Connection refused" : NULL };
	evo_send_classify(NULL, NULL, &r, out);
}

static void
test_outcomes(void **state)
{
	struct send_outcome o;
	size_t len;
	char *ok = corpus_load("evolution", "outbound/sendText.response.json", &len);
	char *ok1 = corpus_load("evolution", "outbound/sendText.v1.response.json", &len);

	classify(201, ok, NULL, &o);
	assert_int_equal(o.kind, SEND_OK);
	assert_string_equal(o.provider_message_id, "BAE594145F4C59B4");
	free(o.provider_message_id);
	classify(200, ok1, NULL, &o);
	assert_int_equal(o.kind, SEND_OK);
	assert_string_equal(o.provider_message_id, "BAE5B8BC84A484E3");
	free(o.provider_message_id);
	free(ok);
	free(ok1);

	classify(200, "{\"status\":\"PENDING\"}", NULL, &o);
	assert_int_equal(o.kind, SEND_OK);
	assert_null(o.provider_message_id);
	classify(200, "<html>portal</html>", NULL, &o);
	assert_int_equal(o.kind, SEND_TEMPFAIL);

	classify(400, "{\"status\":400,\"error\":\"Bad Request\",\"response\":{\"message\":["
	    "{\"exists\":false,\"jid\":\"5511999999999@s.whatsapp.net\",\"number\":\"5511999999999\"}]}}",
	    NULL, &o);
	assert_int_equal(o.kind, SEND_RECIPIENT_INVALID);
	assert_non_null(strstr(o.error_title, "not on WhatsApp"));
	assert_string_equal(o.error_detail, "5511999999999");

	classify(400, "{\"status\":400,\"error\":\"Bad Request\",\"response\":{\"message\":["
	    "\"number must be a string\"]}}", NULL, &o);
	assert_int_equal(o.kind, SEND_PERMFAIL);
	assert_string_equal(o.error_detail, "number must be a string");
	assert_int_equal(o.error_code, 400);

	classify(401, "{\"status\":401,\"error\":\"Unauthorized\",\"response\":{\"message\":\"Unauthorized\"}}",
	    NULL, &o);
	assert_int_equal(o.kind, SEND_CREDENTIALS);
	assert_null(strstr(o.error_title, KEY));
	classify(403, "{}", NULL, &o);
	assert_int_equal(o.kind, SEND_CREDENTIALS);
	classify(404, "{\"status\":404,\"error\":\"Not Found\",\"response\":{\"message\":["
	    "\"The \\\"tigo1\\\" instance does not exist\"]}}", NULL, &o);
	assert_int_equal(o.kind, SEND_CREDENTIALS);
	assert_non_null(strstr(o.error_title, "instance"));
	assert_non_null(strstr(o.error_detail, "does not exist"));

	classify(429, "", "7", &o);
	assert_int_equal(o.kind, SEND_THROTTLED);
	assert_int_equal(o.retry_after_ms, 7000);
	classify(422, "{\"message\":\"nope\"}", NULL, &o);
	assert_int_equal(o.kind, SEND_PERMFAIL);
	assert_string_equal(o.error_detail, "nope");
	classify(408, NULL, NULL, &o);
	assert_int_equal(o.kind, SEND_TEMPFAIL);
	classify(500, "{\"status\":500,\"error\":\"Internal Server Error\",\"response\":{\"message\":"
	    "\"Connection Closed\"}}", NULL, &o);
	assert_int_equal(o.kind, SEND_TEMPFAIL);
	assert_string_equal(o.error_detail, "Connection Closed");
	classify(503, "down\n\x01", "2", &o);
	assert_int_equal(o.kind, SEND_TEMPFAIL);
	assert_string_equal(o.error_detail, "down ?");
	assert_int_equal(o.retry_after_ms, 2000);
	classify(0, NULL, NULL, &o);
	assert_int_equal(o.kind, SEND_TEMPFAIL);
	assert_string_equal(o.error_title, "Connection refused");
	classify(302, "", NULL, &o);
	assert_int_equal(o.kind, SEND_TEMPFAIL);
}

static void
test_check_and_connect_answers(void **state)
{
	struct check_result c;
	struct state_in s;
	struct send_response r = { .http_status = 200,
	    .body = "{\"instance\":{\"instanceName\":\"tigo1\",\"state\":\"open\"}}" };

	r.body_len = strlen(r.body);
	evo_check_classify(&r, &c);
	assert_int_equal(c.state, CHECK_OK);
	assert_string_equal(c.message, "instance state: open");
	r = (struct send_response){ .http_status = 401, .body = "{}", .body_len = 2 };
	evo_check_classify(&r, &c);
	assert_int_equal(c.state, CHECK_INVALID_CREDENTIALS);
	r.http_status = 404;
	evo_check_classify(&r, &c);
	assert_int_equal(c.state, CHECK_ERROR);
	r.http_status = 502;
	evo_check_classify(&r, &c);
	assert_int_equal(c.state, CHECK_UNREACHABLE);
	r = (struct send_response){ .http_status = 0, .net_error = "timeout" };
	evo_check_classify(&r, &c);
	assert_int_equal(c.state, CHECK_UNREACHABLE);

	r = (struct send_response){ .http_status = 200,
	    .body = "{\"pairingCode\":\"WZYEH1YY\",\"code\":\"2@y8eK+bjt\",\"count\":1}" };
	r.body_len = strlen(r.body);
	evo_connect_answer(&r, &s);
	assert_int_equal(s.state, CONN_PAIRING);
	assert_string_equal(s.qr, "2@y8eK+bjt");
	assert_string_equal(s.pairing_code, "WZYEH1YY");
	assert_null(s.reason);
	free(s.qr);
	free(s.pairing_code);

	r.body = "{\"pairingCode\":null,\"code\":\"2@abc\",\"count\":2}";
	r.body_len = strlen(r.body);
	evo_connect_answer(&r, &s);
	assert_int_equal(s.state, CONN_PAIRING);
	assert_null(s.pairing_code);
	free(s.qr);

	r.body = "{\"instance\":{\"instanceName\":\"tigo1\",\"state\":\"open\"}}";
	r.body_len = strlen(r.body);
	evo_connect_answer(&r, &s);
	assert_int_equal(s.state, CONN_CONNECTED);
	assert_null(s.qr);

	r.body = "{\"count\":0}";
	r.body_len = strlen(r.body);
	evo_connect_answer(&r, &s);
	assert_int_equal(s.state, CONN_CONNECTING);

	static const struct {
		long status;
		const char *reason_part;
	} errors[] = {
		{ 401, "api_key" }, { 403, "api_key" }, { 404, "instance" }, { 500, "HTTP 500" },
		{ 0, "unreachable" },
	};
	for (size_t i = 0; i < ARRAY_LEN(errors); i++) {
		r = (struct send_response){ .http_status = errors[i].status, .body = "{}", .body_len = 2,
		    .net_error = "refused" };
		evo_connect_answer(&r, &s);
		assert_int_equal(s.state, CONN_ERROR);
		assert_non_null(strstr(s.reason, errors[i].reason_part));
		free(s.reason);
	}
}

/* Config, addresses, declarations */

static void
expect_invalid(json_t *cfg, const char *field)
{
	struct channel_error err = { 0 };
	assert_int_equal(evolution_ops.validate(cfg, &err), -1);
	assert_string_equal(err.field, field);
	json_decref(cfg);
}

static void
test_config(void **state)
{
	struct channel_error err = { 0 };
	json_t *cfg = good_config();

	assert_int_equal(evolution_ops.validate(cfg, &err), 0);
	json_object_set_new(cfg, "public_url", json_string("https://msgd.example.com/"));
	json_object_set_new(cfg, "rate_per_second", json_integer(2));
	assert_int_equal(evolution_ops.validate(cfg, &err), 0);
	json_decref(cfg);

	cfg = good_config();
	json_object_del(cfg, "instance");
	expect_invalid(cfg, "config.instance");
	cfg = good_config();
	json_object_del(cfg, "api_key");
	expect_invalid(cfg, "config.api_key");
	cfg = good_config();
	json_object_set_new(cfg, "api_base_url", json_string("ftp://x"));
	expect_invalid(cfg, "config.api_base_url");
	cfg = good_config();
	json_object_set_new(cfg, "public_url", json_string("not a url"));
	expect_invalid(cfg, "config.public_url");
	cfg = good_config();
	json_object_set_new(cfg, "phone_number_id", json_string("1"));
	expect_invalid(cfg, "config.phone_number_id");
	cfg = good_config();
	json_object_set_new(cfg, "api_key", json_string("key\r\nX-Evil: 1"));
	expect_invalid(cfg, "config.api_key");
	cfg = good_config();
	json_object_set_new(cfg, "instance", json_string("../admin"));
	expect_invalid(cfg, "config.instance");
	cfg = good_config();
	json_object_set_new(cfg, "instance", json_string(""));
	expect_invalid(cfg, "config.instance");
	cfg = good_config();
	char big[EVO_INSTANCE_MAX + 2];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	json_object_set_new(cfg, "instance", json_string(big));
	expect_invalid(cfg, "config.instance");
	cfg = good_config();
	json_object_set_new(cfg, "recipient_gap_ms", json_integer(-1));
	expect_invalid(cfg, "config.recipient_gap_ms");

	/* A name with spaces is percent-encoded in the URL. */
	cfg = good_config();
	json_object_set_new(cfg, "instance", json_string("my shop"));
	struct channel *ch = channel_new(12, "evo2", &evolution_ops, cfg, 1, 1);
	json_decref(cfg);
	assert_int_equal(ch->ops->open(ch), 0);
	struct send_request req;
	assert_int_equal(ch->ops->check_prepare(ch, &req), 0);
	assert_string_equal(req.url, "http://127.0.0.1:9/evo/instance/connectionState/my%20shop");
	send_request_free(&req);

	/* The key never leaves msgd; pacing defaults are WhatsApp Web's. */
	json_t *pub = channel_public_config(ch);
	assert_string_equal(json_string_value(json_object_get(pub, "api_key")), "********");
	json_decref(pub);
	assert_int_equal(channel_send_setting(ch, "rate_per_second"), 5);
	assert_int_equal(channel_send_setting(ch, "recipient_gap_ms"), 1000);
	channel_free(ch);

	assert_ptr_equal(channel_type_find("evolution"), &evolution_ops);
	assert_string_equal(evolution_ops.route_key, "instance");
	assert_int_equal(evolution_ops.caps->window_hours, 0);
	assert_int_equal(evolution_ops.caps->max_text_len, 65536);
	assert_true(evolution_ops.caps->pairing);
	assert_true(channel_can_send_type(&evolution_ops, "document"));
	assert_false(channel_can_send_type(&evolution_ops, "template"));
	json_t *d = channel_type_describe(&evolution_ops);
	assert_true(json_is_true(json_object_get(d, "webhook")));
	assert_true(json_is_true(json_object_get(d, "actions")));
	json_decref(d);
}

static void
test_addresses(void **state)
{
	static const struct {
		const char *in, *out;   /* out NULL: refused */
	} cases[] = {
		{ "+55 31 9829-6801", "553198296801" },
		{ "553198296801@s.whatsapp.net", "553198296801" },
		{ "120363025246125888@g.us", "120363025246125888@g.us" },
		{ "15550001111-1612345678@g.us", "15550001111-1612345678@g.us" },
		{ "123456789012345@lid", "123456789012345@lid" },
		{ "abc@g.us", NULL },
		{ "1555@example.com", NULL },
		{ "@g.us", NULL },
		{ "12@s.whatsapp.net@g.us", NULL },
		{ "hello", NULL },
	};
	char out[65];

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		int rc = evo_address_normalize(cases[i].in, strlen(cases[i].in), out, sizeof(out));
		if (cases[i].out == NULL) {
			assert_int_equal(rc, -1);
		} else {
			assert_int_equal(rc, 0);
			assert_string_equal(out, cases[i].out);
		}
	}
	assert_int_equal(evo_address_normalize("120363025246125888@g.us", 23, out, 10), -1);

	static const char *const jids[][2] = {
		{ "15550100001@s.whatsapp.net", "15550100001" },
		{ "15550100001:12@s.whatsapp.net", "15550100001" },
		{ "15550100001@c.us", "15550100001" },
		{ "120363025246125888@g.us", "120363025246125888@g.us" },
		{ "987654321@lid", "987654321@lid" },
		{ "status@broadcast", "status@broadcast" },
		{ "+1 555 010 0001", "15550100001" },
		{ "x@s.whatsapp.net", "x" },
	};
	for (size_t i = 0; i < ARRAY_LEN(jids); i++) {
		char *a = evo_jid_address(jids[i][0]);
		assert_string_equal(a, jids[i][1]);
		free(a);
	}
	assert_null(evo_jid_address(NULL));
	assert_true(evo_is_group("1203@g.us"));
	assert_false(evo_is_group("15550100001"));
	assert_false(evo_is_group(NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_outbound_golden),
		cmocka_unit_test(test_outcomes),
		cmocka_unit_test(test_check_and_connect_answers),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_addresses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
