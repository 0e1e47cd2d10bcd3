/* test_hooks.c - the webhook dispatcher's pure parts: event names, filters,
 * signatures, giving up, Retry-After. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "hooks/hooks.h"

static void
test_event_names(void **state)
{
	static const char *const good[] = { "*", "message.received", "message.status",
		"webhook.failed", "channel.error", "a.b", "a1.b_2.c", NULL };
	static const char *const bad[] = { "", "message", "Message.received", "message.", ".message",
		"message..received", "message.*", "1a.b", "a.1b", "a b.c", "a-b.c", "**", "*.*",
		"message.received ", NULL };

	for (int i = 0; good[i]; i++)
		assert_true(hooks_event_name_valid(good[i]));
	for (int i = 0; bad[i]; i++)
		assert_false(hooks_event_name_valid(bad[i]));
	assert_false(hooks_event_name_valid(NULL));
	char longname[HOOKS_EVENT_NAME_MAX + 2];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[1] = '.';
	longname[sizeof(longname) - 1] = '\0';
	assert_false(hooks_event_name_valid(longname));
	longname[sizeof(longname) - 2] = '\0';
	assert_true(hooks_event_name_valid(longname));
}

static void
test_filter(void **state)
{
	json_t *f = json_pack("[s,s]", "message.received", "webhook.failed");
	json_t *all = json_pack("[s]", "*");

	assert_true(hooks_filter_matches(f, "message.received"));
	assert_true(hooks_filter_matches(f, "webhook.failed"));
	assert_false(hooks_filter_matches(f, "message.status"));
	assert_false(hooks_filter_matches(f, "message"));
	assert_false(hooks_filter_matches(f, NULL));
	assert_true(hooks_filter_matches(all, "message.status"));
	assert_true(hooks_filter_matches(all, "anything.at_all"));
	json_decref(f);
	json_decref(all);
}

static void
test_sign(void **state)
{
	/* RFC 4231 test case 2: key "Jefe". */
	char sig[HOOKS_SIG_LEN];
	const char *data = "what do ya want for nothing?";

	hooks_sign("Jefe", data, strlen(data), sig);
	assert_string_equal(sig,
	    "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void
test_give_up(void **state)
{
	int64_t t0 = 1700000000000;

	assert_false(hooks_give_up(1, t0, t0));
	assert_false(hooks_give_up(HOOKS_MAX_ATTEMPTS - 1, t0, t0 + 1000));
	assert_true(hooks_give_up(HOOKS_MAX_ATTEMPTS, t0, t0 + 1000));
	assert_false(hooks_give_up(3, t0, t0 + HOOKS_MAX_AGE_MS - 1));
	assert_true(hooks_give_up(3, t0, t0 + HOOKS_MAX_AGE_MS));
}

static void
test_retry_after(void **state)
{
	assert_int_equal(hooks_retry_after_ms(NULL), 0);
	assert_int_equal(hooks_retry_after_ms("3"), 3000);
	assert_int_equal(hooks_retry_after_ms(" 120 "), 120000);
	assert_int_equal(hooks_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT"), 0);
	assert_int_equal(hooks_retry_after_ms("5x"), 0);
	assert_int_equal(hooks_retry_after_ms("99999999999999999999"), 3600 * 1000);
}

static void
test_channels(void **state)
{
	json_t *f = json_pack("[s,s]", "wa-main", "tg");
	json_t *null = json_null();

	assert_true(hooks_channels_match(NULL, "x"));
	assert_true(hooks_channels_match(null, NULL));
	assert_true(hooks_channels_match(f, "tg"));
	assert_true(hooks_channels_match(f, "wa-main"));
	assert_false(hooks_channels_match(f, "wa"));
	assert_false(hooks_channels_match(f, NULL));  /* an event of no channel */
	json_decref(f);
	json_decref(null);
}

static void
test_batch_cursor(void **state)
{
	const int64_t seqs[] = { 10, 12, 15, 20 };

	/* All accepted: to the batch's end (skipped events after it included). */
	assert_int_equal(hooks_batch_cursor(seqs, 4, 4, 25), 25);
	assert_int_equal(hooks_batch_cursor(seqs, 4, 9, 25), 25);
	/* Some: just before the first refused one (the skipped ones before it too). */
	assert_int_equal(hooks_batch_cursor(seqs, 4, 1, 25), 11);
	assert_int_equal(hooks_batch_cursor(seqs, 4, 3, 25), 19);
	/* None: a failed attempt. */
	assert_int_equal(hooks_batch_cursor(seqs, 4, 0, 25), -1);
	/* A webhook: a batch of one. */
	assert_int_equal(hooks_batch_cursor(seqs, 1, 1, 10), 10);
	assert_int_equal(hooks_batch_cursor(seqs, 1, 0, 10), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_names),
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_sign),
		cmocka_unit_test(test_give_up),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_channels),
		cmocka_unit_test(test_batch_cursor),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
