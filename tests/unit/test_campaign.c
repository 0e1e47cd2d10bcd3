/* test_campaign.c - a campaign's pacing arithmetic (src/campaign/pace.c:
 * quiet hours at a UTC offset, time that flows only outside them) and the
 * content of a recipient's message (build.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "campaign/campaign_int.h"

#define MIN_MS (60LL * 1000)
#define HOUR_MS (3600LL * 1000)
#define DAY_MS (86400LL * 1000)
/* 2025-10-09T00:00:00Z */
#define T_MIDNIGHT 1759968000000LL

static struct quiet_hours
quiet(const char *start, const char *end, const char *tz)
{
	struct quiet_hours q;
	char err[160];
	json_t *v = json_pack("{s:s,s:s}", "start", start, "end", end);

	if (tz)
		json_object_set_new(v, "tz", json_string(tz));
	assert_int_equal(campaign_quiet_parse(v, &q, err, sizeof(err)), 0);
	json_decref(v);
	return q;
}

static void
test_quiet_parse(void **state)
{
	struct quiet_hours q;
	char err[160];
	const char *bad[] = {
		"{\"start\":\"21:00\",\"end\":\"21:00\"}",
		"{\"start\":\"24:00\",\"end\":\"08:00\"}",
		"{\"start\":\"9:00\",\"end\":\"08:00\"}",
		"{\"start\":\"21:00\"}",
		"{\"start\":\"21:00\",\"end\":\"08:00\",\"tz\":\"Europe/Oslo\"}",
		"{\"start\":\"21:00\",\"end\":\"08:00\",\"tz\":\"+15:00\"}",
		"{\"start\":\"21:00\",\"end\":\"08:00\",\"extra\":1}",
		"[]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *v = json_loads(bad[i], 0, NULL);
		err[0] = '\0';
		assert_int_equal(campaign_quiet_parse(v, &q, err, sizeof(err)), -1);
		assert_true(err[0] != '\0');
		json_decref(v);
	}
	assert_int_equal(campaign_quiet_parse(NULL, &q, err, sizeof(err)), 0);
	assert_false(q.set);
	q = quiet("21:00", "08:00", "-05:30");
	assert_true(q.set);
	assert_int_equal(q.offset_min, -330);
	assert_int_equal(q.start_min, 21 * 60);
	assert_int_equal(q.end_min, 8 * 60);
}

static void
test_quiet_at(void **state)
{
	struct quiet_hours q = quiet("21:00", "08:00", "UTC");

	assert_true(campaign_quiet_at(T_MIDNIGHT, &q));
	assert_true(campaign_quiet_at(T_MIDNIGHT + 8 * HOUR_MS - 1, &q));
	assert_false(campaign_quiet_at(T_MIDNIGHT + 8 * HOUR_MS, &q));
	assert_false(campaign_quiet_at(T_MIDNIGHT + 21 * HOUR_MS - 1, &q));
	assert_true(campaign_quiet_at(T_MIDNIGHT + 21 * HOUR_MS, &q));
	/* +03:00: 21:00 local is 18:00 UTC. */
	q = quiet("21:00", "08:00", "+03:00");
	assert_false(campaign_quiet_at(T_MIDNIGHT + 18 * HOUR_MS - 1, &q));
	assert_true(campaign_quiet_at(T_MIDNIGHT + 18 * HOUR_MS, &q));
	assert_false(campaign_quiet_at(T_MIDNIGHT + 5 * HOUR_MS, &q));
	/* Not wrapping midnight: 12:00-13:00. */
	q = quiet("12:00", "13:00", NULL);
	assert_true(campaign_quiet_at(T_MIDNIGHT + 12 * HOUR_MS + 30 * MIN_MS, &q));
	assert_false(campaign_quiet_at(T_MIDNIGHT + 13 * HOUR_MS, &q));
	assert_false(campaign_quiet_at(T_MIDNIGHT, NULL));
}

