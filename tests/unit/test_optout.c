/* test_optout.c - opt-out keywords: matching and settings (src/core/optout.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/optout.h"

static void
test_defaults_match(void **state)
{
	struct optout_settings s;
	const char *kw;

	(void)state;
	optout_default(&s);
	assert_int_equal(optout_match(&s, "STOP", &kw), 1);
	assert_string_equal(kw, "STOP");
	assert_int_equal(optout_match(&s, "stop", &kw), 1);
	assert_int_equal(optout_match(&s, "  Stop \r\n", &kw), 1);
	assert_int_equal(optout_match(&s, "\tunsubscribe", &kw), 1);
	assert_string_equal(kw, "UNSUBSCRIBE");
	assert_int_equal(optout_match(&s, "baja", &kw), 1);
	assert_string_equal(kw, "BAJA");
	assert_int_equal(optout_match(&s, "Start", &kw), -1);
	assert_string_equal(kw, "START");
	/* Only the whole text. */
	assert_int_equal(optout_match(&s, "please stop", &kw), 0);
	assert_null(kw);
	assert_int_equal(optout_match(&s, "STOP!", NULL), 0);
	assert_int_equal(optout_match(&s, "STOPP", NULL), 0);
	assert_int_equal(optout_match(&s, "STO", NULL), 0);
	assert_int_equal(optout_match(&s, "S TOP", NULL), 0);
	assert_int_equal(optout_match(&s, "", NULL), 0);
	assert_int_equal(optout_match(&s, "   ", NULL), 0);
	assert_int_equal(optout_match(&s, NULL, NULL), 0);
}

static void
test_latin_case(void **state)
{
	struct optout_settings s;
	json_t *p = json_loads("{\"keywords\":[\"DÉSABONNER\",\"ÀÖØÞ\"],\"optin_keywords\":[\"ÇA\"]}", 0, NULL);
	char f[64], e[160];
	const char *kw;

	(void)state;
	optout_default(&s);
	assert_int_equal(optout_merge(&s, p, f, sizeof(f), e, sizeof(e)), 0);
	json_decref(p);
	assert_int_equal(optout_match(&s, "désabonner", &kw), 1);
	assert_string_equal(kw, "DÉSABONNER");
	assert_int_equal(optout_match(&s, "DÉSABONNER", NULL), 1);
	assert_int_equal(optout_match(&s, "àöøþ", NULL), 1);
	assert_int_equal(optout_match(&s, "ça", NULL), -1);
	/* Not a fold: É against E, × (U+00D7) against ÷ (U+00F7). */
	assert_int_equal(optout_match(&s, "DESABONNER", NULL), 0);
	assert_int_equal(optout_match(&s, "STOP", NULL), 0);  /* replaced */
	struct optout_settings t;
	optout_default(&t);
	p = json_loads("{\"keywords\":[\"A\u00d7B\"]}", 0, NULL);
	assert_int_equal(optout_merge(&t, p, f, sizeof(f), e, sizeof(e)), 0);
	json_decref(p);
	assert_int_equal(optout_match(&t, "a\u00d7b", NULL), 1);
	assert_int_equal(optout_match(&t, "a\u00f7b", NULL), 0);
}

static void
refused(const char *patch, const char *field)
{
	struct optout_settings s, before;
	json_t *p = json_loads(patch, 0, NULL);
	char f[64] = "", e[160] = "";

	assert_non_null(p);
	optout_default(&s);
	before = s;
	assert_int_equal(optout_merge(&s, p, f, sizeof(f), e, sizeof(e)), -1);
	json_decref(p);
	assert_string_equal(f, field);
	assert_true(e[0] != '\0');
	assert_memory_equal(&s, &before, sizeof(s));  /* unchanged */
}

static void
test_validation(void **state)
{
	(void)state;
	refused("{\"keywords\":\"STOP\"}", "settings.optout.keywords");
	refused("{\"keywords\":[\"\"]}", "settings.optout.keywords");
	refused("{\"keywords\":[\" STOP\"]}", "settings.optout.keywords");
	refused("{\"keywords\":[\"ST\\nOP\"]}", "settings.optout.keywords");
	refused("{\"keywords\":[1]}", "settings.optout.keywords");
	refused("{\"keywords\":[\"123456789012345678901234567890123\"]}", "settings.optout.keywords");
	refused("{\"keywords\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\",\"12\","
	    "\"13\",\"14\",\"15\",\"16\",\"17\"]}", "settings.optout.keywords");
	refused("{\"confirmation\":\"\"}", "settings.optout.confirmation");
	refused("{\"confirmation\":3}", "settings.optout.confirmation");
	refused("{\"optin_confirmation\":true}", "settings.optout.optin_confirmation");
	refused("{\"colour\":\"red\"}", "settings.optout.colour");
	refused("{\"optin_keywords\":[\"stop\"]}", "settings.optout.optin_keywords");
	refused("{\"keywords\":[\"GO\"],\"optin_keywords\":[\"go\"]}", "settings.optout.optin_keywords");
	/* Not an object. */
	struct optout_settings s;
	char f[64], e[160];
	optout_default(&s);
	json_t *a = json_array();
	assert_int_equal(optout_merge(&s, a, f, sizeof(f), e, sizeof(e)), -1);
	json_decref(a);
}

static void
test_json_round_trip(void **state)
{
	struct optout_settings s, t;
	json_t *p = json_loads("{\"keywords\":[],\"confirmation\":\"bye\",\"optin_confirmation\":\"hi\"}", 0, NULL);
	char f[64], e[160];

	(void)state;
	optout_default(&s);
	assert_int_equal(optout_merge(&s, p, f, sizeof(f), e, sizeof(e)), 0);
	json_decref(p);
	assert_int_equal(optout_match(&s, "STOP", NULL), 0);  /* an empty list: no opt-out keyword */
	assert_int_equal(optout_match(&s, "START", NULL), -1);
	json_t *j = optout_json(&s);
	assert_string_equal(json_string_value(json_object_get(j, "confirmation")), "bye");
	assert_int_equal(json_array_size(json_object_get(j, "keywords")), 0);
	optout_default(&t);
	assert_int_equal(optout_merge(&t, j, f, sizeof(f), e, sizeof(e)), 0);
	json_decref(j);
	assert_memory_equal(&s, &t, sizeof(s));
	/* null clears a confirmation. */
	p = json_loads("{\"confirmation\":null}", 0, NULL);
	assert_int_equal(optout_merge(&t, p, f, sizeof(f), e, sizeof(e)), 0);
	json_decref(p);
	assert_string_equal(t.confirm, "");
	j = optout_json(&t);
	assert_true(json_is_null(json_object_get(j, "confirmation")));
	json_decref(j);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_match),
		cmocka_unit_test(test_latin_case),
		cmocka_unit_test(test_validation),
		cmocka_unit_test(test_json_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
