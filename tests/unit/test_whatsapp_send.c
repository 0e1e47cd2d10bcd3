/*
 * test_whatsapp_send.c - the outbound side of the WhatsApp Cloud adapter
 * against the shared corpus: every errors/ file has a row saying the
 * outcome it must classify to (from the decision table in the corpus
 * README), every golden outbound body has a row with the API message that
 * must serialize to it, plus synthetic answers (5xx, Retry-After, network
 * errors), invalid messages and the sending config keys. The corpus root is
 * $CORPUS, else ../shared/corpus from the repository root.
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
#include <time.h>

#include "channels/channel.h"
#include "util/util.h"

#include "corpus.h"

#define TOKEN    "EAAFAKEFAKEFAKEcorpusTOKEN"    /* as in outbound/send.request.headers.txt */
#define PNID     "106540352242922"
#define TO       "16505551234"
#define DAY_MS   (86400LL * 1000)

static json_t *
parse(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, JSON_ALLOW_NUL, &jerr);

	if (v == NULL)
		fail_msg("test JSON does not parse: %s: %s", jerr.text, text);
	return v;
}

/* A channel */

static struct channel *
open_channel(const char *extra)
{
	char text[2048];

	snprintf(text, sizeof(text), "{\"phone_number_id\":\"" PNID "\",\"access_token\":\"" TOKEN
	    "\",\"verify_token\":\"v\",\"app_secret\":\"s\"%s%s}", extra ? "," : "", extra ? extra : "");
	return open_test_channel(&whatsapp_cloud_ops, 1, "wa1", text);
}

/* The default channel speaks to the host and version of send.request.headers.txt. */
static struct channel *
corpus_channel(void)
{
	return open_channel("\"api_base_url\":\"https://graph.facebook.com\",\"api_version\":\"v23.0\"");
}

static const char *
header(const struct send_request *r, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < r->nheaders; i++)
		if (strncmp(r->headers[i], name, n) == 0 && r->headers[i][n] == ':')
			return r->headers[i];
	return NULL;
}

static json_t *
request_body(const struct send_request *r)
{
	json_t *v;
	char err[256];

	assert_non_null(r->body);
	assert_int_equal(r->body_len, strlen(r->body));
	assert_null(strstr(r->body, TOKEN));
	assert_int_equal(json_parse_capped(r->body, r->body_len, 64, &v, err, sizeof(err)), 0);
	return v;
}

/* Classification */

static void
classify(struct channel *ch, long status, const char *body, const char *retry_after,
    const char *net_error, struct send_outcome *out)
{
	struct send_response resp = {
		.http_status = status,
		.body = body,
		.body_len = body ? strlen(body) : 0,
		.retry_after = retry_after,
		.net_error = net_error,
	};
	ch->ops->send_classify(ch, NULL, &resp, out);
}

/* Every errors/ file: its outcome and code, per the README decision table. */
static const struct err_row {
	const char *file;               /* errors/<file>.response.json */
	enum send_outcome_kind kind;
	int64_t code;
} err_rows[] = {
	{ "100", SEND_PERMFAIL, 100 },                      /* invalid parameter */
	{ "130429", SEND_THROTTLED, 130429 },               /* throughput reached */
	{ "131009", SEND_PERMFAIL, 131009 },                /* parameter value not valid */
	{ "131026", SEND_PERMFAIL, 131026 },                /* undeliverable */
	{ "131047", SEND_PERMFAIL, 131047 },                /* 24 h window closed */
	{ "131056", SEND_RECIPIENT_THROTTLED, 131056 },     /* pair rate limit */
	{ "190", SEND_CREDENTIALS, 190 },                   /* token expired */
	{ "190_invalid_token", SEND_CREDENTIALS, 190 },     /* token invalid */
	{ "368", SEND_BLOCKED, 368 },                       /* temporarily blocked */
	{ "4", SEND_THROTTLED, 4 },                         /* app request limit */
};

/* The status code of an HTTP status line: "HTTP/1.1 429 Too Many Requests". */
static long
status_of(const char *txt)
{
	long status = 0;

	if (sscanf(txt, "HTTP/%*s %ld", &status) != 1)
		fail_msg("no HTTP status line in %s", txt);
	return status;
}

static void
test_error_row(void **state)
{
	const struct err_row *row = *state;
	struct channel *ch = corpus_channel();
	struct send_outcome out;
	char rel[256];
	size_t len;
	char *body, *txt;

	snprintf(rel, sizeof(rel), "errors/%s.response.json", row->file);
	body = corpus_load("whatsapp_cloud", rel, &len);
	snprintf(rel, sizeof(rel), "errors/%s.response.txt", row->file);
	txt = corpus_load("whatsapp_cloud", rel, &len);

	json_t *root = parse(body), *e = json_object_get(root, "error");
	classify(ch, status_of(txt), body, NULL, NULL, &out);
	if (out.kind != row->kind)
		fail_msg("%s: got %s, want %s", row->file, send_outcome_name(out.kind),
		    send_outcome_name(row->kind));
	assert_int_equal(out.error_code, row->code);
	assert_null(out.provider_message_id);
	assert_int_equal(out.retry_after_ms, 0);

	/* The title is the Graph message, the detail error_data.details or else the message. */
	const json_t *detail = json_object_get(json_object_get(e, "error_data"), "details");
	assert_string_equal(out.error_title, json_string_value(json_object_get(e, "message")));
	assert_string_equal(out.error_detail,
	    json_string_value(detail ? detail : json_object_get(e, "message")));

	json_decref(root);
	free(body);
	free(txt);
	channel_free(ch);
}

/* Every errors/ file has a row, and every row a file. */
static void
test_errors_complete(void **state)
{
	bool seen[ARRAY_LEN(err_rows)] = { false };
	DIR *dp = corpus_opendir("whatsapp_cloud", "errors");
	const char *name;
	size_t n, nfiles = 0;

	while ((name = corpus_next(dp, ".response.json", &n)) != NULL) {
		size_t i;
		nfiles++;
		for (i = 0; i < ARRAY_LEN(err_rows); i++)
			if (strlen(err_rows[i].file) == n && strncmp(err_rows[i].file, name, n) == 0)
				break;
		if (i == ARRAY_LEN(err_rows)) {
			char copy[256];
			snprintf(copy, sizeof(copy), "%s", name);
			closedir(dp);
			fail_msg("errors/%s has no row in err_rows", copy);
		}
		seen[i] = true;
	}
	closedir(dp);
	for (size_t i = 0; i < ARRAY_LEN(err_rows); i++)
		if (!seen[i])
			fail_msg("row %s has no errors/ file", err_rows[i].file);
	assert_int_equal(nfiles, ARRAY_LEN(err_rows));
}

