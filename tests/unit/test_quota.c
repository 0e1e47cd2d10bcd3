/* test_quota.c - token buckets, UTC windows, quota checks, cooldown and
 * duplicate fingerprints (src/quota/quota.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "quota/quota.h"

#define MIN_MS (60LL * 1000)
#define HOUR_MS (3600LL * 1000)
#define DAY_MS (86400LL * 1000)

/* 2025-10-09T23:59:59Z and the midnight after it. */
#define T_2359 1760054399000LL
#define T_MIDNIGHT 1760054400000LL

/* --- token buckets --- */

static void
test_bucket_burst_and_refill(void **state)
{
	struct ratelimit *rl = ratelimit_new(16);
	const struct rate_conf conf = { .burst = 5, .rate = 2 };  /* 2/s */
	struct ratelimit_info info;
	int64_t t = 1000000;

	/* A new key starts full: the whole burst at once. */
	for (int i = 0; i < 5; i++) {
		assert_true(ratelimit_take(rl, "k", &conf, t, 1, &info));
		assert_int_equal(info.limit, 5);
		assert_int_equal(info.remaining, 4 - i);
		assert_int_equal(info.retry_after_s, 0);
	}
	/* Exactly empty: refused, nothing taken; a token in 500 ms (1 s
	 * rounded up), full in 2.5 s (3 s). */
	assert_false(ratelimit_take(rl, "k", &conf, t, 1, &info));
	assert_int_equal(info.remaining, 0);
	assert_int_equal(info.retry_after_s, 1);
	assert_int_equal(info.reset_s, 3);
	assert_false(info.never);
	/* 499 ms: still no whole token; 500 ms: one. */
	assert_false(ratelimit_take(rl, "k", &conf, t + 499, 1, &info));
	assert_true(ratelimit_take(rl, "k", &conf, t + 500, 1, &info));
	assert_int_equal(info.remaining, 0);
	/* Refill is exact over many small steps (no drift): 1000 steps of 1 ms
	 * add 2 tokens. */
	for (int i = 1; i <= 1000; i++)
		assert_true(ratelimit_take(rl, "k", &conf, t + 500 + i, 0, &info));
	assert_int_equal(info.remaining, 2);
	/* Long idle: capped at burst. */
	assert_true(ratelimit_take(rl, "k", &conf, t + 10 * DAY_MS, 0, &info));
	assert_int_equal(info.remaining, 5);
	assert_int_equal(info.reset_s, 0);
	/* Another key has its own bucket. */
	assert_true(ratelimit_take(rl, "other", &conf, t, 5, &info));
	assert_int_equal(info.remaining, 0);
	ratelimit_free(rl);
}

