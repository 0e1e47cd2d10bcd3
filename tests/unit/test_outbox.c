/* test_outbox.c - the dispatcher's arithmetic: pacer, breaker, backoff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "outbox/outbox.h"

/* Start as many sends as allowed at each ms tick; count the most in any 1 s window. */
static int
peak_per_second(int rate, int64_t duration_ms)
{
	struct pacer p;
	int64_t *starts = calloc((size_t)(rate + 1) * (size_t)(duration_ms / 1000 + 2), sizeof(int64_t));
	size_t n = 0;
	int peak = 0;

	pacer_init(&p, rate);
	/* Wake exactly when the pacer says, plus 0..49 us of timer lateness. */
	for (int64_t t = 1000000000; t < 1000000000 + duration_ms * 1000;) {
		while (pacer_allowance(&p, t) > 0) {
			pacer_record(&p, t);
			starts[n++] = t;
		}
		int64_t next = pacer_next(&p, t);
		t = (next > t ? next : t + 1) + (int64_t)(n * 7919 % 50);
	}
	for (size_t i = 0, j = 0; i < n; i++) {
		while (starts[i] - starts[j] >= 1000000)
			j++;
		if ((int)(i - j + 1) > peak)
			peak = (int)(i - j + 1);
	}
	free(starts);
	pacer_free(&p);
	return peak;
}

static void
test_pacer_ceiling(void **state)
{
	/* Never above the rate in any one-second window, from the first second on. */
	int rates[] = { 1, 3, 7, 20, 80, 333, 1000 };
	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		int peak = peak_per_second(rates[i], 5000);
		assert_true(peak <= rates[i]);
		assert_true(peak >= rates[i] * 97 / 100); /* and it does use the rate */
	}
}

static void
test_pacer_spacing_and_idle(void **state)
{
	struct pacer p;

	pacer_init(&p, 20);                 /* one every 50 ms */
	assert_int_equal(pacer_allowance(&p, 0), 1);
	pacer_record(&p, 0);
	assert_int_equal(pacer_allowance(&p, 49999), 0);
	assert_int_equal(pacer_next(&p, 10000), 50000);
	assert_int_equal(pacer_allowance(&p, 50000), 1);
	/* Idle for a while: no banked burst, still one at a time. */
	pacer_record(&p, 10000000);
	assert_int_equal(pacer_allowance(&p, 10000000), 0);
	assert_int_equal(pacer_next(&p, 10000000), 10050000);
	pacer_free(&p);

	pacer_init(&p, 0);                  /* unlimited */
	assert_true(pacer_allowance(&p, 0) > 1000);
	pacer_record(&p, 0);
	assert_int_equal(pacer_next(&p, 5), 5);
	pacer_free(&p);
}

static void
test_breaker(void **state)
{
	struct breaker b;

	breaker_init(&b, 3, 1000);
	/* Sporadic failures between successes never trip it. */
	for (int i = 0; i < 10; i++) {
		breaker_failure(&b, 0);
		breaker_failure(&b, 0);
		breaker_success(&b);
	}
	assert_int_equal(b.state, BREAKER_CLOSED);
	/* A run of three opens it. */
	breaker_failure(&b, 100);
	breaker_failure(&b, 100);
	assert_true(breaker_allow(&b, 100));
	breaker_failure(&b, 100);
	assert_int_equal(b.state, BREAKER_OPEN);
	assert_false(breaker_allow(&b, 500));
	/* After the cooldown: one probe at a time. */
	assert_true(breaker_allow(&b, 1100));
	assert_int_equal(b.state, BREAKER_HALF_OPEN);
	assert_false(breaker_allow(&b, 1101));
	/* The probe fails: open again for a cooldown. */
	breaker_failure(&b, 1200);
	assert_int_equal(b.state, BREAKER_OPEN);
	assert_false(breaker_allow(&b, 2100));
	assert_true(breaker_allow(&b, 2200));
	/* A released probe lets the next one go; a success closes it. */
	breaker_release(&b);
	assert_true(breaker_allow(&b, 2201));
	breaker_success(&b);
	assert_int_equal(b.state, BREAKER_CLOSED);
	assert_true(breaker_allow(&b, 2202));
	assert_true(breaker_allow(&b, 2202));
}

static void
test_backoff(void **state)
{
	/* ~1 s, doubling, capped at 5 min, within +-20%. */
	for (uint32_t r = 0; r < 5000; r += 97) {
		int64_t d1 = backoff_ms(1, r), d2 = backoff_ms(2, r), d10 = backoff_ms(10, r);
		int64_t d30 = backoff_ms(30, r);
		assert_true(d1 >= 800 && d1 <= 1200);
		assert_true(d2 >= 1600 && d2 <= 2400);
		assert_true(d10 >= 240000 && d10 <= 360000);
		assert_true(d30 >= 240000 && d30 <= 360000);
	}
	/* Jitter actually varies. */
	assert_true(backoff_ms(3, 1) != backoff_ms(3, 777));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pacer_ceiling),
		cmocka_unit_test(test_pacer_spacing_and_idle),
		cmocka_unit_test(test_breaker),
		cmocka_unit_test(test_backoff),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