/* Answers the corpus does not hold. */
static const struct synth_row {
	const char *name;
	long status;
	const char *body;
	const char *retry_after;
	const char *net_error;
	enum send_outcome_kind kind;
	int64_t code;
	int64_t retry_ms;
	const char *title;              /* NULL: not checked */
} synth_rows[] = {
	{ "500 empty", 500, "", NULL, NULL, SEND_TEMPFAIL, 0, 0, "HTTP 500" },
	{ "502 html", 502, "<html>\r\nBad Gateway</html>", NULL, NULL, SEND_TEMPFAIL, 0, 0,
	    "HTTP 502" },
	{ "503 code 2", 503, "{\"error\":{\"message\":\"Service temporarily unavailable\",\"code\":2}}",
	    NULL, NULL, SEND_TEMPFAIL, 2, 0, "Service temporarily unavailable" },
	{ "500 code 131000", 500, "{\"error\":{\"message\":\"Something went wrong\",\"code\":131000}}",
	    NULL, NULL, SEND_TEMPFAIL, 131000, 0, "Something went wrong" },
	{ "400 code 1", 400, "{\"error\":{\"message\":\"An unknown error occurred\",\"code\":1}}",
	    NULL, NULL, SEND_TEMPFAIL, 1, 0, NULL },
	{ "503 code 131016", 503, "{\"error\":{\"code\":131016}}", NULL, NULL, SEND_TEMPFAIL,
	    131016, 0, "HTTP 503" },
	{ "400 unknown transient", 400,
	    "{\"error\":{\"message\":\"x\",\"code\":777777,\"is_transient\":true}}", NULL, NULL,
	    SEND_TEMPFAIL, 777777, 0, NULL },
	{ "400 unknown code", 400, "{\"error\":{\"message\":\"x\",\"code\":777777}}", NULL, NULL,
	    SEND_PERMFAIL, 777777, 0, NULL },
	{ "500 unknown code", 500, "{\"error\":{\"message\":\"x\",\"code\":777777}}", NULL, NULL,
	    SEND_TEMPFAIL, 777777, 0, NULL },
	{ "429 retry-after 7", 429, "", "7", NULL, SEND_THROTTLED, 0, 7000, "HTTP 429" },
	{ "429 no code", 429, "{\"error\":{\"message\":\"slow down\"}}", " 120 ", NULL,
	    SEND_THROTTLED, 0, 120000, "slow down" },
	{ "429 transient no code", 429, "{\"error\":{\"message\":\"x\",\"is_transient\":true}}",
	    NULL, NULL, SEND_THROTTLED, 0, 0, NULL },
	{ "503 retry-after capped", 503, "", "999999999999999999999", NULL, SEND_TEMPFAIL, 0,
	    DAY_MS, NULL },
	{ "503 retry-after far date", 503, "", "Fri, 31 Dec 9999 23:59:59 GMT", NULL,
	    SEND_TEMPFAIL, 0, DAY_MS, NULL },
	{ "503 retry-after past date", 503, "", "Sun, 06 Nov 1994 08:49:37 GMT", NULL,
	    SEND_TEMPFAIL, 0, 0, NULL },
	{ "503 retry-after garbage", 503, "", "soon", NULL, SEND_TEMPFAIL, 0, 0, NULL },
	{ "503 retry-after negative", 503, "", "-5", NULL, SEND_TEMPFAIL, 0, 0, NULL },
	{ "503 retry-after trailing junk", 503, "", "7s", NULL, SEND_TEMPFAIL, 0, 0, NULL },
	{ "503 retry-after bad month", 503, "", "Sun, 06 Foo 2999 08:49:37 GMT", NULL,
	    SEND_TEMPFAIL, 0, 0, NULL },
	{ "network error", 0, NULL, NULL, "Timeout was reached", SEND_TEMPFAIL, 0, 0,
	    "Timeout was reached" },
	{ "network error unnamed", 0, NULL, NULL, NULL, SEND_TEMPFAIL, 0, 0, "network error" },
	{ "401 no body", 401, "", NULL, NULL, SEND_CREDENTIALS, 0, 0, "HTTP 401" },
	{ "401 unknown code", 401, "{\"error\":{\"message\":\"x\",\"code\":777777}}", NULL, NULL,
	    SEND_CREDENTIALS, 777777, 0, NULL },
	{ "401 code 100", 401, "{\"error\":{\"message\":\"x\",\"code\":100}}", NULL, NULL,
	    SEND_PERMFAIL, 100, 0, NULL },
	{ "400 code 190 subcode 460", 400,
	    "{\"error\":{\"message\":\"password changed\",\"code\":190,\"error_subcode\":460}}",
	    NULL, NULL, SEND_CREDENTIALS, 190, 0, "password changed" },
	{ "403 code 10", 403, "{\"error\":{\"message\":\"Permission denied\",\"code\":10}}", NULL,
	    NULL, SEND_CREDENTIALS, 10, 0, NULL },
	{ "403 code 200", 403, "{\"error\":{\"message\":\"Permissions error\",\"code\":200}}", NULL,
	    NULL, SEND_CREDENTIALS, 200, 0, NULL },
	{ "403 code 131005", 403, "{\"error\":{\"message\":\"Access denied\",\"code\":131005}}",
	    NULL, NULL, SEND_CREDENTIALS, 131005, 0, NULL },
	{ "400 code 80007", 400, "{\"error\":{\"code\":80007}}", NULL, NULL, SEND_THROTTLED,
	    80007, 0, NULL },
	{ "400 code 613", 400, "{\"error\":{\"code\":613}}", NULL, NULL, SEND_THROTTLED, 613, 0,
	    NULL },
	{ "400 code 131048", 400, "{\"error\":{\"code\":131048}}", NULL, NULL, SEND_THROTTLED,
	    131048, 0, NULL },
	{ "400 code 17", 400, "{\"error\":{\"code\":17}}", NULL, NULL, SEND_THROTTLED, 17, 0, NULL },
	{ "429 code as string", 429, "{\"error\":{\"code\":\"130429\"}}", "3", NULL,
	    SEND_THROTTLED, 130429, 3000, NULL },
	{ "400 code 131031", 400, "{\"error\":{\"message\":\"Account locked\",\"code\":131031}}",
	    NULL, NULL, SEND_BLOCKED, 131031, 0, "Account locked" },
	{ "400 code 131008", 400, "{\"error\":{\"code\":131008}}", NULL, NULL, SEND_PERMFAIL,
	    131008, 0, NULL },
	{ "400 code 131021", 400, "{\"error\":{\"code\":131021}}", NULL, NULL, SEND_PERMFAIL,
	    131021, 0, NULL },
	{ "400 code 131051", 400, "{\"error\":{\"code\":131051}}", NULL, NULL, SEND_PERMFAIL,
	    131051, 0, NULL },
	{ "400 code 131052", 400, "{\"error\":{\"code\":131052}}", NULL, NULL, SEND_PERMFAIL,
	    131052, 0, NULL },
	{ "400 code 131053", 400, "{\"error\":{\"code\":131053}}", NULL, NULL, SEND_PERMFAIL,
	    131053, 0, NULL },
	{ "400 code 133010", 400, "{\"error\":{\"code\":133010}}", NULL, NULL, SEND_PERMFAIL,
	    133010, 0, NULL },
	{ "400 code 132000", 400, "{\"error\":{\"code\":132000}}", NULL, NULL, SEND_PERMFAIL,
	    132000, 0, NULL },
	{ "400 code 132999", 400, "{\"error\":{\"code\":132999}}", NULL, NULL, SEND_PERMFAIL,
	    132999, 0, NULL },
	{ "400 code 135000", 400, "{\"error\":{\"code\":135000}}", NULL, NULL, SEND_PERMFAIL,
	    135000, 0, NULL },
	{ "500 code 131047", 500, "{\"error\":{\"code\":131047}}", NULL, NULL, SEND_PERMFAIL,
	    131047, 0, NULL },
	{ "404 empty", 404, "", NULL, NULL, SEND_PERMFAIL, 0, 0, "HTTP 404" },
	{ "413 empty", 413, "", NULL, NULL, SEND_PERMFAIL, 0, 0, NULL },
	{ "408 empty", 408, "", NULL, NULL, SEND_TEMPFAIL, 0, 0, NULL },
	{ "400 not json", 400, "Bad Request", NULL, NULL, SEND_PERMFAIL, 0, 0, "HTTP 400" },
	{ "301 redirect", 301, "", NULL, NULL, SEND_TEMPFAIL, 0, 0, NULL },
	{ "200 not json", 200, "<html>ok</html>", "9", NULL, SEND_TEMPFAIL, 0, 9000, NULL },
	{ "200 empty", 200, "", NULL, NULL, SEND_TEMPFAIL, 0, 0, NULL },
	{ "200 with error", 200, "{\"error\":{\"code\":131056}}", NULL, NULL,
	    SEND_RECIPIENT_THROTTLED, 131056, 0, NULL },
	{ "200 with unknown error", 200, "{\"error\":{\"message\":\"x\"}}", NULL, NULL,
	    SEND_TEMPFAIL, 0, 0, NULL },
};

