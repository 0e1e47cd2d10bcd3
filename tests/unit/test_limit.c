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

/* Client addresses: IPv6 counted by /64, so rotating within it gains nothing. */
static void
test_addr_key(void **state)
{
	static const struct { const char *addr, *key; } cases[] = {
		{ "127.0.0.1", "127.0.0.1" },
		{ "203.0.113.9", "203.0.113.9" },
		{ "::1", "::/64" },
		{ "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64" },
		{ "2001:db8:1:2::77", "2001:db8:1:2::/64" },
		{ "2001:db8:1:3::77", "2001:db8:1:3::/64" },
		{ "::ffff:192.0.2.7", "192.0.2.7" },
		{ "", "" },
		{ "not an address", "not an address" },
	};
	char key[LIMIT_KEY_MAX + 1];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		limiter_addr_key(cases[i].addr, key);
		assert_string_equal(key, cases[i].key);
	}
	limiter_addr_key(NULL, key);
	assert_string_equal(key, "");

	/* Five addresses of one /64 share one count. */
	struct limiter *l = limiter_new(16);
	for (int i = 0; i < LIMIT_FREE_FAILURES; i++) {
		char addr[64];
		snprintf(addr, sizeof(addr), "2001:db8:0:1::%x", i + 1);
		limiter_addr_key(addr, key);
		limiter_fail(l, key, 1000);
	}
	limiter_addr_key("2001:db8:0:1::ffff", key);
	assert_true(limiter_wait_ms(l, key, 1000) > 0);
	limiter_free(l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_addr_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
