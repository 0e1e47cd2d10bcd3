/*
 * test_whatsapp_templates.c - reading the Graph API's message_templates
 * answers (src/channels/whatsapp_templates.c): pages as Meta's
 * documentation shows them (data[], paging.cursors.after, paging.next),
 * the parameter count over header, body and buttons (positional {{1}} and
 * named {{name}}), Graph errors, and the request for a page.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channels/channel.h"
#include "channels/whatsapp_cloud.h"

static const char page1[] =
	"{\"data\":["
	"{\"name\":\"order_update\",\"parameter_format\":\"POSITIONAL\",\"components\":["
	"{\"type\":\"HEADER\",\"format\":\"TEXT\",\"text\":\"Order {{1}}\",\"example\":{\"header_text\":[\"#1\"]}},"
	"{\"type\":\"BODY\",\"text\":\"Hi {{1}}, order {{2}} ships {{3}}. Bye {{1}}\","
	"\"example\":{\"body_text\":[[\"Ada\",\"#1\",\"Monday\"]]}},"
	"{\"type\":\"FOOTER\",\"text\":\"Reply STOP {{9}} is not counted\"},"
	"{\"type\":\"BUTTONS\",\"buttons\":[{\"type\":\"URL\",\"text\":\"Track\","
	"\"url\":\"https://x.example/t/{{1}}\",\"example\":[\"https://x.example/t/1\"]},"
	"{\"type\":\"QUICK_REPLY\",\"text\":\"Thanks\"},{\"type\":\"PHONE_NUMBER\",\"text\":\"Call\","
	"\"phone_number\":\"15550001111\"}]}],"
	"\"language\":\"en_US\",\"status\":\"APPROVED\",\"category\":\"UTILITY\",\"id\":\"594425479261596\"},"
	"{\"name\":\"hello_world\",\"components\":[{\"type\":\"HEADER\",\"format\":\"TEXT\",\"text\":\"Hello World\"},"
	"{\"type\":\"BODY\",\"text\":\"Welcome and congratulations!!\"},{\"type\":\"FOOTER\","
	"\"text\":\"WhatsApp Business Platform sample message\"}],\"language\":\"en_US\","
	"\"status\":\"APPROVED\",\"category\":\"UTILITY\",\"id\":\"1192339204654487\"},"
	"{\"name\":\"no_status\",\"language\":\"en\"},"
	"{\"name\":\"bare\",\"language\":\"pt_BR\",\"status\":\"PAUSED\"}"
	"],\"paging\":{\"cursors\":{\"before\":\"QVFIUk5\",\"after\":\"QVFIUjM+/=\"},"
	"\"next\":\"https://graph.facebook.com/v21.0/102290129340398/message_templates?limit=2&after=QVFIUjM\"}}";

static const char page_last[] =
	"{\"data\":[{\"name\":\"welcome\",\"parameter_format\":\"NAMED\",\"components\":["
	"{\"type\":\"HEADER\",\"format\":\"IMAGE\",\"example\":{\"header_handle\":[\"4::aW1h\"]}},"
	"{\"type\":\"BODY\",\"text\":\"Hi {{first_name}}, {{first_name}}! Code {{code}}; {{ spaced }} {{}} {{1\"},"
	"{\"type\":\"BUTTONS\",\"buttons\":[{\"type\":\"COPY_CODE\",\"example\":\"SAVE10\"}]}],"
	"\"language\":\"en\",\"status\":\"REJECTED\",\"category\":\"MARKETING\",\"id\":\"1\"}],"
	"\"paging\":{\"cursors\":{\"before\":\"QVFIUk5\",\"after\":\"QVFIUjM\"}}}";

static struct send_response
answer(long status, const char *body)
{
	return (struct send_response){ .http_status = status, .body = body,
		.body_len = body ? strlen(body) : 0 };
}

static const json_t *
find(const json_t *acc, const char *name)
{
	size_t i;
	const json_t *t;

	json_array_foreach(acc, i, t)
		if (strcmp(json_string_value(json_object_get(t, "name")), name) == 0)
			return t;
	return NULL;
}

static void
test_pages(void **state)
{
	json_t *acc = json_array();
	char *after = NULL, err[256] = "";
	struct send_response r = answer(200, page1);

	(void)state;
	assert_int_equal(wa_templates_page(&r, acc, &after, err, sizeof(err)), 0);
	assert_string_equal(after, "QVFIUjM+/=");
	free(after);
	/* "no_status" has no status: left out. */
	assert_int_equal(json_array_size(acc), 3);
	const json_t *o = find(acc, "order_update");
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "language")), "en_US");
	assert_string_equal(json_string_value(json_object_get(o, "status")), "APPROVED");
	assert_string_equal(json_string_value(json_object_get(o, "category")), "UTILITY");
	/* header 1 + body 3 distinct + URL button 1; the footer has none to fill. */
	assert_int_equal(json_integer_value(json_object_get(o, "params")), 5);
	assert_int_equal(json_array_size(json_object_get(o, "components")), 4);
	assert_int_equal(json_integer_value(json_object_get(find(acc, "hello_world"), "params")), 0);
	const json_t *b = find(acc, "bare");
	assert_true(json_is_null(json_object_get(b, "category")) || json_object_get(b, "category") == NULL);
	assert_int_equal(json_array_size(json_object_get(b, "components")), 0);

	r = answer(200, page_last);
	assert_int_equal(wa_templates_page(&r, acc, &after, err, sizeof(err)), 0);
	assert_null(after);  /* no "next": the last page */
	assert_int_equal(json_array_size(acc), 4);
	/* image header 1 + {{first_name}} and {{code}} + copy code 1; malformed ones are not placeholders. */
	assert_int_equal(json_integer_value(json_object_get(find(acc, "welcome"), "params")), 4);
	json_decref(acc);
}