static void
test_synth_row(void **state)
{
	const struct synth_row *row = *state;
	struct channel *ch = corpus_channel();
	struct send_outcome out;

	classify(ch, row->status, row->body, row->retry_after, row->net_error, &out);
	if (out.kind != row->kind)
		fail_msg("%s: got %s, want %s", row->name, send_outcome_name(out.kind),
		    send_outcome_name(row->kind));
	assert_int_equal(out.error_code, row->code);
	assert_int_equal(out.retry_after_ms, row->retry_ms);
	assert_null(out.provider_message_id);
	if (row->title)
		assert_string_equal(out.error_title, row->title);
	assert_true(utf8_valid(out.error_title, strlen(out.error_title)));
	assert_true(utf8_valid(out.error_detail, strlen(out.error_detail)));
	channel_free(ch);
}

static void
test_classify_ok(void **state)
{
	struct channel *ch = corpus_channel();
	struct send_outcome out;
	size_t len;
	char *body = corpus_load("whatsapp_cloud", "outbound/send.response.json", &len);
	json_t *v;

	v = parse(body);
	classify(ch, 200, body, "5", NULL, &out);
	assert_int_equal(out.kind, SEND_OK);
	assert_non_null(out.provider_message_id);
	assert_string_equal(out.provider_message_id, json_string_value(json_object_get(
	    json_array_get(json_object_get(v, "messages"), 0), "id")));
	assert_int_equal(out.retry_after_ms, 0);
	assert_int_equal(out.error_code, 0);
	free(out.provider_message_id);
	json_decref(v);
	free(body);

	/* With message_status, and a 201. */
	classify(ch, 201, "{\"messaging_product\":\"whatsapp\",\"messages\":[{\"id\":\"wamid.A\","
	    "\"message_status\":\"accepted\"}]}", NULL, NULL, &out);
	assert_int_equal(out.kind, SEND_OK);
	assert_string_equal(out.provider_message_id, "wamid.A");
	free(out.provider_message_id);

	/* A read receipt's answer: accepted, no id. */
	body = corpus_load("whatsapp_cloud", "outbound/mark_read.response.json", &len);
	classify(ch, 200, body, NULL, NULL, &out);
	assert_int_equal(out.kind, SEND_OK);
	assert_null(out.provider_message_id);
	free(body);

	/* JSON without a usable id is still accepted. */
	classify(ch, 200, "{\"messages\":[{\"id\":7}]}", NULL, NULL, &out);
	assert_int_equal(out.kind, SEND_OK);
	assert_null(out.provider_message_id);
	channel_free(ch);
}