static void
test_bucket_headers_edges(void **state)
{
	struct ratelimit *rl = ratelimit_new(16);
	const struct rate_conf conf = { .burst = 10, .rate = 1 };  /* 1/s */
	struct ratelimit_info info;
	int64_t t = 5000;

	/* Exactly full: a peek says limit, all remaining, reset 0. */
	assert_true(ratelimit_take(rl, "k", &conf, t, 0, &info));
	assert_int_equal(info.limit, 10);
	assert_int_equal(info.remaining, 10);
	assert_int_equal(info.reset_s, 0);
	/* Taking the whole burst: exactly empty; full again in 10 s. */
	assert_true(ratelimit_take(rl, "k", &conf, t, 10, &info));
	assert_int_equal(info.remaining, 0);
	assert_int_equal(info.reset_s, 10);
	/* 1.5 s later: 1.5 tokens, remaining floors to 1, reset ceils 8.5 to 9. */
	assert_true(ratelimit_take(rl, "k", &conf, t + 1500, 0, &info));
	assert_int_equal(info.remaining, 1);
	assert_int_equal(info.reset_s, 9);
	/* Cost 3 with 1.5 there: 1.5 s more, Retry-After 2. */
	assert_false(ratelimit_take(rl, "k", &conf, t + 1500, 3, &info));
	assert_int_equal(info.retry_after_s, 2);
	assert_int_equal(info.remaining, 1);
	/* ... and it fits then, not a ms before. */
	assert_false(ratelimit_take(rl, "k", &conf, t + 2999, 3, &info));
	assert_true(ratelimit_take(rl, "k", &conf, t + 3000, 3, &info));
	assert_int_equal(info.remaining, 0);
	/* Cost over burst: refused even when full, never set, Retry-After the
	 * time to full (at least 1), nothing taken. */
	assert_false(ratelimit_take(rl, "k", &conf, t + 3000, 11, &info));
	assert_true(info.never);
	assert_int_equal(info.retry_after_s, 10);
	assert_true(ratelimit_take(rl, "full", &conf, t, 0, &info));
	assert_false(ratelimit_take(rl, "full", &conf, t, 11, &info));
	assert_true(info.never);
	assert_int_equal(info.retry_after_s, 1);
	assert_int_equal(info.remaining, 10);
	/* A slow rate: 5 per minute, a token every 12 s. */
	const struct rate_conf slow = { .burst = 5, .rate = 5, .per_ms = MIN_MS };
	assert_true(ratelimit_take(rl, "slow", &slow, t, 5, &info));
	assert_false(ratelimit_take(rl, "slow", &slow, t, 1, &info));
	assert_int_equal(info.retry_after_s, 12);
	assert_int_equal(info.reset_s, 60);
	assert_true(ratelimit_take(rl, "slow", &slow, t + 12000, 1, &info));
	/* No limit: allowed, no headers. */
	const struct rate_conf none = { 0 };
	assert_true(ratelimit_take(rl, "n", &none, t, 1000, &info));
	assert_int_equal(info.limit, 0);
	assert_true(ratelimit_take(rl, "n", NULL, t, 1, NULL));
	ratelimit_free(rl);
}

static void
test_bucket_clock_backwards(void **state)
{
	struct ratelimit *rl = ratelimit_new(16);
	const struct rate_conf conf = { .burst = 4, .rate = 1 };
	struct ratelimit_info info;
	int64_t t = 100000;

	assert_true(ratelimit_take(rl, "k", &conf, t, 4, &info));
	/* An hour back: nothing minted, nothing underflows. */
	assert_false(ratelimit_take(rl, "k", &conf, t - HOUR_MS, 1, &info));
	assert_int_equal(info.remaining, 0);
	assert_int_equal(info.reset_s, 4);
	assert_int_equal(info.retry_after_s, 1);
	/* The bucket refills from the earlier time on: 2 s after it, 2 tokens
	 * (not frozen until the old time comes back). */
	assert_true(ratelimit_take(rl, "k", &conf, t - HOUR_MS + 2000, 0, &info));
	assert_int_equal(info.remaining, 2);
	/* Forward to the old time again: full (an hour passed since). */
	assert_true(ratelimit_take(rl, "k", &conf, t, 0, &info));
	assert_int_equal(info.remaining, 4);
	/* Jitter back and forth by 1 ms mints nothing: 1.999 s after t there
	 * is 1 token (1.999), not more. */
	assert_true(ratelimit_take(rl, "k", &conf, t, 4, &info));
	for (int i = 0; i < 1000; i++) {
		ratelimit_take(rl, "k", &conf, t + (i % 2), 0, &info);
		assert_int_equal(info.remaining, 0);
	}
	assert_true(ratelimit_take(rl, "k", &conf, t + 1999, 0, &info));
	assert_int_equal(info.remaining, 1);
	/* A step back shorter than the fill time (4 s): nothing added until
	 * the clock is past t + 1999 again. */
	assert_true(ratelimit_take(rl, "k", &conf, t + 1999, 1, &info));
	assert_true(ratelimit_take(rl, "k", &conf, t - 1000, 0, &info));
	assert_int_equal(info.remaining, 0);
	assert_true(ratelimit_take(rl, "k", &conf, t + 1999, 0, &info));
	assert_int_equal(info.remaining, 0);
	assert_true(ratelimit_take(rl, "k", &conf, t + 2999, 0, &info));
	assert_int_equal(info.remaining, 1);
	ratelimit_free(rl);
}

