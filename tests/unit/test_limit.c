/* test_limit.c - the failure table: threshold, backoff, cap, forgetting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "auth/limit.h"

static void
test_backoff(void **state)
{
	struct limiter *l = limiter_new(16);
	int64_t now = 1000000;

	for (int i = 0; i < LIMIT_FREE_FAILURES - 1; i++) {
		limiter_fail(l, "a", now);
		assert_int_equal(limiter_wait_ms(l, "a", now), 0);
	}
	assert_true(limiter_failed(l, "a", now));
	assert_false(limiter_failed(l, "b", now));
	limiter_fail(l, "a", now);
	assert_int_equal(limiter_wait_ms(l, "a", now), LIMIT_BASE_MS);
	limiter_fail(l, "a", now);
	assert_int_equal(limiter_wait_ms(l, "a", now), 2 * LIMIT_BASE_MS);
	for (int i = 0; i < 40; i++)
		limiter_fail(l, "a", now);
	assert_int_equal(limiter_wait_ms(l, "a", now), LIMIT_MAX_MS);
	assert_int_equal(limiter_wait_ms(l, "a", now + LIMIT_MAX_MS), 0);
	assert_true(limiter_failed(l, "a", now + LIMIT_MAX_MS));
	assert_false(limiter_failed(l, "a", now + LIMIT_MAX_MS + LIMIT_FORGET_MS));
	limiter_fail(l, "b", now);
	limiter_forget(l, "b");
	assert_false(limiter_failed(l, "b", now));
	limiter_free(l);
}

static void
test_cap(void **state)
{
	struct limiter *l = limiter_new(3);
	int64_t now = 1000000;

	limiter_fail(l, "a", now);
	limiter_fail(l, "b", now + 1);
	limiter_fail(l, "c", now + 2);
	limiter_fail(l, "a", now + 3);  /* a is now the most recent */
	limiter_fail(l, "d", now + 4);  /* evicts b, the least recent */
	assert_int_equal(limiter_count(l), 3);
	assert_true(limiter_failed(l, "a", now + 5));
	assert_false(limiter_failed(l, "b", now + 5));
	assert_true(limiter_failed(l, "c", now + 5));
	assert_true(limiter_failed(l, "d", now + 5));
	for (int i = 0; i < 1000; i++) {
		char k[16];
		snprintf(k, sizeof(k), "k%d", i);
		limiter_fail(l, k, now + 10 + i);
	}
	assert_int_equal(limiter_count(l), 3);
	limiter_free(l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