/* Retry-After as an HTTP-date, in each of the three forms HTTP allows. */
static void
test_retry_after_date(void **state)
{
	static const char *const formats[] = {
		"%a, %d %b %Y %H:%M:%S GMT",    /* IMF-fixdate */
		"%A, %d-%b-%y %H:%M:%S GMT",    /* RFC 850 */
		"%a %b %e %H:%M:%S %Y",         /* asctime */
	};
	struct channel *ch = corpus_channel();
	struct send_outcome out;
	char date[64];
	struct tm tm;

	for (size_t i = 0; i < ARRAY_LEN(formats); i++) {
		time_t t = time(NULL) + 120;
		gmtime_r(&t, &tm);
		strftime(date, sizeof(date), formats[i], &tm);
		classify(ch, 503, "", date, NULL, &out);
		assert_int_equal(out.kind, SEND_TEMPFAIL);
		if (out.retry_after_ms < 115000 || out.retry_after_ms > 120000)
			fail_msg("Retry-After: %s gave %lld ms", date, (long long)out.retry_after_ms);
	}
	channel_free(ch);
}

/* Long provider text is cut on a character boundary; NULs are dropped. */
static void
test_classify_long_text(void **state)
{
	struct channel *ch = corpus_channel();
	struct send_outcome out;
	struct buf b;

	buf_init(&b, 0);
	buf_append(&b, "{\"error\":{\"code\":100,\"message\":\"a\\u0000", 39);
	for (int i = 0; i < 400; i++)
		buf_append(&b, "\xc3\xa9", 2);
	buf_append(&b, "\",\"error_data\":{\"details\":\"", 27);
	for (int i = 0; i < 400; i++)
		buf_append(&b, "\xe2\x82\xac", 3);
	buf_append(&b, "\"}}}", 4);
	classify(ch, 400, b.data, NULL, NULL, &out);
	assert_int_equal(out.kind, SEND_PERMFAIL);
	assert_true(strlen(out.error_title) > 200);
	assert_true(utf8_valid(out.error_title, strlen(out.error_title)));
	assert_int_equal(out.error_title[0], 'a');
	assert_int_equal((unsigned char)out.error_title[1], 0xc3);
	assert_true(strlen(out.error_detail) > 400);
	assert_true(utf8_valid(out.error_detail, strlen(out.error_detail)));
	buf_free(&b);

	/* Binary in a non-JSON body becomes printable ASCII. */
	classify(ch, 502, "bad\x01\xff gateway", NULL, NULL, &out);
	assert_string_equal(out.error_detail, "bad?? gateway");
	channel_free(ch);
}

/* Golden request bodies */

struct golden_row {
	const char *file;               /* outbound/<file>.request.json */
	const char *msg;                /* the message as the API shows it */
	const char *from_golden;        /* a member copied from the golden file as given */
};

#define MSG(rest) "{\"id\":9,\"channel\":\"wa1\",\"conversation_id\":2,\"direction\":\"out\"," \
	"\"provider_message_id\":null,\"from\":\"15550783881\",\"to\":\"" TO "\",\"status\":\"queued\"," \
	"\"attempts\":0,\"reply_to\":null," rest "}"
/* The same without reply_to, for rows that set it. */
#define MSG2(rest) "{\"id\":9,\"channel\":\"wa1\",\"direction\":\"out\",\"to\":\"" TO "\"," rest "}"

static const struct golden_row golden_rows[] = {
	{ "text", MSG("\"type\":\"text\",\"text\":\"text-message-content\",\"preview_url\":false"),
	    NULL },
	{ "text", MSG("\"type\":\"text\",\"text\":\"text-message-content\""), NULL },
	{ "text_preview_url", MSG("\"type\":\"text\",\"text\":\"Please visit "
	    "https://youtu.be/hpltvTEiRrY.\",\"preview_url\":true"), NULL },
	{ "text_reply_context", "{\"to\":\"" TO "\",\"type\":\"text\",\"text\":\"<TEXT_MSG_CONTENT>\","
	    "\"preview_url\":false,\"reply_to\":{\"message_id\":4,"
	    "\"provider_message_id\":\"<MSGID_OF_PREV_MSG>\"}}", NULL },
	{ "image_link", MSG("\"type\":\"image\",\"text\":null,"
	    "\"media\":{\"url\":\"http(s)://image-url\"}"), NULL },
	{ "image_id", MSG("\"type\":\"image\",\"media\":{\"id\":\"<IMAGE_OBJECT_ID>\"}"), NULL },
	{ "image_id", MSG("\"type\":\"image\",\"media\":{\"id\":\"<IMAGE_OBJECT_ID>\","
	    "\"url\":\"https://ignored\"}"), NULL },
	{ "document_link", MSG("\"type\":\"document\",\"media\":{\"url\":\"<http(s)://document-url>\","
	    "\"caption\":\"<DOCUMENT-CAPTION-TEXT>\"}"), NULL },
	{ "document_link", MSG("\"type\":\"document\",\"text\":\"<DOCUMENT-CAPTION-TEXT>\","
	    "\"media\":{\"url\":\"<http(s)://document-url>\"}"), NULL },
	{ "audio_id", MSG("\"type\":\"audio\",\"text\":\"audio cannot carry this\","
	    "\"media\":{\"id\":\"<AUDIO_OBJECT_ID>\",\"caption\":\"nor this\"}"), NULL },
	{ "reaction", MSG("\"type\":\"reaction\",\"reaction\":{\"message_id\":3,"
	    "\"provider_message_id\":\"wamid.HBgLM...\",\"emoji\":\"\xf0\x9f\x98\x80\"}"), NULL },
	{ "location", MSG("\"type\":\"location\",\"location\":{\"latitude\":37.758056,"
	    "\"longitude\":-122.425332,\"name\":\"META HQ\","
	    "\"address\":\"1 Hacker Way, Menlo Park, CA 94025\"}"), NULL },
	{ "template_text", MSG("\"type\":\"template\",\"template\":{\"name\":\"template-name\","
	    "\"language\":\"language-and-locale-code\",\"components\":[{\"type\":\"body\","
	    "\"parameters\":[{\"type\":\"text\",\"text\":\"text-string\"},{\"type\":\"currency\","
	    "\"currency\":{\"fallback_value\":\"$100.99\",\"code\":\"USD\",\"amount_1000\":100990}},"
	    "{\"type\":\"date_time\",\"date_time\":{\"fallback_value\":\"February 25, 1977\","
	    "\"day_of_week\":5,\"year\":1977,\"month\":2,\"day_of_month\":25,\"hour\":15,"
	    "\"minute\":33,\"calendar\":\"GREGORIAN\"}}]}]}"), NULL },
	{ "template_media", MSG("\"template\":{\"name\":\"template-name\","
	    "\"language\":{\"code\":\"language-and-locale-code\"}}"), "template.components" },
	{ "template_quick_reply_buttons", MSG("\"type\":\"template\",\"template\":{"
	    "\"name\":\"template-name\",\"language\":\"language-and-locale-code\"}"),
	    "template.components" },
	{ "interactive_buttons", MSG("\"type\":\"interactive\",\"interactive\":{\"type\":\"button\","
	    "\"body\":{\"text\":\"<BUTTON_TEXT>\"},\"action\":{\"buttons\":[{\"type\":\"reply\","
	    "\"reply\":{\"id\":\"<UNIQUE_BUTTON_ID_1>\",\"title\":\"<BUTTON_TITLE_1>\"}},"
	    "{\"type\":\"reply\",\"reply\":{\"id\":\"<UNIQUE_BUTTON_ID_2>\","
	    "\"title\":\"<BUTTON_TITLE_2>\"}}]}}"), NULL },
	{ "interactive_list", MSG("\"type\":\"interactive\",\"interactive\":null"), "interactive" },
	{ "contacts", MSG("\"type\":\"contacts\""), "contacts" },
};