static void
test_bucket_conf_change(void **state)
{
	struct ratelimit *rl = ratelimit_new(16);
	const struct rate_conf per_s = { .burst = 10, .rate = 1 };
	const struct rate_conf per_min = { .burst = 3, .rate = 3, .per_ms = MIN_MS };
	struct ratelimit_info info;

	assert_true(ratelimit_take(rl, "k", &per_s, 0, 8, &info));
	assert_int_equal(info.remaining, 2);
	/* The same key under another conf keeps its 2 tokens. */
	assert_true(ratelimit_take(rl, "k", &per_min, 0, 0, &info));
	assert_int_equal(info.remaining, 2);
	assert_int_equal(info.limit, 3);
	/* Back under the first: capped at nothing more than it had. */
	assert_true(ratelimit_take(rl, "k", &per_s, 0, 0, &info));
	assert_int_equal(info.remaining, 2);
	/* A full bucket under a smaller burst is capped at it. */
	assert_true(ratelimit_take(rl, "k", &per_s, DAY_MS, 0, &info));
	assert_int_equal(info.remaining, 10);
	assert_true(ratelimit_take(rl, "k", &per_min, DAY_MS, 0, &info));
	assert_int_equal(info.remaining, 3);
	ratelimit_free(rl);
}

static void
test_bucket_eviction_bound(void **state)
{
	const size_t cap = 64;
	struct ratelimit *rl = ratelimit_new(cap);
	const struct rate_conf conf = { .burst = 1, .rate = 1, .per_ms = HOUR_MS };
	struct ratelimit_info info;

	assert_true(ratelimit_take(rl, "hot", &conf, 0, 1, &info));
	for (size_t i = 0; i < 10 * cap; i++) {
		char k[32];
		snprintf(k, sizeof(k), "key-%zu", i);
		ratelimit_take(rl, k, &conf, 1, 1, &info);
		/* The hot key stays the most recently used: never evicted. */
		assert_false(ratelimit_take(rl, "hot", &conf, 1, 1, &info));
		assert_true(ratelimit_count(rl) <= cap);
	}
	assert_int_equal(ratelimit_count(rl), cap);
	/* The first keys were evicted (forgiven: full again). */
	assert_true(ratelimit_take(rl, "key-0", &conf, 2, 1, &info));
	/* Long keys are cut to RATELIMIT_KEY_MAX: one bucket. */
	char a[300], b[300];
	memset(a, 'x', sizeof(a) - 1);
	a[sizeof(a) - 1] = '\0';
	memcpy(b, a, sizeof(b));
	b[sizeof(b) - 2] = 'y';
	assert_true(ratelimit_take(rl, a, &conf, 3, 1, &info));
	assert_false(ratelimit_take(rl, b, &conf, 3, 1, &info));
	ratelimit_forget(rl, a);
	assert_true(ratelimit_take(rl, b, &conf, 3, 1, &info));
	ratelimit_free(rl);
}

/* A bucket the caller keeps (a database row): the same arithmetic. */
static void
test_bucket_standalone(void **state)
{
	const struct rate_conf conf = { .burst = 3, .rate = 1 };
	struct rate_bucket b = { 0 }, copy;
	struct ratelimit_info info;

	assert_true(rate_bucket_take(&b, &conf, 1000, 3, &info));  /* new: full */
	assert_int_equal(info.remaining, 0);
	copy = b;  /* written and read back */
	assert_false(rate_bucket_take(&copy, &conf, 1500, 1, &info));
	assert_int_equal(info.retry_after_s, 1);
	assert_true(rate_bucket_take(&copy, &conf, 2000, 1, &info));
	/* A row that makes no sense is a new bucket; a negative level is 0. */
	b = (struct rate_bucket){ .level = 5, .per_ms = -7, .last_ms = 0 };
	assert_true(rate_bucket_take(&b, &conf, 1000, 0, &info));
	assert_int_equal(info.remaining, 3);
	b = (struct rate_bucket){ .level = -5000, .per_ms = 1000, .last_ms = 1000 };
	assert_true(rate_bucket_take(&b, &conf, 1000, 0, &info));
	assert_int_equal(info.remaining, 0);
	assert_int_equal(info.reset_s, 3);
	/* Times far apart do not overflow. */
	b = (struct rate_bucket){ .level = 0, .per_ms = 1000, .last_ms = INT64_MIN };
	assert_true(rate_bucket_take(&b, &conf, INT64_MAX, 3, &info));
	b = (struct rate_bucket){ .level = 0, .per_ms = 1000, .last_ms = INT64_MAX };
	assert_false(rate_bucket_take(&b, &conf, INT64_MIN, 1, &info));
	assert_true(rate_bucket_take(&b, &conf, INT64_MIN + 1000, 1, &info));
	/* No limit needs no bucket. */
	assert_true(rate_bucket_take(NULL, NULL, 0, 1, &info));
	assert_int_equal(info.limit, 0);
}

