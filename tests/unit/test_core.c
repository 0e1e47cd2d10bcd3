/* test_core.c - util, status ordering, config errors, the channel type table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "channels/address.h"
#include "channels/channel.h"
#include "config/config.h"
#include "core/model.h"
#include "util/util.h"

static void
test_rfc3339(void **state)
{
	char out[21];
	int64_t t;

	fmt_rfc3339(1749416383, out);
	assert_string_equal(out, "2025-06-08T20:59:43Z");
	assert_int_equal(parse_rfc3339("2025-06-08T20:59:43Z", &t), 0);
	assert_int_equal(t, 1749416383);
	assert_int_equal(parse_rfc3339("2025-06-08T22:59:43.250+02:00", &t), 0);
	assert_int_equal(t, 1749416383);
	assert_int_equal(parse_rfc3339("2025-06-08 20:59", &t), -1);
	assert_int_equal(parse_rfc3339("2025-13-08T20:59:43Z", &t), -1);
	assert_int_equal(parse_rfc3339("2025-06-08T20:59:43Zjunk", &t), -1);
	/* An offset must not carry the time out of years 0000..9999 (found by
	 * fuzz_params: year 10000 left fmt_rfc3339's buffer unterminated). */
	assert_int_equal(parse_rfc3339("9999-12-31T23:59:59-23:59", &t), -1);
	assert_int_equal(parse_rfc3339("0000-01-01T00:00:00+00:01", &t), -1);
	assert_int_equal(parse_rfc3339("9999-12-31T23:59:59Z", &t), 0);
	assert_int_equal(t, RFC3339_MAX_S);
	/* Always four digits of year, clamped to the range. */
	memset(out, 'X', sizeof(out));
	fmt_rfc3339(-62135596800LL, out);
	assert_string_equal(out, "0001-01-01T00:00:00Z");
	memset(out, 'X', sizeof(out));
	fmt_rfc3339(RFC3339_MAX_S + 86400, out);
	assert_string_equal(out, "9999-12-31T23:59:59Z");
}