/* msg.<path> = golden.<path>, for members the API passes through as given. */
static void
copy_from_golden(json_t *msg, const json_t *golden, const char *path)
{
	const char *dot = strchr(path, '.');

	if (dot == NULL) {
		assert_non_null(json_object_get(golden, path));
		json_object_set_new(msg, path, json_deep_copy(json_object_get(golden, path)));
		return;
	}
	char head[64];
	snprintf(head, sizeof(head), "%.*s", (int)(dot - path), path);
	assert_non_null(json_object_get(msg, head));
	copy_from_golden(json_object_get(msg, head), json_object_get(golden, head), dot + 1);
}

/* Every member of the golden body is in got with an equal value, and got adds
 * nothing but recipient_type and type (which some golden files leave out). */
static void
assert_matches_golden(const char *file, const json_t *golden, const json_t *got)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)golden, key, v) {
		const json_t *g = json_object_get(got, key);
		if (g == NULL || !json_equal(g, v)) {
			char *want = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
			char *have = g ? json_dumps(g, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
			print_error("%s: '%s' differs\n want %s\n  got %s\n", file, key, want,
			    have ? have : "(absent)");
			free(want);
			free(have);
			fail();
		}
	}
	json_object_foreach((json_t *)got, key, v)
		if (json_object_get(golden, key) == NULL && strcmp(key, "recipient_type") != 0 &&
		    strcmp(key, "type") != 0)
			fail_msg("%s: unexpected member '%s'", file, key);
	assert_string_equal(json_string_value(json_object_get(got, "recipient_type")), "individual");
}

static void
assert_corpus_request(const struct send_request *r)
{
	assert_string_equal(r->method, "POST");
	assert_string_equal(r->url, "https://graph.facebook.com/v23.0/" PNID "/messages");
	assert_int_equal(r->nheaders, 2);
	assert_string_equal(header(r, "Authorization"), "Authorization: Bearer " TOKEN);
	assert_string_equal(header(r, "Content-Type"), "Content-Type: application/json");
}

static void
test_golden_row(void **state)
{
	const struct golden_row *row = *state;
	struct channel *ch = corpus_channel();
	struct send_request req;
	struct channel_error err = { 0 };
	char rel[256];
	json_t *golden, *msg, *got;

	snprintf(rel, sizeof(rel), "outbound/%s.request.json", row->file);
	golden = corpus_json("whatsapp_cloud", rel);
	json_object_set_new(golden, "to", json_string(TO));
	msg = parse(row->msg);
	if (row->from_golden)
		copy_from_golden(msg, golden, row->from_golden);

	if (ch->ops->send_prepare(ch, msg, &req, &err) != 0)
		fail_msg("%s: refused: %s: %s", row->file, err.field, err.message);
	assert_corpus_request(&req);
	got = request_body(&req);
	assert_matches_golden(row->file, golden, got);

	json_decref(got);
	json_decref(msg);
	json_decref(golden);
	send_request_free(&req);
	channel_free(ch);
}

/* The request line and headers of send.request.headers.txt, exactly. */
static void
test_request_headers(void **state)
{
	struct channel *ch = corpus_channel();
	struct channel_error err = { 0 };
	struct send_request req;
	char method[16], path[256], url[600], host[256] = "";
	size_t len, nheaders = 0;
	char *txt = corpus_load("whatsapp_cloud", "outbound/send.request.headers.txt", &len);
	json_t *msg = parse(MSG("\"type\":\"text\",\"text\":\"hi\""));

	assert_int_equal(ch->ops->send_prepare(ch, msg, &req, &err), 0);
	char *save = NULL, *line = strtok_r(txt, "\r\n", &save);
	assert_non_null(line);
	assert_int_equal(sscanf(line, "%15s %255s", method, path), 2);
	assert_string_equal(req.method, method);
	while ((line = strtok_r(NULL, "\r\n", &save)) != NULL) {
		if (strncmp(line, "Host: ", 6) == 0) {
			snprintf(host, sizeof(host), "%s", line + 6);
			continue;
		}
		const char *colon = strchr(line, ':');
		assert_non_null(colon);
		char name[64];
		snprintf(name, sizeof(name), "%.*s", (int)(colon - line), line);
		assert_non_null(header(&req, name));
		assert_string_equal(header(&req, name), line);
		nheaders++;
	}
	snprintf(url, sizeof(url), "https://%s%s", host, path);
	assert_string_equal(req.url, url);
	assert_int_equal(req.nheaders, nheaders);

	free(txt);
	json_decref(msg);
	send_request_free(&req);
	channel_free(ch);
}