/* --- windows --- */

static void
test_window_boundaries(void **state)
{
	/* 59.999 s into a minute is its last ms; the next ms starts the next. */
	int64_t m = 1760054340000LL;  /* 2025-10-09T23:59:00Z */
	assert_int_equal(quota_window_start(QUOTA_MINUTE, m + 59999), m);
	assert_int_equal(quota_window_end(QUOTA_MINUTE, m + 59999), m + MIN_MS);
	assert_int_equal(quota_window_start(QUOTA_MINUTE, m + 60000), m + MIN_MS);
	/* 23:59:59.999 UTC is in the day that ends at midnight. */
	int64_t last = T_2359 + 999;
	assert_int_equal(quota_window_end(QUOTA_DAY, last), T_MIDNIGHT);
	assert_int_equal(quota_window_end(QUOTA_HOUR, last), T_MIDNIGHT);
	assert_int_equal(quota_window_end(QUOTA_MINUTE, last), T_MIDNIGHT);
	assert_int_equal(quota_window_start(QUOTA_DAY, last), T_MIDNIGHT - DAY_MS);
	assert_int_equal(quota_window_start(QUOTA_DAY, T_MIDNIGHT), T_MIDNIGHT);
	assert_int_equal(quota_window_start(QUOTA_HOUR, last), T_MIDNIGHT - HOUR_MS);
	/* Leap-free: the day after 2016-12-31 (which had 23:59:60) starts at
	 * 2017-01-01T00:00:00Z = 1483228800 s, a whole number of 86400 s days. */
	assert_int_equal(quota_window_start(QUOTA_DAY, 1483228799999LL), 1483228800000LL - DAY_MS);
	assert_int_equal(quota_window_start(QUOTA_DAY, 1483228800000LL), 1483228800000LL);
	assert_int_equal(1483228800000LL % DAY_MS, 0);
	/* Before 1970: floor, not truncation. */
	assert_int_equal(quota_window_start(QUOTA_MINUTE, -1), -MIN_MS);
	assert_int_equal(quota_window_start(QUOTA_DAY, -1), -DAY_MS);
	assert_int_equal(quota_window_start(QUOTA_MINUTE, 0), 0);
	/* Extremes do not overflow. */
	assert_true(quota_window_end(QUOTA_DAY, INT64_MAX) > 0);
	assert_true(quota_window_start(QUOTA_DAY, INT64_MIN) < 0);
	/* Names. */
	assert_string_equal(quota_kind_name(QUOTA_MINUTE), "minute");
	assert_string_equal(quota_kind_name(QUOTA_HOUR), "hour");
	assert_string_equal(quota_kind_name(QUOTA_DAY), "day");
	assert_string_equal(quota_kind_name(QUOTA_NONE), "none");
	assert_int_equal(quota_kind_parse("hour"), QUOTA_HOUR);
	assert_int_equal(quota_kind_parse("week"), QUOTA_NONE);
	assert_int_equal(quota_kind_parse(NULL), QUOTA_NONE);
	assert_int_equal(quota_window_ms(QUOTA_DAY), DAY_MS);
}

/* WA Tool's limits: 2 a minute, 20 an hour, 100 a day. */
static const struct quota_limits wa = { .max = { [QUOTA_MINUTE] = 2, [QUOTA_HOUR] = 20, [QUOTA_DAY] = 100 } };