static void
test_parse_i64(void **state)
{
	int64_t v;
	assert_int_equal(parse_i64("42", &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(parse_i64("", &v), -1);
	assert_int_equal(parse_i64("4x", &v), -1);
	assert_int_equal(parse_i64("99999999999999999999", &v), -1);
	assert_int_equal(parse_i64("-12", &v), 0);
	assert_int_equal(v, -12);
	assert_int_equal(parse_i64("9223372036854775807", &v), 0);
	assert_int_equal(v, INT64_MAX);
	assert_int_equal(parse_i64("9223372036854775808", &v), -1);
	/* Only digits: strtoll's leniencies are refused. */
	static const char *const bad[] = { "+5", " 5", "5 ", "\t5", "--5", "-", "+", "0x10", "5\n",
		"-+5", "1e3", "5.0" };
	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		if (parse_i64(bad[i], &v) == 0)
			fail_msg("parse_i64 accepted '%s'", bad[i]);
}

static void
test_parse_digits(void **state)
{
	static const struct {
		const char *in;
		size_t max;
		int rc;
		int64_t v;
	} cases[] = {
		{ "0", 18, 0, 0 }, { "5", 18, 0, 5 }, { "007", 18, 0, 7 },
		{ "123456789012345678", 18, 0, 123456789012345678 },
		{ "1234567890123456789", 18, -1, 0 },   /* too long */
		{ "9223372036854775807", 19, 0, INT64_MAX },
		{ "9223372036854775808", 19, -1, 0 },   /* overflow */
		{ "", 18, -1, 0 }, { "+5", 18, -1, 0 }, { "-5", 18, -1, 0 }, { " 5", 18, -1, 0 },
		{ "5 ", 18, -1, 0 }, { "%205", 18, -1, 0 }, { "5a", 18, -1, 0 }, { "\xd9\xa5", 18, -1, 0 },
		{ "12", 1, -1, 0 }, { "1", 20, -1, 0 },  /* a cap over 19 digits is refused */
	};
	int64_t v;

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		v = -1;
		int rc = parse_digits(cases[i].in, cases[i].max, &v);
		if (rc != cases[i].rc || (rc == 0 && v != cases[i].v))
			fail_msg("parse_digits('%s', %zu): %d %lld", cases[i].in, cases[i].max, rc, (long long)v);
	}
	assert_int_equal(parse_digits(NULL, 18, &v), -1);
}

static void
test_ct_equal_and_hex(void **state)
{
	unsigned char h[32];
	char hex[65];

	assert_true(ct_equal("abc", 3, "abc", 3));
	assert_false(ct_equal("abc", 3, "abd", 3));
	assert_false(ct_equal("abc", 3, "ab", 2));
	hmac_sha256("key", 3, "The quick brown fox jumps over the lazy dog", 43, h);
	hex_encode(h, 32, hex);
	assert_string_equal(hex, "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
}

static void
test_utf8(void **state)
{
	assert_true(utf8_valid("h\xc3\xa9llo \xf0\x9f\x98\xae", 11));
	assert_false(utf8_valid("\xff", 1));
	assert_false(utf8_valid("\xc3", 1));              /* truncated */
	assert_false(utf8_valid("\xc0\xaf", 2));          /* overlong */
	assert_false(utf8_valid("\xed\xa0\x80", 3));      /* surrogate */
}

static void
test_buf_cap(void **state)
{
	struct buf b;
	buf_init(&b, 8);
	assert_int_equal(buf_append(&b, "12345", 5), 0);
	assert_int_equal(buf_append(&b, "6789", 4), -1);
	assert_int_equal(b.len, 5);
	assert_int_equal(buf_append(&b, "678", 3), 0);
	assert_string_equal(b.data, "12345678");
	buf_free(&b);
}

static void
test_json_parse_capped(void **state)
{
	json_t *v;
	char err[256];
	char deep[200];

	assert_int_equal(json_parse_capped("{\"a\":\"x\\u0000y\"}", 16, 64, &v, err, sizeof(err)), 0);
	assert_int_equal(json_string_length(json_object_get(v, "a")), 3);
	json_decref(v);
	assert_int_equal(json_parse_capped("{\"a\":", 5, 64, &v, err, sizeof(err)), -1);
	assert_null(v);
	assert_int_equal(json_parse_capped("\"\xff\"", 3, 64, &v, err, sizeof(err)), -1);
	assert_int_equal(json_parse_capped("\"a\x01\"", 4, 64, &v, err, sizeof(err)), -1);
	assert_int_equal(json_parse_capped("{} x", 4, 64, &v, err, sizeof(err)), -1);
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	assert_int_equal(json_parse_capped(deep, 200, 64, &v, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "deeper"));
	assert_int_equal(json_parse_capped(deep + 36, 128, 64, &v, err, sizeof(err)), 0);
	json_decref(v);
}

/* Duplicate object keys are refused everywhere, naming the key; the same
 * key in different objects is fine. */
static void
test_json_duplicate_keys(void **state)
{
	static const struct {
		const char *in;
		const char *key; /* quoted in the error; NULL: accepted */
	} cases[] = {
		{ "{\"to\":\"1\",\"to\":\"2\"}", "'to'" },
		{ "{\"a\":{\"b\":1,\"c\":2,\"b\":3}}", "'b'" },
		{ "[{\"k\":1},{\"k\":2}]", NULL },
		{ "{\"k\":{\"k\":1}}", NULL },
		{ "{\"a\":1,\"\\u0061\":2}", "'a'" },          /* the same key, escaped */
		{ "{\"x\":null,\"x\":null}", "'x'" },
		{ "{\"\xc3\xa9\":1,\"\xc3\xa9\":1}", "'?" "?'" }, /* non-ASCII quoted as '?' */
		{ "{\"s\\ud83d\\ude00\":1,\"s\\ud83d\\ude00\":2}", "\"s" }, /* jansson's path */
		{ "{\"s\\ud83d\\ude00\":1,\"t\":2}", NULL },
	};
	char err[256], big[256];
	json_t *v;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = json_parse_capped(cases[i].in, strlen(cases[i].in), 64, &v, err, sizeof(err));
		if (cases[i].key == NULL) {
			if (r != 0)
				fail_msg("refused %s: %s", cases[i].in, err);
			json_decref(v);
			continue;
		}
		if (r == 0 || v != NULL)
			fail_msg("accepted %s", cases[i].in);
		if (strstr(err, "duplicate object key") == NULL || strstr(err, cases[i].key) == NULL)
			fail_msg("%s: error '%s' does not name %s", cases[i].in, err, cases[i].key);
	}
	/* A long key is quoted up to a cap. */
	snprintf(big, sizeof(big), "{\"%0100d\":1,\"%0100d\":2}", 0, 0);
	assert_int_equal(json_parse_capped(big, strlen(big), 64, &v, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "...'"));
	assert_true(strlen(err) < 160);
}

/* json_parse_capped lexes with yajl but must accept and refuse exactly what
 * jansson's own strict parser does, and build the same tree: compare the two
 * on tricky inputs and on many random mutations of a webhook. */
static void
expect_same_as_jansson(const char *in, size_t len)
{
	json_t *a = NULL, *b;
	char err[256];
	int ra = json_parse_capped(in, len, 64, &a, err, sizeof(err));

	b = json_loadb(in, len, JSON_ALLOW_NUL | JSON_DECODE_ANY, NULL);
	/* The one intended difference: jansson keeps the last of duplicate
	 * keys, ours refuses them (and jansson agrees when asked to). */
	if (ra != 0 && b != NULL && strstr(err, "duplicate object key") != NULL) {
		json_decref(b);
		b = json_loadb(in, len, JSON_ALLOW_NUL | JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
		if (b != NULL)
			fail_msg("ours saw a duplicate key that jansson did not: %.*s", (int)len, in);
		return;
	}
	if ((ra == 0) != (b != NULL))
		fail_msg("parsers disagree (ours %d) on %zu bytes: %.*s", ra, len, (int)len, in);
	if (b != NULL && !json_equal(a, b))
		fail_msg("different trees for: %.*s", (int)len, in);
	json_decref(a);
	json_decref(b);
}

static void
test_json_parse_matches_jansson(void **state)
{
	static const char *const cases[] = {
		"{}", "[]", "0", "-0", "1.5", "1e3", "1E-2", "-1.25e+10", "1e400", "-1e400", "1e-400",
		"9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
		"01", "1.", ".5", "+1", "--1", "0x10", "NaN", "Infinity", "true", "false", "null", "nul",
		"\"a\"", "\"\\u00e9\"", "\"\\ud83d\\ude00\"", "\"\\ud83d\"", "\"\\ude00\"",
		"\"\\ud83dx\"", "\"\\ud83d\\u0041\"", "\"\\u12\"", "\"\\x\"", "\"\\/\"",
		"\"\xc3\xa9\"", "\"\xc3\"", "\"\xe0\x80\x80\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
		"\"\t\"", "\"\x7f\"", "{\"a\":1,\"a\":2}", "{\"a\":1,}", "[1,]", "[1 2]", "{\"a\" 1}",
		"{1:2}", "{\"\\u0000\":1}", "{\"a\\u0000b\":1}", "[] []", "[]x", " [ ] ", "", " ",
		"/* c */ 1", "[1]//", "{\"k\":{\"k\":[{\"k\":null}]}}", "\"\\u0000\"",
	};
	const char *base = "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"1\","
	    "\"changes\":[{\"value\":{\"messages\":[{\"from\":\"16505550001\",\"id\":\"wamid.x\","
	    "\"type\":\"text\",\"n\":-12.5e1,\"ok\":true,\"text\":{\"body\":\"h\\u00e9llo \xc3\xa9 \\n\"}}]},"
	    "\"field\":\"messages\"}]}]}";
	static const char alphabet[] = "{}[],:\"\\u0123456789eE.-+tfnlaxdD \x01\x80\xc3\xa9\xed\xff";
	size_t blen = strlen(base);
	char m[512];
	unsigned seed = 12345;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_same_as_jansson(cases[i], strlen(cases[i]));
	expect_same_as_jansson(base, blen);
	for (int round = 0; round < 20000; round++) {
		memcpy(m, base, blen);
		size_t n = blen;
		for (int k = 0; k < 1 + round % 3; k++) {
			seed = seed * 1103515245 + 12345;
			size_t at = (seed >> 8) % n;
			seed = seed * 1103515245 + 12345;
			switch ((seed >> 8) % 3) {
			case 0: /* replace */
				m[at] = alphabet[(seed >> 12) % (sizeof(alphabet) - 1)];
				break;
			case 1: /* delete */
				memmove(m + at, m + at + 1, n - at - 1);
				n--;
				break;
			default: /* insert */
				if (n + 1 < sizeof(m)) {
					memmove(m + at + 1, m + at, n - at);
					m[at] = alphabet[(seed >> 12) % (sizeof(alphabet) - 1)];
					n++;
				}
			}
		}
		expect_same_as_jansson(m, n);
	}
}

static void
test_status_order(void **state)
{
	assert_true(status_may_replace(ST_ACCEPTED, ST_SENT));
	assert_true(status_may_replace(ST_SENT, ST_DELIVERED));
	assert_true(status_may_replace(ST_SENT, ST_READ));
	assert_false(status_may_replace(ST_READ, ST_DELIVERED));
	assert_false(status_may_replace(ST_DELIVERED, ST_SENT));
	assert_false(status_may_replace(ST_READ, ST_READ));
	assert_true(status_may_replace(ST_SENT, ST_FAILED));
	assert_false(status_may_replace(ST_FAILED, ST_READ));
	assert_false(status_may_replace(ST_FAILED, ST_FAILED));
	assert_false(status_may_replace(ST_READ, ST_FAILED));
	assert_true(status_may_replace(ST_QUEUED, ST_CANCELLED));
	assert_false(status_may_replace(ST_SENT, ST_CANCELLED));
	assert_int_equal(status_parse("played"), ST_READ);
	assert_int_equal(status_parse("delivered"), ST_DELIVERED);
	assert_int_equal(status_parse("bogus"), ST_NONE);
	assert_string_equal(status_name(ST_FAILED), "failed");
}

static char *
write_tmp(const char *content)
{
	char *path = xstrdup("/tmp/msgd-test-conf-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	return path;
}

static void
expect_config_error(const char *content, const char *needle)
{
	struct config c;
	char err[CONFIG_ERR_MAX];
	char *path = write_tmp(content);

	config_defaults(&c);
	assert_int_equal(config_load_file(&c, path, err), -1);
	if (strstr(err, needle) == NULL)
		fail_msg("error '%s' lacks '%s'", err, needle);
	assert_non_null(strstr(err, path));
	unlink(path);
	free(path);
}

static void
test_config(void **state)
{
	struct config c;
	char err[CONFIG_ERR_MAX];
	char *path = write_tmp("listen = \"127.0.0.1:9000\";\n# comment\nbody_limit = 2048;\n"
	    "log_level = \"warn\";\n");

	config_defaults(&c);
	assert_int_equal(config_load_file(&c, path, err), 0);
	assert_string_equal(c.listen, "127.0.0.1:9000");
	assert_int_equal(c.body_limit, 2048);
	assert_int_equal(c.log_level, LOGL_WARN);
	unlink(path);
	free(path);

	expect_config_error("listen = \"127.0.0.1:9000\";\nfoo = 1;\n", ":2: unknown setting 'foo'");
	expect_config_error("listen = 8080;\n", ":1: 'listen' must be a string");
	expect_config_error("\n\nlisten = \"nope\";\n", ":3: listen:");
	expect_config_error("body_limit = 5;\n", ":1: 'body_limit' must be from");
	expect_config_error("listen = \"127.0.0.1:1\"\nbody_limit = ;\n", ":2:");
	expect_config_error("log_level = \"loud\";\n", ":1: log_level");

	assert_int_equal(config_parse_listen("[::1]:8080", NULL, 0, NULL), 0);
	assert_int_equal(config_parse_listen("127.0.0.1:70000", NULL, 0, NULL), -1);
	assert_int_equal(config_parse_listen("localhost:80", NULL, 0, NULL), -1);
}

/* Every adapter fills every mandatory slot; optional ones are consistent. */
static void
test_channel_types(void **state)
{
	size_t n = 0;
	for (size_t i = 0; channel_types[i]; i++, n++) {
		const struct channel_ops *o = channel_types[i];
		assert_non_null(o->type);
		assert_non_null(o->caps);
		assert_non_null(o->schema);
		assert_non_null(o->caps->send_types);
		assert_non_null(o->validate);
		assert_non_null(o->open);
		assert_non_null(o->close);
		assert_true((o->webhook_path == NULL) == (o->webhook == NULL));
		/* media slots (issue 14): both or neither */
		assert_true((o->media_fetch_prepare == NULL) == (o->media_fetch_parse == NULL));
		assert_true((o->media_upload_prepare == NULL) == (o->media_upload_parse == NULL));
		assert_ptr_equal(channel_type_find(o->type), o);
	}
	assert_true(n >= 2);
	assert_null(channel_type_find("carrier_pigeon"));
	assert_ptr_equal(channel_type_by_webhook_path("whatsapp"), &whatsapp_cloud_ops);
}

static void
test_registry_and_public_config(void **state)
{
	struct channel_registry *reg = registry_new();
	struct channel_error err = { 0 };
	json_t *cfg = json_pack("{s:s}", "contact_name", "Ada");

	assert_int_equal(sandbox_ops.validate(cfg, &err), 0);
	assert_int_equal(registry_add(reg, channel_new(7, "sb", &sandbox_ops, cfg, 1, 1)), 0);
	assert_non_null(registry_find_name(reg, CHANNEL_ORG_DEFAULT, "sb"));
	assert_non_null(registry_find_id(reg, 7));
	registry_remove(reg, 7);
	assert_null(registry_find_name(reg, CHANNEL_ORG_DEFAULT, "sb"));
	json_decref(cfg);

	cfg = json_pack("{s:s}", "bogus", "x");
	assert_int_equal(sandbox_ops.validate(cfg, &err), -1);
	assert_string_equal(err.field, "config.bogus");
	json_decref(cfg);

	assert_int_equal(channel_validate_name("ok-name_1.x", &err), 0);
	assert_int_equal(channel_validate_name("bad name", &err), -1);
	assert_int_equal(channel_validate_name("", &err), -1);
	registry_free(reg);
}

/* Every spelling of one phone number normalizes to its digits; anything
 * that is not a phone number is refused. */
static void
test_phone_normalize(void **state)
{
	static const struct {
		const char *in;
		size_t len;     /* 0: strlen(in) */
		const char *want; /* NULL: refused */
	} cases[] = {
		{ "15550001111", 0, "15550001111" },
		{ "+15550001111", 0, "15550001111" },
		{ "+1 555 000 1111", 0, "15550001111" },
		{ "1-555-000-1111", 0, "15550001111" },
		{ "+1 (555) 000-1111", 0, "15550001111" },
		{ "1.555.000.1111", 0, "15550001111" },
		{ "1555000111 ", 0, "1555000111" },
		{ "1234567", 0, "1234567" },                  /* 7 digits: the shortest */
		{ "123456789012345", 0, "123456789012345" },  /* 15: the longest */
		{ "123456", 0, NULL },                        /* too short */
		{ "+1 (23) 4-5.6", 0, NULL },                 /* 6 digits with formatting */
		{ "1234567890123456", 0, NULL },              /* too long */
		{ "++15550001111", 0, NULL },
		{ "1+5550001111", 0, NULL },
		{ " +15550001111", 0, NULL },                 /* '+' only first */
		{ "15550001111+", 0, NULL },
		{ "1555000111a", 0, NULL },
		{ "one5550001111", 0, NULL },
		{ "1555\t0001111", 0, NULL },
		{ "1555\n0001111", 0, NULL },
		{ "1555/000/1111", 0, NULL },
		{ "1555\xd9\xa1" "0001111", 0, NULL },         /* a non-ASCII digit */
		{ "1555\0000001111", 12, NULL },               /* embedded NUL */
		{ "", 0, NULL },
		{ "+", 0, NULL },
		{ "() -.", 0, NULL },
		{ "US.13491208655302741918", 0, NULL },       /* a WhatsApp user id */
		{ "1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2", 0, NULL },
	};
	char out[PHONE_DIGITS_MAX + 1], small[PHONE_DIGITS_MAX];

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
		strcpy(out, "untouched");
		int rc = phone_normalize(cases[i].in, len, out, sizeof(out));
		if (cases[i].want == NULL && (rc != -1 || strcmp(out, "untouched") != 0))
			fail_msg("accepted '%s' as '%s'", cases[i].in, out);
		if (cases[i].want != NULL && (rc != 0 || strcmp(out, cases[i].want) != 0))
			fail_msg("'%s': %d '%s', wanted '%s'", cases[i].in, rc, out, cases[i].want);
	}
	assert_int_equal(phone_normalize("15550001111", 11, small, sizeof(small)), -1);
	assert_int_equal(phone_normalize(NULL, 0, out, sizeof(out)), -1);

	/* Inbound ids: phone numbers normalized, other ids kept as they are. */
	char *p = phone_normalize_or_dup("+1 555 000 1111");
	assert_string_equal(p, "15550001111");
	free(p);
	p = phone_normalize_or_dup("5678");
	assert_string_equal(p, "5678");
	free(p);
	assert_null(phone_normalize_or_dup(NULL));
	assert_ptr_equal(sandbox_ops.address_normalize, phone_normalize);
	assert_ptr_equal(whatsapp_cloud_ops.address_normalize, phone_normalize);
}

static void
test_sandbox_inbound(void **state)
{
	struct ingest_batch b = { 0 };
	struct channel_error err = { 0 };
	json_t *cfg = json_object();
	struct channel *ch = channel_new(3, "sandbox", &sandbox_ops, cfg, 1, 1);
	json_t *body = json_pack("{s:s,s:s,s:s}", "from", "15550001111", "text", " hi \xf0\x9f\x98\xae ",
	    "name", "Ada");

	assert_int_equal(sandbox_ops.open(ch), 0);
	assert_int_equal(sandbox_ops.simulate_inbound(ch, body, &b, &err), 0);
	assert_int_equal(b.nmsgs, 1);
	assert_string_equal(b.msgs[0].text, " hi \xf0\x9f\x98\xae ");
	assert_string_equal(b.msgs[0].contact_address, "15550001111");
	assert_string_equal(b.msgs[0].contact_name, "Ada");
	json_decref(body);
	body = json_pack("{s:s,s:s}", "from", "+1 (555) 000-1111", "text", "x");
	assert_int_equal(sandbox_ops.simulate_inbound(ch, body, &b, &err), 0);
	assert_string_equal(b.msgs[1].from, "15550001111");
	assert_string_equal(b.msgs[1].contact_address, "15550001111");
	assert_int_equal(b.msgs[0].channel_id, 3);
	assert_non_null(b.msgs[0].provider_message_id);
	json_decref(body);

	body = json_pack("{s:s}", "text", "x");
	assert_int_equal(sandbox_ops.simulate_inbound(ch, body, &b, &err), -1);
	assert_string_equal(err.field, "from");
	json_decref(body);
	ingest_batch_free(&b);
	channel_free(ch);
	json_decref(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc3339),
		cmocka_unit_test(test_parse_i64),
		cmocka_unit_test(test_parse_digits),
		cmocka_unit_test(test_ct_equal_and_hex),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_buf_cap),
		cmocka_unit_test(test_json_parse_capped),
		cmocka_unit_test(test_json_parse_matches_jansson),
		cmocka_unit_test(test_json_duplicate_keys),
		cmocka_unit_test(test_status_order),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_channel_types),
		cmocka_unit_test(test_registry_and_public_config),
		cmocka_unit_test(test_phone_normalize),
		cmocka_unit_test(test_sandbox_inbound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