/* A trailing slash on api_base_url, and the default version and base. */
static void
test_url(void **state)
{
	static const struct {
		const char *cfg;
		const char *url;
	} cases[] = {
		{ "\"api_base_url\":\"http://127.0.0.1:8080/\"",
		    "http://127.0.0.1:8080/v21.0/" PNID "/messages" },
		{ "\"api_base_url\":\"http://127.0.0.1:8080/graph//\",\"api_version\":\"v22.0\"",
		    "http://127.0.0.1:8080/graph/v22.0/" PNID "/messages" },
		{ NULL, "https://graph.facebook.com/v21.0/" PNID "/messages" },
	};
	json_t *msg = parse(MSG("\"type\":\"text\",\"text\":\"hi\""));

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct channel *ch = open_channel(cases[i].cfg);
		struct channel_error err = { 0 };
		struct send_request req;
		assert_int_equal(ch->ops->send_prepare(ch, msg, &req, &err), 0);
		assert_string_equal(req.url, cases[i].url);
		send_request_free(&req);
		assert_int_equal(ch->ops->read_prepare(ch, "wamid.X", &req), 0);
		assert_string_equal(req.url, cases[i].url);
		send_request_free(&req);
		channel_free(ch);
	}
	json_decref(msg);
}

static void
test_read_prepare(void **state)
{
	struct channel *ch = corpus_channel();
	struct send_request req;
	json_t *golden = corpus_json("whatsapp_cloud", "outbound/mark_read.request.json"), *got;
	const char *id = json_string_value(json_object_get(golden, "message_id"));

	assert_non_null(id);
	assert_int_equal(ch->ops->read_prepare(ch, id, &req), 0);
	assert_corpus_request(&req);
	got = request_body(&req);
	assert_true(json_equal(got, golden));
	json_decref(got);
	send_request_free(&req);

	assert_int_equal(ch->ops->read_prepare(ch, "", &req), -1);
	assert_null(req.body);
	assert_int_equal(ch->ops->read_prepare(ch, NULL, &req), -1);
	assert_int_equal(ch->ops->read_prepare(ch, "bad\xff", &req), -1);
	send_request_free(&req);
	json_decref(golden);
	channel_free(ch);
}

/* Bodies without a golden file. */
static void
expect_body(struct channel *ch, const char *msg_text, const char *want_text)
{
	struct channel_error err = { 0 };
	struct send_request req;
	json_t *msg = parse(msg_text), *want = parse(want_text), *got;

	if (ch->ops->send_prepare(ch, msg, &req, &err) != 0)
		fail_msg("refused: %s: %s: %s", err.field, err.message, msg_text);
	got = request_body(&req);
	if (!json_equal(got, want)) {
		char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
		print_error("want %s\n got %s\n", want_text, g);
		free(g);
		fail();
	}
	json_decref(got);
	json_decref(want);
	json_decref(msg);
	send_request_free(&req);
}

#define BODY(rest) "{\"messaging_product\":\"whatsapp\",\"recipient_type\":\"individual\"," \
	"\"to\":\"" TO "\"," rest "}"

static void
test_other_bodies(void **state)
{
	struct channel *ch = corpus_channel();

	/* variables: an array fills {{1}}.. in order, an object names parameters. */
	expect_body(ch, MSG("\"type\":\"template\",\"template\":{\"name\":\"order\",\"language\":\"en_US\","
	    "\"variables\":[\"Ana\",42,1.5]}"),
	    BODY("\"type\":\"template\",\"template\":{\"name\":\"order\",\"language\":{\"code\":\"en_US\"},"
	    "\"components\":[{\"type\":\"body\",\"parameters\":[{\"type\":\"text\",\"text\":\"Ana\"},"
	    "{\"type\":\"text\",\"text\":\"42\"},{\"type\":\"text\",\"text\":\"1.5\"}]}]}"));
	expect_body(ch, MSG("\"template\":{\"name\":\"order\",\"language\":\"en_US\","
	    "\"variables\":{\"name\":\"Ana\",\"order\":\"B-7\"}}"),
	    BODY("\"type\":\"template\",\"template\":{\"name\":\"order\",\"language\":{\"code\":\"en_US\"},"
	    "\"components\":[{\"type\":\"body\",\"parameters\":[{\"type\":\"text\","
	    "\"parameter_name\":\"name\",\"text\":\"Ana\"},{\"type\":\"text\","
	    "\"parameter_name\":\"order\",\"text\":\"B-7\"}]}]}"));
	/* components win over variables; no parameters at all is fine. */
	expect_body(ch, MSG("\"type\":\"template\",\"template\":{\"name\":\"t\",\"language\":\"en\","
	    "\"components\":[],\"variables\":[\"x\"]}"),
	    BODY("\"type\":\"template\",\"template\":{\"name\":\"t\",\"language\":{\"code\":\"en\"},"
	    "\"components\":[]}"));
	expect_body(ch, MSG("\"type\":\"template\",\"template\":{\"name\":\"hello_world\","
	    "\"language\":\"en_US\",\"variables\":[]}"),
	    BODY("\"type\":\"template\",\"template\":{\"name\":\"hello_world\","
	    "\"language\":{\"code\":\"en_US\"}}"));
	/* Captions: video and document take media.caption, else text; documents a filename. */
	expect_body(ch, MSG("\"type\":\"video\",\"text\":\"watch\",\"media\":{\"url\":\"https://v\"}"),
	    BODY("\"type\":\"video\",\"video\":{\"link\":\"https://v\",\"caption\":\"watch\"}"));
	expect_body(ch, MSG("\"type\":\"document\",\"text\":\"t\",\"media\":{\"id\":\"77\","
	    "\"caption\":\"c\",\"filename\":\"a.pdf\"}"),
	    BODY("\"type\":\"document\",\"document\":{\"id\":\"77\",\"caption\":\"c\","
	    "\"filename\":\"a.pdf\"}"));
	expect_body(ch, MSG("\"type\":\"image\",\"media\":{\"url\":\"https://i\",\"filename\":\"x\","
	    "\"caption\":\"\"}"),
	    BODY("\"type\":\"image\",\"image\":{\"link\":\"https://i\"}"));
	expect_body(ch, MSG("\"type\":\"sticker\",\"text\":\"no\",\"media\":{\"id\":\"5\","
	    "\"caption\":\"no\"}"),
	    BODY("\"type\":\"sticker\",\"sticker\":{\"id\":\"5\"}"));
	/* A reply to a media message; a reply_to given as the provider id itself. */
	expect_body(ch, MSG2("\"type\":\"image\",\"media\":{\"id\":\"1\"},"
	    "\"reply_to\":{\"message_id\":null,\"provider_message_id\":\"wamid.Q\"}"),
	    BODY("\"type\":\"image\",\"image\":{\"id\":\"1\"},\"context\":{\"message_id\":\"wamid.Q\"}"));
	expect_body(ch, MSG2("\"type\":\"text\",\"text\":\"x\",\"reply_to\":\"wamid.Q\""),
	    BODY("\"type\":\"text\",\"text\":{\"body\":\"x\",\"preview_url\":false},"
	    "\"context\":{\"message_id\":\"wamid.Q\"}"));
	/* A quoted message that has no provider id (yet): sent without context. */
	expect_body(ch, MSG2("\"type\":\"text\",\"text\":\"x\","
	    "\"reply_to\":{\"message_id\":5,\"provider_message_id\":null}"),
	    BODY("\"type\":\"text\",\"text\":{\"body\":\"x\",\"preview_url\":false}"));
	/* A reaction never quotes; "" removes one. Location without name or address. */
	expect_body(ch, MSG2("\"type\":\"reaction\",\"reaction\":{\"provider_message_id\":\"wamid.R\","
	    "\"emoji\":\"\"},\"reply_to\":{\"provider_message_id\":\"wamid.Q\"}"),
	    BODY("\"type\":\"reaction\",\"reaction\":{\"message_id\":\"wamid.R\",\"emoji\":\"\"}"));
	expect_body(ch, MSG("\"type\":\"location\",\"location\":{\"latitude\":-90,\"longitude\":180}"),
	    BODY("\"type\":\"location\",\"location\":{\"latitude\":-90,\"longitude\":180}"));
	/* No type: text. Text is byte-exact, \u0000 included. */
	expect_body(ch, "{\"to\":\"" TO "\",\"text\":\"a\\u0000b \\ud83d\\ude00\"}",
	    BODY("\"type\":\"text\",\"text\":{\"body\":\"a\\u0000b \\ud83d\\ude00\","
	    "\"preview_url\":false}"));
	channel_free(ch);
}