static void
test_quota_check(void **state)
{
	struct quota_counts c, d;
	int64_t now = T_MIDNIGHT + 10 * HOUR_MS + 30 * MIN_MS + 15000;  /* 10:30:15 */
	int64_t until;
	enum quota_kind which;

	quota_counts_init(&c, now);
	assert_true(quota_check(&wa, &c, now, &until, &which));
	assert_int_equal(until, now);
	assert_int_equal(which, QUOTA_NONE);
	quota_counts_add(&c, now, 1);
	assert_true(quota_check(&wa, &c, now, NULL, NULL));
	/* The minute full: until the next minute. */
	quota_counts_add(&c, now, 1);
	assert_false(quota_check(&wa, &c, now, &until, &which));
	assert_int_equal(which, QUOTA_MINUTE);
	assert_int_equal(until, T_MIDNIGHT + 10 * HOUR_MS + 31 * MIN_MS);
	/* Minute and hour both full: the hour binds (after the minute rolls
	 * the hour is still full), and one send fits at until. */
	c.w[QUOTA_HOUR].n = 20;
	assert_false(quota_check(&wa, &c, now, &until, &which));
	assert_int_equal(which, QUOTA_HOUR);
	assert_int_equal(until, T_MIDNIGHT + 11 * HOUR_MS);
	assert_false(quota_check(&wa, &c, until - 1, NULL, NULL));
	/* ... the minute alone rolled a ms before: still the hour. */
	struct quota_counts later = c;
	quota_counts_add(&later, until - 1, 0);
	assert_false(quota_check(&wa, &later, until - 1, NULL, &which));
	assert_int_equal(which, QUOTA_HOUR);
	assert_true(quota_check(&wa, &c, until, NULL, NULL));
	/* The day full too: the day binds. */
	c.w[QUOTA_DAY].n = 100;
	assert_false(quota_check(&wa, &c, now, &until, &which));
	assert_int_equal(which, QUOTA_DAY);
	assert_int_equal(until, T_MIDNIGHT + DAY_MS);
	/* Windows ending together: the longest is named. At 23:59:30 with the
	 * minute and the day full, "day". */
	int64_t late = T_2359 - 29000;
	quota_counts_init(&d, late);
	quota_counts_add(&d, late, 2);
	d.w[QUOTA_DAY].n = 100;
	assert_false(quota_check(&wa, &d, late, &until, &which));
	assert_int_equal(until, T_MIDNIGHT);
	assert_int_equal(which, QUOTA_DAY);
	d.w[QUOTA_DAY].n = 2;
	assert_false(quota_check(&wa, &d, late, &until, &which));
	assert_int_equal(until, T_MIDNIGHT);
	assert_int_equal(which, QUOTA_MINUTE);
	/* Only the day full (minute and hour of another window: stale). */
	quota_counts_init(&d, now);
	d.w[QUOTA_DAY].n = 100;
	d.w[QUOTA_MINUTE] = (struct quota_count){ .start_ms = now - 10 * MIN_MS, .n = 50 };
	assert_false(quota_check(&wa, &d, now, &until, &which));
	assert_int_equal(which, QUOTA_DAY);
	/* A count from another window is not this window's. */
	assert_int_equal(quota_used(&d, QUOTA_MINUTE, now), 0);
	assert_int_equal(quota_used(&d, QUOTA_DAY, now), 100);
	/* Over the limit (another instance raced, or the limit was lowered)
	 * is full as well. */
	quota_counts_init(&d, now);
	d.w[QUOTA_MINUTE].n = 7;
	assert_false(quota_check(&wa, &d, now, NULL, &which));
	assert_int_equal(which, QUOTA_MINUTE);
	assert_int_equal(quota_room(&wa, &d, now, 5), 0);
}

