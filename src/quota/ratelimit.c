/*
 * ratelimit.c - the token buckets of quota.h: a uthash keyed by the key's
 * text whose insertion order is the order of use (a key is moved to the
 * end whenever it is charged), so the head is the one to evict.
 *
 * A bucket's level is in units of 1/per_ms token: a token is per_ms units,
 * the bucket holds burst * per_ms, and every ms adds rate units. With the
 * caps in quota.h every product below fits in 63 bits.
 */
#include "quota.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "../util/util.h"

struct bucket {
	char key[RATELIMIT_KEY_MAX + 1];
	struct rate_bucket b;
	UT_hash_handle hh;
};

struct ratelimit {
	struct bucket *map;
	size_t cap;
};

/* A conf with its values in range; false when it is no limit. */
struct rate {
	int64_t burst, rate, per_ms;
	int64_t full;  /* burst * per_ms units */
};

static bool
rate_of(const struct rate_conf *conf, struct rate *r)
{
	if (conf == NULL || conf->burst <= 0 || conf->rate <= 0)
		return false;
	r->burst = conf->burst < RATELIMIT_BURST_MAX ? conf->burst : RATELIMIT_BURST_MAX;
	r->rate = conf->rate < RATELIMIT_RATE_MAX ? conf->rate : RATELIMIT_RATE_MAX;
	r->per_ms = conf->per_ms <= 0 ? 1000
	    : conf->per_ms < RATELIMIT_PER_MAX_MS ? conf->per_ms : RATELIMIT_PER_MAX_MS;
	r->full = r->burst * r->per_ms;
	return true;
}

static int64_t
ceil_div(int64_t a, int64_t b)
{
	return a <= 0 ? 0 : (a - 1) / b + 1;
}

struct ratelimit *
ratelimit_new(size_t cap)
{
	struct ratelimit *rl = xcalloc(1, sizeof(*rl));

	rl->cap = cap > 0 ? cap : 1;
	return rl;
}

void
ratelimit_free(struct ratelimit *rl)
{
	struct bucket *b, *tmp;

	if (rl == NULL)
		return;
	HASH_ITER(hh, rl->map, b, tmp) {
		HASH_DEL(rl->map, b);
		free(b);
	}
	free(rl);
}

/* key's bucket, moved to the end (the most recently used), or a new full
 * one (evicting the least recently used when the table is full). */
static struct rate_bucket *
bucket_get(struct ratelimit *rl, const char *key)
{
	char k[RATELIMIT_KEY_MAX + 1];
	struct bucket *b = NULL;

	snprintf(k, sizeof(k), "%s", key ? key : "");
	HASH_FIND_STR(rl->map, k, b);
	if (b) {
		HASH_DEL(rl->map, b);
	} else {
		if (HASH_COUNT(rl->map) >= rl->cap) {
			struct bucket *old = rl->map;
			HASH_DEL(rl->map, old);
			free(old);
		}
		b = xcalloc(1, sizeof(*b));  /* a zero rate_bucket: new, full */
		memcpy(b->key, k, sizeof(k));
	}
	HASH_ADD_STR(rl->map, key, b);
	return &b->b;
}

/* Bring b's level to now under r: a new (or unreadable) bucket full,
 * another period rescaled (whole and partial tokens kept, capped at the
 * new burst), then the refill. */
static void
bucket_refill(struct rate_bucket *b, const struct rate *r, int64_t now)
{
	if (b->per_ms <= 0 || b->per_ms > RATELIMIT_PER_MAX_MS) {
		*b = (struct rate_bucket){ .level = r->full, .per_ms = r->per_ms, .last_ms = now };
		return;
	}
	if (b->level < 0)
		b->level = 0;
	if (b->per_ms != r->per_ms) {
		int64_t tokens = b->level / b->per_ms, part = b->level % b->per_ms;
		b->level = tokens >= r->burst ? r->full
		    : tokens * r->per_ms + part * r->per_ms / b->per_ms;
		b->per_ms = r->per_ms;
	}
	if (b->level > r->full)
		b->level = r->full;
	int64_t elapsed;
	if (__builtin_sub_overflow(now, b->last_ms, &elapsed))  /* a row's nonsense */
		elapsed = now < b->last_ms ? INT64_MIN : INT64_MAX;
	if (elapsed < 0) {
		/* The clock went back: nothing is added. A step back shorter
		 * than the time to fill the bucket waits for the clock to catch
		 * up (jitter mints nothing); a longer one re-anchors here, so
		 * the bucket refills from now on instead of freezing. */
		if (elapsed <= -ceil_div(r->full, r->rate))
			b->last_ms = now;
		return;
	}
	int64_t missing = r->full - b->level;
	if (elapsed >= ceil_div(missing, r->rate))
		b->level = r->full;
	else
		b->level += elapsed * r->rate;  /* < missing: no overflow */
	b->last_ms = now;
}

bool
rate_bucket_take(struct rate_bucket *b, const struct rate_conf *conf, int64_t now_ms, int64_t cost,
    struct ratelimit_info *info)
{
	struct ratelimit_info scratch;
	struct rate r;

	if (info == NULL)
		info = &scratch;
	*info = (struct ratelimit_info){ 0 };
	if (!rate_of(conf, &r))
		return true;
	if (cost < 0)
		cost = 0;

	bucket_refill(b, &r, now_ms);

	bool never = cost > r.burst;
	bool ok = !never && b->level >= cost * r.per_ms;
	if (ok)
		b->level -= cost * r.per_ms;

	info->limit = r.burst;
	info->remaining = b->level / r.per_ms;
	info->reset_s = ceil_div(ceil_div(r.full - b->level, r.rate), 1000);
	if (never) {
		info->never = true;
		info->retry_after_s = info->reset_s > 1 ? info->reset_s : 1;
	} else if (!ok) {
		int64_t ms = ceil_div(cost * r.per_ms - b->level, r.rate);
		int64_t s = ceil_div(ms, 1000);
		info->retry_after_s = s > 1 ? s : 1;
	}
	return ok;
}

bool
ratelimit_take(struct ratelimit *rl, const char *key, const struct rate_conf *conf, int64_t now_ms,
    int64_t cost, struct ratelimit_info *info)
{
	struct rate r;

	if (!rate_of(conf, &r))  /* no limit: nothing to keep for key */
		return rate_bucket_take(NULL, conf, now_ms, cost, info);
	return rate_bucket_take(bucket_get(rl, key), conf, now_ms, cost, info);
}

void
ratelimit_forget(struct ratelimit *rl, const char *key)
{
	char k[RATELIMIT_KEY_MAX + 1];
	struct bucket *b = NULL;

	snprintf(k, sizeof(k), "%s", key ? key : "");
	HASH_FIND_STR(rl->map, k, b);
	if (b) {
		HASH_DEL(rl->map, b);
		free(b);
	}
}

size_t
ratelimit_count(const struct ratelimit *rl)
{
	return HASH_COUNT(rl->map);
}