/* Invalid messages */

static const struct {
	const char *msg;
	const char *field;
} invalid_rows[] = {
	{ "[]", "message" },
	{ "{\"type\":\"text\",\"text\":\"x\"}", "to" },
	{ "{\"to\":\"\",\"type\":\"text\",\"text\":\"x\"}", "to" },
	{ "{\"to\":16505551234,\"type\":\"text\",\"text\":\"x\"}", "to" },
	{ MSG("\"type\":\"text\",\"text\":\"\""), "text" },
	{ MSG("\"type\":\"text\""), "text" },
	{ MSG("\"type\":\"text\",\"text\":null"), "text" },
	{ MSG("\"type\":\"poll\",\"text\":\"x\""), "type" },
	{ MSG("\"type\":\"voice\",\"media\":{\"id\":\"1\"}"), "type" },
	{ MSG("\"type\":7,\"text\":\"x\""), "type" },
	{ MSG("\"type\":\"image\""), "media" },
	{ MSG("\"type\":\"image\",\"media\":{}"), "media.url" },
	{ MSG("\"type\":\"document\",\"media\":{\"url\":\"\",\"id\":\"\",\"caption\":\"c\"}"),
	    "media.url" },
	{ MSG("\"type\":\"audio\",\"media\":{\"url\":7}"), "media.url" },
	{ MSG("\"type\":\"location\""), "location" },
	{ MSG("\"type\":\"location\",\"location\":{\"longitude\":1}"), "location.latitude" },
	{ MSG("\"type\":\"location\",\"location\":{\"latitude\":91,\"longitude\":1}"),
	    "location.latitude" },
	{ MSG("\"type\":\"location\",\"location\":{\"latitude\":1,\"longitude\":\"2\"}"),
	    "location.longitude" },
	{ MSG("\"type\":\"template\""), "template" },
	{ MSG("\"type\":\"template\",\"template\":{\"language\":\"en\"}"), "template.name" },
	{ MSG("\"type\":\"template\",\"template\":{\"name\":\"t\"}"), "template.language" },
	{ MSG("\"type\":\"template\",\"template\":{\"name\":\"t\",\"language\":{}}"),
	    "template.language" },
	{ MSG("\"type\":\"template\",\"template\":{\"name\":\"t\",\"language\":\"en\","
	    "\"components\":{}}"), "template.components" },
	{ MSG("\"type\":\"template\",\"template\":{\"name\":\"t\",\"language\":\"en\","
	    "\"variables\":\"x\"}"), "template.variables" },
	{ MSG("\"type\":\"template\",\"template\":{\"name\":\"t\",\"language\":\"en\","
	    "\"variables\":[\"a\",{}]}"), "template.variables" },
	{ MSG("\"type\":\"template\",\"template\":{\"name\":\"t\",\"language\":\"en\","
	    "\"variables\":{\"a\":null}}"), "template.variables" },
	{ MSG("\"type\":\"interactive\",\"interactive\":\"x\""), "interactive" },
	{ MSG("\"type\":\"interactive\",\"interactive\":{}"), "interactive" },
	{ MSG("\"type\":\"reaction\""), "reaction" },
	{ MSG("\"type\":\"reaction\",\"reaction\":{\"message_id\":3,\"emoji\":\"x\"}"),
	    "reaction.provider_message_id" },
	{ MSG("\"type\":\"reaction\",\"reaction\":{\"message_id\":3,\"provider_message_id\":null,"
	    "\"emoji\":\"x\"}"), "reaction.provider_message_id" },
	{ MSG("\"type\":\"reaction\",\"reaction\":{\"provider_message_id\":\"w\"}"),
	    "reaction.emoji" },
	{ MSG("\"type\":\"contacts\",\"contacts\":[]"), "contacts" },
};

static void
test_invalid_messages(void **state)
{
	struct channel *ch = corpus_channel();

	for (size_t i = 0; i < ARRAY_LEN(invalid_rows); i++) {
		struct channel_error err = { 0 };
		struct send_request req;
		json_t *msg = json_loads(invalid_rows[i].msg, JSON_DECODE_ANY, NULL);

		assert_non_null(msg);
		if (ch->ops->send_prepare(ch, msg, &req, &err) != -1)
			fail_msg("accepted: %s", invalid_rows[i].msg);
		if (strcmp(err.field, invalid_rows[i].field) != 0)
			fail_msg("field %s, want %s: %s", err.field, invalid_rows[i].field,
			    invalid_rows[i].msg);
		assert_true(err.message[0] != '\0');
		assert_null(strstr(err.message, TOKEN));
		assert_null(req.body);
		assert_null(req.url);
		assert_int_equal(req.nheaders, 0);
		send_request_free(&req);
		json_decref(msg);
	}
	channel_free(ch);
}