static void
test_quota_unlimited(void **state)
{
	const struct quota_limits none = { 0 };
	const struct quota_limits hour_only = { .max = { [QUOTA_HOUR] = 3 } };
	struct quota_counts c;
	int64_t now = T_2359, until;
	enum quota_kind which;

	quota_counts_init(&c, now);
	quota_counts_add(&c, now, 1000000);
	assert_true(quota_check(&none, &c, now, &until, &which));
	assert_int_equal(which, QUOTA_NONE);
	assert_true(quota_check(NULL, &c, now, NULL, NULL));
	assert_int_equal(quota_room(&none, &c, now, 42), 42);
	/* Minute and day unlimited, the hour's 3 used up. */
	quota_counts_init(&c, now);
	quota_counts_add(&c, now, 3);
	assert_false(quota_check(&hour_only, &c, now, &until, &which));
	assert_int_equal(which, QUOTA_HOUR);
	assert_int_equal(until, T_MIDNIGHT);
	/* No counts at all (NULL): nothing used. */
	assert_true(quota_check(&wa, NULL, now, NULL, NULL));
	assert_int_equal(quota_room(&wa, NULL, now, 10), 2);
}

static void
test_quota_room(void **state)
{
	struct quota_counts c;
	int64_t now = T_MIDNIGHT + 5 * HOUR_MS;

	quota_counts_init(&c, now);
	assert_int_equal(quota_room(&wa, &c, now, 10), 2);   /* the minute */
	assert_int_equal(quota_room(&wa, &c, now, 1), 1);    /* want */
	assert_int_equal(quota_room(&wa, &c, now, 0), 0);
	assert_int_equal(quota_room(&wa, &c, now, -3), 0);
	/* 19 this hour (the minute fresh): the hour leaves 1. */
	c.w[QUOTA_HOUR].n = 19;
	assert_int_equal(quota_room(&wa, &c, now, 10), 1);
	/* 99 today: the day leaves 1 too, the hour 1. */
	c.w[QUOTA_DAY].n = 99;
	assert_int_equal(quota_room(&wa, &c, now, 10), 1);
	c.w[QUOTA_DAY].n = 100;
	assert_int_equal(quota_room(&wa, &c, now, 10), 0);
	/* A stale day count (yesterday's) counts as 0. */
	c.w[QUOTA_DAY].start_ms -= DAY_MS;
	assert_int_equal(quota_room(&wa, &c, now, 10), 1);
	/* Adding rolls the stale window first. */
	quota_counts_add(&c, now, 1);
	assert_int_equal(c.w[QUOTA_DAY].start_ms, T_MIDNIGHT);
	assert_int_equal(c.w[QUOTA_DAY].n, 1);
	assert_int_equal(c.w[QUOTA_HOUR].n, 20);
	/* Mixed: only a day limit of 5, 3 used. */
	const struct quota_limits day5 = { .max = { [QUOTA_DAY] = 5 } };
	quota_counts_init(&c, now);
	quota_counts_add(&c, now, 3);
	assert_int_equal(quota_room(&day5, &c, now, 10), 2);
	/* The next day: all 5. */
	assert_int_equal(quota_room(&day5, &c, now + DAY_MS, 10), 5);
}

static void
test_quota_split(void **state)
{
	int64_t r, b;

	quota_split(5, 3, 10, &r, &b);
	assert_int_equal(r, 3);
	assert_int_equal(b, 2);
	quota_split(2, 3, 10, &r, &b);  /* replies first, bulk waits */
	assert_int_equal(r, 2);
	assert_int_equal(b, 0);
	quota_split(5, 0, 10, &r, &b);
	assert_int_equal(r, 0);
	assert_int_equal(b, 5);
	quota_split(10, 1, 2, &r, &b);
	assert_int_equal(r, 1);
	assert_int_equal(b, 2);
	quota_split(-1, -1, -1, &r, &b);
	assert_int_equal(r, 0);
	assert_int_equal(b, 0);
}

/* --- cooldown and duplicates --- */