static void
test_advance(void **state)
{
	struct quiet_hours q = quiet("21:00", "08:00", "UTC"), none = { 0 };

	/* No quiet hours: plain addition. */
	assert_int_equal(campaign_advance(T_MIDNIGHT, 5 * MIN_MS, &none), T_MIDNIGHT + 5 * MIN_MS);
	/* Within quiet hours, d 0: the end of them. */
	assert_int_equal(campaign_advance(T_MIDNIGHT + HOUR_MS, 0, &q), T_MIDNIGHT + 8 * HOUR_MS);
	/* Outside: d 0 is t. */
	assert_int_equal(campaign_advance(T_MIDNIGHT + 10 * HOUR_MS, 0, &q), T_MIDNIGHT + 10 * HOUR_MS);
	/* 20:30 + 1 h of active time: 30 min before 21:00, 30 min after 08:00 the next day. */
	assert_int_equal(campaign_advance(T_MIDNIGHT + 20 * HOUR_MS + 30 * MIN_MS, HOUR_MS, &q),
	    T_MIDNIGHT + DAY_MS + 8 * HOUR_MS + 30 * MIN_MS);
	/* Three active days (13 h each) and 1 h from 08:00: day 4 at 09:00. */
	assert_int_equal(campaign_advance(T_MIDNIGHT + 8 * HOUR_MS, 3 * 13 * HOUR_MS + HOUR_MS, &q),
	    T_MIDNIGHT + 3 * DAY_MS + 9 * HOUR_MS);
	/* Incremental equals at once (the runner advances chunk by chunk). */
	int64_t t = campaign_advance(T_MIDNIGHT + 20 * HOUR_MS, 0, &q);
	for (int i = 0; i < 100; i++)
		t = campaign_advance(t, 20 * MIN_MS, &q);
	assert_int_equal(t, campaign_advance(T_MIDNIGHT + 20 * HOUR_MS, 100 * 20 * MIN_MS, &q));
	for (int64_t x = T_MIDNIGHT; x < T_MIDNIGHT + 2 * DAY_MS; x += 7 * MIN_MS)
		assert_false(campaign_quiet_at(campaign_advance(x, 11 * MIN_MS, &q), &q));
}

static void
test_fill(void **state)
{
	json_t *parts = json_object(), *vars = json_pack("{s:s,s:i}", "first", "Ann", "n", 3);
	char *type, *text;

	/* Text: the recipient's own variables. */
	json_t *c = json_pack("{s:s}", "text", "Hi {{first}} #{{n}}");
	assert_int_equal(campaign_fill(c, vars, parts, &type, &text), 0);
	assert_string_equal(type, "text");
	assert_string_equal(text, "Hi Ann #3");
	free(type);
	free(text);
	json_decref(c);
	c = json_pack("{s:s}", "text", "Hi {{last}}");
	assert_int_equal(campaign_fill(c, vars, parts, &type, &text), -1);
	json_decref(c);
	/* A local template: columns and literals through the mapping. */
	c = json_pack("{s:{s:s,s:s},s:s,s:{s:s,s:{s:s}}}", "template", "name", "t", "language", "en",
	    "local_body", "Dear {{who}}, {{offer}}", "variables", "who", "first", "offer", "value", "10% off");
	assert_int_equal(campaign_fill(c, vars, parts, &type, &text), 0);
	assert_string_equal(text, "Dear Ann, 10% off");
	assert_true(json_is_true(json_object_get(json_object_get(parts, "template"), "local")));
	free(type);
	free(text);
	json_decref(c);
	/* A provider template: {{1}}.. as a list, numbers as text. */
	c = json_pack("{s:{s:s,s:s},s:{s:s,s:s}}", "template", "name", "promo", "language", "en",
	    "variables", "2", "n", "1", "first");
	assert_int_equal(campaign_fill(c, vars, parts, &type, &text), 0);
	assert_string_equal(type, "template");
	assert_null(text);
	json_t *list = json_object_get(json_object_get(parts, "template"), "variables");
	assert_int_equal(json_array_size(list), 2);
	assert_string_equal(json_string_value(json_array_get(list, 0)), "Ann");
	assert_string_equal(json_string_value(json_array_get(list, 1)), "3");
	free(type);
	json_decref(c);
	json_decref(vars);
	json_decref(parts);
}

static int
normalize_digits(const char *s, size_t len, char *out, size_t outlen)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		if (s[i] >= '0' && s[i] <= '9' && n + 1 < outlen)
			out[n++] = s[i];
	out[n] = '\0';
	return n >= 7 ? 0 : -1;
}

static void
test_address(void **state)
{
	char out[CAMPAIGN_ADDR_MAX + 1];
	json_t *a = json_pack("{s:s}", "to", "+1 555 000 1001"), *b = json_pack("{s:s}", "to", "12"),
	    *c = json_pack("{s:i}", "to", 5), *d = json_pack("{s:s#}", "to", "15\0" "550001001", (size_t)12);

	assert_int_equal(campaign_address(a, normalize_digits, out, sizeof(out)), 0);
	assert_string_equal(out, "15550001001");
	assert_int_equal(campaign_address(a, NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "+1 555 000 1001");
	assert_int_equal(campaign_address(b, normalize_digits, out, sizeof(out)), -1);
	assert_int_equal(campaign_address(c, normalize_digits, out, sizeof(out)), -1);
	assert_int_equal(campaign_address(d, NULL, out, sizeof(out)), -1);
	json_decref(a);
	json_decref(b);
	json_decref(c);
	json_decref(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quiet_parse),
		cmocka_unit_test(test_quiet_at),
		cmocka_unit_test(test_advance),
		cmocka_unit_test(test_fill),
		cmocka_unit_test(test_address),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