static void
test_errors(void **state)
{
	json_t *acc = json_array();
	char *after = NULL, err[256];
	struct send_response r;

	(void)state;
	r = answer(401, "{\"error\":{\"message\":\"Error validating access token: Session has expired\","
	    "\"type\":\"OAuthException\",\"code\":190,\"error_subcode\":463,\"fbtrace_id\":\"A\"}}");
	assert_int_equal(wa_templates_page(&r, acc, &after, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "190"));
	assert_non_null(strstr(err, "Session has expired"));
	r = answer(400, "{\"error\":{\"message\":\"(#100) Tried accessing nonexisting field "
	    "(message_templates)\",\"type\":\"OAuthException\",\"code\":100,\"fbtrace_id\":\"B\"}}");
	assert_int_equal(wa_templates_page(&r, acc, &after, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "100"));
	r = answer(0, NULL);
	r.net_error = "Connection refused";
	assert_int_equal(wa_templates_page(&r, acc, &after, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "Connection refused"));
	r = answer(200, "{\"data\":{}}");
	assert_int_equal(wa_templates_page(&r, acc, &after, err, sizeof(err)), -1);
	r = answer(200, "not json");
	assert_int_equal(wa_templates_page(&r, acc, &after, err, sizeof(err)), -1);
	r = answer(502, "<html>bad gateway</html>");
	assert_int_equal(wa_templates_page(&r, acc, &after, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "502"));
	assert_int_equal(json_array_size(acc), 0);
	json_decref(acc);
}

static void
test_request(void **state)
{
	struct channel ch = { .name = "wa" };
	struct send_request req;

	(void)state;
	ch.config = json_pack("{s:s,s:s,s:s,s:s}", "phone_number_id", "1", "access_token", "tok",
	    "api_base_url", "http://127.0.0.1:9/", "api_version", "v21.0");
	assert_int_equal(wa_templates_request(&ch, NULL, &req), -1);  /* no waba_id */
	/* A waba_id stored before it was checked never reaches the path. */
	json_object_set_new(ch.config, "waba_id", json_string("1/../../1/messages"));
	assert_int_equal(wa_templates_request(&ch, NULL, &req), -1);
	assert_null(req.url);
	json_object_set_new(ch.config, "waba_id", json_string("123456789012345678901234567890123"));
	assert_int_equal(wa_templates_request(&ch, NULL, &req), -1);
	json_object_set_new(ch.config, "waba_id", json_string("102290129340398"));
	assert_int_equal(wa_templates_request(&ch, NULL, &req), 0);
	assert_string_equal(req.method, "GET");
	assert_string_equal(req.url, "http://127.0.0.1:9/v21.0/102290129340398/message_templates"
	    "?fields=name,language,status,category,components&limit=100");
	assert_string_equal(req.headers[0], "Authorization: Bearer tok");
	send_request_free(&req);
	assert_int_equal(wa_templates_request(&ch, "QVFIUjM+/=&x", &req), 0);
	assert_non_null(strstr(req.url, "&after=QVFIUjM%2B%2F%3D%26x"));
	send_request_free(&req);
	json_decref(ch.config);
}

static void
test_params(void **state)
{
	json_t *c;

	(void)state;
	c = json_loads("[{\"type\":\"BODY\",\"text\":\"{{1}}{{2}}{{10}}{{2}}\"}]", 0, NULL);
	assert_int_equal(wa_template_params(c), 3);
	json_decref(c);
	c = json_loads("[{\"type\":\"HEADER\",\"format\":\"LOCATION\"},{\"type\":\"body\",\"text\":\"x\"}]", 0, NULL);
	assert_int_equal(wa_template_params(c), 1);
	json_decref(c);
	assert_int_equal(wa_template_params(NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pages),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_params),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