static void
test_cooldown(void **state)
{
	int64_t last = T_2359;

	assert_int_equal(quota_cooldown_until(last, 3600), last + HOUR_MS);
	assert_int_equal(quota_cooldown_until(last, 0), last);
	assert_int_equal(quota_cooldown_until(last, -5), last);
	assert_int_equal(quota_cooldown_until(INT64_MAX - 10, 3600), INT64_MAX);
	assert_int_equal(quota_cooldown_until(0, INT64_MAX), INT64_MAX);

	assert_true(quota_is_duplicate(last, 60, last));
	assert_true(quota_is_duplicate(last, 60, last + 59999));
	assert_false(quota_is_duplicate(last, 60, last + 60000));
	assert_false(quota_is_duplicate(last, 0, last));
	/* A last stamped a little ahead (another instance's clock) is recent. */
	assert_true(quota_is_duplicate(last, 60, last - 500));
}

static void
test_normalize(void **state)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "Hi there", "Hi there" },
		{ "  Hi there \r\n", "Hi there" },
		{ "Hi \t\n there", "Hi there" },
		{ "Hi\r\nthere", "Hi there" },
		{ "\v\f", "" },
		{ "", "" },
		{ "HI THERE", "HI THERE" },               /* case is kept */
		{ "Hi\xc2\xa0there", "Hi\xc2\xa0there" },  /* NBSP is not ASCII whitespace */
		{ "ol\xc3\xa1  mundo", "ol\xc3\xa1 mundo" },
	};
	char out[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = quota_text_normalize(cases[i].in, strlen(cases[i].in), out, sizeof(out));
		assert_string_equal(out, cases[i].out);
		assert_int_equal(n, strlen(cases[i].out));
	}
	/* Cut at the buffer, always terminated. */
	assert_int_equal(quota_text_normalize("  abcdef  ", 10, out, 4), 3);
	assert_string_equal(out, "abc");
	/* A NUL inside the text is a byte like any other. */
	assert_int_equal(quota_text_normalize("a\0b", 3, out, sizeof(out)), 3);
	assert_memory_equal(out, "a\0b", 4);
	assert_int_equal(quota_text_normalize(NULL, 5, out, sizeof(out)), 0);
	assert_string_equal(out, "");
}

static void
fp(int64_t org, const char *addr, const char *text, char out[QUOTA_FP_HEX + 1])
{
	quota_fingerprint(org, addr, strlen(addr), text, strlen(text), out);
}

static void
test_fingerprint(void **state)
{
	char a[QUOTA_FP_HEX + 1], b[QUOTA_FP_HEX + 1];

	fp(1, "34600111222", "Your order shipped", a);
	assert_int_equal(strlen(a), QUOTA_FP_HEX);
	for (size_t i = 0; i < QUOTA_FP_HEX; i++)
		assert_non_null(strchr("0123456789abcdef", a[i]));
	/* Same inputs, same key; normalization makes these the same text. */
	fp(1, "34600111222", "Your order shipped", b);
	assert_string_equal(a, b);
	fp(1, "34600111222", "  Your  order\r\nshipped\n", b);
	assert_string_equal(a, b);
	/* Another org, recipient or text: another key. */
	fp(2, "34600111222", "Your order shipped", b);
	assert_string_not_equal(a, b);
	fp(1, "34600111223", "Your order shipped", b);
	assert_string_not_equal(a, b);
	fp(1, "34600111222", "your order shipped", b);
	assert_string_not_equal(a, b);
	/* No two inputs run together: ("ab", "c") is not ("a", "bc"). */
	fp(1, "ab", "c", a);
	fp(1, "a", "bc", b);
	assert_string_not_equal(a, b);
	/* Empty and NULL are the same. */
	fp(1, "", "", a);
	quota_fingerprint(1, NULL, 0, NULL, 0, b);
	assert_string_equal(a, b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_burst_and_refill),
		cmocka_unit_test(test_bucket_headers_edges),
		cmocka_unit_test(test_bucket_clock_backwards),
		cmocka_unit_test(test_bucket_conf_change),
		cmocka_unit_test(test_bucket_eviction_bound),
		cmocka_unit_test(test_bucket_standalone),
		cmocka_unit_test(test_window_boundaries),
		cmocka_unit_test(test_quota_check),
		cmocka_unit_test(test_quota_unlimited),
		cmocka_unit_test(test_quota_room),
		cmocka_unit_test(test_quota_split),
		cmocka_unit_test(test_cooldown),
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_fingerprint),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