/* Config and the ops table */

static void
expect_config(const char *extra, int rc, const char *field)
{
	char text[1024];

	snprintf(text, sizeof(text), "{\"phone_number_id\":\"" PNID "\",\"access_token\":\"" TOKEN
	    "\",\"verify_token\":\"v\",\"app_secret\":\"s\",%s}", extra);
	expect_validate(&whatsapp_cloud_ops, text, rc, field);
}

static void
test_config(void **state)
{
	static const struct {
		const char *key;
		long long min, max;
	} ints[] = {
		{ "rate_per_second", 0, 10000 },
		{ "recipient_gap_ms", 0, 86400000 },
		{ "max_attempts", 1, 100 },
		{ "max_age_s", 60, 30 * 86400 },
		{ "breaker_threshold", 1, 1000 },
		{ "breaker_cooldown_s", 1, 86400 },
		{ "request_timeout_ms", 100, 120000 },
	};
	char extra[256], field[64];

	expect_config("\"rate_per_second\":0,\"recipient_gap_ms\":1000,\"enforce_window\":false,"
	    "\"max_attempts\":3,\"max_age_s\":3600,\"breaker_threshold\":5,"
	    "\"breaker_cooldown_s\":60,\"request_timeout_ms\":5000", 0, NULL);
	for (size_t i = 0; i < ARRAY_LEN(ints); i++) {
		snprintf(field, sizeof(field), "config.%s", ints[i].key);
		snprintf(extra, sizeof(extra), "\"%s\":%lld", ints[i].key, ints[i].min);
		expect_config(extra, 0, NULL);
		snprintf(extra, sizeof(extra), "\"%s\":%lld", ints[i].key, ints[i].max);
		expect_config(extra, 0, NULL);
		snprintf(extra, sizeof(extra), "\"%s\":%lld", ints[i].key, ints[i].min - 1);
		expect_config(extra, -1, field);
		snprintf(extra, sizeof(extra), "\"%s\":%lld", ints[i].key, ints[i].max + 1);
		expect_config(extra, -1, field);
		snprintf(extra, sizeof(extra), "\"%s\":\"5\"", ints[i].key);
		expect_config(extra, -1, field);
		snprintf(extra, sizeof(extra), "\"%s\":1.5", ints[i].key);
		expect_config(extra, -1, field);
		snprintf(extra, sizeof(extra), "\"%s\":null", ints[i].key);
		expect_config(extra, -1, field);
	}
	expect_config("\"enforce_window\":true", 0, NULL);
	expect_config("\"enforce_window\":\"no\"", -1, "config.enforce_window");
	expect_config("\"enforce_window\":0", -1, "config.enforce_window");
	/* What ends up in the request line and headers. */
	expect_config("\"api_base_url\":\"https://graph.facebook.com/ x\"", -1, "config.api_base_url");
	expect_config("\"api_version\":\"v21.0/../x\"", -1, "config.api_version");
	expect_config("\"phone_number_id\":\"1?x=2\"", -1, "config.phone_number_id");
	expect_config("\"phone_number_id\":\"1 2\"", -1, "config.phone_number_id");
	expect_config("\"phone_number_id\":\"" PNID "\",\"access_token\":\"t\\r\\nX-Evil: 1\"",
	    -1, "config.access_token");
}

static void
test_ops_table(void **state)
{
	const struct channel_ops *o = &whatsapp_cloud_ops;
	struct channel *ch = open_channel("\"enforce_window\":false,\"rate_per_second\":0");

	assert_non_null(o->send_prepare);
	assert_non_null(o->send_classify);
	assert_non_null(o->read_prepare);
	assert_null(o->send_local);
	assert_string_equal(send_outcome_name(SEND_RECIPIENT_THROTTLED), "recipient_throttled");

	/* A closed channel sends nothing. */
	struct channel_error err = { 0 };
	struct send_request req;
	json_t *msg = parse(MSG("\"type\":\"text\",\"text\":\"hi\""));
	o->close(ch);
	assert_int_equal(o->send_prepare(ch, msg, &req, &err), -1);
	assert_string_equal(err.field, "channel");
	assert_int_equal(o->read_prepare(ch, "wamid.X", &req), -1);
	assert_int_equal(o->open(ch), 0);
	assert_int_equal(o->send_prepare(ch, msg, &req, &err), 0);
	send_request_free(&req);
	json_decref(msg);
	channel_free(ch);
}

int
main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_errors_complete),
		cmocka_unit_test(test_classify_ok),
		cmocka_unit_test(test_retry_after_date),
		cmocka_unit_test(test_classify_long_text),
		cmocka_unit_test(test_request_headers),
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_read_prepare),
		cmocka_unit_test(test_other_bodies),
		cmocka_unit_test(test_invalid_messages),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_ops_table),
	};
	enum { NE = ARRAY_LEN(err_rows), NS = ARRAY_LEN(synth_rows), NG = ARRAY_LEN(golden_rows) };
	static char names[NG][96];
	struct CMUnitTest tests[NE + NS + NG + ARRAY_LEN(fixed)];
	size_t n = 0;

	/* One named test per table row, then the rest. */
	for (size_t i = 0; i < NE; i++)
		tests[n++] = (struct CMUnitTest){ .name = err_rows[i].file,
		    .test_func = test_error_row, .initial_state = (void *)&err_rows[i] };
	for (size_t i = 0; i < NS; i++)
		tests[n++] = (struct CMUnitTest){ .name = synth_rows[i].name,
		    .test_func = test_synth_row, .initial_state = (void *)&synth_rows[i] };
	for (size_t i = 0; i < NG; i++) {
		snprintf(names[i], sizeof(names[i]), "golden %s #%zu", golden_rows[i].file, i);
		tests[n++] = (struct CMUnitTest){ .name = names[i],
		    .test_func = test_golden_row, .initial_state = (void *)&golden_rows[i] };
	}
	for (size_t i = 0; i < ARRAY_LEN(fixed); i++)
		tests[n++] = fixed[i];
	return cmocka_run_group_tests_name("whatsapp_send", tests, NULL, NULL);
}
